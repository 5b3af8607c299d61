package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

// uselessWhiteouts is a crafted image whose layers 1..2 make markers that
// hide nothing below layer 1: docs installed and deleted (a whiteout per
// package), a package directory made and replaced (an opaque marker), and
// a file of layer 0 deleted twice; besides the markers that do hide
// something in layer 0 (a file, and a directory replaced whole).
func uselessWhiteouts(t *testing.T) [][]byte {
	t.Helper()
	base := []entry{dir("etc"), file("etc/old.conf", "old"), file("etc/keep.conf", "keep"),
		dir("app"), dir("app/node_modules"), dir("app/node_modules/lodash"), file("app/node_modules/lodash/a.js", "a"),
		dir("usr"), dir("usr/share"), file("usr/share/base.txt", "base")}
	install := []entry{dir("usr/share/doc"), dir("app/node_modules/left-pad"), file("app/node_modules/left-pad/index.js", "v1")}
	cleanup := []entry{file("etc/.wh.old.conf", ""),
		dir("app/node_modules/lodash"), file("app/node_modules/lodash/.wh..wh..opq", ""), file("app/node_modules/lodash/b.js", "b"),
		dir("app/node_modules/left-pad"), file("app/node_modules/left-pad/.wh..wh..opq", ""), file("app/node_modules/left-pad/index.js", "v2")}
	for i := range 12 {
		p := fmt.Sprintf("usr/share/doc/pkg%02d", i)
		install = append(install, dir(p), file(p+"/copyright", "c"))
		cleanup = append(cleanup, file(fmt.Sprintf("usr/share/doc/.wh.pkg%02d", i), ""))
	}
	top := []entry{file("top.txt", "top")}
	return [][]byte{layerTar(t, base), layerTar(t, install), layerTar(t, cleanup), layerTar(t, top)}
}

// layerMarkers counts the whiteouts and opaque markers of a layer tar,
// gzipped or not.
func layerMarkers(t *testing.T, b []byte) (whiteouts, opaques int) {
	t.Helper()
	var r io.Reader = bytes.NewReader(b)
	if bytes.HasPrefix(b, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(r)
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return whiteouts, opaques
		}
		if err != nil {
			t.Fatalf("reading a layer: %v", err)
		}
		switch base := path.Base(h.Name); {
		case base == ".wh..wh..opq":
			opaques++
		case strings.HasPrefix(base, ".wh."):
			whiteouts++
		}
	}
}

// squashedLayerMarkers squashes layers 1..2 of img into an archive, with
// args, and counts the markers of the squashed layer.
func (d daemon) squashedLayerMarkers(t *testing.T, img string, args ...string) (whiteouts, opaques int) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "squashed.tar")
	must(t, d.plugin(t, append([]string{"squash", "-q", "-l", "1:2", "-o", out}, append(args, img)...)...))
	_, docs := archiveEntries(t, out)
	var items []struct{ Layers []string }
	if err := json.Unmarshal(docs["manifest.json"], &items); err != nil || len(items) != 1 || len(items[0].Layers) != 3 {
		t.Fatalf("manifest.json of the squash: %v %s", err, docs["manifest.json"])
	}
	layer, ok := docs[items[0].Layers[1]]
	if !ok {
		t.Fatalf("the archive has no %s", items[0].Layers[1])
	}
	return layerMarkers(t, layer)
}

// TestSquashMinimalWhiteouts: squash keeps only the markers that hide
// something below the range, and the image it loads has the original's
// file system; --all-whiteouts keeps every marker, as does
// extract --keep-whiteouts --all-whiteouts, and extract --keep-whiteouts
// writes what squash does.
func TestSquashMinimalWhiteouts(t *testing.T) {
	forEachDaemon(t, func(t *testing.T, d daemon) {
		const img, squashed = "dl-useless-wh:latest", "dl-useless-wh:squashed"
		d.load(t, loadArchive(t, img, uselessWhiteouts(t)))
		defer d.docker(t, "rmi", "-f", img, squashed)

		// The new default, loaded: the same file system.
		must(t, d.plugin(t, "squash", "-q", "-l", "1:2", "-t", squashed, img))
		got, want := d.exportTree(t, squashed), d.exportTree(t, img)
		dropExportAdds(got, want)
		if diff := diffTrees(got, want); diff != "" {
			t.Errorf("docker export of the minimal squash differs from the original's:\n%s", diff)
		}

		// The markers: the minimal layer keeps the whiteout of
		// etc/old.conf and lodash's opaque marker.
		mw, mo := d.squashedLayerMarkers(t, img)
		aw, ao := d.squashedLayerMarkers(t, img, "--all-whiteouts")
		t.Logf("squashed layer markers: minimal %d whiteouts, %d opaque; --all-whiteouts %d whiteouts, %d opaque", mw, mo, aw, ao)
		if mw != 1 || mo != 1 {
			t.Errorf("minimal squashed layer: %d whiteouts and %d opaque markers, want 1 and 1", mw, mo)
		}
		if aw+ao <= mw+mo || aw < 13 {
			t.Errorf("--all-whiteouts: %d whiteouts and %d opaque markers, want more than the minimal %d and %d", aw, ao, mw, mo)
		}

		// --all-whiteouts qualifies --keep-whiteouts.
		if r := d.plugin(t, "extract", "-o", "-", "--all-whiteouts", img); r.code == 0 || !strings.Contains(r.stderr, "--all-whiteouts needs --keep-whiteouts") {
			t.Errorf("extract --all-whiteouts without --keep-whiteouts: %s", r)
		}

		// extract --keep-whiteouts of the range is the minimal layer too.
		for _, tc := range []struct {
			args []string
			w, o int
		}{
			{[]string{"--keep-whiteouts"}, mw, mo},
			{[]string{"--keep-whiteouts", "--all-whiteouts"}, aw, ao},
		} {
			r := d.plugin(t, append(append([]string{"extract", "-o", "-", "-l", "1:2"}, tc.args...), img)...)
			if r.code != 0 {
				t.Fatalf("extract %v: %s", tc.args, r)
			}
			if w, o := layerMarkers(t, []byte(r.stdout)); w != tc.w || o != tc.o {
				t.Errorf("extract %v: %d whiteouts and %d opaque markers, want %d and %d as squash", tc.args, w, o, tc.w, tc.o)
			}
		}
	})
}
