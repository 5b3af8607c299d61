package flatten

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

const zeroCopySupported = true

// kernelCopy copies n bytes of src, from offset off, to dst at its current
// offset: with copy_file_range when dst is a regular file, as regular says
// (the data never enters user space; some file systems share the blocks),
// and with sendfile otherwise (a pipe, a socket, /dev/null). It checks ctx between chunks.
//
// It returns errZeroCopyUnsupported, having copied nothing, when neither
// call works for this pair of files; then the caller copies by hand.
func kernelCopy(ctx context.Context, dst *os.File, regular bool, src *os.File, off, n int64) error {
	srcConn, err := src.SyscallConn()
	if err != nil {
		return errZeroCopyUnsupported
	}
	dstConn, err := dst.SyscallConn()
	if err != nil {
		return errZeroCopyUnsupported
	}
	copied := int64(0)
	for copied < n {
		if err := ctx.Err(); err != nil {
			return err
		}
		chunk := int(min(n-copied, zeroCopyChunk))
		var (
			m    int
			cerr error
		)
		err := srcConn.Control(func(sfd uintptr) {
			werr := dstConn.Write(func(dfd uintptr) bool {
				if regular {
					m, cerr = unix.CopyFileRange(int(sfd), &off, int(dfd), nil, chunk, 0)
				} else {
					m, cerr = unix.Sendfile(int(dfd), int(sfd), &off, chunk)
				}
				// A non-blocking pipe that is full: wait until it
				// can be written.
				return !errors.Is(cerr, unix.EAGAIN)
			})
			if cerr == nil {
				cerr = werr
			}
		})
		if err == nil {
			err = cerr
		}
		if err != nil {
			if copied == 0 && unsupported(err) {
				return errZeroCopyUnsupported
			}
			return err
		}
		if m == 0 {
			return fmt.Errorf("source ends %d bytes early: %w", n-copied, io.ErrUnexpectedEOF)
		}
		copied += int64(m)
	}
	return nil
}

// unsupported reports whether err means that the kernel cannot copy
// between the two files, as opposed to a failure of the copy itself.
func unsupported(err error) bool {
	for _, e := range []error{unix.EXDEV, unix.EINVAL, unix.ENOSYS, unix.EOPNOTSUPP, unix.ENOTSUP, unix.EBADF, unix.EPERM} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
