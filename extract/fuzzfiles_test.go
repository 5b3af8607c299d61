package extract

import (
	"archive/tar"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/containerd/platforms"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// This file decodes a fuzz input into the files of a save archive or an
// OCI layout, so that the fuzzer mutates the archive's structure (which
// files exist, what they are named, which digests their JSON documents
// name) instead of the bytes of tar headers, which archive/tar's own
// fuzzing covers. The inputs stay small and readable, so that the fuzzer
// spends its time running them, not minimizing them.
//
// The input is one record a line (empty lines are skipped, at most
// maxFuzzFiles records), not length-prefixed: a byte the fuzzer inserts or
// deletes changes one record, instead of shifting every record after it.
//
//	<kind><name> <content>
//
// where kind is one byte, name runs to the first space and content to the
// end of the line. The kinds:
//
//	f  regular file (any byte not listed below is one too)
//	g  regular file holding content gzip-compressed
//	z  regular file holding content zstd-compressed
//	s  symlink to content
//	h  hard link to content (a name relative to the archive root)
//	d  directory
//	e  directive, not a file: the archive is cut short by name (a decimal
//	   byte count) bytes, then content is appended to it, as a daemon
//	   appends an error message to a save stream it fails to finish
//	c  directive: the whole archive is compressed, with gzip when name
//	   starts with 'g', zstd otherwise
//	p  directive: name is the platform to select (Options.Platform),
//	   e.g. "linux/arm64/v8"; the running platform without one
//	o  directive: the archive is also read from a file (OpenArchive)
//	i  directive: the stream is read for the top layer only, with the
//	   image's diff IDs known (Options.ImageDiffIDs)
//
// Records refer to each other by index, one character 0-9a-z (record 0 is
// the first line that is not empty). In names and contents:
//
//	$i  is the hex sha256 of record i's stored bytes (compressed, for g and
//	    z): a blob name, or a digest in a manifest;
//	%i  is the hex sha256 of record i's content before compression: a
//	    diff ID;
//	#i  is the decimal size of record i's stored bytes: a descriptor's
//	    size.
//
// A placeholder naming no record, or in a cycle of contents, is left as
// it is. So a blob named blobs/sha256/$2 stays valid, and a manifest that
// names it stays right, whatever the fuzzer does to record 2's content.
// For example, a one-layer legacy archive is:
//
//	fa/layer.tar hello
//	f$1.json {"rootfs":{"diff_ids":["sha256:%0"]}}
//	fmanifest.json [{"Config":"$1.json","Layers":["a/layer.tar"]}]
//
// Nothing here depends on tar but tarBytes: a reader of an OCI layout
// directory is fuzzed with the same inputs by writing the files into a
// directory instead. Such a writer must skip the directives and confine
// every name and hard link to the directory: names come from the fuzzer,
// and "../x" and "/x" are fair inputs.

// maxFuzzFiles is the number of records an index character can name.
const maxFuzzFiles = 36

// fuzzKind is what a decoded record is.
type fuzzKind byte

const (
	fuzzRegular  fuzzKind = iota
	fuzzSymlink           // Link is the target
	fuzzHardlink          // Link is the target
	fuzzDir
	fuzzTrailer      // directive: cut the archive by Cut bytes, then append Data
	fuzzCompress     // directive: compress the archive with Compression
	fuzzPlatform     // directive: Name is Options.Platform
	fuzzOpen         // directive: read the archive from a file too
	fuzzImageDiffIDs // directive: read the stream knowing the image's diff IDs
)

// fuzzFile is one decoded record.
type fuzzFile struct {
	Kind fuzzKind
	Name string
	Data []byte // a regular file's stored bytes; a trailer's content
	Link string // a link's target
	// Plain is a regular file's content before compression.
	Plain []byte
	// Cut is how many bytes a trailer cuts off the archive's end.
	Cut int
	// Compression is a compressed file's or a compress directive's
	// compression, uncompressed otherwise.
	Compression compression
}

// fuzzFiles is a decoded fuzz input, in input order.
type fuzzFiles []fuzzFile

// fuzzRecord is a record as it is in the input.
type fuzzRecord struct {
	kind          byte
	name, content []byte
}

// decodeFuzzFiles decodes b (see the top of this file). It accepts any
// input.
func decodeFuzzFiles(b []byte) fuzzFiles {
	var recs []fuzzRecord
	for len(b) > 0 && len(recs) < maxFuzzFiles {
		var line []byte
		line, b, _ = bytes.Cut(b, []byte{'\n'})
		if len(line) == 0 {
			continue
		}
		name, content, _ := bytes.Cut(line[1:], []byte{' '})
		recs = append(recs, fuzzRecord{kind: line[0], name: name, content: content})
	}
	d := &fuzzDecoder{
		recs:   recs,
		state:  make([]int8, len(recs)),
		stored: make([][]byte, len(recs)),
		plain:  make([][]byte, len(recs)),
	}
	files := make(fuzzFiles, len(recs))
	for i, r := range recs {
		d.resolve(i)
		f := fuzzFile{Name: string(d.expand(r.name)), Data: d.stored[i], Plain: d.plain[i]}
		switch r.kind {
		case 'g':
			f.Compression = gzipCompression
		case 'z':
			f.Compression = zstdCompression
		case 's':
			f.Kind, f.Link, f.Data, f.Plain = fuzzSymlink, string(d.plain[i]), nil, nil
		case 'h':
			f.Kind, f.Link, f.Data, f.Plain = fuzzHardlink, string(d.plain[i]), nil, nil
		case 'd':
			f.Kind, f.Data, f.Plain = fuzzDir, nil, nil
		case 'e':
			f.Kind = fuzzTrailer
			f.Cut, _ = strconv.Atoi(f.Name)
		case 'c':
			f.Kind, f.Compression = fuzzCompress, zstdCompression
			if strings.HasPrefix(f.Name, "g") {
				f.Compression = gzipCompression
			}
		case 'p':
			f.Kind = fuzzPlatform
		case 'o':
			f.Kind = fuzzOpen
		case 'i':
			f.Kind = fuzzImageDiffIDs
		}
		files[i] = f
	}
	return files
}

// fuzzDecoder resolves the placeholders of records' contents.
type fuzzDecoder struct {
	recs   []fuzzRecord
	state  []int8   // 0 to do, 1 in progress, 2 done
	stored [][]byte // content as stored: expanded, then compressed
	plain  [][]byte // content expanded
}

// resolve expands record i's content, and reports whether it could: not
// when i is in a cycle.
func (d *fuzzDecoder) resolve(i int) bool {
	switch d.state[i] {
	case 1:
		return false
	case 2:
		return true
	}
	d.state[i] = 1
	plain := d.expand(d.recs[i].content)
	d.plain[i], d.stored[i] = plain, plain
	switch d.recs[i].kind {
	case 'g':
		d.stored[i] = fuzzGzip(plain)
	case 'z':
		d.stored[i] = fuzzZstd(plain)
	}
	d.state[i] = 2
	return true
}

// expand replaces the placeholders in s.
func (d *fuzzDecoder) expand(s []byte) []byte {
	if !bytes.ContainsAny(s, "$%#") {
		return s
	}
	var out []byte
	for k := 0; k < len(s); k++ {
		c := s[k]
		if (c == '$' || c == '%' || c == '#') && k+1 < len(s) {
			if j := fuzzIndex(s[k+1]); j >= 0 && j < len(d.recs) && d.resolve(j) {
				switch c {
				case '$':
					out = hex.AppendEncode(out, sha256Sum(d.stored[j]))
				case '%':
					out = hex.AppendEncode(out, sha256Sum(d.plain[j]))
				case '#':
					out = strconv.AppendInt(out, int64(len(d.stored[j])), 10)
				}
				k++
				continue
			}
		}
		out = append(out, c)
	}
	return out
}

// fuzzIndex is the record index character c names, or -1.
func fuzzIndex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'z':
		return 10 + int(c-'a')
	}
	return -1
}

// fuzzGzip and fuzzZstd compress b without compressing it: gzip with
// stored deflate blocks, zstd with raw blocks. A real encoder would add
// its own coverage, which grows with what the fuzzer writes, to the
// coverage the fuzzer steers by: every new encoder path would count as
// an interesting input, to be minimized, with nothing new read.
func fuzzGzip(b []byte) []byte {
	sum, size := crc32.ChecksumIEEE(b), uint32(len(b))
	out := []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff}
	for {
		n := min(len(b), 0xffff)
		final := byte(0)
		if n == len(b) {
			final = 1
		}
		out = append(out, final)
		out = binary.LittleEndian.AppendUint16(out, uint16(n))
		out = binary.LittleEndian.AppendUint16(out, ^uint16(n))
		out = append(out, b[:n]...)
		if final == 1 {
			break
		}
		b = b[n:]
	}
	out = binary.LittleEndian.AppendUint32(out, sum)
	return binary.LittleEndian.AppendUint32(out, size)
}

func fuzzZstd(b []byte) []byte {
	// No checksum, no content size, a 128 KiB window: the largest block.
	const maxBlock = 128 << 10
	out := []byte{0x28, 0xb5, 0x2f, 0xfd, 0, 7 << 3}
	for {
		n := min(len(b), maxBlock)
		last := uint32(0)
		if n == len(b) {
			last = 1
		}
		h := uint32(n)<<3 | last // block type 0: raw
		out = append(out, byte(h), byte(h>>8), byte(h>>16))
		out = append(out, b[:n]...)
		if last == 1 {
			return out
		}
		b = b[n:]
	}
}

// tarBytes returns the files as a tar archive, in input order, with the
// trailers and compression applied. A name tar cannot encode is left out.
func (fs fuzzFiles) tarBytes() []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mod := time.Unix(0, 0)
	for _, f := range fs {
		hdr := &tar.Header{Name: f.Name, Mode: 0o644, ModTime: mod, Format: tar.FormatPAX}
		switch f.Kind {
		case fuzzRegular:
			hdr.Typeflag, hdr.Size = tar.TypeReg, int64(len(f.Data))
		case fuzzSymlink:
			hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, f.Link
		case fuzzHardlink:
			hdr.Typeflag, hdr.Linkname = tar.TypeLink, f.Link
		case fuzzDir:
			hdr.Typeflag, hdr.Mode = tar.TypeDir, 0o755
		default:
			continue
		}
		if tw.WriteHeader(hdr) != nil {
			continue // such as a NUL in the name: not an error for tar.Writer
		}
		if hdr.Size > 0 {
			_, _ = tw.Write(f.Data)
		}
	}
	_ = tw.Close()
	b := buf.Bytes()
	for _, f := range fs {
		switch f.Kind {
		case fuzzTrailer:
			b = append(b[:len(b)-min(max(f.Cut, 0), len(b))], f.Data...)
		case fuzzCompress:
			if f.Compression == gzipCompression {
				b = fuzzGzip(b)
			} else {
				b = fuzzZstd(b)
			}
		}
	}
	return b
}

// platform is the platform the last platform directive names, nil when
// there is none or it does not parse.
func (fs fuzzFiles) platform() *ocispec.Platform {
	var out *ocispec.Platform
	for _, f := range fs {
		if f.Kind != fuzzPlatform {
			continue
		}
		p, err := platforms.Parse(f.Name)
		if err != nil {
			out = nil
			continue
		}
		out = &p
	}
	return out
}

// has reports whether the input has a record of kind k.
func (fs fuzzFiles) has(k fuzzKind) bool {
	return slices.ContainsFunc(fs, func(f fuzzFile) bool { return f.Kind == k })
}

// options are the reading options the fuzz input asks for, spooling under
// tmp and at most spoolLimit bytes (decompression bombs are fair inputs).
func (fs fuzzFiles) options(tmp string, spoolLimit int64) Options {
	return Options{TmpDir: tmp, Platform: fs.platform(), spoolLimit: spoolLimit}
}

func TestDecodeFuzzFiles(t *testing.T) {
	hexOf := func(b string) string { return hex.EncodeToString(sha256Sum([]byte(b))) }
	gz := fuzzGzip([]byte("hi"))
	files := decodeFuzzFiles([]byte("fa hi\n\ngblobs/sha256/$1 hi\nf$9 $0 %1 #1 $$0 $z $2\nsl ../a\nddir\ne12 tail\ncgz\nplinux/arm64\no"))
	want := fuzzFiles{
		{Kind: fuzzRegular, Name: "a", Data: []byte("hi"), Plain: []byte("hi")},
		{Kind: fuzzRegular, Name: "blobs/sha256/" + hexOf(string(gz)), Data: gz, Plain: []byte("hi"), Compression: gzipCompression},
		// A placeholder naming no record, or its own record's content, is
		// left as it is.
		{Kind: fuzzRegular, Name: "$9", Data: []byte(hexOf("hi") + " " + hexOf("hi") + " " + strconv.Itoa(len(gz)) + " $" + hexOf("hi") + " $z $2")},
		{Kind: fuzzSymlink, Name: "l", Link: "../a"},
		{Kind: fuzzDir, Name: "dir"},
		{Kind: fuzzTrailer, Name: "12", Data: []byte("tail"), Cut: 12},
		{Kind: fuzzCompress, Name: "gz", Compression: gzipCompression},
		{Kind: fuzzPlatform, Name: "linux/arm64"},
		{Kind: fuzzOpen},
	}
	want[2].Plain = want[2].Data
	if len(files) != len(want) {
		t.Fatalf("%d files, want %d", len(files), len(want))
	}
	for i := range want {
		got := files[i]
		if got.Kind == fuzzTrailer || got.Kind == fuzzCompress || got.Kind == fuzzPlatform || got.Kind == fuzzOpen {
			got.Plain = nil
			if got.Kind != fuzzTrailer {
				got.Data = nil
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want[i]) {
			t.Errorf("record %d:\n got %q\nwant %q", i, fmt.Sprint(got), fmt.Sprint(want[i]))
		}
	}
	if p := files.platform(); p == nil || p.Architecture != "arm64" {
		t.Errorf("platform %v", p)
	}
}

// TestFuzzCompress checks that what fuzzGzip and fuzzZstd write is read
// back, across their block boundaries.
func TestFuzzCompress(t *testing.T) {
	for _, n := range []int{0, 1, 0xffff, 0x10000, 128 << 10, 300 << 10} {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i * 7)
		}
		for c, z := range map[compression][]byte{gzipCompression: fuzzGzip(b), zstdCompression: fuzzZstd(b)} {
			if got := detectLayerCompression(z); got != c {
				t.Fatalf("%s detected as %s", c, got)
			}
			r, err := decompress(c, bytes.NewReader(z), Options{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			if err != nil || !bytes.Equal(got, b) {
				t.Fatalf("%s of %d bytes: read %d bytes, %v", c, n, len(got), err)
			}
			_ = r.Close()
		}
	}
}
