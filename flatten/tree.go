package flatten

import (
	"archive/tar"
	"fmt"
	"strings"
)

// ident names a file by the layer and header offset of the entry that
// created it. All hardlinks to one file share its ident.
type ident struct {
	layer int32
	off   int64
}

// typeWhiteout is the type of a node that records a path hidden below
// layers[0] (KeepWhiteouts only). No tar type flag has this value.
const typeWhiteout byte = 0xff

// Node flags, used only with KeepWhiteouts.
const (
	// flagHideLower: everything below layers[0] at this path is hidden.
	flagHideLower uint8 = 1 << iota
	// flagOpaqueLower: the children below layers[0] of this directory
	// are hidden.
	flagOpaqueLower
)

// node is one path of the merged tree. It holds no file contents: the
// entry is re-read from its layer when the output is written. 48 bytes.
type node struct {
	name   string           // last path element
	kids   map[string]*node // directories only; nil when empty
	off    int64            // header offset; for a hardlink, the offset of the file it names
	layer  int32            // layer of the entry; -1 for an implicit directory or a whiteout
	llayer int32            // hardlinks: the layer of the file the link names
	typ    byte             // normalised tar type flag, or typeWhiteout
	flags  uint8
}

// ident is the file the node names.
func (n *node) ident() ident {
	if n.typ == tar.TypeLink {
		return ident{n.llayer, n.off}
	}
	return ident{n.layer, n.off}
}

func (n *node) setKid(c *node) {
	if n.kids == nil {
		n.kids = make(map[string]*node, 1)
	}
	n.kids[c.name] = c
}

type walkMode uint8

const (
	walkLookup walkMode = iota // create nothing
	walkMarker                 // KeepWhiteouts markers: create missing directories where lower content is visible
	walkCreate                 // entries: create missing parents
)

type stopReason uint8

const (
	stopNone stopReason = iota
	stopMissing
	stopSymlink
	stopNotDir
)

// walkDir descends from the root through the directories of dir ("" is the
// root). It returns the directory node and whether content below layers[0]
// is still visible in it; or why it stopped, and for a symlink or
// non-directory the path where it stopped.
func (f *flattener) walkDir(dir string, mode walkMode) (n *node, vis bool, stop stopReason, at string) {
	n = f.root
	vis = n.flags == 0
	for i := 0; i < len(dir); {
		end := strings.IndexByte(dir[i:], '/')
		if end < 0 {
			end = len(dir)
		} else {
			end += i
		}
		comp := dir[i:end]
		c := n.kids[comp]
		switch {
		case c == nil:
			if mode != walkCreate && (mode != walkMarker || !vis) {
				return nil, vis, stopMissing, ""
			}
			c = &node{name: strings.Clone(comp), layer: -1, typ: tar.TypeDir}
			n.setKid(c)
		case c.typ == typeWhiteout:
			if mode != walkCreate {
				return nil, vis, stopMissing, ""
			}
			// The path was deleted; the extractor recreates it.
			c = &node{name: c.name, layer: -1, typ: tar.TypeDir, flags: flagHideLower}
			n.setKid(c)
		case c.typ == tar.TypeDir:
		case c.typ == tar.TypeSymlink && mode == walkCreate && c.layer != f.layer:
			// An entry of a higher layer below a lower layer's symlink:
			// Docker applies a layer into an empty directory and its
			// overlay merges that directory over the symlink, so the
			// symlink becomes a directory (its target is untouched) and
			// nothing is written through it.
			nc := &node{name: c.name, layer: -1, typ: tar.TypeDir}
			if f.keep && vis {
				// Written as a directory with an opaque marker: what
				// the symlink replaced below layers[0] stays hidden.
				nc.flags = flagHideLower
			}
			c = nc
			n.setKid(c)
		case c.typ == tar.TypeSymlink:
			return nil, vis, stopSymlink, dir[:end]
		default:
			return nil, vis, stopNotDir, dir[:end]
		}
		n = c
		if c.flags != 0 {
			vis = false
		}
		i = end + 1
	}
	return n, vis, stopNone, ""
}

// Touches are entries that only walk a path: the walk of an entry that
// is merged elsewhere, whose path goes through this one. A touch creates
// the missing directories on its path as that entry's walk would, in the
// phase of that entry (opaque markers, whiteouts, entries), and nothing
// else. A merge of part of the paths gets the walks of the other entries
// through its paths as touches (buckets.go).
const (
	touchOpaque markerKind = 0x80 + iota
	touchWhiteout
	touchEntry
)

// touchOf is the touch of each phase of applyLayer.
var touchOf = [...]markerKind{touchOpaque, touchWhiteout, touchEntry}

// step is the entry applyLayer is merging: its phase (0 opaque markers,
// 1 whiteouts, 2 entries) and its index in the scan. A warning or error
// of the merge is about that entry.
type step struct {
	phase int32
	i     int32
}

// applyLayer merges the scanned layer li into the tree: opaque markers
// first, then whiteouts, then the entries in tar order. Markers hide only
// what lower layers put there, wherever they appear in the layer.
func (f *flattener) applyLayer(li int) error {
	f.layer = int32(li)
	s := &f.scan
	for i := range s.links {
		s.links[i].lower = f.lookupLink(li, s.links[i].target)
	}
	markerWalk := walkLookup
	if f.keep {
		markerWalk = walkMarker
	}
	for phase, kind := range [...]markerKind{opaqueMarker, whiteoutMarker} {
		for i := range s.entries {
			switch e := &s.entries[i]; e.kind {
			case kind:
				f.step = step{int32(phase), int32(i)}
				if err := f.applyMarker(li, e); err != nil {
					return err
				}
			case touchOf[phase]:
				f.walkDir(e.name, markerWalk)
			}
		}
	}
	for i := range s.entries {
		if i&255 == 0 {
			if err := f.ctx.Err(); err != nil {
				return err
			}
		}
		switch e := &s.entries[i]; e.kind {
		case plainEntry:
			f.step = step{2, int32(i)}
			if err := f.applyEntry(li, e); err != nil {
				return err
			}
		case touchEntry:
			f.walkDir(e.name, walkCreate)
		}
	}
	return nil
}

// lookupLink finds what a hardlink target is in the tree as it stands.
func (f *flattener) lookupLink(li int, target string) linkResult {
	if off, ok := f.scan.plnk[target]; ok {
		return linkResult{status: linkFound, id: ident{int32(li), off}}
	}
	dir, base := splitName(target)
	n, _, stop, at := f.walkDir(dir, walkLookup)
	switch stop {
	case stopSymlink:
		return linkResult{status: linkViaSymlink, at: at}
	case stopMissing, stopNotDir:
		return linkResult{status: linkMissing}
	}
	c := n.kids[base]
	switch {
	case c == nil || c.typ == typeWhiteout:
		return linkResult{status: linkMissing}
	case c.typ == tar.TypeDir:
		return linkResult{status: linkIsDir}
	}
	return linkResult{status: linkFound, id: c.ident()}
}

// layerDefines reports whether the layer being applied has an entry at
// name. The set is built on first use: only markers below a symlink need it.
func (f *flattener) layerDefines(name string) bool {
	s := &f.scan
	if s.defined == nil {
		s.defined = make(map[string]struct{})
		for i := range s.entries {
			if e := &s.entries[i]; e.kind == plainEntry {
				s.defined[e.name] = struct{}{}
			}
		}
	}
	_, ok := s.defined[name]
	return ok
}

// applyMarker applies an opaque marker or a whiteout.
func (f *flattener) applyMarker(li int, e *entry) error {
	mode := walkLookup
	if f.keep {
		mode = walkMarker
	}
	var dir, base, marker string
	if e.kind == opaqueMarker {
		dir = e.name
		marker = opaqueName(dir)
	} else {
		dir, base = splitName(e.name)
		marker = whiteoutName(dir, base)
	}
	n, vis, stop, at := f.walkDir(dir, mode)
	switch stop {
	case stopSymlink:
		if f.layerDefines(at) {
			return nil // the layer replaces the symlink: nothing below it to hide
		}
		return f.errorf(li, marker, fmt.Errorf("%w %q", ErrSymlinkParent, at))
	case stopMissing, stopNotDir:
		return nil // nothing to hide
	}
	if e.kind == opaqueMarker {
		n.kids = nil
		if f.keep && vis {
			n.flags |= flagOpaqueLower
		}
		return nil
	}
	c := n.kids[base]
	switch {
	case f.keep && vis:
		if c != nil && c.typ == typeWhiteout {
			return nil
		}
		name := base
		if c != nil {
			name = c.name
		} else {
			name = strings.Clone(base)
		}
		n.setKid(&node{name: name, layer: -1, typ: typeWhiteout, flags: flagHideLower})
	case c != nil:
		delete(n.kids, base)
	}
	return nil
}

// applyEntry adds one entry of layer li to the tree.
func (f *flattener) applyEntry(li int, e *entry) error {
	k := int32(li)
	dir, base := splitName(e.name)
	n, vis, stop, at := f.walkDir(dir, walkCreate)
	switch stop {
	case stopSymlink:
		return f.errorf(li, e.name, fmt.Errorf("%w %q", ErrSymlinkParent, at))
	case stopNotDir:
		return f.errorf(li, e.name, fmt.Errorf("%w: %q", ErrNotDir, at))
	}
	c := n.kids[base]
	if c != nil && c.layer == k {
		f.warnf("layer %s: entry %q: the same path twice in one layer, the last one wins", f.layerName(li), e.name)
	}
	if e.typ == tar.TypeDir && c != nil && c.typ == tar.TypeDir {
		// A directory over a directory keeps the lower children.
		c.layer, c.off = k, e.off
		return nil
	}
	nn := &node{layer: k, off: e.off, typ: e.typ}
	if c != nil {
		nn.name = c.name
		if f.keep && vis && e.typ == tar.TypeDir {
			// It replaces a file or a whiteout: lower content stays hidden.
			nn.flags = flagHideLower
		}
	} else {
		nn.name = strings.Clone(base)
	}
	if e.typ == tar.TypeLink {
		id, err := f.resolveLink(li, e)
		if err != nil {
			return err
		}
		nn.llayer, nn.off = id.layer, id.off
		f.nlinks++
	}
	n.setKid(nn)
	return nil
}

// resolveLink finds the file a hardlink names: the last earlier entry of
// its own layer at the target, else what the target was in the lower
// layers before this layer's whiteouts.
func (f *flattener) resolveLink(li int, e *entry) (ident, error) {
	ref := &f.scan.links[e.link]
	t := ref.target
	if _, ok := f.scan.plnk[t]; !ok {
		dir, base := splitName(t)
		if n, _, stop, _ := f.walkDir(dir, walkLookup); stop == stopNone {
			if c := n.kids[base]; c != nil && c.layer == int32(li) {
				if c.typ == tar.TypeDir {
					return ident{}, f.errorf(li, e.name, fmt.Errorf("%w %q: is a directory", ErrLinkTarget, t))
				}
				return c.ident(), nil
			}
		}
	}
	switch r := ref.lower; r.status {
	case linkFound:
		return r.id, nil
	case linkIsDir:
		return ident{}, f.errorf(li, e.name, fmt.Errorf("%w %q: is a directory", ErrLinkTarget, t))
	case linkViaSymlink:
		return ident{}, f.errorf(li, e.name, fmt.Errorf("hardlink target %q: %w %q", t, ErrSymlinkParent, r.at))
	}
	return ident{}, f.errorf(li, e.name, fmt.Errorf("%w %q: does not exist", ErrLinkTarget, t))
}
