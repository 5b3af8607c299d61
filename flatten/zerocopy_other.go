//go:build !linux

package flatten

import (
	"context"
	"os"
)

const zeroCopySupported = false

func kernelCopy(context.Context, *os.File, bool, *os.File, int64, int64) error {
	return errZeroCopyUnsupported
}
