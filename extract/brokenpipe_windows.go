package extract

import (
	"errors"
	"syscall"

	"golang.org/x/sys/windows"
)

// brokenPipe reports whether err is a write to a pipe whose reader is
// gone: on Windows ERROR_NO_DATA ("the pipe is being closed") or
// ERROR_BROKEN_PIPE, not EPIPE.
func brokenPipe(err error) bool {
	return errors.Is(err, syscall.EPIPE) || errors.Is(err, windows.ERROR_NO_DATA) || errors.Is(err, windows.ERROR_BROKEN_PIPE)
}
