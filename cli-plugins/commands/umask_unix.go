//go:build unix

package commands

import (
	"os"
	"syscall"
)

// umask returns the process umask, to give the output file the mode
// os.Create would have.
func umask() os.FileMode {
	m := syscall.Umask(0)
	syscall.Umask(m)
	return os.FileMode(m)
}
