package flatten

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
)

// renderChange describes a change in one line: layer, kind, path, type,
// size, and what changed.
func renderChange(c Change) string {
	s := fmt.Sprintf("%d %s %s %s %d", c.Layer, c.Kind, c.Path, typeNames[c.Type], c.Size)
	if c.What != 0 {
		s += " " + strings.Join(c.What.Strings(), ",")
	}
	return s
}

func TestChanges(t *testing.T) {
	for _, tc := range []struct {
		name    string
		layers  [][]tf
		report  []int
		include []string
		want    []string
		sums    []LayerSummary
	}{
		{
			name: "add, change content, mode, owner and type, delete",
			layers: [][]tf{
				{dir("d"), reg("d/a", "aaa"), reg("d/b", "bbb"), reg("d/m", "m"), reg("d/o", "o"), reg("d/t", "t"), reg("d/same", "s"), reg("gone", "12345")},
				{dir("d"), reg("d/a", "AAA"), reg("d/b", "bbbb"), mode(reg("d/m", "m"), 0o755), owner(reg("d/o", "o"), 1, 2), sym("d/t", "a"), reg("d/same", "s"), reg("d/new", "nn"), wh("gone")},
			},
			want: []string{
				"0 A d dir 0", "0 A d/a reg 3", "0 A d/b reg 3", "0 A d/m reg 1", "0 A d/o reg 1", "0 A d/same reg 1", "0 A d/t reg 1", "0 A gone reg 5",
				"1 C d/a reg 3 content", "1 C d/b reg 4 content", "1 C d/m reg 1 mode", "1 A d/new reg 2", "1 C d/o reg 1 owner", "1 C d/t sym 0 type", "1 D gone reg 5",
			},
			sums: []LayerSummary{
				{Added: 8, AddedBytes: 15, Wasted: 3 + 3 + 1 + 1 + 1 + 1 + 5},
				{Added: 1, AddedBytes: 2, Changed: 5, ChangedBytes: 9, Deleted: 1, DeletedBytes: 5},
			},
		},
		{
			name: "a deleted directory is one row with its size; only the reported layers",
			layers: [][]tf{
				{dir("x"), reg("x/1", "one"), dir("x/y"), reg("x/y/2", "two!"), reg("keep", "k")},
				{wh("x")},
			},
			report: []int{1},
			want:   []string{"1 D x dir 7"},
			sums:   []LayerSummary{{Wasted: 7}, {Deleted: 1, DeletedBytes: 7}},
		},
		{
			name: "opaque: lower children not re-created are deleted",
			layers: [][]tf{
				{dir("d"), reg("d/a", "a"), dir("d/sub"), reg("d/sub/b", "bb"), reg("d/c", "ccc")},
				{dir("d"), opq("d"), reg("d/c", "ccc"), dir("d/sub")},
			},
			report: []int{1},
			want:   []string{"1 D d/a reg 1", "1 D d/sub/b reg 2"},
			sums:   []LayerSummary{{Wasted: 6}, {Deleted: 2, DeletedBytes: 3}},
		},
		{
			name: "whiteout and re-create in one layer",
			layers: [][]tf{
				{dir("d"), reg("d/x", "lower"), reg("d/y", "lower")},
				{wh("d"), mode(dir("d"), 0o700), reg("d/z", "upper")},
			},
			report: []int{1},
			want:   []string{"1 C d dir 0 mode", "1 D d/x reg 5", "1 D d/y reg 5", "1 A d/z reg 5"},
		},
		{
			name: "implicit parents are added; an implicit parent over a directory is no change",
			layers: [][]tf{
				{dir("etc"), reg("etc/a", "a")},
				{reg("etc/b", "b"), reg("new/deep/f", "f")},
			},
			report: []int{1},
			want:   []string{"1 A etc/b reg 1", "1 A new dir 0", "1 A new/deep dir 0", "1 A new/deep/f reg 1"},
		},
		{
			name: "directory replaced by a file: one type change, the subtree is wasted",
			layers: [][]tf{
				{dir("p"), reg("p/q", "12"), dir("p/r"), reg("p/r/s", "345")},
				{reg("p", "file")},
			},
			report: []int{1},
			want:   []string{"1 C p reg 4 type"},
			sums:   []LayerSummary{{Wasted: 5}, {Changed: 1, ChangedBytes: 4}},
		},
		{
			name: "same size, other bytes; symlink target; hardlink; device",
			layers: [][]tf{
				{reg("f", "abc"), sym("s", "f"), {h: &tar.Header{Typeflag: tar.TypeChar, Name: "c", Mode: 0o666, Devmajor: 1, Devminor: 3, ModTime: testTime}}},
				{reg("f", "abd"), sym("s", "g"), hl("l", "f"), {h: &tar.Header{Typeflag: tar.TypeChar, Name: "c", Mode: 0o666, Devmajor: 1, Devminor: 5, ModTime: testTime}}},
			},
			report: []int{1},
			want:   []string{"1 C c chr 0 content", "1 C f reg 3 content", "1 A l lnk 0", "1 C s sym 0 content"},
		},
		{
			name: "path filter: a directory glob selects its subtree",
			layers: [][]tf{
				{dir("a"), reg("a/1", "1"), dir("b"), reg("b/2", "22"), reg("c", "3")},
				{wh("a"), reg("b/2", "xx"), reg("c", "33")},
			},
			include: []string{"/b", "a*"},
			want:    []string{"0 A a dir 0", "0 A a/1 reg 1", "0 A b dir 0", "0 A b/2 reg 2", "1 D a dir 1", "1 C b/2 reg 2 content"},
			sums: []LayerSummary{
				{Added: 4, AddedBytes: 3, Wasted: 3},
				{Changed: 1, ChangedBytes: 2, Deleted: 1, DeletedBytes: 1},
			},
		},
		{
			name: "path filter under a deleted directory: rows for the selected paths",
			layers: [][]tf{
				{dir("x"), reg("x/1", "one"), dir("x/y"), reg("x/y/2", "two!"), reg("keep", "k")},
				{wh("x")},
			},
			report:  []int{1},
			include: []string{"x/y/*"},
			want:    []string{"1 D x/y/2 reg 4"},
			sums:    []LayerSummary{{Wasted: 4}, {Deleted: 1, DeletedBytes: 4}},
		},
		{
			name: "path filter under a directory replaced by a file: rows for the selected paths",
			layers: [][]tf{
				{dir("p"), reg("p/k", "kk"), dir("p/q"), reg("p/q/r", "rrr")},
				{reg("p", "now a file")},
				{dir("p")},
			},
			include: []string{"p/k", "p/q"},
			want:    []string{"0 A p/k reg 2", "0 A p/q dir 0", "0 A p/q/r reg 3", "1 D p/k reg 2", "1 D p/q dir 3"},
			sums:    []LayerSummary{{Added: 3, AddedBytes: 5, Wasted: 5}, {Deleted: 2, DeletedBytes: 5}, {}},
		},
		{
			name:   "root opaque hides every lower child",
			layers: [][]tf{{reg("a", "a"), dir("b"), reg("b/c", "c")}, {opq(""), reg("new", "n")}},
			report: []int{1},
			want:   []string{"1 D a reg 1", "1 D b dir 1", "1 A new reg 1"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var tars [][]byte
			for _, l := range tc.layers {
				tars = append(tars, mkTar(t, l...))
			}
			opts := ChangesOptions{Report: tc.report}
			if tc.include != nil {
				pf, err := NewPathFilter(tc.include, nil)
				if err != nil {
					t.Fatal(err)
				}
				opts.Filter = pf
			}
			cs, err := Changes(t0ctx, mkLayers(tars...), opts)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range cs.Changes {
				got = append(got, renderChange(c))
			}
			if d := diffLines(got, tc.want); d != "" {
				t.Error(d)
			}
			if tc.sums != nil {
				for i, s := range tc.sums {
					if cs.Summaries[i] != s {
						t.Errorf("layer %d summary: got %+v, want %+v", i, cs.Summaries[i], s)
					}
				}
			}
		})
	}
}

func TestChangesErrors(t *testing.T) {
	_, err := Changes(t0ctx, mkLayers(mkTar(t, reg("a", "x")), mkTar(t, reg("../b", "y"))), ChangesOptions{})
	if err == nil || !strings.Contains(err.Error(), `layer sha256:l1: entry "../b"`) {
		t.Errorf("unsafe name: %v", err)
	}
}

// Stored lists every regular file the layers store, whether the merge
// still shows it, and hashes it on demand, from a layer or its recording.
func TestChangesStored(t *testing.T) {
	tars := [][]byte{
		mkTar(t, dir("d/"), reg("d/a", "aaa"), hl("d/l", "d/a"), reg("f", "ff"), reg("g", "gg")),
		mkTar(t, wh("d/a"), reg("f", "FF"), reg("h", "")),
		mkTar(t, wh("d"), reg("g", "gg")),
	}
	layers := mkLayers(tars...)
	rec, err := Record(t0ctx, layers[1].ID, bytes.NewReader(tars[1]), Options{})
	if err != nil {
		t.Fatal(err)
	}
	layers[1] = Layer{ID: layers[1].ID, Recording: rec}
	cs, err := Changes(t0ctx, layers, ChangesOptions{Report: []int{}, Stored: true})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range cs.Stored {
		d, err := cs.Digest(f)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%d %s %d hidden=%v %s", f.Layer, f.Path, f.Size, f.Hidden, d.Encoded()[:8]))
	}
	want := []string{
		"0 d/a 3 hidden=true " + sha8("aaa"), // deleted with d (the link d/l showed it until then)
		"0 f 2 hidden=true " + sha8("ff"),
		"0 g 2 hidden=true " + sha8("gg"),
		"1 f 2 hidden=false " + sha8("FF"),
		"1 h 0 hidden=false " + sha8(""),
		"2 g 2 hidden=false " + sha8("gg"),
	}
	if d := diffLines(got, want); d != "" {
		t.Error(d)
	}
	if cs.Summaries[0].Wasted != 7 {
		t.Errorf("layer 0 wastes %d bytes, want 7", cs.Summaries[0].Wasted)
	}
	if _, err := (&ChangeSet{}).Digest(StoredFile{}); err == nil {
		t.Error("Digest without Stored: no error")
	}
}

func sha8(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:4])
}
