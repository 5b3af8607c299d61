package flatten

import (
	"archive/tar"
	"bytes"
	"encoding/binary"
	"math/bits"
	"strings"
	"time"
)

// quickHeader reads the header block b (512 bytes) into h, without
// archive/tar, when it is a plain one: a USTAR or GNU header with a valid
// checksum, of a type archive/tar returns as it is, with octal numbers,
// and no extension header before it. It reports false for anything else,
// which the caller then reads with archive/tar.
//
// Pass 2 re-reads the header of every entry it writes; archive/tar's Next
// allocates for every header it reads, and from a new reader more still,
// while quickHeader allocates nothing (BenchmarkReadHeader compares them).
// FormatUSTAR's check for non-ASCII bytes alone decodes the block as
// UTF-8. Pass 1 reads the headers of every layer, and skips the data of
// plain entries by offset too. Where quickHeader reports true, h holds
// what archive/tar's Next gives, but for Name, which only pass 1 needs
// (quickName), and Format: FuzzQuickHeader checks it. Uname and Gname
// come from names, so that the usual few owner names are not allocated
// again.
func quickHeader(b []byte, h *tar.Header, names *nameCache) bool {
	if len(b) != blockSize || !quickHeaders {
		return false
	}
	switch b[156] { // typeflag
	case tar.TypeReg, tar.TypeLink, tar.TypeSymlink, tar.TypeChar, tar.TypeBlock, tar.TypeDir, tar.TypeFifo:
	default:
		return false // '\x00' may be a directory, and the others extend or are rare
	}
	magic, version := b[257:263], b[263:265]
	switch {
	case string(magic) == "ustar\x00":
		if string(b[508:512]) == "tar\x00" {
			return false // star, with atime and ctime
		}
	case string(magic) == "ustar " && string(version) == " \x00":
		if b[345] != 0 || b[357] != 0 {
			return false // GNU atime or ctime
		}
	default:
		return false // V7
	}
	chk, ok := parseOctal(b[148:156])
	if !ok || !checksumOK(b, chk) {
		return false
	}
	var n [7]int64
	for i, f := range [7][2]int{{100, 108}, {108, 116}, {116, 124}, {124, 136}, {136, 148}, {329, 337}, {337, 345}} {
		if n[i], ok = parseOctal(b[f[0]:f[1]]); !ok {
			return false
		}
	}
	*h = tar.Header{
		Typeflag: b[156],
		Mode:     n[0],
		Uid:      int(n[1]),
		Gid:      int(n[2]),
		Size:     n[3],
		ModTime:  time.Unix(n[4], 0),
		Devmajor: n[5],
		Devminor: n[6],
		Uname:    names.get(cstring(b[265:297])),
		Gname:    names.get(cstring(b[297:329])),
	}
	if l := cstring(b[157:257]); len(l) > 0 {
		h.Linkname = string(l)
	}
	return true
}

// quickHeaders is false in tests that compare with archive/tar reading
// every header.
var quickHeaders = true

// quickName is the name in a header block that quickHeader read, as
// archive/tar gives it: in USTAR, after the prefix.
func quickName(b []byte) string {
	name := cstring(b[:100])
	if string(b[257:263]) == "ustar\x00" {
		if prefix := cstring(b[345:500]); len(prefix) > 0 {
			return string(prefix) + "/" + string(name)
		}
	}
	return string(name)
}

// dataBlocks is the size of the data after hdr's header blocks, padding
// included: none for the types archive/tar reads as header only. It is
// where the next header starts, but for sparse files (isSparse).
func dataBlocks(hdr *tar.Header) int64 {
	switch hdr.Typeflag {
	case tar.TypeLink, tar.TypeSymlink, tar.TypeChar, tar.TypeBlock, tar.TypeDir, tar.TypeFifo:
		return 0
	}
	return (hdr.Size + blockSize - 1) / blockSize * blockSize
}

// isSparse reports whether hdr is a sparse file: its stored data is not
// its content, and is not hdr.Size bytes long.
func IsSparse(hdr *tar.Header) bool {
	if hdr.Typeflag == tar.TypeGNUSparse {
		return true
	}
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

// parseOctal parses a numeric field as archive/tar does, but for base-256
// numbers: leading and trailing spaces and NULs are ignored, an empty
// field is 0, and the digits end at the first NUL.
func parseOctal(f []byte) (int64, bool) {
	f = cstring(bytes.Trim(f, " \x00"))
	if len(f) > 21 { // beyond 63 bits; no field is that long
		return 0, false
	}
	var x int64
	for _, c := range f {
		if c < '0' || c > '7' {
			return 0, false
		}
		x = x<<3 | int64(c-'0')
	}
	return x, true
}

// checksumOK reports whether chk is the block's checksum: the sum of its
// bytes with the checksum field as spaces, unsigned or (as some old tars
// wrote it) signed.
func checksumOK(b []byte, chk int64) bool {
	unsigned, signed := checksums(b)
	return chk == unsigned || chk == signed
}

// checksums returns the sums of the header block b's bytes, unsigned and
// signed, with the checksum field counted as spaces. It adds eight bytes
// at a time, in four 16-bit lanes (64 words of at most 2 × 255 a lane fit
// in 16 bits); the signed sum is the unsigned one less 256 for every byte
// with its top bit set.
func checksums(b []byte) (unsigned, signed int64) {
	const (
		bytes16 = 0x00ff00ff00ff00ff
		tops    = 0x8080808080808080
	)
	b = b[:blockSize]
	var lanes uint64
	high := 0
	for i := 0; i < blockSize; i += 8 {
		w := binary.LittleEndian.Uint64(b[i:])
		lanes += w&bytes16 + w>>8&bytes16
		high += bits.OnesCount64(w & tops)
	}
	for ; lanes != 0; lanes >>= 16 {
		unsigned += int64(lanes & 0xffff)
	}
	for _, c := range b[148:156] {
		unsigned += int64(' ') - int64(c)
		if c >= 0x80 {
			high--
		}
	}
	return unsigned, unsigned - 256*int64(high)
}

// cstring is f up to its first NUL.
func cstring(f []byte) []byte {
	if i := bytes.IndexByte(f, 0); i >= 0 {
		return f[:i]
	}
	return f
}

// nameCache holds the owner names seen last, so that quickHeader need
// not allocate them for every entry.
type nameCache [4]string

func (c *nameCache) get(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	for _, s := range c {
		if s == string(b) {
			return s
		}
	}
	copy(c[1:], c[:len(c)-1])
	c[0] = string(b)
	return c[0]
}
