package flatten

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

func TestCleanName(t *testing.T) {
	tests := []struct {
		in, want string
		err      error
	}{
		{in: "a", want: "a"},
		{in: "./a", want: "a"},
		{in: "/a/", want: "a"},
		{in: "//a//b/", want: "a/b"},
		{in: "a/./b", want: "a/b"},
		{in: "a/../b", want: "b"},
		{in: "././a", want: "a"},
		{in: "caf\xe9/\xff", want: "caf\xe9/\xff"},
		{in: "..", err: ErrUnsafePath},
		{in: "../x", err: ErrUnsafePath},
		{in: "a/../../x", err: ErrUnsafePath},
		{in: "/../x", err: ErrUnsafePath},
		{in: "/a/../..", err: ErrUnsafePath},
		{in: "", err: ErrInvalidName},
		{in: ".", err: ErrInvalidName},
		{in: "./", err: ErrInvalidName},
		{in: "/", err: ErrInvalidName},
		{in: "//", err: ErrInvalidName},
		{in: "x/..", err: ErrInvalidName},
		{in: "a\x00b", err: ErrInvalidName},
	}
	for _, tc := range tests {
		got, err := CleanName(tc.in)
		if !errors.Is(err, tc.err) || got != tc.want {
			t.Errorf("CleanName(%q) = %q, %v; want %q, %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestClassifyName(t *testing.T) {
	tests := []struct {
		in     string
		kind   markerKind
		target string
		err    error
	}{
		{in: "a/b", kind: plainEntry},
		{in: W + "a", kind: whiteoutMarker, target: "a"},
		{in: "d/" + W + "a", kind: whiteoutMarker, target: "d/a"},
		{in: O, kind: opaqueMarker, target: ""},
		{in: "d/e/" + O, kind: opaqueMarker, target: "d/e"},
		{in: W + "etc/file", kind: plainEntry},
		{in: "d/" + W, kind: emptyWhiteout},
		{in: "d/" + O + "X", kind: metaEntry},
		{in: WhiteoutLinkDir + "/1", kind: metaEntry},
		{in: "d/" + WhiteoutMetaPrefix + "x/" + O, kind: metaEntry},
		{in: W + ".", err: ErrInvalidName},
		{in: W + "..", err: ErrUnsafePath},
		{in: W + "...", kind: whiteoutMarker, target: "..."},
	}
	for _, tc := range tests {
		kind, target, err := classifyName(tc.in)
		if !errors.Is(err, tc.err) || kind != tc.kind || target != tc.target {
			t.Errorf("classifyName(%q) = %d, %q, %v; want %d, %q, %v", tc.in, kind, target, err, tc.kind, tc.target, tc.err)
		}
	}
}

// TestAttributesPreserved checks every header field that is copied.
func TestAttributesPreserved(t *testing.T) {
	t.Setenv("TZ", "UTC")
	longDir := strings.Repeat("d", 150)
	longName := longDir + "/" + strings.Repeat("f", 200)
	mtime := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
	atime := time.Date(2024, 5, 6, 7, 8, 10, 5, time.UTC)
	in := []*tar.Header{
		{Typeflag: tar.TypeDir, Name: longDir + "/", Mode: 0o1777, Uid: 1 << 31, Gid: 70000, Uname: "üser", Gname: "group", ModTime: mtime},
		{Typeflag: tar.TypeReg, Name: longName, Mode: 0o6755, Uid: 4000000000, Gid: 5, Uname: "u", Gname: "g", ModTime: mtime, AccessTime: atime, Size: 3,
			PAXRecords: map[string]string{"SCHILY.xattr.user.a": "1", "SCHILY.xattr.trusted.b": "x\x00y"}},
		{Typeflag: tar.TypeSymlink, Name: "s", Linkname: strings.Repeat("t/", 120), Mode: 0o777, ModTime: mtime},
		{Typeflag: tar.TypeChar, Name: "c", Devmajor: 0o7777777, Devminor: 12345, Mode: 0o600, ModTime: mtime},
	}
	var es []tf
	for _, h := range in {
		e := tf{h: h}
		if h.Size > 0 {
			e.body = "abc"
		}
		es = append(es, e)
	}
	out, _, err := run(t, [][]byte{mkTar(t, es...)}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(bytes.NewReader(out))
	var got []*tar.Header
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, h)
	}
	// Output order: sorted by name.
	want := []*tar.Header{in[3], in[0], in[1], in[2]}
	if len(got) != len(want) {
		t.Fatalf("got %d entries, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Name != w.Name || g.Typeflag != w.Typeflag || g.Mode != w.Mode || g.Uid != w.Uid || g.Gid != w.Gid ||
			g.Uname != w.Uname || g.Gname != w.Gname || !g.ModTime.Equal(w.ModTime) || !g.AccessTime.Equal(w.AccessTime) ||
			g.Linkname != w.Linkname || g.Devmajor != w.Devmajor || g.Devminor != w.Devminor || g.Size != w.Size {
			t.Errorf("entry %d:\n got %+v\nwant %+v", i, *g, *w)
		}
		for k, v := range w.PAXRecords {
			if g.PAXRecords[k] != v {
				t.Errorf("entry %q: PAX record %q = %q, want %q", g.Name, k, g.PAXRecords[k], v)
			}
		}
	}
}

// flattenPipe runs Indexer.Flatten into an io.Pipe and returns its read
// side, which ends with Flatten's error.
func flattenPipe(layers []Layer) *io.PipeReader {
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(flattenLayers(context.Background(), pw, layers, Options{}))
	}()
	return pr
}

// TestPipe: the output streams through an io.Pipe: the same bytes, an
// error reaches the reader after the data, and closing the reader early
// stops Flatten.
func TestPipe(t *testing.T) {
	tars := [][]byte{mkTar(t, reg("a", "x"), dir("d")), mkTar(t, reg("d/b", "y"))}
	want, _, err := run(t, tars, Options{})
	if err != nil {
		t.Fatal(err)
	}
	rc := flattenPipe(mkLayers(tars...))
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("output through a pipe differs")
	}

	// An error reaches the reader.
	bad := [][]byte{mkTar(t, reg("../x", ""))}
	rc = flattenPipe(mkLayers(bad...))
	if _, err := io.ReadAll(rc); !errors.Is(err, ErrUnsafePath) {
		t.Errorf("got %v, want ErrUnsafePath", err)
	}
	rc.Close()

	// Closing early stops Flatten, with the pipe's error.
	big := [][]byte{mkTar(t, reg("big", strings.Repeat("x", 4<<20)))}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- flattenLayers(context.Background(), pw, mkLayers(big...), Options{}) }()
	if _, err := pr.Read(make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	if err := pr.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("Flatten after the reader closed: %v, want io.ErrClosedPipe", err)
	}
}

func TestCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tars := [][]byte{mkTar(t, reg("a", "x"))}
	var out bytes.Buffer
	err := flattenLayers(ctx, &out, mkLayers(tars...), Options{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

func TestBadLayer(t *testing.T) {
	var out bytes.Buffer
	err := flattenLayers(context.Background(), &out, []Layer{{ID: "x", Size: 3}}, Options{})
	if err == nil || !strings.Contains(err.Error(), "layer x:") {
		t.Fatalf("got %v", err)
	}
	// An empty layer list gives an empty tar.
	out.Reset()
	if err := flattenLayers(context.Background(), &out, nil, Options{}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), endMarker) {
		t.Errorf("empty flatten = %d bytes", out.Len())
	}
}

// TestManyMarkersBelowReplacedSymlink guards against quadratic work: many
// whiteouts below a symlink that their own layer replaces.
func TestManyMarkersBelowReplacedSymlink(t *testing.T) {
	es := []tf{dir("s")}
	for i := range 20000 {
		es = append(es, wh(fmt.Sprintf("s/f%d", i)))
	}
	start := time.Now()
	out, _, err := run(t, [][]byte{mkTar(t, sym("s", "x")), mkTar(t, es...)}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if d := diffLines(listing(t, out), []string{"dir s/ 0755 0:0"}); d != "" {
		t.Error(d)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("took %v", el)
	}
}
