package flatten

import (
	"archive/tar"
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// withoutQuickHeaders runs fn with archive/tar reading every header.
func withoutQuickHeaders(fn func()) {
	quickHeaders = false
	defer func() { quickHeaders = true }()
	fn()
}

// headerBlock is the first header block archive/tar writes for h.
func headerBlock(t testing.TB, h tar.Header) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	if err := tw.WriteHeader(&h); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()[:blockSize]
}

// withChecksum sets the block's checksum field to its sum.
func withChecksum(b []byte) []byte {
	copy(b[148:156], "        ")
	var sum int64
	for _, c := range b {
		sum += int64(c)
	}
	copy(b[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return b
}

// quickHeaderSeeds are header blocks of the kinds that layers hold.
func quickHeaderSeeds(t testing.TB) map[string][]byte {
	mt := time.Unix(1700000000, 0)
	seeds := map[string][]byte{}
	for _, format := range []tar.Format{tar.FormatUSTAR, tar.FormatGNU} {
		for _, h := range []tar.Header{
			{Name: "usr/bin/x", Typeflag: tar.TypeReg, Mode: 0o755, Uid: 1000, Gid: 1000, Uname: "user", Gname: "staff", Size: 12345, ModTime: mt},
			{Name: "etc/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mt},
			{Name: "lib/l.so", Typeflag: tar.TypeSymlink, Linkname: "l.so.1", Mode: 0o777, ModTime: mt, Uname: "root", Gname: "root"},
			{Name: "bin/b", Typeflag: tar.TypeLink, Linkname: "bin/a", Mode: 0o755, ModTime: mt},
			{Name: "dev/null", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3, Mode: 0o666, ModTime: mt},
			{Name: "dev/sda", Typeflag: tar.TypeBlock, Devmajor: 8, Devminor: 0, Mode: 0o660, ModTime: mt},
			{Name: "run/p", Typeflag: tar.TypeFifo, Mode: 0o600, ModTime: mt},
		} {
			h.Format = format
			seeds[fmt.Sprintf("%v/%c", format, h.Typeflag)] = headerBlock(t, h)
		}
	}
	// A PAX extension header, and a file that needs one.
	seeds["pax"] = headerBlock(t, tar.Header{Name: "x", Typeflag: tar.TypeReg, ModTime: mt, PAXRecords: map[string]string{"SCHILY.xattr.user.a": "b"}})
	// GNU with atime, old GNU sparse, a GNU long name, base-256 numbers.
	seeds["gnu atime"] = headerBlock(t, tar.Header{Name: "x", Typeflag: tar.TypeReg, ModTime: mt, AccessTime: mt, Format: tar.FormatGNU})
	seeds["gnu long name"] = headerBlock(t, tar.Header{Name: string(bytes.Repeat([]byte("n"), 200)), Typeflag: tar.TypeReg, ModTime: mt, Format: tar.FormatGNU})
	seeds["base-256 uid"] = headerBlock(t, tar.Header{Name: "x", Typeflag: tar.TypeReg, Uid: 1 << 30, ModTime: mt, Format: tar.FormatGNU})
	seeds["ustar prefix"] = headerBlock(t, tar.Header{Name: strings.Repeat("d/", 60) + "file", Typeflag: tar.TypeReg, ModTime: mt, Format: tar.FormatUSTAR})
	seeds["gnu sparse"] = rawSparse("sp", 10, 2, "ab")[:blockSize]
	// Numbers padded with spaces, or ended by a NUL in the middle.
	b := headerBlock(t, tar.Header{Name: "x", Typeflag: tar.TypeReg, Mode: 0o644, Size: 7, ModTime: mt, Format: tar.FormatUSTAR})
	copy(b[100:108], "  644  \x00")
	copy(b[124:136], "7\x00 junk \x00\x00\x00")
	seeds["odd numbers"] = withChecksum(b)
	// An old tar's '\x00' type, and a V7 header.
	b = headerBlock(t, tar.Header{Name: "d/", Typeflag: tar.TypeDir, ModTime: mt, Format: tar.FormatUSTAR})
	b[156] = 0
	seeds["regA"] = withChecksum(b)
	b = headerBlock(t, tar.Header{Name: "x", Typeflag: tar.TypeReg, ModTime: mt, Format: tar.FormatUSTAR})
	clear(b[257:265])
	seeds["v7"] = withChecksum(b)
	return seeds
}

// TestQuickHeader checks that quickHeader reads the plain headers that
// layers hold, as archive/tar does, and leaves the others to it.
func TestQuickHeader(t *testing.T) {
	quick := map[string]bool{"odd numbers": true, "ustar prefix": true}
	for _, format := range []string{"USTAR", "GNU"} {
		for _, typ := range "0512346" {
			quick[fmt.Sprintf("%s/%c", format, typ)] = true
		}
	}
	for name, b := range quickHeaderSeeds(t) {
		t.Run(name, func(t *testing.T) {
			if got := checkQuickHeader(t, b); got != quick[name] {
				t.Errorf("quickHeader reported %v, want %v", got, quick[name])
			}
		})
	}
	b := quickHeaderSeeds(t)["USTAR/0"]
	b[0] ^= 1 // the checksum no longer matches
	if checkQuickHeader(t, b) {
		t.Error("quickHeader read a block with a bad checksum")
	}
}

// TestQuickHeaderChecksums checks that quickHeader reads plain headers
// with either checksum archive/tar accepts, the unsigned sum of the bytes
// or (as some old tars wrote it) the signed one, whatever bytes the names
// hold.
func TestQuickHeaderChecksums(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	seed := quickHeaderSeeds(t)["USTAR/0"]
	for i := range 500 {
		b := bytes.Clone(seed)
		for j := range 100 { // the name: any byte but NUL
			b[j] = byte(1 + r.IntN(255))
		}
		copy(b[148:156], "        ")
		var unsigned, signed int64
		for _, c := range b {
			unsigned += int64(c)
			signed += int64(int8(c))
		}
		for _, chk := range []int64{unsigned, signed} {
			copy(b[148:156], fmt.Sprintf("%06o\x00 ", chk))
			if chk < 0 {
				continue // no octal field holds it
			}
			if !checkQuickHeader(t, b) {
				t.Fatalf("block %d: checksum %d not read", i, chk)
			}
		}
	}
}

// TestChecksums checks checksums, which adds eight bytes at a time,
// against the sums taken byte by byte, on blocks of any bytes and on the
// extremes (every byte 0xff gives the largest sum, and the most bytes with
// their top bit set).
func TestChecksums(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	var blocks [][]byte
	for _, fill := range []byte{0x00, 0x20, 0x7f, 0x80, 0xff} {
		blocks = append(blocks, bytes.Repeat([]byte{fill}, blockSize))
	}
	for range 1000 {
		b := make([]byte, blockSize)
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		blocks = append(blocks, b)
	}
	for i, b := range blocks {
		var unsigned, signed int64
		for j, c := range b {
			if 148 <= j && j < 156 {
				c = ' '
			}
			unsigned += int64(c)
			signed += int64(int8(c))
		}
		gotU, gotS := checksums(b)
		if gotU != unsigned || gotS != signed {
			t.Fatalf("block %d: checksums %d, %d; want %d, %d", i, gotU, gotS, unsigned, signed)
		}
	}
}

// FuzzQuickHeader checks that whatever block quickHeader reads, archive/tar
// reads too, with the same fields.
func FuzzQuickHeader(f *testing.F) {
	for _, b := range quickHeaderSeeds(f) {
		f.Add(b, false)
	}
	f.Fuzz(func(t *testing.T, b []byte, fixChecksum bool) {
		blk := make([]byte, blockSize)
		copy(blk, b)
		if fixChecksum {
			withChecksum(blk)
		}
		checkQuickHeader(t, blk)
	})
}

// checkQuickHeader runs quickHeader on the block b and, if it reports
// true, fails t unless archive/tar's Next gives the same fields.
func checkQuickHeader(t *testing.T, b []byte) bool {
	t.Helper()
	var got tar.Header
	var names nameCache
	if !quickHeader(b, &got, &names) {
		return false
	}
	want, err := nextHeader(tar.NewReader(bytes.NewReader(append(bytes.Clone(b), make([]byte, 2*blockSize)...))))
	if err != nil {
		t.Fatalf("quickHeader read a header archive/tar rejects: %v", err)
	}
	got.Name = quickName(b)
	want.Format = tar.FormatUnknown // not read by quickHeader
	if fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", *want) {
		t.Fatalf("quickHeader read\n%#v\narchive/tar\n%#v", got, *want)
	}
	return true
}

// TestQuickHeadersMatchArchiveTar checks that reading plain headers
// without archive/tar changes nothing: every rule case and random stack,
// whole, cut short anywhere or with a corrupted block, gives the same
// bytes, error and warnings as archive/tar reading every header.
func TestQuickHeadersMatchArchiveTar(t *testing.T) {
	var stacks [][][]byte
	for _, tc := range ruleCases() {
		if tc.tars != nil {
			stacks = append(stacks, tc.tars)
			continue
		}
		var tars [][]byte
		for _, l := range tc.layers {
			tars = append(tars, mkTar(t, l...))
		}
		stacks = append(stacks, tars)
	}
	r := rand.New(rand.NewPCG(5, 6))
	for range 300 {
		stacks = append(stacks, genStack(t, r, 1+r.IntN(3)))
	}
	n := len(stacks)
	for _, tars := range stacks[:n] {
		// A layer cut short, or with one block corrupted.
		k := r.IntN(len(tars))
		l := tars[k]
		if len(l) < blockSize {
			continue
		}
		cut := slices.Clone(tars)
		cut[k] = l[:r.IntN(len(l))]
		bad := slices.Clone(tars)
		b := slices.Clone(l)
		b[r.IntN(len(b)/blockSize)*blockSize+r.IntN(blockSize)] ^= 0x5a
		bad[k] = b
		stacks = append(stacks, cut, bad)
	}
	for i, tars := range stacks {
		for _, opts := range []Options{{}, {KeepWhiteouts: true}} {
			got := flattenOutcome(t, tars, opts)
			var want outcome
			withoutQuickHeaders(func() { want = flattenOutcome(t, tars, opts) })
			if d := got.diff(want); d != "" {
				t.Fatalf("stack %d, %+v: with quickHeader, %s", i, opts, d)
			}
		}
	}
}

// BenchmarkReadHeader compares reading one plain header block with
// quickHeader and with archive/tar's Next.
func BenchmarkReadHeader(b *testing.B) {
	blk := quickHeaderSeeds(b)["USTAR/0"]
	b.Run("quickHeader", func(b *testing.B) {
		var h tar.Header
		var names nameCache
		b.ReportAllocs()
		for b.Loop() {
			if !quickHeader(blk, &h, &names) {
				b.Fatal("not read")
			}
		}
	})
	b.Run("archive-tar", func(b *testing.B) {
		r := bytes.NewReader(nil)
		b.ReportAllocs()
		for b.Loop() {
			r.Reset(blk)
			if _, err := nextHeader(tar.NewReader(r)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
