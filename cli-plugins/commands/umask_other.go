//go:build !unix

package commands

import "os"

// umask is 0 where there is none (Windows): os.Chmod there only sets or
// clears the read-only attribute.
func umask() os.FileMode { return 0 }
