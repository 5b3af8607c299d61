package flatten

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

// fsAttrs is what Changes compares of one path of a flattened tree.
type fsAttrs struct {
	typ      byte
	mode     int64
	uid, gid int
	content  string // sha256 of a file, a symlink's target, device numbers
	xattrs   string
	mtime    int64
	link     string // a hardlink's target, as the output writes it
}

// fsTree reads a Flatten output; hardlinks take their target's attributes.
func fsTree(t *testing.T, out []byte) map[string]fsAttrs {
	t.Helper()
	m := map[string]fsAttrs{}
	tr := tar.NewReader(bytes.NewReader(out))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return m
		}
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(h.Name, "/")
		a := fsAttrs{typ: h.Typeflag, mode: h.Mode & 0o7777, uid: h.Uid, gid: h.Gid, xattrs: xattrsOf(h), mtime: h.ModTime.UnixNano()}
		switch h.Typeflag {
		case tar.TypeReg:
			s := sha256.New()
			if _, err := io.Copy(s, tr); err != nil {
				t.Fatal(err)
			}
			a.content = fmt.Sprintf("%x", s.Sum(nil))
		case tar.TypeLink:
			a = m[h.Linkname]
			a.link = h.Linkname
		case tar.TypeSymlink:
			a.content = h.Linkname
		case tar.TypeChar, tar.TypeBlock:
			a.content = fmt.Sprint(h.Devmajor, h.Devminor)
		}
		m[name] = a
	}
}

// wantWhat is what differs between the attributes x and y of one path of
// two flattened trees: the reference of Changes and Compare.
func wantWhat(x, y fsAttrs, mtime bool) ChangeWhat {
	if x.typ != y.typ {
		return ChangedType
	}
	var w ChangeWhat
	if x.mode != y.mode {
		w |= ChangedMode
	}
	if x.uid != y.uid || x.gid != y.gid {
		w |= ChangedOwner
	}
	if x.content != y.content {
		w |= ChangedContent
	}
	if x.xattrs != y.xattrs {
		w |= ChangedXattrs
	}
	if mtime && x.mtime != y.mtime {
		w |= ChangedTime
	}
	if x.link != y.link {
		w |= ChangedLink
	}
	return w
}

// withoutLinks clears the link of every path of tree.
func withoutLinks(tree map[string]fsAttrs) map[string]fsAttrs {
	for p, a := range tree {
		a.link = ""
		tree[p] = a
	}
	return tree
}

// TestChangesAgainstFlatten checks on random stacks that each layer's
// changes are exactly the difference between the flattened trees below
// and up to it: A for new paths, D for paths gone (or under a D or under
// a directory that became something else), C with exactly the attributes
// that differ.
func TestChangesAgainstFlatten(t *testing.T) {
	r := rand.New(rand.NewPCG(*seed, 3))
	stacks := *nStacks
	if testing.Short() {
		stacks = 100
	}
	checked := 0
	for i := range stacks {
		tars := genStack(t, r, 2+r.IntN(3))
		_, ferr := flattenBytes(tars, false)
		cs, err := Changes(t0ctx, mkLayers(tars...), ChangesOptions{})
		if (err == nil) != (ferr == nil) {
			t.Fatalf("stack %d: Changes error %v, Flatten error %v\n%s", i, err, ferr, dumpStack(t, tars))
		}
		if err != nil {
			continue
		}
		checked++
		if got, want := wastedOf(cs), wastedByIdent(t, tars); got != want {
			t.Fatalf("stack %d: wasted %v, want %v\n%s", i, got, want, dumpStack(t, tars))
		}
		// Reporting only the top layer gives its same rows, and the same
		// wasted bytes for every layer.
		top := len(tars) - 1
		one, err := Changes(t0ctx, mkLayers(tars...), ChangesOptions{Report: []int{top}})
		if err != nil {
			t.Fatal(err)
		}
		var topRows []Change
		for _, c := range cs.Changes {
			if c.Layer == top {
				topRows = append(topRows, c)
			}
		}
		if fmt.Sprint(one.Changes) != fmt.Sprint(topRows) || wastedOf(one) != wastedOf(cs) || one.Summaries[top] != cs.Summaries[top] {
			t.Fatalf("stack %d: reporting the top layer only gives %v %v, not %v %v", i, one.Changes, one.Summaries, topRows, cs.Summaries)
		}
		byLayer := map[int]map[string]Change{}
		for _, c := range cs.Changes {
			if byLayer[c.Layer] == nil {
				byLayer[c.Layer] = map[string]Change{}
			}
			if _, dup := byLayer[c.Layer][c.Path]; dup {
				t.Fatalf("stack %d: layer %d: two changes of %s", i, c.Layer, c.Path)
			}
			byLayer[c.Layer][c.Path] = c
		}
		lower := map[string]fsAttrs{}
		for li := range tars {
			out, err := flattenBytes(tars[:li+1], false)
			if err != nil {
				t.Fatal(err)
			}
			upper := fsTree(t, out)
			rows := byLayer[li]
			fail := func(format string, args ...any) {
				t.Fatalf("stack %d: layer %d: %s\n%s", i, li, fmt.Sprintf(format, args...), dumpStack(t, tars))
			}
			// covered reports whether p's disappearance is told by a row
			// of p or of a parent.
			covered := func(p string) bool {
				for q := p; ; {
					if c, ok := rows[q]; ok && (c.Kind == Deleted || c.What&ChangedType != 0) {
						return true
					}
					i := strings.LastIndexByte(q, '/')
					if i < 0 {
						return false
					}
					q = q[:i]
				}
			}
			for p, u := range upper {
				l, had := lower[p]
				c, row := rows[p]
				switch {
				case !had:
					if !row || c.Kind != Added {
						fail("new path %s: row %+v", p, c)
					}
				default:
					want := wantWhat(l, u, false) &^ ChangedLink
					if want == 0 && row {
						fail("unchanged path %s has row %+v", p, c)
					}
					if want != 0 && (!row || c.Kind != Changed || c.What != want) {
						fail("path %s: want C %v, row %v %+v", p, want.Strings(), row, c)
					}
				}
			}
			for p := range lower {
				if _, ok := upper[p]; !ok && !covered(p) {
					fail("path %s is gone without a row", p)
				}
			}
			for p, c := range rows {
				if _, ok := upper[p]; c.Kind == Deleted && ok {
					fail("deleted path %s still exists", p)
				}
			}
			lower = upper
		}
	}
	if checked < stacks/4 {
		t.Errorf("only %d of %d stacks checked", checked, stacks)
	}
}

func wastedOf(cs *ChangeSet) string {
	var out []int64
	for _, s := range cs.Summaries {
		out = append(out, s.Wasted)
	}
	return fmt.Sprint(out)
}

// wastedByIdent computes each layer's wasted bytes the slow way: the
// regular files a layer put in the tree that the tree of all layers no
// longer holds.
func wastedByIdent(t *testing.T, tars [][]byte) string {
	f := &flattener{ctx: t0ctx, layers: mkLayers(tars...), root: &node{layer: -1, typ: tar.TypeDir}}
	seen := map[ident]bool{}
	var regs func(n *node, into map[ident]bool)
	regs = func(n *node, into map[ident]bool) {
		for _, k := range n.kids {
			switch k.typ {
			case tar.TypeReg, tar.TypeLink:
				into[k.ident()] = true
			case tar.TypeDir:
				regs(k, into)
			}
		}
	}
	for li := range tars {
		if err := f.scanLayer(li, &f.scan, nil); err != nil {
			t.Fatal(err)
		}
		if err := f.applyLayer(li); err != nil {
			t.Fatal(err)
		}
		regs(f.root, seen)
	}
	final := map[ident]bool{}
	regs(f.root, final)
	out := make([]int64, len(tars))
	for id := range seen {
		if !final[id] {
			hdr, _, err := f.readHeader(id)
			if err != nil {
				t.Fatal(err)
			}
			out[id.layer] += hdr.Size
		}
	}
	return fmt.Sprint(out)
}
