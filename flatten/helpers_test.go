package flatten

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"testing"
	"time"
)

// testTime is the mtime of built entries. Times are built and compared in
// UTC, so the tests do not depend on TZ.
var testTime = time.Date(2023, 1, 2, 3, 4, 5, 0, time.UTC)

// tf is one entry of a test layer: a header and its body, or raw bytes
// appended as they are (for hand-made headers).
type tf struct {
	h    *tar.Header
	body string
	raw  []byte
}

func reg(name, body string) tf {
	return tf{h: &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(body)), ModTime: testTime}, body: body}
}

func dir(name string) tf {
	return tf{h: &tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755, ModTime: testTime}}
}

func sym(name, target string) tf {
	return tf{h: &tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777, ModTime: testTime}}
}

func hl(name, target string) tf {
	return tf{h: &tar.Header{Typeflag: tar.TypeLink, Name: name, Linkname: target, Mode: 0o644, ModTime: testTime}}
}

// wh is the whiteout that hides p. Whiteout names are built, never
// committed as files.
func wh(p string) tf {
	d, b := path.Split(p)
	return reg(d+WhiteoutPrefix+b, "")
}

// opq is the opaque marker of directory d ("" for the root).
func opq(d string) tf {
	return reg(path.Join(d, WhiteoutOpaqueDir), "")
}

// with changes the header of e.
func with(e tf, fn func(h *tar.Header)) tf {
	h := *e.h
	fn(&h)
	e.h = &h
	return e
}

func mode(e tf, m int64) tf { return with(e, func(h *tar.Header) { h.Mode = m }) }

func owner(e tf, uid, gid int) tf {
	return with(e, func(h *tar.Header) { h.Uid, h.Gid = uid, gid })
}

// mkTar builds a layer tar in memory.
func mkTar(t testing.TB, entries ...tf) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		if e.raw != nil {
			if err := tw.Flush(); err != nil {
				t.Fatal(err)
			}
			buf.Write(e.raw)
			continue
		}
		h := *e.h
		if h.Format == tar.FormatUnknown {
			h.Format = tar.FormatPAX
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatalf("building %q: %v", h.Name, err)
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			t.Fatalf("building %q: %v", h.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// mkLayers turns tars into Layers with IDs sha256:l0, sha256:l1, ….
func mkLayers(tars ...[]byte) []Layer {
	ls := make([]Layer, len(tars))
	for i, b := range tars {
		ls[i] = Layer{ID: fmt.Sprintf("sha256:l%d", i), R: bytes.NewReader(b), Size: int64(len(b))}
	}
	return ls
}

// flattenLayers writes the merge of layers to w through an Indexer, as
// the commands do, with every layer added at once.
func flattenLayers(ctx context.Context, w io.Writer, layers []Layer, opts Options) error {
	x := NewIndexer(ctx, len(layers), opts)
	defer x.Close()
	return x.Flatten(w, layers)
}

// run flattens and returns the output bytes and the warnings.
func run(t testing.TB, tars [][]byte, opts Options) ([]byte, []string, error) {
	t.Helper()
	var warns []string
	opts.Warn = func(m string) { warns = append(warns, m) }
	var out bytes.Buffer
	err := flattenLayers(context.Background(), &out, mkLayers(tars...), opts)
	return out.Bytes(), warns, err
}

var typeNames = map[byte]string{
	tar.TypeReg: "reg", tar.TypeDir: "dir", tar.TypeSymlink: "sym", tar.TypeLink: "lnk",
	tar.TypeChar: "chr", tar.TypeBlock: "blk", tar.TypeFifo: "fifo",
}

// render describes one entry in one line: type, name, mode, uid:gid, and
// the content, link target, device numbers and PAX records that apply.
func render(h *tar.Header, data []byte) string {
	tn, ok := typeNames[h.Typeflag]
	if !ok {
		tn = fmt.Sprintf("type%q", h.Typeflag)
	}
	s := fmt.Sprintf("%s %s %04o %d:%d", tn, h.Name, h.Mode, h.Uid, h.Gid)
	switch h.Typeflag {
	case tar.TypeReg:
		s += fmt.Sprintf(" %q", data)
	case tar.TypeSymlink, tar.TypeLink:
		s += " -> " + h.Linkname
	case tar.TypeChar, tar.TypeBlock:
		s += fmt.Sprintf(" %d,%d", h.Devmajor, h.Devminor)
	}
	if h.Typeflag != tar.TypeReg && h.Size != 0 {
		s += fmt.Sprintf(" size=%d", h.Size)
	}
	keys := make([]string, 0, len(h.PAXRecords))
	for k := range h.PAXRecords {
		if paxKeep(k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		s += fmt.Sprintf(" %s=%q", k, h.PAXRecords[k])
	}
	return s
}

// listing parses a tar and renders its entries.
func listing(t testing.TB, b []byte) []string {
	t.Helper()
	var out []string
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("output does not parse: %v", err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("output does not parse: %v", err)
		}
		out = append(out, render(h, data))
	}
}

func diffLines(got, want []string) string {
	if slices.Equal(got, want) {
		return ""
	}
	return "got:\n\t" + strings.Join(got, "\n\t") + "\nwant:\n\t" + strings.Join(want, "\n\t")
}

var t0ctx = context.Background()
