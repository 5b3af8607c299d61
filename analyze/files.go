package analyze

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/docker-layers/docker-layers/flatten"
)

// File is one path of the merged file system.
type File struct {
	// Path is the path from the root, without a leading slash:
	// "etc/passwd".
	Path string
	// Type is the tar type flag: tar.TypeReg, TypeDir, TypeSymlink,
	// TypeLink (a second name of a file), TypeChar, TypeBlock, TypeFifo.
	Type byte
	// Mode is the permission bits, with setuid, setgid and sticky.
	Mode     int64
	UID, GID int
	// Size is a regular file's size; 0 for the rest, hardlinks included,
	// so that summing sizes counts each file once.
	Size int64
	// Link is a symlink's target, or for a hardlink the path of the file's
	// first name (as Path, without a leading slash).
	Link    string
	ModTime time.Time
	// Layer is the index of the layer that last wrote the path, or -1 for
	// a directory that no layer defines.
	Layer int
	// DataLayer is the index of the layer that stores a regular file's
	// data: Layer, except for the first name of a hardlinked file, whose
	// data may be stored below it (a link of Layer to a lower file).
	DataLayer int
	// Depth is the number of path elements below the root listed: 1 for
	// its children.
	Depth int
}

// ListOptions select the paths List gives.
type ListOptions struct {
	// Roots are the paths listed, from the root of the image; empty
	// lists the root. A directory is listed by its contents, anything
	// else by itself; a path under several roots is listed once, in the
	// walk's order.
	Roots []string
	// Depth is how many levels below a root directory are listed; 0 is
	// every level.
	Depth int
	// Include keeps only the paths that these globs select (flatten's
	// PathFilter: a glob that matches a directory selects its subtree);
	// empty keeps all.
	Include []string
	// TmpDir is where the index of a large image spills to disk.
	TmpDir string
}

// ErrNotExist is the error of a root that the merged file system does not
// hold.
var ErrNotExist = errors.New("no such file or directory")

// List walks the merge of layers (layer 0 is the bottom) and gives each
// selected path to fn, depth first, a directory before its contents,
// children in byte order of their names. It reads headers only and holds
// a bounded index whatever the number of files (flatten.Walk). A root
// that does not exist is an error, reported after the others are listed.
func List(ctx context.Context, layers []flatten.Layer, opts ListOptions, fn func(*File) error) error {
	roots := cleanRoots(opts.Roots)
	fopts := flatten.Options{TmpDir: opts.TmpDir}
	for _, r := range roots {
		if r != "" {
			// Only the roots' subtrees (and the directories above them).
			fopts.Include = append(fopts.Include, escapeGlob(r))
		}
	}
	if len(fopts.Include) < len(roots) {
		fopts.Include = nil // the root is one of them
	}
	var filter *flatten.PathFilter
	if len(opts.Include) > 0 {
		var err error
		if filter, err = flatten.NewPathFilter(opts.Include, nil); err != nil {
			return err
		}
	}
	found := make([]bool, len(roots))
	var f File
	err := flatten.Walk(ctx, layers, fopts, func(e *flatten.Entry) error {
		// Every root that is the path or holds it: the path is listed
		// once, at its depth below the first that lists it.
		depth, list := 0, false
		for i, r := range roots {
			d, ok := below(e.Path, r)
			if !ok {
				continue
			}
			if d == 0 {
				found[i] = true
			}
			if !list && ((d == 0 && e.Header.Typeflag != tar.TypeDir) || (d > 0 && (opts.Depth == 0 || d <= opts.Depth))) {
				depth, list = d, true
			}
		}
		if !list || (filter != nil && !filter.Match(e.Path)) {
			return nil
		}
		fileOf(&f, e, depth)
		return fn(&f)
	})
	if err != nil {
		return err
	}
	for i, r := range roots {
		if !found[i] && r != "" {
			return fmt.Errorf("/%s: %w", r, ErrNotExist)
		}
	}
	return nil
}

// fileOf fills f from e, at depth below its root.
func fileOf(f *File, e *flatten.Entry, depth int) {
	h := e.Header
	*f = File{
		Path:      e.Path,
		Type:      h.Typeflag,
		Mode:      h.Mode & 0o7777,
		UID:       h.Uid,
		GID:       h.Gid,
		Link:      h.Linkname,
		ModTime:   h.ModTime,
		Layer:     e.Layer,
		DataLayer: e.DataLayer,
		Depth:     depth,
	}
	if h.Typeflag == tar.TypeReg {
		f.Size = h.Size
	}
}

// cleanRoots puts the roots in canonical form, as a path from the root
// of the image: relative, cleaned ("/.." is the root, as in a shell), ""
// for the root; a root given twice is kept once.
func cleanRoots(roots []string) []string {
	if len(roots) == 0 {
		return []string{""}
	}
	var out []string
	for _, r := range roots {
		c := strings.Trim(path.Clean("/"+r), "/")
		if c == "." {
			c = ""
		}
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

// below reports whether p is root or under it, and how many elements
// below it.
func below(p, root string) (int, bool) {
	if root == "" {
		return strings.Count(p, "/") + 1, true
	}
	if p == root {
		return 0, true
	}
	if !strings.HasPrefix(p, root) || p[len(root)] != '/' {
		return 0, false
	}
	return strings.Count(p[len(root):], "/"), true
}

// escapeGlob makes a path a glob that matches only itself.
func escapeGlob(p string) string {
	var b strings.Builder
	for _, r := range p {
		switch r {
		case '*', '?', '[', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Step is what one layer did to a path: a row of its history.
type Step struct {
	Layer int
	Kind  flatten.ChangeKind // Added, Changed or Deleted
	Type  byte               // the path's type after the step (before it, for Deleted)
	Size  int64
	What  flatten.ChangeWhat // Changed only
}

// History returns every layer that wrote, changed or deleted path (with
// the deletion of a directory above it), bottom first, as "diff" reports
// them: relative to the merge of the layers below.
func History(ctx context.Context, layers []flatten.Layer, p string) ([]Step, error) {
	roots := cleanRoots([]string{p})
	if roots[0] == "" {
		return nil, errors.New("the history of the root is every layer: give a path below it")
	}
	filter, err := flatten.NewPathFilter([]string{escapeGlob(roots[0])}, nil)
	if err != nil {
		return nil, err
	}
	cs, err := flatten.Changes(ctx, layers, flatten.ChangesOptions{Filter: filter})
	if err != nil {
		return nil, err
	}
	var steps []Step
	for _, c := range cs.Changes {
		if c.Path == roots[0] {
			steps = append(steps, Step{Layer: c.Layer, Kind: c.Kind, Type: c.Type, Size: c.Size, What: c.What})
		}
	}
	return steps, nil
}
