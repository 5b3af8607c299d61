package flatten

import (
	"archive/tar"
	"context"
	"errors"
	"strings"
)

// Entry is one path of the merged file system, as Walk gives it.
type Entry struct {
	// Path is the path from the root, without a leading or a trailing
	// slash: "etc/passwd".
	Path string
	// Header is the entry as Flatten writes it: the normalised type,
	// mode, owner, times, size, link target and PAX records (xattrs). A
	// hardlink's Linkname is the path of the first name of its file in
	// output order, without a leading slash. Header is valid during the
	// call only.
	Header *tar.Header
	// Layer is the index in layers of the layer whose entry last wrote
	// the path (for a hardlink, the layer of the link, not of the file it
	// names), or -1 for a directory that no layer defines, created as a
	// parent.
	Layer int
	// DataLayer is the index of the layer that stores the file's data
	// (the entry of the file a hardlink names): for the first name of a
	// hardlinked file, which Header gives as the file, it may be below
	// Layer. It is Layer for every other entry.
	DataLayer int
}

// errWalkKeep: a walk shows the merged file system, which has no markers.
var errWalkKeep = errors.New("flatten: Walk does not keep whiteouts")

// Walk calls fn with each path of the merge of layers (layer 0 is the
// bottom), in the order Flatten writes them: depth first, a directory
// before its contents, children in byte order of their names. It reads
// headers only, never file data, and holds in memory what Flatten holds:
// past Options.IndexEntries entries, a bounded part of the index. It
// stops at fn's first error and returns it. Options.KeepWhiteouts is an
// error; Include and Exclude select the paths as they do for Flatten.
func Walk(ctx context.Context, layers []Layer, opts Options, fn func(*Entry) error) error {
	x := NewIndexer(ctx, len(layers), opts)
	defer x.Close()
	return x.Walk(layers, fn)
}

// Walk is Walk for the layers of the indexer, which are added first as
// Flatten adds them.
func (x *Indexer) Walk(layers []Layer, fn func(*Entry) error) error {
	if x.f.keep {
		return errWalkKeep
	}
	if err := x.finish(layers); err != nil {
		return err
	}
	filter, err := newWriteFilter(x.f.opts)
	if err != nil {
		return err
	}
	w := &writer{f: x.f, filter: filter, visit: fn}
	w.groups = x.ix.linkGroups()
	return x.ix.parts(w)
}

// visitEntry gives the entry in w.hdr at name (a directory's with its
// slash), written by layer, its data stored by dataLayer, to w.visit.
func (w *writer) visitEntry(name []byte, layer, dataLayer int32) error {
	w.entry = Entry{Path: strings.TrimSuffix(string(name), "/"), Header: &w.hdr, Layer: int(layer), DataLayer: int(dataLayer)}
	return w.visit(&w.entry)
}
