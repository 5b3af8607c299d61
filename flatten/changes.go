package flatten

import (
	"archive/tar"
	"context"
	"errors"
	"maps"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
)

// ChangeKind says what a layer did to a path.
type ChangeKind byte

// Change kinds, as docker diff prints them.
const (
	Added   ChangeKind = 'A'
	Changed ChangeKind = 'C'
	Deleted ChangeKind = 'D'
)

func (k ChangeKind) String() string { return string(rune(k)) }

// ChangeWhat is the set of attributes a Changed path changed.
type ChangeWhat uint8

// Attributes of a Changed path.
const (
	// ChangedContent: a regular file's size or data (sha256), a symlink's
	// target, or a device's numbers.
	ChangedContent ChangeWhat = 1 << iota
	// ChangedMode: the permission bits, setuid, setgid or sticky.
	ChangedMode
	// ChangedOwner: the uid or gid.
	ChangedOwner
	// ChangedType: a file became a directory, a symlink, etc.
	ChangedType
	// ChangedXattrs: the extended attributes (PAX SCHILY.xattr records).
	ChangedXattrs
	// ChangedTime: the modification time (Compare with ModTime only).
	ChangedTime
	// ChangedLink: a hardlink names another path, or one side is a
	// hardlink and the other is not (Compare only).
	ChangedLink
)

// Strings returns the names of the attributes: "content", "mode", "owner",
// "type", "xattrs", "mtime", "hardlink".
func (w ChangeWhat) Strings() []string {
	var out []string
	for _, a := range []struct {
		bit  ChangeWhat
		name string
	}{
		{ChangedContent, "content"}, {ChangedMode, "mode"}, {ChangedOwner, "owner"}, {ChangedType, "type"},
		{ChangedXattrs, "xattrs"}, {ChangedTime, "mtime"}, {ChangedLink, "hardlink"},
	} {
		if w&a.bit != 0 {
			out = append(out, a.name)
		}
	}
	return out
}

// Change is one path that a layer adds, changes or deletes relative to the
// merged file system of the layers below it.
type Change struct {
	Layer int // index into the layers given to Changes
	Kind  ChangeKind
	Path  string // canonical: relative, without "./"
	// Type is the tar type flag of the path after the change (before it,
	// for Deleted); tar.TypeLink for a hardlink.
	Type byte
	// Size is the bytes the layer stores for the path (a regular file's
	// size; 0 for directories, hardlinks and the rest); for Deleted, the
	// bytes of the regular files it removes, the whole subtree for a
	// directory.
	Size int64
	What ChangeWhat // Changed only
}

// LayerSummary counts one layer's changes.
type LayerSummary struct {
	Added, Changed, Deleted                int
	AddedBytes, ChangedBytes, DeletedBytes int64
	// Wasted is the bytes of this layer's regular files that the merge of
	// all the given layers no longer shows under any name: a higher layer
	// replaced them (even with identical bytes) or deleted them. It is
	// space the image stores but never shows (what dive's "wasted space"
	// means to count; dive counts differently: see analyze.Efficiency).
	Wasted int64
}

// ChangesOptions tune Changes.
type ChangesOptions struct {
	// Report lists the indexes of the layers whose changes are listed and
	// counted; nil means every layer. Wasted bytes are counted for every
	// layer.
	Report []int
	// Filter keeps only the changes (and wasted bytes) of the paths it
	// selects; nil keeps all.
	Filter *PathFilter
	// Stored lists, in ChangeSet.Stored, every regular file that the
	// layers store, and whether the merge of all of them still shows it.
	Stored bool
}

// StoredFile is a regular file that a layer stores: an entry of the layer
// that the layer leaves in its merged tree (a hardlink stores nothing of
// its own; it names a stored file). Of two entries of one path in one
// layer, only the last is stored, as Indexer.Flatten keeps only it.
type StoredFile struct {
	Layer int
	// Path is the first name the layer gives the file (canonical:
	// relative, without "./").
	Path string
	Size int64
	// Hidden says that no name of the merge of all the given layers shows
	// the file any more: a higher layer replaced it (even with identical
	// bytes) or deleted it. Its Size is wasted.
	Hidden bool
	id     ident
}

// ChangeSet is what Changes returns.
type ChangeSet struct {
	// Changes of the reported layers, by layer, then in byte order of path.
	Changes []Change
	// Summaries has one entry per given layer; the counts are zero for the
	// layers not reported.
	Summaries []LayerSummary
	// Stored (with ChangesOptions.Stored) lists the regular files of the
	// paths the filter selects that the layers store, by layer, then in
	// byte order of path.
	Stored []StoredFile

	files *files
}

// Digest returns the sha256 of the data of a file of cs.Stored, reading
// it from its layer (or its recording), which must still be readable.
func (cs *ChangeSet) Digest(f StoredFile) (digest.Digest, error) {
	if cs.files == nil {
		return "", errors.New("no stored files: ChangesOptions.Stored was not set")
	}
	sum, err := cs.files.sum(f.id)
	if err != nil {
		return "", err
	}
	return digest.NewDigestFromBytes(digest.SHA256, sum[:]), nil
}

// Changes reads the headers of layers (layers[0] is the bottom) and returns,
// for each reported layer, the paths it adds, changes or deletes relative to
// the merged file system of all the given layers below it, under the same
// rules as Indexer.Flatten. It reads file data only to compare two regular
// files of equal size (by sha256).
//
// A whiteout of a directory is one Deleted change for the directory, whose
// Size is the bytes of its subtree. An opaque marker gives one Deleted
// change per lower child of its directory that the layer does not
// re-create. A directory that the layer deletes and re-creates (a whiteout
// or an opaque marker, then an entry) is compared with the lower one, and
// its lower children that the layer does not re-create are Deleted; so are
// the lower children of a directory that the layer replaces with a
// non-directory and then with a directory again. A directory that replaces
// a directory keeps the lower children. A non-directory that replaces a
// directory is one Changed change (type). A path whose attributes are all
// equal to the lower path's is no change (modification times are not
// compared). Hardlinks compare as the file they name.
//
// With a Filter, a Deleted directory that the filter does not select but
// that holds selected paths gives Deleted changes for those instead.
func Changes(ctx context.Context, layers []Layer, opts ChangesOptions) (*ChangeSet, error) {
	f := &flattener{
		ctx:    ctx,
		layers: layers,
		root:   &node{layer: -1, typ: tar.TypeDir},

		recordings: true,
	}
	c := &changer{files: newFiles(f), filter: opts.Filter, created: map[ident]bool{}}
	if opts.Stored {
		c.names = make(map[ident]string)
	}
	cs := &ChangeSet{Summaries: make([]LayerSummary, len(layers))}
	c.sums = cs.Summaries
	report := make([]bool, len(layers))
	for i := range report {
		report[i] = opts.Report == nil
	}
	for _, i := range opts.Report {
		if i >= 0 && i < len(layers) {
			report[i] = true
		}
	}
	for li := range layers {
		if err := f.scanLayer(li, &f.scan, nil); err != nil {
			return nil, err
		}
		c.before(report[li])
		if err := f.applyLayer(li); err != nil {
			return nil, err
		}
		rows, err := c.after(li, report[li])
		if err != nil {
			return nil, err
		}
		cs.Changes = append(cs.Changes, rows...)
	}
	stored, err := c.wasted(opts.Stored)
	if err != nil {
		return nil, err
	}
	if opts.Stored {
		cs.Stored = stored
		cs.files = &c.files
	}
	return cs, nil
}

// wasted counts the files that the layers made and that no name of the
// merged tree shows any more: replaced or deleted by a higher layer. With
// list, it returns every file the layers made that the filter selects.
func (c *changer) wasted(list bool) ([]StoredFile, error) {
	shown := make(map[ident]struct{})
	stack := []*node{c.f.root}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, k := range n.kids {
			switch k.typ {
			case tar.TypeReg, tar.TypeLink:
				shown[k.ident()] = struct{}{}
			case tar.TypeDir:
				stack = append(stack, k)
			}
		}
	}
	var stored []StoredFile
	for id, match := range c.created {
		_, ok := shown[id]
		if !match || ok && !list {
			continue
		}
		m, err := c.metaOf(&node{layer: id.layer, off: id.off, typ: tar.TypeReg})
		if err != nil {
			return nil, err
		}
		if !ok {
			c.sums[id.layer].Wasted += m.size
		}
		if list {
			stored = append(stored, StoredFile{Layer: int(id.layer), Path: c.names[id], Size: m.size, Hidden: !ok, id: id})
		}
	}
	slices.SortFunc(stored, func(a, b StoredFile) int {
		if a.Layer != b.Layer {
			return a.Layer - b.Layer
		}
		return strings.Compare(a.Path, b.Path)
	})
	return stored, nil
}

// probe is a path that the layer being applied has an entry at (or that
// is the parent of one), with what the lower layers had there.
type probe struct {
	path   string
	lower  *node // nil: nothing
	lowerN node  // *lower before the layer (a directory is updated in place)
}

// hidden is a lower path that the layer hides with a marker, or a lower
// directory that it replaces: what of it the layer does not re-create is
// deleted.
type hidden struct {
	path string
	n    *node
}

type changer struct {
	files
	filter *PathFilter
	sums   []LayerSummary

	probes []probe
	hidden []hidden // lower paths hidden by markers, or replaced directories
	seen   map[string]struct{}
	// lowerKids holds copies of the children of the lower directories
	// whose children the layer changes in place.
	lowerKids map[*node]map[string]*node
	// created are the regular files that each layer leaves in the tree
	// (under one name or more), and whether the filter selects one of
	// those names; names holds the first name the filter selects
	// (ChangesOptions.Stored only).
	created map[ident]bool
	names   map[ident]string
}

// kids returns the children that directory n had before the layer.
func (c *changer) kids(n *node) map[string]*node {
	if k, ok := c.lowerKids[n]; ok {
		return k
	}
	return n.kids
}

// keepKids copies the children of the lower directory n, if it is one,
// before the layer changes them.
func (c *changer) keepKids(n *node) {
	if n == nil || n.typ != tar.TypeDir {
		return
	}
	if _, ok := c.lowerKids[n]; !ok {
		c.lowerKids[n] = maps.Clone(n.kids)
	}
}

// lookup returns the node at the canonical path name ("" is the root), or
// nil.
func (f *flattener) lookup(name string) *node {
	if name == "" {
		return f.root
	}
	dir, base := splitName(name)
	n, _, stop, _ := f.walkDir(dir, walkLookup)
	if stop != stopNone {
		return nil
	}
	c := n.kids[base]
	if c == nil || c.typ == typeWhiteout {
		return nil
	}
	return c
}

// before records the paths that the scanned layer touches; with report,
// also what the lower layers have there and the children of the lower
// directories it changes.
func (c *changer) before(report bool) {
	f := c.f
	c.probes, c.hidden = c.probes[:0], c.hidden[:0]
	c.seen = make(map[string]struct{})
	c.lowerKids = make(map[*node]map[string]*node)
	for i := range f.scan.entries {
		e := &f.scan.entries[i]
		switch {
		case !report && e.kind == plainEntry:
			// Only the files the layer makes matter: see wasted.
			c.probes = append(c.probes, probe{path: e.name})
		case !report:
		case e.kind == opaqueMarker:
			if n := f.lookup(e.name); n != nil && n.typ == tar.TypeDir {
				c.keepKids(n)
				for _, k := range n.kids {
					c.hidden = append(c.hidden, hidden{joinName(e.name, k.name), k})
				}
			}
		case e.kind == whiteoutMarker:
			if n := f.lookup(e.name); n != nil {
				dir, _ := splitName(e.name)
				c.keepKids(f.lookup(dir))
				c.hidden = append(c.hidden, hidden{e.name, n})
			}
		case e.kind == plainEntry:
			for p := e.name; ; p, _ = splitName(p) {
				if _, ok := c.seen[p]; ok {
					break
				}
				c.seen[p] = struct{}{}
				lower := f.lookup(p)
				if p == "" {
					c.keepKids(lower)
					break
				}
				pr := probe{path: p, lower: lower}
				if lower != nil {
					pr.lowerN = *lower
					c.keepKids(lower)
				}
				c.probes = append(c.probes, pr)
			}
		}
	}
}

// after notes, once layer li is applied, the files it made; with report
// it compares the touched paths with what the lower layers had, and
// returns the changes, sorted by path, and counts them.
func (c *changer) after(li int, report bool) ([]Change, error) {
	var rows []Change
	add := func(ch Change) {
		if !report || !c.filter.Match(ch.Path) {
			return
		}
		ch.Layer = li
		rows = append(rows, ch)
		s := &c.sums[li]
		switch ch.Kind {
		case Added:
			s.Added++
			s.AddedBytes += ch.Size
		case Changed:
			s.Changed++
			s.ChangedBytes += ch.Size
		case Deleted:
			s.Deleted++
			s.DeletedBytes += ch.Size
		}
	}
	// Lower paths that the layer hid or replaced: those that it does not
	// re-create are deleted.
	for i := range c.probes {
		p := &c.probes[i]
		if up := c.f.lookup(p.path); up != nil && (up.typ == tar.TypeReg || up.typ == tar.TypeLink) && up.ident().layer == int32(li) {
			id := up.ident()
			match := c.filter.Match(p.path)
			if _, named := c.names[id]; match && !named && c.names != nil {
				c.names[id] = p.path
			}
			c.created[id] = c.created[id] || match
		}
	}
	if !report {
		return nil, nil
	}
	for i := range c.probes {
		p := &c.probes[i]
		if p.lower != nil && p.lower.typ == tar.TypeDir && c.f.lookup(p.path) != p.lower {
			c.hidden = append(c.hidden, hidden{p.path, p.lower})
		}
	}
	slices.SortFunc(c.hidden, func(a, b hidden) int { return strings.Compare(a.path, b.path) })
	c.hidden = slices.CompactFunc(c.hidden, func(a, b hidden) bool { return a.path == b.path })
	roots := make(map[string]struct{}, len(c.hidden))
	for _, h := range c.hidden {
		roots[h.path] = struct{}{}
	}
	for _, h := range c.hidden {
		under := false // a root above h walks h
		for p, _ := splitName(h.path); p != "" && !under; p, _ = splitName(p) {
			_, under = roots[p]
		}
		if !under {
			if err := c.hiddenChanges(h.path, h.n, add); err != nil {
				return nil, err
			}
		}
	}
	for i := range c.probes {
		p := &c.probes[i]
		up := c.f.lookup(p.path)
		if up == nil {
			// Replaced with its parent by a non-directory of this layer:
			// the parent's change says so.
			continue
		}
		if p.lower == nil {
			if !report || !c.filter.Match(p.path) {
				continue
			}
			ch := Change{Kind: Added, Path: p.path, Type: up.typ}
			if up.typ == tar.TypeReg {
				m, err := c.metaOf(up)
				if err != nil {
					return nil, err
				}
				ch.Size = m.size
			}
			add(ch)
			continue
		}
		ch, err := c.compare(p, up, report && c.filter.Match(p.path))
		if err != nil {
			return nil, err
		}
		if ch.What != 0 {
			add(ch)
		}
	}
	slices.SortFunc(rows, func(a, b Change) int { return strings.Compare(a.Path, b.Path) })
	return rows, nil
}

// hiddenChanges reports the lower path p (node n) that a marker hid or a
// non-directory replaced: a Deleted change if the layer has nothing there
// now; if the layer re-created it as a directory over a directory, the
// lower children it did not re-create; with a filter that selects paths
// under a lower directory but not the directory, those paths, Deleted. A
// path the layer re-created otherwise is its probe's.
func (c *changer) hiddenChanges(p string, n *node, add func(Change)) error {
	up := c.f.lookup(p)
	switch {
	case (up == nil || (up != n && up.typ != tar.TypeDir)) && n.typ == tar.TypeDir && !c.filter.Match(p) && c.filter.mayHoldIncluded(strings.Split(p, "/")):
		// A filter selects paths under the directory, which is gone or
		// now a non-directory: their rows instead of the directory's
		// (whose own row the filter leaves out).
		for _, k := range c.kids(n) {
			if err := c.hiddenChanges(joinName(p, k.name), k, add); err != nil {
				return err
			}
		}
	case up == nil:
		size, err := c.subtree(p, n)
		if err != nil {
			return err
		}
		add(Change{Kind: Deleted, Path: p, Type: n.typ, Size: size})
	case up != n && n.typ == tar.TypeDir && up.typ == tar.TypeDir:
		for _, k := range c.kids(n) {
			if err := c.hiddenChanges(joinName(p, k.name), k, add); err != nil {
				return err
			}
		}
	}
	return nil
}

// compare returns the change from the lower path of p to up; What is zero
// when nothing compared differs, or when !report. Data is hashed for two
// regular files of the same size.
func (c *changer) compare(p *probe, up *node, report bool) (Change, error) {
	lo := &p.lowerN
	ch := Change{Kind: Changed, Path: p.path, Type: up.typ}
	if lo.typ == up.typ && lo.ident() == up.ident() {
		return ch, nil // the same entry: an implicit parent over a lower directory
	}
	if !report {
		return ch, nil
	}
	lm, err := c.metaOf(lo)
	if err != nil {
		return ch, err
	}
	um, err := c.metaOf(up)
	if err != nil {
		return ch, err
	}
	ch.Size = storedSize(up, um)
	ch.What = differs(lm, um, false)
	if lm.typ == tar.TypeReg && um.typ == tar.TypeReg && ch.What&ChangedContent == 0 && lm.size > 0 && lo.ident() != up.ident() {
		a, err := c.sum(lo.ident())
		if err != nil {
			return ch, err
		}
		b, err := c.sum(up.ident())
		if err != nil {
			return ch, err
		}
		if a != b {
			ch.What |= ChangedContent
		}
	}
	return ch, nil
}

// subtree returns the bytes of the regular files of the lower subtree at p
// (node n) that the filter selects.
func (c *changer) subtree(p string, n *node) (int64, error) {
	var sum int64
	type item struct {
		p string
		n *node
	}
	stack := []item{{p, n}}
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if it.n.typ == tar.TypeDir {
			for _, k := range c.kids(it.n) {
				stack = append(stack, item{joinName(it.p, k.name), k})
			}
			continue
		}
		if it.n.typ != tar.TypeReg {
			continue
		}
		if err := c.f.ctx.Err(); err != nil {
			return 0, err
		}
		m, err := c.metaOf(it.n)
		if err != nil {
			return 0, err
		}
		if c.filter.Match(it.p) {
			sum += m.size
		}
	}
	return sum, nil
}
