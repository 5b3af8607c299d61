package analyze

import (
	"archive/tar"
	"cmp"
	"container/heap"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/docker-layers/docker-layers/flatten"
)

// Dir is the usage of one directory's subtree.
type Dir struct {
	// Path is the directory's path without a leading slash, "" for the
	// root.
	Path string
	// Depth is the number of elements below the directory summed: 0 for
	// it, 1 for its children.
	Depth int
	// Bytes is the size of the regular files in the subtree (a file with
	// several names counts once).
	Bytes int64
	// Files counts the non-directories in the subtree (symlinks and
	// second names of files included), Dirs the directories below it.
	Files, Dirs int64
	// ByLayer is Bytes by the layer that stores each file's data: one
	// entry per layer given.
	ByLayer []int64
}

// UsageOptions tune DiskUsage.
type UsageOptions struct {
	// Root is the directory summed, without a leading slash; "" is the
	// root.
	Root string
	// Depth is how deep below Root directories get a Dir of their own;
	// deeper ones are rolled up into their ancestor at Depth. 0 gives the
	// Root only.
	Depth int
	// Top is how many of the largest regular files to keep.
	Top int
	// TmpDir is where the index of a large image spills to disk.
	TmpDir string
}

// Usage is what DiskUsage returns.
type Usage struct {
	// Dirs are Root and the directories down to Depth below it, in walk
	// order (a directory before its contents).
	Dirs []Dir
	// Top are the largest regular files under Root, largest first (ties
	// in path order); DataLayer says which layer stores each.
	Top []File
}

// DiskUsage sums the regular files of the merge of layers (layer 0 is the
// bottom) by directory, under opts.Root, and keeps the largest files. It
// walks the merged tree once, in bounded memory (flatten.Walk), and holds
// only the directories down to opts.Depth and opts.Top files.
func DiskUsage(ctx context.Context, layers []flatten.Layer, opts UsageOptions) (*Usage, error) {
	a := newUsageAgg(opts, len(layers))
	fopts := flatten.Options{TmpDir: opts.TmpDir}
	if a.root != "" {
		fopts.Include = []string{escapeGlob(a.root)}
	}
	if err := flatten.Walk(ctx, layers, fopts, a.add); err != nil {
		return nil, err
	}
	return a.result(true)
}

// LayerDiskUsage is DiskUsage of each layer of which on its own: the files
// each layer stores, by directory (flatten.Entries: no layer rule is
// applied, a whiteout stores nothing and a hardlink stores no bytes). A
// Root that a layer does not hold gives that layer an empty Dir.
func LayerDiskUsage(ctx context.Context, layers []flatten.Layer, which []int, opts UsageOptions) ([]*Usage, error) {
	out := make([]*Usage, len(which))
	for k, i := range which {
		a := newUsageAgg(opts, len(layers))
		err := flatten.Entries(ctx, layers[i], func(e *flatten.Entry) error {
			e.Layer, e.DataLayer = i, i
			return a.add(e)
		})
		if err != nil {
			return nil, err
		}
		if out[k], err = a.result(false); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// usageAgg sums entries, in any order, into the directories down to
// Depth below Root: each entry counts in every such directory above it.
type usageAgg struct {
	opts    UsageOptions
	root    string
	nlayers int
	dirs    map[string]*Dir
	rootIs  byte   // the type of the entry at Root, 0 if none was seen
	rootTo  string // its target, if a symlink
	top     fileHeap
	file    File
}

func newUsageAgg(opts UsageOptions, nlayers int) *usageAgg {
	a := &usageAgg{opts: opts, root: cleanRoots([]string{opts.Root})[0], nlayers: nlayers, dirs: map[string]*Dir{}}
	if a.root == "" {
		a.rootIs = tar.TypeDir
	}
	return a
}

// dir returns the Dir of p, at depth below the root, made if need be.
func (a *usageAgg) dir(p string, depth int) *Dir {
	d := a.dirs[p]
	if d == nil {
		d = &Dir{Path: p, Depth: depth, ByLayer: make([]int64, a.nlayers)}
		a.dirs[p] = d
	}
	return d
}

func (a *usageAgg) add(e *flatten.Entry) error {
	depth, ok := below(e.Path, a.root)
	if !ok {
		return nil
	}
	typ := e.Header.Typeflag
	if depth == 0 {
		a.rootIs, a.rootTo = typ, e.Header.Linkname
		return nil
	}
	if typ == tar.TypeDir && depth <= a.opts.Depth {
		a.dir(e.Path, depth)
	}
	// The root's path, then each ancestor down to Depth.
	p, rest := a.root, e.Path
	if a.root != "" {
		rest = e.Path[len(a.root)+1:]
	}
	for d := 0; d <= a.opts.Depth && d < depth; d++ {
		if d > 0 {
			elem := rest
			if i := strings.IndexByte(rest, '/'); i >= 0 {
				elem, rest = rest[:i], rest[i+1:]
			}
			p = joinPath(p, elem)
		}
		dd := a.dir(p, d)
		switch typ {
		case tar.TypeDir:
			dd.Dirs++
		case tar.TypeReg:
			dd.Files++
			dd.Bytes += e.Header.Size
			if e.DataLayer >= 0 {
				dd.ByLayer[e.DataLayer] += e.Header.Size
			}
		default:
			dd.Files++
		}
	}
	if typ == tar.TypeReg && a.opts.Top > 0 {
		fileOf(&a.file, e, depth)
		a.top.offer(a.file, a.opts.Top)
	}
	return nil
}

// result gives the directories in walk order. strict: a Root that is
// missing or not a directory is an error (for one layer alone, it is an
// empty Dir).
func (a *usageAgg) result(strict bool) (*Usage, error) {
	switch {
	case a.rootIs == 0 && strict && len(a.dirs) == 0:
		return nil, fmt.Errorf("/%s: %w", a.root, ErrNotExist)
	case a.rootIs == tar.TypeSymlink && strict:
		return nil, fmt.Errorf("/%s: not a directory: a symlink to %s", a.root, a.rootTo)
	case a.rootIs != 0 && a.rootIs != tar.TypeDir && strict:
		return nil, fmt.Errorf("/%s: not a directory", a.root)
	}
	a.dir(a.root, 0)
	u := &Usage{Dirs: make([]Dir, 0, len(a.dirs)), Top: a.top.sorted()}
	for _, d := range a.dirs {
		u.Dirs = append(u.Dirs, *d)
	}
	slices.SortFunc(u.Dirs, func(x, y Dir) int { return cmpWalk(x.Path, y.Path) })
	return u, nil
}

// joinPath joins a directory ("" for the root) and a name.
func joinPath(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// cmpWalk orders paths as a walk of the tree visits them: depth first, a
// directory before its contents, children in byte order of their names.
func cmpWalk(a, b string) int {
	for a != "" && b != "" {
		ea, ra, _ := strings.Cut(a, "/")
		eb, rb, _ := strings.Cut(b, "/")
		if c := strings.Compare(ea, eb); c != 0 {
			return c
		}
		a, b = ra, rb
	}
	return cmp.Compare(len(a), len(b))
}

// fileHeap keeps the largest files: a min-heap by size, then by path
// (the later path first out).
type fileHeap []File

func lessFile(a, b File) bool {
	if a.Size != b.Size {
		return a.Size < b.Size
	}
	return a.Path > b.Path
}

func (h fileHeap) Len() int           { return len(h) }
func (h fileHeap) Less(i, j int) bool { return lessFile(h[i], h[j]) }
func (h fileHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *fileHeap) Push(x any)        { *h = append(*h, x.(File)) }
func (h *fileHeap) Pop() any {
	old := *h
	f := old[len(old)-1]
	*h = old[:len(old)-1]
	return f
}

// offer keeps f if it is among the n largest.
func (h *fileHeap) offer(f File, n int) {
	if h.Len() < n {
		heap.Push(h, f)
		return
	}
	if lessFile((*h)[0], f) {
		(*h)[0] = f
		heap.Fix(h, 0)
	}
}

// sorted returns the files largest first.
func (h fileHeap) sorted() []File {
	out := slices.Clone(h)
	slices.SortFunc(out, func(a, b File) int {
		if c := cmp.Compare(b.Size, a.Size); c != 0 {
			return c
		}
		return strings.Compare(a.Path, b.Path)
	})
	return out
}
