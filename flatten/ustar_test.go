package flatten

import (
	"archive/tar"
	"bytes"
	"strings"
	"testing"
	"time"
)

// checkQuickFormat runs quickFormat on h and, if it reports true, fails t
// unless archive/tar's WriteHeader writes the same block and nothing
// else. It reports what quickFormat did.
func checkQuickFormat(t *testing.T, h *tar.Header) bool {
	t.Helper()
	var b [blockSize]byte
	if !quickFormat(h, &b) {
		return false
	}
	var buf bytes.Buffer
	if err := tar.NewWriter(&buf).WriteHeader(h); err != nil {
		t.Fatalf("quickFormat wrote a header archive/tar refuses: %v\n%#v", err, *h)
	}
	if !bytes.Equal(buf.Bytes(), b[:]) {
		t.Fatalf("quickFormat wrote\n%q\narchive/tar\n%q\nfor %#v", b[:], buf.Bytes(), *h)
	}
	return true
}

// TestQuickFormat checks quickFormat against archive/tar on the headers
// pass 2 writes, and that it leaves to archive/tar every header that needs
// more than a USTAR block.
func TestQuickFormat(t *testing.T) {
	mtime := time.Unix(1700000000, 0)
	base := func(name string) tar.Header {
		return tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Uid: 1000, Gid: 1000, Uname: "user", Gname: "staff",
			Size: 12345, ModTime: mtime, Format: tar.FormatPAX}
	}
	long := strings.Repeat("d/", 60) + "file" // 124 bytes: split into prefix and name
	quick := map[string]tar.Header{
		"file":         base("etc/passwd"),
		"empty":        func() tar.Header { h := base("e"); h.Size = 0; return h }(),
		"dir":          {Name: "usr/lib/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mtime, Format: tar.FormatPAX},
		"synthesized":  {Name: "x/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: synthTime, Format: tar.FormatPAX},
		"zero time":    {Name: "z", Typeflag: tar.TypeReg, Mode: 0o600, Format: tar.FormatPAX},
		"symlink":      {Name: "bin/sh", Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777, ModTime: mtime, Format: tar.FormatPAX},
		"hardlink":     {Name: "bin/ls", Typeflag: tar.TypeLink, Linkname: "bin/busybox", ModTime: mtime, Format: tar.FormatPAX},
		"char device":  {Name: "dev/null", Typeflag: tar.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 3, ModTime: mtime, Format: tar.FormatPAX},
		"block device": {Name: "dev/sda", Typeflag: tar.TypeBlock, Mode: 0o660, Devmajor: 8, ModTime: mtime, Format: tar.FormatPAX},
		"fifo":         {Name: "run/fifo", Typeflag: tar.TypeFifo, Mode: 0o600, ModTime: mtime, Format: tar.FormatPAX},
		"name of 100":  base(strings.Repeat("n", 100)),
		"long name":    base(long),
		"long dir":     {Name: long + "/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mtime, Format: tar.FormatPAX},
		"largest":      func() tar.Header { h := base("big"); h.Size = 1<<33 - 1; h.Uid = 1<<21 - 1; h.Mode = 0o7777; return h }(),
		"uname of 32":  func() tar.Header { h := base("u"); h.Uname = strings.Repeat("u", 32); return h }(),
		"link of 100":  {Name: "l", Typeflag: tar.TypeSymlink, Linkname: strings.Repeat("t", 100), ModTime: mtime, Format: tar.FormatPAX},
	}
	for name, h := range quick {
		if !checkQuickFormat(t, &h) {
			t.Errorf("%s: left to archive/tar", name)
		}
	}
	declined := map[string]func(h *tar.Header){
		"not PAX":             func(h *tar.Header) { h.Format = tar.FormatUnknown },
		"PAX records":         func(h *tar.Header) { h.PAXRecords = map[string]string{"SCHILY.xattr.user.a": "b"} },
		"sub-second mtime":    func(h *tar.Header) { h.ModTime = mtime.Add(time.Millisecond) },
		"atime":               func(h *tar.Header) { h.AccessTime = mtime },
		"ctime":               func(h *tar.Header) { h.ChangeTime = mtime },
		"negative mtime":      func(h *tar.Header) { h.ModTime = time.Unix(-1, 0) },
		"mtime past octal":    func(h *tar.Header) { h.ModTime = time.Unix(1<<33, 0) },
		"size past octal":     func(h *tar.Header) { h.Size = 1 << 33 },
		"uid past octal":      func(h *tar.Header) { h.Uid = 1 << 21 },
		"negative gid":        func(h *tar.Header) { h.Gid = -1 },
		"non-ASCII name":      func(h *tar.Header) { h.Name = "caf\u00e9" },
		"NUL in name":         func(h *tar.Header) { h.Name = "a\x00b" },
		"long unsplittable":   func(h *tar.Header) { h.Name = strings.Repeat("n", 101) },
		"long non-ASCII":      func(h *tar.Header) { h.Name = long + "\u00e9" },
		"uname of 33":         func(h *tar.Header) { h.Uname = strings.Repeat("u", 33) },
		"non-ASCII gname":     func(h *tar.Header) { h.Gname = "gr\u00fcn" },
		"long link":           func(h *tar.Header) { h.Typeflag, h.Linkname = tar.TypeSymlink, strings.Repeat("t", 101) },
		"file with slash":     func(h *tar.Header) { h.Name = "f/" },
		"type \\x00":          func(h *tar.Header) { h.Typeflag = '\x00' }, // TypeRegA
		"GNU sparse type":     func(h *tar.Header) { h.Typeflag = tar.TypeGNUSparse },
		"contiguous file":     func(h *tar.Header) { h.Typeflag = tar.TypeCont },
		"device past octal":   func(h *tar.Header) { h.Typeflag, h.Devmajor = tar.TypeChar, 1<<21 },
		"negative size":       func(h *tar.Header) { h.Size = -1 },
		"name of 256, prefix": func(h *tar.Header) { h.Name = strings.Repeat("p", 156) + "/" + strings.Repeat("n", 99) },
	}
	for name, change := range declined {
		h := base("etc/passwd")
		change(&h)
		var b [blockSize]byte
		if quickFormat(&h, &b) {
			t.Errorf("%s: written by quickFormat", name)
		}
	}
}

// FuzzQuickFormat checks that whatever header quickFormat writes,
// archive/tar writes the same block.
func FuzzQuickFormat(f *testing.F) {
	f.Add("etc/passwd", "", "root", "root", byte(tar.TypeReg), int64(0o644), 0, 0, int64(1234), int64(1700000000), int64(0), int64(0), int64(0), false)
	f.Add(strings.Repeat("d/", 60)+"f", "../x", "", "", byte(tar.TypeSymlink), int64(0o777), 1000, 1000, int64(0), int64(0), int64(0), int64(0), int64(0), true)
	f.Add("dev/null", "", "", "", byte(tar.TypeChar), int64(0o666), 0, 0, int64(0), int64(1), int64(5), int64(1), int64(3), false)
	f.Fuzz(func(t *testing.T, name, link, uname, gname string, typ byte, mode int64, uid, gid int, size, sec, nsec, major, minor int64, atime bool) {
		h := tar.Header{Name: name, Linkname: link, Uname: uname, Gname: gname, Typeflag: typ, Mode: mode, Uid: uid, Gid: gid,
			Size: size, ModTime: time.Unix(sec, nsec), Devmajor: major, Devminor: minor, Format: tar.FormatPAX}
		if atime {
			h.AccessTime = h.ModTime
		}
		checkQuickFormat(t, &h)
	})
}
