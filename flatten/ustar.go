package flatten

import (
	"archive/tar"
	"strings"
)

// quickFormat writes into b the header block that archive/tar's Writer
// writes for h, without archive/tar, when that is a single USTAR block: a
// header of Format PAX (what pass 2 writes) that needs no PAX record. It
// reports false for anything else, which the caller then writes with
// archive/tar.
//
// archive/tar's WriteHeader allocates about 7 times a header (its format
// checks and octal numbers); quickFormat does not. FuzzQuickFormat and
// TestQuickFormat check that it writes what archive/tar writes, byte for
// byte, and declines what archive/tar would write otherwise.
func quickFormat(h *tar.Header, b *[blockSize]byte) bool {
	if !quickHeaders || h.Format != tar.FormatPAX || len(h.PAXRecords) > 0 ||
		!h.AccessTime.IsZero() || !h.ChangeTime.IsZero() {
		return false
	}
	//lint:ignore SA1019 archive/tar still writes Xattrs, as PAX records
	if len(h.Xattrs) > 0 {
		return false
	}
	switch h.Typeflag {
	case tar.TypeReg, tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		if strings.HasSuffix(h.Name, "/") {
			return false // archive/tar refuses it
		}
	case tar.TypeLink, tar.TypeSymlink, tar.TypeDir:
	default:
		return false
	}
	var mtime int64
	if !h.ModTime.IsZero() {
		if h.ModTime.Nanosecond() != 0 {
			return false // a PAX mtime record
		}
		mtime = h.ModTime.Unix()
	}
	name, prefix := h.Name, ""
	if len(name) > 100 {
		var ok bool
		if prefix, name, ok = splitUSTARName(name); !ok {
			return false
		}
	}
	if !ustarString(name, 100) || !ustarString(prefix, 155) || !ustarString(h.Linkname, 100) ||
		!ustarString(h.Uname, 32) || !ustarString(h.Gname, 32) {
		return false
	}
	*b = [blockSize]byte{}
	ok := putOctal(b[100:108], h.Mode) && putOctal(b[108:116], int64(h.Uid)) && putOctal(b[116:124], int64(h.Gid)) &&
		putOctal(b[124:136], h.Size) && putOctal(b[136:148], mtime) &&
		putOctal(b[329:337], h.Devmajor) && putOctal(b[337:345], h.Devminor)
	if !ok {
		return false
	}
	copy(b[0:100], name)
	copy(b[157:257], h.Linkname)
	copy(b[265:297], h.Uname)
	copy(b[297:329], h.Gname)
	copy(b[345:500], prefix)
	b[156] = h.Typeflag
	copy(b[257:265], "ustar\x0000")
	sum, _ := checksums(b[:])
	putOctal(b[148:155], sum)
	b[155] = ' '
	return true
}

// splitUSTARName splits a name too long for the USTAR name field at a
// slash into the prefix and name fields, as archive/tar does.
func splitUSTARName(s string) (prefix, name string, ok bool) {
	n := len(s)
	switch {
	case n > 156:
		n = 156
	case s[n-1] == '/':
		n--
	}
	i := strings.LastIndexByte(s[:n], '/')
	if i <= 0 || len(s)-i-1 > 100 || len(s)-i-1 == 0 || i > 155 {
		return "", "", false
	}
	return s[:i], s[i+1:], true
}

// ustarString reports whether s fits a USTAR string field of n bytes as it
// is: ASCII, no NUL, at most n bytes.
func ustarString(s string, n int) bool {
	if len(s) > n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] == 0 || s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// putOctal writes x into field f as archive/tar does: zero-padded octal
// digits and a NUL. It reports false when x does not fit.
func putOctal(f []byte, x int64) bool {
	if x < 0 || x >= 1<<(3*(len(f)-1)) {
		return false
	}
	for i := len(f) - 2; i >= 0; i-- {
		f[i] = byte('0' + x&7)
		x >>= 3
	}
	f[len(f)-1] = 0
	return true
}
