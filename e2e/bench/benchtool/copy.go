package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
)

// runCopy copies the first BYTES of SRC to a new file DST the fastest way
// the kernel can: io.CopyN between two *os.File, which is copy_file_range
// on Linux, the call extract's own output uses. It stands for writing an
// output of BYTES bytes from a stored stream.
func runCopy(args []string) (err error) {
	if len(args) != 3 {
		return errors.New("usage: benchtool copy SRC DST BYTES")
	}
	n, err := strconv.ParseInt(args[2], 10, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("copy: BYTES %q is not a byte count", args[2])
	}
	src, err := os.Open(args[0])
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(args[1], os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := dst.Close(); err == nil {
			err = cerr
		}
	}()
	if _, err := io.CopyN(dst, src, n); err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	return nil
}
