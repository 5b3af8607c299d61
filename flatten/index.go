package flatten

import "archive/tar"

// index is the merge index: pass 1 adds the scanned layers to it, bottom
// first, and pass 2 writes the merged tree it gives, part by part, in
// output order (flattener.write). Neither pass knows how the index holds
// the tree: whole in memory (memIndex), or as records on disk that are
// merged one range of paths at a time (diskIndex, buckets.go). The
// Indexer starts with the one and moves to the other when the tree grows
// large (growIndex).
type index interface {
	// add takes the entries of layer li that s holds, li being the layer
	// above the last one added whole. With more, the scan of li goes on
	// and later calls bring the rest; add may take the entries, emptying
	// s.entries and s.links. Without more, s holds the rest of the layer
	// (and s.plnk the whole layer's): the layer is added whole. add
	// returns an error that stops pass 1: of the merge, or of the index.
	add(li int, s *layerScan, more bool) error
	// finish ends pass 1 and returns the first error of the merge of the
	// layers added. scanErr, if not nil, is the error of the scan of the
	// layer above them: it comes after any error of theirs.
	finish(scanErr error) error
	// linkGroups returns a new map of the files that hardlinks of the
	// merged tree name, each to "" (writer.groups), or nil if none.
	linkGroups() map[ident]string
	// parts hands the parts of the merged tree to w, in output order:
	// each is the tree under root restricted to the paths in [lo, hi)
	// in cmpPath order, "" being no bound. It stops at w's first error.
	parts(w partWriter) error
	// close releases what the index holds.
	close()
}

// partWriter writes the parts of a merged tree: pass 2's writer.
type partWriter interface {
	writePart(root *node, lo, hi string) error
}

// memIndex is the merged tree in memory: each layer is merged as it is
// added.
type memIndex struct {
	f       *flattener // the tree
	entries int        // the entries merged
}

// newMemIndex starts an empty tree with the settings and layers of f.
func newMemIndex(f *flattener) *memIndex {
	return &memIndex{f: &flattener{
		ctx:    f.ctx,
		layers: f.layers,
		opts:   f.opts,
		keep:   f.keep,
		root:   &node{layer: -1, typ: tar.TypeDir},
	}}
}

func (m *memIndex) add(li int, s *layerScan, more bool) error {
	if more {
		return nil // the layer is merged whole, at the end
	}
	m.f.scan = *s
	err := m.f.applyLayer(li)
	m.f.scan = layerScan{}
	m.entries += len(s.entries)
	return err
}

func (m *memIndex) finish(scanErr error) error { return scanErr }

func (m *memIndex) linkGroups() map[ident]string {
	if m.f.nlinks == 0 {
		return nil
	}
	groups := make(map[ident]string)
	m.f.addLinkGroups(groups)
	return groups
}

func (m *memIndex) parts(w partWriter) error {
	return w.writePart(m.f.root, "", "")
}

func (m *memIndex) close() {}

// maxTreeEntries is the default of Options.IndexEntries: the entries a
// tree in memory holds (about 125 bytes each) before the Indexer moves
// the index to disk. A variable for the tests.
var maxTreeEntries = 1 << 14

// growIndex is the Indexer's index: a tree in memory while it is small,
// and the index on disk once it would hold more than limit entries. The
// records of every layer go to disk as they are added, so that the tree
// can be dropped at any point, even within a layer; if writing them
// fails, the tree goes on alone.
type growIndex struct {
	mem   *memIndex  // nil once the tree is dropped
	disk  *diskIndex // nil once the tree goes on alone
	limit int
}

func newGrowIndex(f *flattener, n int) *growIndex {
	limit := maxTreeEntries
	if f.opts.IndexEntries > 0 {
		limit = f.opts.IndexEntries
	}
	return &growIndex{mem: newMemIndex(f), disk: newDiskIndex(f, n), limit: limit}
}

func (g *growIndex) add(li int, s *layerScan, more bool) error {
	if g.mem == nil {
		return g.disk.add(li, s, more)
	}
	if g.disk != nil {
		switch {
		case g.disk.record(li, s) != nil:
			g.disk.close()
			g.disk = nil
		case g.mem.entries+len(s.entries) > g.limit:
			// The tree gave the warnings of the layers it merged.
			g.disk.given = int32(li)
			g.mem = nil
			return g.disk.add(li, s, more)
		case !more:
			g.disk.end(li, s)
		}
	}
	return g.mem.add(li, s, more)
}

func (g *growIndex) finish(scanErr error) error {
	if g.mem != nil {
		return g.mem.finish(scanErr)
	}
	return g.disk.finish(scanErr)
}

func (g *growIndex) linkGroups() map[ident]string {
	if g.mem != nil {
		return g.mem.linkGroups()
	}
	return g.disk.linkGroups()
}

func (g *growIndex) parts(w partWriter) error {
	if g.mem != nil {
		return g.mem.parts(w)
	}
	return g.disk.parts(w)
}

func (g *growIndex) close() {
	if g.disk != nil {
		g.disk.close()
	}
}
