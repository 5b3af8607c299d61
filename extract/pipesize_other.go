//go:build !linux

package extract

import "os"

// setPipeSize does nothing where pipes cannot be resized.
func setPipeSize(*os.File, int) {}
