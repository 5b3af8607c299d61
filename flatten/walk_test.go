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

// headerLines renders the headers of a tar stream, without file data.
func headerLines(t testing.TB, b []byte) []string {
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
		if h.Typeflag == tar.TypeReg {
			h.Size = 0 // render's size= is for other types
		}
		out = append(out, renderFull(h, nil))
	}
}

// walkLines walks layers and renders each entry as headerLines does a
// tar's, and gives the layer of each path.
func walkLines(layers []Layer, opts Options) ([]string, map[string]int, error) {
	var out []string
	layerOf := map[string]int{}
	err := Walk(t0ctx, layers, opts, func(e *Entry) error {
		h := *e.Header
		h.Name = e.Path
		if h.Typeflag == tar.TypeDir {
			h.Name += "/"
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = 0
		}
		out = append(out, renderFull(&h, nil))
		layerOf[e.Path] = e.Layer
		return nil
	})
	return out, layerOf, err
}

// TestWalkAgainstFlatten checks, on random layer stacks, that Walk gives
// the entries Flatten writes, in its order, with the layer that the naive
// reference says last wrote each path; with the index in memory and on
// disk.
func TestWalkAgainstFlatten(t *testing.T) {
	r := rand.New(rand.NewPCG(*seed, 3))
	stacks := 300
	if testing.Short() {
		stacks = 60
	}
	checked := 0
	for i := range stacks {
		tars := genStack(t, r, 1+r.IntN(4))
		_, refLayer, refErr := refMerge(tars)
		out, err := flattenBytes(tars, false)
		for _, entries := range []int{0, 3} {
			got, layerOf, werr := walkLines(mkLayers(tars...), Options{IndexEntries: entries})
			if (werr == nil) != (err == nil) || (err != nil && werr.Error() != err.Error()) {
				t.Fatalf("stack %d, IndexEntries %d: Walk error %v, Flatten error %v\n%s", i, entries, werr, err, dumpStack(t, tars))
			}
			if err != nil {
				continue
			}
			if d := diffLines(got, headerLines(t, out)); d != "" {
				t.Fatalf("stack %d, IndexEntries %d: Walk differs from Flatten\n%s\n%s", i, entries, d, dumpStack(t, tars))
			}
			if refErr != nil {
				t.Fatalf("stack %d: the reference fails where Walk does not: %v", i, refErr)
			}
			for p, l := range layerOf {
				if want, ok := refLayer[p]; !ok || want != l {
					t.Fatalf("stack %d, IndexEntries %d: %s: layer %d, reference %d (present %v)\n%s", i, entries, p, l, want, ok, dumpStack(t, tars))
				}
			}
			checked++
		}
	}
	if checked < stacks/4 {
		t.Errorf("only %d walks checked", checked)
	}
}

func TestWalkProvenance(t *testing.T) {
	tars := [][]byte{
		mkTar(t, dir("etc"), reg("etc/passwd", "root"), reg("etc/hosts", "h"), dir("usr"), reg("usr/a", "a"), reg("usr/b", "b")),
		mkTar(t, mode(reg("etc/passwd", "root"), 0o600), wh("usr/a"), reg("x/y", "implicit parent")),
		mkTar(t, reg("usr/a", "again"), hl("etc/link", "etc/hosts"), hl("etc/1st", "etc/passwd")),
	}
	_, layerOf, err := walkLines(mkLayers(tars...), Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{
		"etc": 0, "etc/passwd": 1, "etc/hosts": 0, "etc/link": 2, "etc/1st": 2,
		"usr": 0, "usr/a": 2, "usr/b": 0, "x": -1, "x/y": 1,
	}
	for p, l := range want {
		if layerOf[p] != l {
			t.Errorf("%s: layer %d, want %d", p, layerOf[p], l)
		}
	}
	if len(layerOf) != len(want) {
		t.Errorf("walked %v, want %v", layerOf, want)
	}
	// The data of a hardlinked file is its file's layer's, also for the
	// first name, which is written as the file.
	dataOf := map[string]int{}
	if err := Walk(t0ctx, mkLayers(tars...), Options{}, func(e *Entry) error {
		dataOf[e.Path] = e.DataLayer
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for p, l := range map[string]int{"etc/1st": 1, "etc/passwd": 1, "etc/link": 0, "etc/hosts": 0, "usr/a": 2, "x": -1} {
		if dataOf[p] != l {
			t.Errorf("%s: data layer %d, want %d", p, dataOf[p], l)
		}
	}
}

func TestWalkStopsAndFilters(t *testing.T) {
	layers := mkLayers(mkTar(t, reg("a/1", "1"), reg("a/2", "2"), reg("b/1", "1")))
	stop := errors.New("stop")
	n := 0
	err := Walk(t0ctx, layers, Options{}, func(*Entry) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("Walk returned %v after %d calls, want stop after 1", err, n)
	}
	var paths []string
	if err := Walk(t0ctx, layers, Options{Include: []string{"a/2"}}, func(e *Entry) error {
		paths = append(paths, e.Path)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(paths, " "); got != "a a/2" {
		t.Errorf("Include a/2 walked %q, want \"a a/2\"", got)
	}
	if err := Walk(t0ctx, layers, Options{KeepWhiteouts: true}, func(*Entry) error { return nil }); !errors.Is(err, errWalkKeep) {
		t.Errorf("KeepWhiteouts: %v", err)
	}
}

func TestEntries(t *testing.T) {
	layer := mkTar(t, dir("./"), dir("a"), reg("a/f", "data"), wh("a/gone"), opq("a"), hl("a/g", "lower/file"), reg(".wh..wh.plnk/1", "x"), sym("l", "a/f"))
	var got []string
	err := Entries(t0ctx, mkLayers(layer)[0], func(e *Entry) error {
		got = append(got, fmt.Sprintf("%s %c %d %s", e.Path, e.Header.Typeflag, e.Header.Size, e.Header.Linkname))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"a 5 0 ", "a/f 0 4 ", "a/g 1 0 lower/file", "l 2 0 a/f"}
	if d := diffLines(got, want); d != "" {
		t.Errorf("Entries:\n%s", d)
	}
	bad := mkTar(t, reg("../escape", "x"))
	if err := Entries(t0ctx, mkLayers(bad)[0], func(*Entry) error { return nil }); !errors.Is(err, ErrUnsafePath) {
		t.Errorf("an entry that climbs out: %v", err)
	}
}
