package extract

import (
	"os"

	"golang.org/x/sys/unix"
)

// setPipeSize asks the kernel for a pipe buffer of n bytes; the default
// is 64 KiB. It is a hint: a refusal (past /proc/sys/fs/pipe-max-size for
// an unprivileged user) leaves the pipe as it is.
func setPipeSize(f *os.File, n int) {
	if c, err := f.SyscallConn(); err == nil {
		_ = c.Control(func(fd uintptr) {
			_, _ = unix.FcntlInt(fd, unix.F_SETPIPE_SZ, n)
		})
	}
}
