package extract

import "golang.org/x/sys/windows"

// diskSpace returns the bytes free to the caller and the size of the
// volume holding dir.
func diskSpace(dir string) (free, total int64, ok bool) {
	p, err := windows.UTF16PtrFromString(dir)
	if err != nil {
		return 0, 0, false
	}
	var avail, size, totalFree uint64
	if err := windows.GetDiskFreeSpaceEx(p, &avail, &size, &totalFree); err != nil {
		return 0, 0, false
	}
	return int64(avail), int64(size), true
}
