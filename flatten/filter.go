package flatten

import (
	"archive/tar"
	"fmt"
	"path"
	"strings"
)

// PathFilter selects paths of the merged file system with path.Match globs
// on the canonical name (relative, without "./" or a leading "/"). A glob
// that matches a directory matches its whole subtree. The zero value, and
// nil, select every path.
type PathFilter struct {
	include [][]string // split on "/"
	exclude [][]string
}

// NewPathFilter checks and compiles the globs. A path is selected when no
// include glob is given or one matches it or one of its parents, and no
// exclude glob matches it or one of its parents: an exclusion wins. A
// malformed glob is an error wrapping path.ErrBadPattern.
func NewPathFilter(include, exclude []string) (*PathFilter, error) {
	pf := &PathFilter{}
	for _, set := range []struct {
		globs []string
		out   *[][]string
	}{{include, &pf.include}, {exclude, &pf.exclude}} {
		for _, g := range set.globs {
			c, err := cleanGlob(g)
			if err != nil {
				return nil, err
			}
			*set.out = append(*set.out, c)
		}
	}
	return pf, nil
}

// cleanGlob puts a glob in canonical form and splits it into elements.
// path.Match only reports a malformed pattern when it gets that far in a
// match, so each element is tried against itself and a probe.
func cleanGlob(g string) ([]string, error) {
	c := strings.Trim(path.Clean("/"+g), "/")
	if c == "" || c == "." {
		return nil, fmt.Errorf("glob %q: %w: matches the root", g, path.ErrBadPattern)
	}
	parts := strings.Split(c, "/")
	for _, p := range parts {
		if _, err := path.Match(p, p); err != nil {
			return nil, fmt.Errorf("glob %q: %w", g, err)
		}
		if _, err := path.Match(p, ""); err != nil {
			return nil, fmt.Errorf("glob %q: %w", g, err)
		}
	}
	return parts, nil
}

// Empty reports whether the filter selects every path.
func (pf *PathFilter) Empty() bool {
	return pf == nil || len(pf.include) == 0 && len(pf.exclude) == 0
}

// Match reports whether the canonical name is selected.
func (pf *PathFilter) Match(name string) bool {
	if pf.Empty() {
		return true
	}
	elems := strings.Split(name, "/")
	if matchAny(pf.exclude, elems) {
		return false
	}
	return len(pf.include) == 0 || matchAny(pf.include, elems)
}

// matchAny reports whether one of globs matches elems or one of its
// parents: a glob of n elements matches the first n elements.
func matchAny(globs [][]string, elems []string) bool {
	for _, g := range globs {
		if len(g) <= len(elems) && matchElems(g, elems[:len(g)]) {
			return true
		}
	}
	return false
}

func matchElems(g, elems []string) bool {
	for i, p := range g {
		if ok, _ := path.Match(p, elems[i]); !ok {
			return false
		}
	}
	return true
}

// mayHoldIncluded reports whether a descendant of the directory elems can
// be selected by an include glob (without one that matches elems itself).
func (pf *PathFilter) mayHoldIncluded(elems []string) bool {
	for _, g := range pf.include {
		if len(g) > len(elems) && matchElems(g[:len(elems)], elems) {
			return true
		}
	}
	return false
}

// pendingDir is a directory not selected itself, written only when a
// selected path below it is, so that the output extracts.
type pendingDir struct {
	depth int
	path  string
	n     *node
	vis   bool
	done  bool // written already (by an earlier part)
}

// writeFilter applies Options.Include and Options.Exclude while the tree is
// written.
type writeFilter struct {
	pf       *PathFilter
	included []bool // per depth: the node there is selected by an include glob
	pending  []pendingDir
}

func newWriteFilter(opts Options) (*writeFilter, error) {
	if len(opts.Include) == 0 && len(opts.Exclude) == 0 {
		return nil, nil
	}
	pf, err := NewPathFilter(opts.Include, opts.Exclude)
	if err != nil {
		return nil, err
	}
	return &writeFilter{pf: pf}, nil
}

// visit decides for node c, whose path is in w.path and whose parent's
// children are at stack depth depth (1 for the root's), whether it is
// written and whether its children are visited. Before a selected node it
// writes the unselected parents that wait for one. done says c was written
// already, by an earlier part of the index: it is visited again for the
// state of its subtree, and never written twice.
func (wf *writeFilter) visit(w *writer, c *node, vis bool, depth int, done bool) (emit, descend bool, err error) {
	for len(wf.pending) > 0 && wf.pending[len(wf.pending)-1].depth >= depth {
		wf.pending = wf.pending[:len(wf.pending)-1]
	}
	wf.included = wf.included[:depth-1]
	name := string(w.path)
	elems := strings.Split(name, "/")
	isDir := c.typ == tar.TypeDir
	if matchAny(wf.pf.exclude, elems) {
		wf.included = append(wf.included, false)
		return false, false, nil
	}
	inc := len(wf.pf.include) == 0 || (depth > 1 && wf.included[depth-2]) || matchAny(wf.pf.include, elems)
	wf.included = append(wf.included, inc)
	if !inc {
		if isDir && wf.pf.mayHoldIncluded(elems) {
			wf.pending = append(wf.pending, pendingDir{depth: depth, path: name, n: c, vis: vis, done: done})
			return false, true, nil
		}
		return false, false, nil
	}
	if err := wf.flush(w); err != nil {
		return false, false, err
	}
	return true, true, nil
}

// flush writes the pending parents, outermost first.
func (wf *writeFilter) flush(w *writer) error {
	if len(wf.pending) == 0 {
		return nil
	}
	saved := w.path
	for _, p := range wf.pending {
		if p.done {
			continue
		}
		w.path = []byte(p.path)
		if err := w.emit(p.n, p.vis); err != nil {
			return err
		}
	}
	w.path = saved
	wf.pending = wf.pending[:0]
	return nil
}
