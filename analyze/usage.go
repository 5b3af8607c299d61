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
	root := cleanRoots([]string{opts.Root})[0]
	fopts := flatten.Options{TmpDir: opts.TmpDir}
	if root != "" {
		fopts.Include = []string{escapeGlob(root)}
	}
	u := &Usage{}
	var (
		stack []int // indexes in u.Dirs of the open directories, root first
		top   = &fileHeap{}
		found = root == ""
	)
	newDir := func(p string, depth int) {
		u.Dirs = append(u.Dirs, Dir{Path: p, Depth: depth, ByLayer: make([]int64, len(layers))})
		stack = append(stack, len(u.Dirs)-1)
	}
	// pop closes the innermost open directory: its sums go to its parent.
	pop := func() {
		d := &u.Dirs[stack[len(stack)-1]]
		stack = stack[:len(stack)-1]
		if len(stack) > 0 {
			p := &u.Dirs[stack[len(stack)-1]]
			p.Bytes += d.Bytes
			p.Files += d.Files
			p.Dirs += d.Dirs + 1
			for i, b := range d.ByLayer {
				p.ByLayer[i] += b
			}
		}
	}
	if root == "" {
		newDir("", 0)
	}
	err := flatten.Walk(ctx, layers, fopts, func(e *flatten.Entry) error {
		depth, ok := below(e.Path, root)
		if !ok {
			return nil
		}
		isDir := e.Header.Typeflag == tar.TypeDir
		if depth == 0 {
			if !isDir {
				return fmt.Errorf("/%s: not a directory", root)
			}
			found = true
			newDir(e.Path, 0)
			return nil
		}
		for len(stack) > 0 {
			d := u.Dirs[stack[len(stack)-1]]
			if d.Path == "" || strings.HasPrefix(e.Path, d.Path+"/") {
				break
			}
			pop()
		}
		if isDir && depth <= opts.Depth {
			newDir(e.Path, depth)
			return nil
		}
		d := &u.Dirs[stack[len(stack)-1]]
		switch {
		case isDir:
			d.Dirs++
		case e.Header.Typeflag == tar.TypeReg:
			d.Files++
			d.Bytes += e.Header.Size
			if e.DataLayer >= 0 {
				d.ByLayer[e.DataLayer] += e.Header.Size
			}
			if opts.Top > 0 {
				var f File
				fileOf(&f, e, depth)
				top.offer(f, opts.Top)
			}
		default:
			d.Files++
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("/%s: %w", root, ErrNotExist)
	}
	for len(stack) > 0 {
		pop()
	}
	u.Top = top.sorted()
	return u, nil
}

// LayerDiskUsage is DiskUsage of each layer on its own: the files each layer
// stores, by directory. Whiteouts store nothing and are left out.
func LayerDiskUsage(ctx context.Context, layers []flatten.Layer, which []int, opts UsageOptions) ([]*Usage, error) {
	out := make([]*Usage, len(which))
	for k, i := range which {
		u, err := DiskUsage(ctx, layers[i:i+1], opts)
		if err != nil {
			return nil, fmt.Errorf("layer %d: %w", i, err)
		}
		for d := range u.Dirs {
			by := make([]int64, len(layers))
			by[i] = u.Dirs[d].ByLayer[0]
			u.Dirs[d].ByLayer = by
		}
		for f := range u.Top {
			u.Top[f].Layer, u.Top[f].DataLayer = i, i
		}
		out[k] = u
	}
	return out, nil
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
