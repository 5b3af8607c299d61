//go:build linux || darwin || freebsd

package extract

import "golang.org/x/sys/unix"

// diskSpace returns the bytes free to an unprivileged user and the size of
// the file system holding dir.
func diskSpace(dir string) (free, total int64, ok bool) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, 0, false
	}
	bsize := int64(st.Bsize) //nolint:unconvert // uint32 on darwin
	return int64(st.Bavail) * bsize, int64(st.Blocks) * bsize, true
}
