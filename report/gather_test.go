package report

import (
	"reflect"
	"testing"

	"github.com/docker-layers/docker-layers/analyze"
)

func TestWastedAndDuplicateFiles(t *testing.T) {
	e := &analyze.EfficiencyReport{
		Wasted: []analyze.WastedPath{
			{Path: "a", Bytes: 22, Layers: []int{0, 1, 2}, Shown: true},
			{Path: "d/x", Bytes: 7, Layers: []int{0}},
		},
		Duplicates: []analyze.DuplicateSet{
			{Size: 5, Copies: []analyze.FileRef{{Layer: 0, Path: "p"}, {Layer: 2, Path: "q", Hidden: true}}},
		},
	}
	want := []Wasted{
		{Path: "/a", Size: 22, Layers: []int{0, 1, 2}, Kind: "replaced"},
		{Path: "/d/x", Size: 7, Layers: []int{0}, Kind: "hidden"},
	}
	if got := wastedFiles(e); !reflect.DeepEqual(got, want) {
		t.Errorf("wastedFiles:\ngot  %+v\nwant %+v", got, want)
	}
	wantDup := []Duplicate{{Size: 5, Copies: 2, Files: []Copy{{Path: "/p", Layer: 0}, {Path: "/q", Layer: 2, Hidden: true}}}}
	if got := duplicateFiles(e); !reflect.DeepEqual(got, wantDup) {
		t.Errorf("duplicateFiles:\ngot  %+v\nwant %+v", got, wantDup)
	}
}

func TestTreeOf(t *testing.T) {
	u := &analyze.Usage{
		Dirs: []analyze.Dir{
			{Path: "", Bytes: 100, Files: 6, ByLayer: []int64{70, 30}},
			{Path: "usr", Depth: 1, Bytes: 90, Files: 5, ByLayer: []int64{60, 30}},
			{Path: "usr/lib", Depth: 2, Bytes: 50, Files: 3, ByLayer: []int64{50, 0}},
			{Path: "etc", Depth: 1, Bytes: 10, Files: 1, ByLayer: []int64{10, 0}},
		},
		Top: []analyze.File{
			{Path: "usr/lib/deep/big.so", Size: 40, Layer: 0},
			{Path: "usr/bin/tool", Size: 30, Layer: 1, DataLayer: 1}, // usr/bin is below the depth
		},
	}
	root := treeOf(u)
	type row struct {
		path  string
		size  int64
		files int
		layer int
		other bool
	}
	var got []row
	var walk func(n *Node)
	walk = func(n *Node) {
		got = append(got, row{n.Path, n.Size, n.Files, n.Layer, n.Other})
		for _, c := range n.Children {
			walk(c)
		}
	}
	walk(root)
	want := []row{
		{"/", 100, 6, 0, false},
		{"/usr", 90, 5, 0, false},
		{"/usr/lib", 50, 3, 0, false},
		{"/usr/lib/deep/big.so", 40, 1, 0, false},
		{"/usr/lib", 10, 2, 0, true},
		{"/usr/bin/tool", 30, 1, 1, false},
		{"/usr", 10, 1, 0, true},
		{"/etc", 10, 1, 0, false},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("treeOf:\ngot  %+v\nwant %+v", got, want)
	}
	if root.Name != "/" || root.Children[0].Name != "usr" {
		t.Errorf("names %q, %q", root.Name, root.Children[0].Name)
	}
	if treeOf(&analyze.Usage{}) != nil {
		t.Error("no directories gave a tree")
	}
}
