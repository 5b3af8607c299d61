package flatten

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"sync"
)

// Indexer flattens layers: it writes the merge of layers (layer 0 is the
// bottom) as one tar stream. It runs the first pass ahead of time: it
// reads the headers of each layer as soon as the layer is added, on a
// goroutine of its own and in any order, and merges the layers into the
// index bottom first as soon as every lower one is in. A caller that
// receives layers one by one (from a save stream, or while it verifies
// them) adds each as it comes, so that indexing overlaps the wait for the
// others; Flatten then only has the writing left.
//
// The output and errors do not depend on the order the layers are added
// in: a layer's scan error is reported when the merge reaches that layer.
type Indexer struct {
	f      *flattener
	adds   chan added
	cancel context.CancelFunc
	done   chan struct{}
	err    error // the goroutine's result, set before done is closed

	mu    sync.Mutex
	added []bool

	sp *spill // the index on disk, for when the tree would grow too large; never nil
}

type added struct {
	i int
	l Layer
}

// scanned is a layer read ahead of the merge: its headers, or why they
// could not be read.
type scanned struct {
	s   *layerScan
	err error
}

// NewIndexer starts indexing n layers (layer 0 is the bottom) with opts.
// The caller must Close it. opts.Warn is called from the indexer's
// goroutine.
func NewIndexer(ctx context.Context, n int, opts Options) *Indexer {
	ctx, cancel := context.WithCancel(ctx)
	x := &Indexer{
		f: &flattener{
			ctx:    ctx,
			layers: make([]Layer, n),
			opts:   opts,
			keep:   opts.KeepWhiteouts,
			root:   &node{layer: -1, typ: tar.TypeDir},
		},
		adds:   make(chan added, n),
		cancel: cancel,
		done:   make(chan struct{}),
		added:  make([]bool, n),
	}
	x.sp = newSpill(opts.TmpDir, n)
	go x.run(n)
	return x
}

// Add hands layer i to the indexer. It never blocks. Adding a layer again
// keeps the first one; an index out of range is ignored (Flatten adds
// the missing layers).
func (x *Indexer) Add(i int, l Layer) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if i < 0 || i >= len(x.added) || x.added[i] {
		return
	}
	x.added[i] = true
	x.adds <- added{i, l}
}

// maxAhead bounds the entries held in scans of layers that arrived before
// a layer below them (about 70 bytes each with their names), so that
// reading ahead costs about a MiB at most whatever the image. A layer past
// the bound waits, unscanned, until the merge reaches it. A variable for
// the tests.
var maxAhead = 16 << 10

func (x *Indexer) run(n int) {
	defer close(x.done)
	x.index(n)
	if x.err == nil && x.f.root == nil {
		// On disk: the first pass over the buckets, before the caller
		// asks for the output.
		x.err = x.sp.check(x.f)
	}
}

// index scans and merges the layers as they arrive, bottom first, into the
// tree or the spill.
func (x *Indexer) index(n int) {
	f := x.f
	arrived := make([]bool, n)
	ahead := make(map[int]scanned) // scanned, not merged yet
	held := 0                      // entries in ahead
	next := 0                      // the layer to merge next
	for next < n {
		select {
		case a := <-x.adds:
			f.layers[a.i] = a.l
			arrived[a.i] = true
		case <-f.ctx.Done():
			x.err = f.ctx.Err()
			return
		}
		// Merge every layer whose lower layers are all merged.
		for next < n && arrived[next] {
			var err error
			if sc, ok := ahead[next]; ok {
				delete(ahead, next)
				held -= len(sc.s.entries)
				err = sc.err
				f.scan = *sc.s
			} else {
				// The scan goes to disk as it is read, and is dropped
				// once the index is on disk only.
				li := next
				f.scan.flush = func(s *layerScan) (bool, error) {
					if err := x.sp.flush(li, s); err != nil {
						if f.root != nil {
							return false, nil // without a spill, the tree goes on
						}
						return false, err
					}
					return x.spillIf(li, s.base+len(s.entries)), nil
				}
				err = f.scanLayer(next, &f.scan)
				f.scan.flush = nil
			}
			if err != nil {
				if f.root == nil && f.ctx.Err() == nil {
					// Spilled: an error of a lower layer's merge,
					// found when the buckets merge, comes first.
					x.sp.scanErr, x.sp.bad = err, int32(next)
					return
				}
				x.err = err
				return
			}
			x.sp.add(next, &f.scan)
			if !x.spillIf(next, f.scan.base+len(f.scan.entries)) {
				if x.err = f.applyLayer(next); x.err != nil {
					return
				}
			}
			next++
		}
		// Scan ahead the layers that came early, lowest first, within
		// the bound. A scan error waits for its turn, so that errors come
		// in layer order, whatever the order of arrival.
		for i := next + 1; i < n && held < maxAhead; i++ {
			if _, ok := ahead[i]; ok || !arrived[i] {
				continue
			}
			s := new(layerScan)
			ahead[i] = scanned{s, f.scanLayer(i, s)}
			held += len(s.entries)
		}
	}
	f.scan = layerScan{}
}

// Flatten writes to w the merge of layers as one tar stream. layers are
// the layers the indexer was started for: those not added yet are added
// now, and the ones added must have the same sizes. The same input always
// gives the same bytes. On error it returns without writing the tar end
// marker, so a consumer of a stream can see it is broken. It checks
// ctx.Done() between entries.
//
// Memory holds per-entry metadata only (name, layer, offset, type), never
// file contents; past Options.IndexEntries entries, only a bounded part
// of it (see buckets.go).
func (x *Indexer) Flatten(w io.Writer, layers []Layer) error {
	if len(layers) != len(x.added) {
		return fmt.Errorf("flatten: %d layers given to an indexer of %d", len(layers), len(x.added))
	}
	for i, l := range layers {
		x.Add(i, l)
	}
	<-x.done
	if x.err != nil {
		return x.err
	}
	for i, l := range layers {
		// A layer the indexer did not receive (it stopped at a scan
		// error) has no reader.
		if x.f.layers[i].R != nil {
			if got := x.f.layers[i].Size; got != l.Size {
				return fmt.Errorf("flatten: layer %d was added with %d bytes, not %d", i, got, l.Size)
			}
		}
	}
	if x.f.root == nil {
		return x.sp.write(x.f, w)
	}
	return x.f.write(w)
}

// spillIf drops the in-memory tree, so that from now on the index is on
// disk only, when merging n more entries of layer li would grow it past
// Options.IndexEntries, and the spill works. It reports whether the tree
// is gone.
func (x *Indexer) spillIf(li, n int) bool {
	f := x.f
	if f.root == nil {
		return true
	}
	limit := maxTreeEntries
	if o := f.opts.IndexEntries; o > 0 {
		limit = o
	}
	if f.applied+n <= limit || x.sp.err != nil {
		return false
	}
	f.root = nil
	x.sp.merged = int32(li)
	return true
}

// Close stops indexing and waits for the indexer's goroutine to return,
// so that no layer is read after Close.
func (x *Indexer) Close() {
	x.cancel()
	<-x.done
	x.sp.close()
}
