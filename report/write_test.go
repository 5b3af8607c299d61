package report

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
)

// sample is a small report with every section filled.
func sample() *Data {
	return &Data{
		Image: Image{Ref: "myimg:1", ID: "sha256:0123456789abcdef0123456789abcdef", Platform: "linux/amd64", Size: 3500, Files: 4, Tags: []string{"myimg:1"}},
		Layers: []Layer{
			{Index: 0, DiffID: "sha256:aaaa", Size: 3000, CreatedBy: "/bin/sh -c #(nop) ADD file:1 in /", Created: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Added: 3, AddedBytes: 3000, Wasted: 1000,
				Changes: []Change{{Kind: "A", Path: "/bin", Type: "dir"}, {Kind: "A", Path: "/bin/sh", Type: "file", Size: 2000}, {Kind: "A", Path: "/etc/conf", Type: "file", Size: 1000}}},
			{Index: 1, DiffID: "sha256:bbbb", Size: 500, CreatedBy: "RUN echo", Changed: 1, ChangedBytes: 500,
				Changes: []Change{{Kind: "C", Path: "/etc/conf", Type: "file", Size: 500, What: []string{"content"}}}},
		},
		Tree: &Node{Name: "/", Path: "/", Dir: true, Size: 2500, Files: 2, Children: []*Node{
			{Name: "bin", Path: "/bin", Dir: true, Size: 2000, Files: 1, Children: []*Node{{Name: "sh", Path: "/bin/sh", Size: 2000, Files: 1}}},
			{Name: "etc", Path: "/etc", Dir: true, Size: 500, Files: 1, Layer: 1, Children: []*Node{{Name: "conf", Path: "/etc/conf", Size: 500, Files: 1, Layer: 1}}},
		}},
		Wasted:     []Wasted{{Path: "/etc/conf", Size: 1000, Layers: []int{0, 1}, Kind: "replaced"}},
		Duplicates: []Duplicate{{Size: 10, Copies: 2, Files: []Copy{{Path: "/a", Layer: 0}, {Path: "/b", Layer: 1, Hidden: true}}}},
	}
}

func render(t *testing.T, d *Data) (string, *html.Node) {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, d); err != nil {
		t.Fatal(err)
	}
	doc, err := html.Parse(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return b.String(), doc
}

// find returns the elements of doc with the class cls.
func find(doc *html.Node, tag, cls string) []*html.Node {
	var out []*html.Node
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == tag && hasClass(n, cls) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return out
}

func hasClass(n *html.Node, cls string) bool {
	for _, a := range n.Attr {
		if a.Key == "class" {
			for _, f := range strings.Fields(a.Val) {
				if f == cls {
					return true
				}
			}
		}
	}
	return cls == ""
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func TestWrite(t *testing.T) {
	page, doc := render(t, sample())
	if n := len(find(doc, "details", "layer")); n != 2 {
		t.Errorf("%d layer rows, want 2", n)
	}
	if n := len(find(doc, "tr", "change")); n != 4 {
		t.Errorf("%d change rows, want 4", n)
	}
	boxes := find(doc, "div", "box")
	if len(boxes) != 4 { // bin, bin/sh, etc, etc/conf
		t.Errorf("%d treemap boxes, want 4", len(boxes))
	}
	for _, b := range boxes {
		if attr(b, "data-path") == "" || attr(b, "data-layer") == "" || !strings.HasPrefix(attr(b, "style"), "left:") {
			t.Errorf("box without its data: %v", b.Attr)
		}
	}
	if n := len(find(doc, "tr", "wasted")); n != 1 {
		t.Errorf("%d wasted rows, want 1", n)
	}
	if n := len(find(doc, "tr", "duplicate")); n != 1 {
		t.Errorf("%d duplicate rows, want 1", n)
	}
	for _, want := range []string{"myimg:1", "linux/amd64", "3.5kB", "RUN echo", "0123456789ab", "2026-01-02 03:04:05 UTC"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page does not show %q", want)
		}
	}
	// Nothing is loaded from anywhere.
	for _, bad := range []string{"http:", "https:", "src=", "@import", "url("} {
		if strings.Contains(page, bad) {
			t.Errorf("the page holds %q", bad)
		}
	}
}

// TestWriteEscapes checks that paths, commands and names from the image
// are text wherever they appear.
func TestWriteEscapes(t *testing.T) {
	const evil = `</script><img src=x onerror=alert(1)>"'&`
	d := sample()
	d.Image.Ref = evil
	d.Image.Tags = []string{evil}
	d.Layers[0].CreatedBy = evil
	d.Layers[0].Comment = evil
	d.Layers[0].Changes[1].Path = "/" + evil
	d.Layers[1].Changes[0].What = []string{evil}
	d.Tree.Children[0].Name = evil
	d.Tree.Children[0].Path = "/" + evil
	d.Tree.Children[0].Children[0].Path = "/" + evil + "/sh"
	d.Wasted[0].Path = "/" + evil
	d.Duplicates[0].Files[0].Path = "/" + evil
	page, doc := render(t, d)
	if strings.Contains(page, "<img") || strings.Contains(page, "</script><") {
		t.Errorf("the page holds markup from the image")
	}
	if n := len(find(doc, "img", "")); n != 0 {
		t.Errorf("%d img elements, want 0", n)
	}
	scripts := find(doc, "script", "")
	if len(scripts) != 1 {
		t.Fatalf("%d script elements, want 1", len(scripts))
	}
	// The text survives as text.
	var text strings.Builder
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode && (n.Parent == nil || n.Parent.Data != "script") {
			text.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if got := strings.Count(text.String(), evil); got < 7 {
		t.Errorf("the text of the page shows the evil string %d times, want at least 7", got)
	}
	var paths int
	for _, b := range find(doc, "div", "box") {
		if strings.HasPrefix(attr(b, "data-path"), "/"+evil) {
			paths++
		}
	}
	if paths != 2 {
		t.Errorf("%d boxes have the evil path as data-path, want 2", paths)
	}
}

func TestWriteEmpty(t *testing.T) {
	for name, d := range map[string]*Data{
		"zero":      {},
		"no layers": {Image: Image{Ref: "scratch"}, Tree: &Node{Name: "/", Path: "/", Dir: true}, Duplicates: []Duplicate{}},
		"no changes": {Image: Image{Ref: "x"}, Layers: []Layer{{Index: 0, DiffID: "sha256:aa", Changes: []Change{}}},
			Tree: &Node{Name: "/", Path: "/", Dir: true, Children: []*Node{{Name: "d", Path: "/d", Dir: true}}}},
	} {
		t.Run(name, func(t *testing.T) {
			page, doc := render(t, d)
			if n := len(find(doc, "div", "box")); n != 0 {
				t.Errorf("%d boxes, want none", n)
			}
			if n := len(find(doc, "details", "layer")); n != len(d.Layers) {
				t.Errorf("%d layer rows, want %d", n, len(d.Layers))
			}
			for _, want := range []string{"No layer replaces or deletes a file"} {
				if !strings.Contains(page, want) {
					t.Errorf("the page does not say %q", want)
				}
			}
		})
	}
}

// bigTree is a tree of dirs directories of files files each, file i of
// size i+1, the layer its directory's index mod 5.
func bigTree(dirs, files int) *Node {
	root := &Node{Name: "/", Path: "/", Dir: true}
	for d := range dirs {
		dn := &Node{Name: fmt.Sprint("d", d), Path: fmt.Sprint("/d", d), Dir: true, Layer: d % 5}
		for f := range files {
			dn.Children = append(dn.Children, &Node{Name: fmt.Sprint("f", f), Path: fmt.Sprint(dn.Path, "/f", f), Size: int64(f + 1), Files: 1, Layer: d % 5})
			dn.Size += int64(f + 1)
			dn.Files++
		}
		root.Children = append(root.Children, dn)
		root.Size += dn.Size
		root.Files += dn.Files
	}
	return root
}

func TestWriteCaps(t *testing.T) {
	d := &Data{Image: Image{Ref: "big"}, Tree: bigTree(100, 10000)} // a million files
	l := Layer{Index: 0, DiffID: "sha256:aa", Changes: []Change{}}
	for i := range 5000 {
		l.Changes = append(l.Changes, Change{Kind: "A", Type: "file", Path: fmt.Sprint("/f", i), Size: int64(i)})
		d.Wasted = append(d.Wasted, Wasted{Path: fmt.Sprint("/w", i), Size: int64(i), Layers: []int{0}, Kind: "hidden"})
	}
	d.Layers = []Layer{l}
	page, doc := render(t, d)
	if len(page) > 1<<20 {
		t.Errorf("the page of a million files is %d bytes", len(page))
	}
	boxes := find(doc, "div", "box")
	if len(boxes) == 0 || len(boxes) > MaxBoxes+100 {
		t.Errorf("%d treemap boxes, want 1 to %d", len(boxes), MaxBoxes+100)
	}
	var others int
	for _, b := range boxes {
		if hasClass(b, "other") {
			others++
		}
	}
	if others == 0 {
		t.Error("no \"other\" box")
	}
	rows := find(doc, "tr", "change")
	if len(rows) != MaxChanges {
		t.Errorf("%d change rows, want %d", len(rows), MaxChanges)
	}
	if !strings.Contains(page, "/f4999") || strings.Contains(page, "/f4799<") || !strings.Contains(page, "and 4800 smaller changes") {
		t.Error("the changes listed are not the largest, or the rest is not counted")
	}
	if n := len(find(doc, "tr", "wasted")); n != MaxWasted {
		t.Errorf("%d wasted rows, want %d", n, MaxWasted)
	}
	if d.Layers[0].Changes[0].Path != "/f0" || len(d.Tree.Children) != 100 {
		t.Error("Write changed its Data")
	}
}

func TestCapTree(t *testing.T) {
	tree := capTree(bigTree(3, 100), 10)
	var n, files int
	var size int64
	var walk func(*Node)
	walk = func(x *Node) {
		n++
		if len(x.Children) == 0 {
			size += x.Size
			files += x.Files
		}
		for _, c := range x.Children {
			walk(c)
		}
	}
	walk(tree)
	if n > 1+10+3 { // the root, the kept nodes, an "other" per directory
		t.Errorf("%d nodes, want at most 14", n)
	}
	if size != tree.Size || files != tree.Files {
		t.Errorf("the leaves hold %d bytes in %d files, want the root's %d in %d", size, files, tree.Size, tree.Files)
	}
}

func TestSquarify(t *testing.T) {
	r := rect{0, 0, 600, 400}
	sizes := []float64{6, 6, 4, 3, 2, 2, 1} // the paper's example
	var area float64
	for i, b := range squarify(sizes, r) {
		if b.x < -1e-9 || b.y < -1e-9 || b.x+b.w > r.w+1e-6 || b.y+b.h > r.h+1e-6 {
			t.Errorf("box %d %+v is outside %+v", i, b, r)
		}
		if want := sizes[i] / 24 * r.w * r.h; b.w*b.h < want-1e-6 || b.w*b.h > want+1e-6 {
			t.Errorf("box %d has area %g, want %g", i, b.w*b.h, want)
		}
		if ratio := max(b.w/b.h, b.h/b.w); ratio > 3 {
			t.Errorf("box %d %+v has aspect ratio %.1f", i, b, ratio)
		}
		area += b.w * b.h
	}
	if area < r.w*r.h-1e-6 || area > r.w*r.h+1e-6 {
		t.Errorf("the boxes cover %g, want %g", area, r.w*r.h)
	}
}

// TestWriteDuplicateCopies: a group of more copies than the page lists
// says how many there are and how many are not listed.
func TestWriteDuplicateCopies(t *testing.T) {
	g := Duplicate{Size: 7, Copies: 13}
	for i := range 13 {
		g.Files = append(g.Files, Copy{Path: fmt.Sprint("/c", i), Layer: i % 2, Hidden: i > 0})
	}
	page, _ := render(t, &Data{Image: Image{Ref: "dups"}, Duplicates: []Duplicate{g}})
	for _, want := range []string{`<td class="r">13</td>`, "… and 3 more", "/c9", "(hidden)"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page does not show %q", want)
		}
	}
	if strings.Contains(page, "/c10") {
		t.Error("the page lists more copies than MaxDupPaths")
	}
}
