package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"path"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// savedLayerTars returns the layer tars of img, bottom first, as "docker
// save" holds them (decompressed): the test's own reading, independent of
// docker-layers.
func (d daemon) savedLayerTars(t *testing.T, img string) [][]byte {
	t.Helper()
	r := runCmd(t, []string{"DOCKER_HOST=" + d.host, "DOCKER_CONTEXT="}, nil, "docker", "save", img)
	if r.code != 0 {
		t.Fatalf("docker save: %s", r)
	}
	files := map[string][]byte{}
	tr := tar.NewReader(strings.NewReader(r.stdout))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[path.Clean(h.Name)] = b
	}
	var manifest []struct{ Layers []string }
	if err := json.Unmarshal(files["manifest.json"], &manifest); err != nil || len(manifest) != 1 {
		t.Fatalf("manifest.json: %v", err)
	}
	var out [][]byte
	for _, l := range manifest[0].Layers {
		b, ok := files[path.Clean(l)]
		if !ok {
			t.Fatalf("layer %s is not in the archive", l)
		}
		if bytes.HasPrefix(b, []byte{0x1f, 0x8b}) {
			zr, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if b, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
		}
		out = append(out, b)
	}
	return out
}

// refStep is what one layer did to a path, in the reference.
type refStep struct {
	layer int
	kind  string // A, C or D
}

// refProvenance applies the layer tars in order, naively: it gives, for
// each path of the result, the layer of the last entry written at it (-1
// for a parent no layer defines), and for every path ever written, the
// layers that added, replaced or deleted it (a whiteout of it or of a
// directory above it, an opaque marker of its parent or above).
func refProvenance(t *testing.T, layers [][]byte) (map[string]int, map[string][]refStep) {
	t.Helper()
	cur := map[string]int{}
	hist := map[string][]refStep{}
	del := func(p string, li int, self bool) {
		for q := range cur {
			if (self && q == p) || strings.HasPrefix(q, p+"/") || p == "" {
				delete(cur, q)
				hist[q] = append(hist[q], refStep{li, "D"})
			}
		}
	}
	for li, b := range layers {
		tr := tar.NewReader(bytes.NewReader(b))
		type ent struct {
			name string
			typ  byte
		}
		var ents []ent
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			ents = append(ents, ent{cleanName(h.Name), h.Typeflag})
		}
		written := map[string]bool{}
		for _, e := range ents {
			if !strings.HasPrefix(path.Base(e.name), ".wh.") {
				written[e.name] = true
			}
		}
		// Opaque markers, then whiteouts, then entries, as the spec says.
		for _, e := range ents {
			if path.Base(e.name) == ".wh..wh..opq" {
				dir := path.Dir(e.name)
				if dir == "." {
					dir = ""
				}
				for q := range cur {
					if strings.HasPrefix(q, dir+"/") && !written[q] {
						delete(cur, q)
						hist[q] = append(hist[q], refStep{li, "D"})
					}
				}
			}
		}
		for _, e := range ents {
			if base := path.Base(e.name); strings.HasPrefix(base, ".wh.") && base != ".wh..wh..opq" {
				del(path.Join(path.Dir(e.name), strings.TrimPrefix(base, ".wh.")), li, true)
			}
		}
		for _, e := range ents {
			if !written[e.name] || e.name == "" {
				continue
			}
			elems := strings.Split(e.name, "/")
			for k := 1; k < len(elems); k++ {
				if _, ok := cur[strings.Join(elems[:k], "/")]; !ok {
					cur[strings.Join(elems[:k], "/")] = -1
				}
			}
			old, had := cur[e.name]
			if had && old == li {
				continue // the same path twice in one layer
			}
			if e.typ != tar.TypeDir {
				del(e.name, li, false) // a non-directory replaces a subtree
			}
			kind := "A"
			if had {
				kind = "C"
			}
			cur[e.name] = li
			hist[e.name] = append(hist[e.name], refStep{li, kind})
		}
	}
	return cur, hist
}

// lsRow is one row of ls --format json.
type lsRow struct {
	Path, Type, Mode, Link, DiffID string
	UID, GID, Layer                int
	Size                           int64
}

func (d daemon) lsJSON(t *testing.T, args ...string) []lsRow {
	t.Helper()
	r := d.plugin(t, append([]string{"ls", "--format", "json"}, args...)...)
	if r.code != 0 {
		t.Fatalf("ls %v: %s", args, r)
	}
	var rows []lsRow
	for _, l := range lines(r.stdout) {
		if l == "" {
			continue
		}
		var row lsRow
		if err := json.Unmarshal([]byte(l), &row); err != nil {
			t.Fatalf("ls --format json: %v: %q", err, l)
		}
		rows = append(rows, row)
	}
	return rows
}

// TestLsMatchesReference checks ls -R against the extracted file system
// (paths, types, modes, owners, sizes, links) and the layer of each path
// against the layer tars of docker save, walked by the test.
func TestLsMatchesReference(t *testing.T) {
	const img = "docker-layers-fixture:latest"
	forEachDaemon(t, func(t *testing.T, d daemon) {
		want, links := readTreeLinks(t, strings.NewReader(must(t, d.plugin(t, "extract", "-o", "-", img))), false)
		cur, hist := refProvenance(t, d.savedLayerTars(t, img))
		rows := d.lsJSON(t, img, "-R")
		if len(rows) != len(want) {
			t.Errorf("ls -R gives %d paths, extract %d", len(rows), len(want))
		}
		var paths []string
		for _, r := range rows {
			p := strings.TrimPrefix(r.Path, "/")
			paths = append(paths, p)
			w, ok := want[p]
			if !ok {
				t.Errorf("%s: not in the extracted image", r.Path)
				continue
			}
			wantType := map[byte]string{tar.TypeReg: "file", tar.TypeDir: "dir", tar.TypeSymlink: "symlink"}[w.Type]
			size := w.Size
			if target, ok := links[p]; ok {
				wantType, size = "hardlink", 0
				if r.Link != "/"+target {
					t.Errorf("%s: links to %s, extract says %s", r.Path, r.Link, target)
				}
			}
			if r.Type != wantType || r.UID != w.UID || r.GID != w.GID || r.Size != size || (w.Type == tar.TypeSymlink && r.Link != w.Link) {
				t.Errorf("%s: %+v, extract says %+v", r.Path, r, w)
			}
			if got := lsModeBits(r.Mode); got != w.Mode {
				t.Errorf("%s: mode %s (%o), extract says %o", r.Path, r.Mode, got, w.Mode)
			}
			if l, ok := cur[p]; !ok || l != r.Layer {
				t.Errorf("%s: layer %d, the layer tars say %d (present %v)", r.Path, r.Layer, l, ok)
			}
		}
		// Depth first, children in byte order of their names.
		if !slices.IsSortedFunc(paths, func(a, b string) int {
			return strings.Compare(strings.ReplaceAll(a, "/", "\x00"), strings.ReplaceAll(b, "/", "\x00"))
		}) {
			t.Errorf("ls -R is not in walk order")
		}
		// Provenance of files rewritten, chmod-ed, deleted and re-created.
		for p, layer := range map[string]int{
			"app/conf/app.conf": 3, "app/data/numbers.txt": 6, "app/old/three.txt": 5, "app/old": 5,
			"app/conf/numbers-link": 6, "app/conf/numbers-link/README": 6, "etc/passwd": 2,
		} {
			if cur[p] != layer {
				t.Errorf("the reference gives %s layer %d, the fixture's README %d", p, cur[p], layer)
			}
		}
		// History: every layer that added, changed or deleted the path.
		for _, p := range []string{"app/conf/app.conf", "app/delete-me.txt", "app/old/one.txt", "app/old", "app/data/numbers.txt", "app/conf/numbers-link"} {
			r := d.plugin(t, "ls", img, "--history", "/"+p, "--format", "{{.Layer}} {{.Change}}")
			if r.code != 0 {
				t.Fatalf("ls --history %s: %s", p, r)
			}
			var want []string
			for _, s := range hist[p] {
				want = append(want, strconv.Itoa(s.layer)+" "+s.kind)
			}
			checkLines(t, "ls --history /"+p, r.stdout, want)
		}
	})
}

// lsModeBits parses ls's "drwxr-xr-x" back into permission bits.
func lsModeBits(s string) int64 {
	var m int64
	for i, c := range s[1:] {
		if c != '-' && c != 'S' && c != 'T' {
			m |= 1 << (8 - i)
		}
	}
	switch {
	case s[3] == 's' || s[3] == 'S':
		m |= 0o4000
	}
	if s[6] == 's' || s[6] == 'S' {
		m |= 0o2000
	}
	if s[9] == 't' || s[9] == 'T' {
		m |= 0o1000
	}
	return m
}

// TestDu checks du's sums by directory, its largest files and its layer
// sums against the extracted file system and the layer tars.
func TestDu(t *testing.T) {
	const img = "docker-layers-fixture:latest"
	forEachDaemon(t, func(t *testing.T, d daemon) {
		want, links := readTreeLinks(t, strings.NewReader(must(t, d.plugin(t, "extract", "-o", "-", img))), false)
		type sums struct{ Size, Files, Dirs int64 }
		ref := map[string]*sums{"": {}}
		var files []string
		for p, n := range want {
			top := strings.SplitN(p, "/", 2)[0]
			if n.Type == tar.TypeDir && !strings.Contains(p, "/") {
				if ref[top] == nil {
					ref[top] = &sums{}
				}
			}
			for _, k := range []string{"", top} {
				if k == p {
					continue
				}
				if ref[k] == nil {
					ref[k] = &sums{}
				}
				switch {
				case n.Type == tar.TypeDir:
					ref[k].Dirs++
				case n.Type == tar.TypeReg && links[p] == "":
					ref[k].Size += n.Size
					ref[k].Files++
				default:
					ref[k].Files++
				}
			}
			if n.Type == tar.TypeReg && links[p] == "" {
				files = append(files, p)
			}
		}
		r := d.plugin(t, "du", img, "--format", "json")
		if r.code != 0 {
			t.Fatalf("du: %s", r)
		}
		var got []struct {
			Path              string
			Size, Files, Dirs int64
			ByLayer           map[string]int64
		}
		for _, l := range lines(r.stdout) {
			var v struct {
				Path              string
				Size, Files, Dirs int64
				ByLayer           map[string]int64
			}
			if err := json.Unmarshal([]byte(l), &v); err != nil {
				t.Fatalf("du --format json: %v: %q", err, l)
			}
			got = append(got, v)
		}
		if len(got) != len(ref) {
			t.Errorf("du gives %d directories, the reference %d", len(got), len(ref))
		}
		for i, g := range got {
			w := ref[strings.TrimPrefix(g.Path, "/")]
			if w == nil || *w != (sums{g.Size, g.Files, g.Dirs}) {
				t.Errorf("du %s: %d bytes, %d files, %d dirs; reference %+v", g.Path, g.Size, g.Files, g.Dirs, w)
			}
			var by int64
			for _, b := range g.ByLayer {
				by += b
			}
			if by != g.Size {
				t.Errorf("du %s: bytes by layer add up to %d, not %d", g.Path, by, g.Size)
			}
			if i > 0 && g.Size > got[i-1].Size {
				t.Errorf("du: not largest first at %s", g.Path)
			}
		}
		// The largest files, with the layer each came from.
		slices.SortFunc(files, func(a, b string) int {
			if want[a].Size != want[b].Size {
				return int(want[b].Size - want[a].Size)
			}
			return strings.Compare(a, b)
		})
		cur, _ := refProvenance(t, d.savedLayerTars(t, img))
		var wantTop []string
		for _, p := range files[:3] {
			wantTop = append(wantTop, strconv.FormatInt(want[p].Size, 10)+" "+strconv.Itoa(cur[p])+" /"+p)
		}
		r = d.plugin(t, "du", img, "--top", "3", "-H=false", "--format", "{{.Size}} {{.Layer}} {{.Path}}")
		checkLines(t, "du --top 3", must(t, r), wantTop)
		// --per-layer: each layer's own regular files, from its tar.
		r = d.plugin(t, "du", img, "--per-layer", "--depth", "0", "-H=false", "--format", "{{.Layer}} {{.Size}}")
		var wantPer []string
		for li, b := range d.savedLayerTars(t, img) {
			var n int64
			tr := tar.NewReader(bytes.NewReader(b))
			for {
				h, err := tr.Next()
				if err != nil {
					break
				}
				if h.Typeflag == tar.TypeReg && !strings.HasPrefix(path.Base(h.Name), ".wh.") {
					n += h.Size
				}
			}
			wantPer = append(wantPer, strconv.Itoa(li)+" "+strconv.FormatInt(n, 10))
		}
		checkLines(t, "du --per-layer --depth 0", must(t, r), wantPer)
	})
}

// TestLsDuErrors: bad flags are usage errors; a missing path is exit 2,
// after the rest is listed.
func TestLsDuErrors(t *testing.T) {
	const img = "docker-layers-fixture:latest"
	forEachDaemon(t, func(t *testing.T, d daemon) {
		for _, c := range []struct {
			args []string
			code int
			msg  string
		}{
			{[]string{"ls", img, "--depth", "-1"}, 1, "invalid --depth -1"},
			{[]string{"ls", img, "-R", "--depth", "2"}, 1, "-R and --depth conflict"},
			{[]string{"ls", img, "--tree", "--format", "json"}, 1, "--tree draws a table"},
			{[]string{"ls", img, "--history"}, 1, "give exactly one PATH"},
			{[]string{"ls", img, "--path", "[x"}, 1, "invalid --path"},
			{[]string{"ls", img, "/etc", "/nope"}, 2, "/nope: no such file or directory"},
			{[]string{"du", img, "/etc/passwd"}, 2, "/etc/passwd: not a directory"},
			{[]string{"du", img, "--top", "-2"}, 1, "invalid --top -2"},
			{[]string{"du", img, "--top", "2", "--depth", "2"}, 1, "--top lists files"},
			{[]string{"du", img, "/a", "/b"}, 1, "at most one PATH"},
		} {
			r := d.plugin(t, c.args...)
			if r.code != c.code || !strings.Contains(r.stderr, c.msg) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
				t.Errorf("%v: exit %d, stderr %q; want exit %d and one line with %q", c.args, r.code, r.stderr, c.code, c.msg)
			}
		}
		// The existing path is listed before the error.
		r := d.plugin(t, "ls", img, "/etc", "/nope", "--format", "{{.Path}}")
		if !strings.Contains(r.stdout, "/etc/passwd") {
			t.Errorf("ls /etc /nope: %s", r)
		}
	})
}
