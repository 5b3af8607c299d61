package flatten

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestOpen(t *testing.T) {
	layers := [][]tf{
		{dir("etc"), reg("etc/passwd", "root:x:0:0"), dir("usr"), dir("usr/lib"), reg("usr/lib/os-release", "ID=test"),
			sym("etc/os-release", "../usr/lib/os-release"), sym("abs", "/etc/passwd"), sym("loop1", "loop2"), sym("loop2", "loop1"),
			sym("up", "../../../../etc/passwd"), sym("lib", "usr/lib"), dir("old"), reg("old/x", "x"), reg("gone", "g"), hl("hard", "etc/passwd"),
			{h: fifo("pipe")}, hl("pipelink", "pipe")},
		{wh("old"), wh("gone"), reg("etc/passwd", "root:x:0:0:changed")},
		{reg("gone", "back")},
	}
	var tars [][]byte
	for _, l := range layers {
		tars = append(tars, mkTar(t, l...))
	}
	for _, tc := range []struct {
		name     string
		upto     int // layers[:upto]
		want     string
		wantPath string
		err      error
		errHas   string
	}{
		{name: "/etc/passwd", upto: 3, want: "root:x:0:0:changed", wantPath: "etc/passwd"},
		{name: "etc/passwd", upto: 1, want: "root:x:0:0"},
		{name: "etc/os-release", upto: 3, want: "ID=test", wantPath: "usr/lib/os-release"},
		{name: "abs", upto: 3, want: "root:x:0:0:changed"},
		{name: "up", upto: 1, want: "root:x:0:0", wantPath: "etc/passwd"},
		{name: "/lib/os-release", upto: 1, want: "ID=test", wantPath: "usr/lib/os-release"},
		{name: "lib/../etc/passwd", upto: 1, err: ErrNotFound}, // lib/.. is usr: no usr/etc
		{name: "hard", upto: 3, want: "root:x:0:0", wantPath: "hard"},
		{name: "gone", upto: 3, want: "back"},
		{name: "gone", upto: 2, err: ErrNotFound, errHas: "gone: deleted by layer sha256:l1"},
		{name: "old/x", upto: 2, err: ErrNotFound, errHas: "old/x: deleted by layer sha256:l1"},
		{name: "old/x", upto: 1, want: "x"},
		{name: "nothing", upto: 3, err: ErrNotFound, errHas: "nothing: no such file or directory"},
		{name: "usr", upto: 3, err: ErrIsDir},
		{name: "/", upto: 3, err: ErrIsDir},
		{name: "lib", upto: 3, err: ErrIsDir},
		{name: "pipe", upto: 3, err: ErrNotRegular},
		{name: "pipelink", upto: 3, err: ErrNotRegular},
		{name: "loop1", upto: 3, err: ErrSymlinkLoop},
		{name: "etc/passwd/x", upto: 3, err: ErrNotDir},
	} {
		t.Run(fmt.Sprintf("%s@%d", tc.name, tc.upto), func(t *testing.T) {
			f, err := Open(t0ctx, mkLayers(tars[:tc.upto]...), tc.name)
			if tc.err != nil {
				if !errors.Is(err, tc.err) || !strings.Contains(fmt.Sprint(err), tc.errHas) {
					t.Fatalf("got error %v, want %v containing %q", err, tc.err, tc.errHas)
				}
				var de *DeletedError
				if strings.Contains(tc.errHas, "deleted") && (!errors.As(err, &de) || de.Layer != 1) {
					t.Errorf("want a *DeletedError of layer 1, got %#v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(f)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tc.want || int64(len(b)) != f.Header.Size {
				t.Errorf("got %q (header size %d), want %q", b, f.Header.Size, tc.want)
			}
			if tc.wantPath != "" && f.Path != tc.wantPath {
				t.Errorf("path %q, want %q", f.Path, tc.wantPath)
			}
		})
	}
}

func fifo(name string) *tar.Header {
	return &tar.Header{Typeflag: tar.TypeFifo, Name: name, Mode: 0o644, ModTime: testTime}
}

// TestOpenAgainstFlatten checks on random stacks that Open finds every
// file of the Flatten output with its bytes, and refuses its directories.
func TestOpenAgainstFlatten(t *testing.T) {
	r := rand.New(rand.NewPCG(*seed, 4))
	checked := 0
	for i := range *nStacks / 4 {
		tars := genStack(t, r, 1+r.IntN(3))
		out, err := flattenBytes(tars, false)
		if err != nil {
			continue
		}
		data := map[string]string{}
		tr := tar.NewReader(bytes.NewReader(out))
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(tr)
			name := strings.TrimSuffix(h.Name, "/")
			switch h.Typeflag {
			case tar.TypeLink: // of a file, or of a device or FIFO
				if v, ok := data[h.Linkname]; ok {
					data[name] = v
				}
			case tar.TypeReg:
				data[name] = string(b)
			case tar.TypeDir:
				data[name] = "<dir>"
			}
		}
		for name, want := range data {
			f, err := Open(t0ctx, mkLayers(tars...), "/"+name)
			got := "<dir>"
			if err == nil {
				b, _ := io.ReadAll(f)
				got = string(b)
			} else if !errors.Is(err, ErrIsDir) {
				t.Fatalf("stack %d: Open(%s): %v\n%s", i, name, err, dumpStack(t, tars))
			}
			if got != want {
				t.Fatalf("stack %d: Open(%s) = %q, want %q\n%s", i, name, got, want, dumpStack(t, tars))
			}
			checked++
		}
	}
	t.Logf("%d paths checked", checked)
}

// TestOpenTopAgainstOpen checks that OpenTop, which reads from the top
// down and stops early, finds what Open over all the layers finds, for
// every name any layer of random stacks holds, and asks for fewer layers
// when the top layer holds the file.
func TestOpenTopAgainstOpen(t *testing.T) {
	r := rand.New(rand.NewPCG(*seed, 5))
	checked, early := 0, 0
	for i := range *nStacks / 4 {
		tars := genStack(t, r, 1+r.IntN(5))
		layers := mkLayers(tars...)
		names := map[string]bool{"/": true, "/nope": true}
		for _, b := range tars {
			for _, l := range listing(t, b) {
				names["/"+strings.TrimSuffix(strings.Fields(l)[1], "/")] = true
			}
		}
		for name := range names {
			f, err := Open(t0ctx, layers, name)
			lowest := len(layers)
			get := func(from int) ([]Layer, error) {
				lowest = min(lowest, from)
				return layers[from:], nil
			}
			g, gerr := OpenTop(t0ctx, len(layers), get, name)
			var le *LayerError
			if errors.As(err, &le) && gerr == nil && lowest > 0 {
				continue // a lower layer's fault, in a layer OpenTop did not need
			}
			if (err == nil) != (gerr == nil) || (err != nil && err.Error() != gerr.Error()) {
				t.Fatalf("stack %d: %s: OpenTop error %v, Open error %v\n%s", i, name, gerr, err, dumpStack(t, tars))
			}
			if err != nil {
				continue
			}
			want, _ := io.ReadAll(f)
			got, _ := io.ReadAll(g)
			if f.Path != g.Path || f.Layer != g.Layer || string(want) != string(got) || f.Header.Name != g.Header.Name {
				t.Fatalf("stack %d: %s: OpenTop %s in layer %d (%q), Open %s in layer %d (%q)\n%s", i, name, g.Path, g.Layer, got, f.Path, f.Layer, want, dumpStack(t, tars))
			}
			if lowest > 0 {
				early++
			}
			checked++
		}
	}
	if early == 0 {
		t.Fatal("OpenTop never stopped before the bottom layer")
	}
	t.Logf("%d files found, %d without the bottom layer", checked, early)
}
