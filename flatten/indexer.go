package flatten

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/containerd/log"
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
	f      *flattener // the layers and settings; it scans the layers
	ix     index
	adds   chan added
	cancel context.CancelFunc
	done   chan struct{}
	err    error // the goroutine's result, set before done is closed

	mu    sync.Mutex
	added []bool
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
	f := &flattener{
		ctx:    ctx,
		layers: make([]Layer, n),
		opts:   opts,
		keep:   opts.KeepWhiteouts,
	}
	x := &Indexer{
		f:      f,
		ix:     newGrowIndex(f, n),
		adds:   make(chan added, n),
		cancel: cancel,
		done:   make(chan struct{}),
		added:  make([]bool, n),
	}
	go x.index(n)
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

// index scans the layers as they arrive and adds them to the index,
// bottom first; then it ends pass 1.
func (x *Indexer) index(n int) {
	defer close(x.done)
	f := x.f
	start := time.Now()
	var (
		lastIn   time.Time     // when the last layer arrived
		scanning time.Duration // spent reading headers
	)
	defer func() {
		if x.err == nil {
			log.G(f.ctx).Debugf("pass 1 (indexing): %d layers in %s, of which %s reading headers; done %s after the last layer arrived",
				n, time.Since(start).Round(time.Millisecond), scanning.Round(time.Millisecond), time.Since(lastIn).Round(time.Millisecond))
		}
	}()
	var scan layerScan // the next layer's, unless it came early
	arrived := make([]bool, n)
	ahead := make(map[int]scanned) // scanned, not added yet
	held := 0                      // entries in ahead
	next := 0                      // the layer to add next
	for next < n {
		select {
		case a := <-x.adds:
			f.layers[a.i] = a.l
			arrived[a.i] = true
			lastIn = time.Now()
		case <-f.ctx.Done():
			x.err = f.ctx.Err()
			return
		}
		// Add every layer whose lower layers are all added.
		for next < n && arrived[next] {
			s := &scan
			var err error
			if sc, ok := ahead[next]; ok {
				delete(ahead, next)
				held -= len(sc.s.entries)
				s, err = sc.s, sc.err
			} else {
				// The index takes the scan in parts, as it is read.
				li := next
				t := time.Now()
				err = f.scanLayer(li, s, func(s *layerScan) error { return x.ix.add(li, s, true) })
				scanning += time.Since(t)
			}
			if err != nil {
				if f.ctx.Err() != nil {
					x.err = err
				} else {
					// An error of a lower layer's merge comes first.
					x.err = x.ix.finish(err)
				}
				return
			}
			if x.err = x.ix.add(next, s, false); x.err != nil {
				return
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
			t := time.Now()
			ahead[i] = scanned{s, f.scanLayer(i, s, nil)}
			scanning += time.Since(t)
			held += len(s.entries)
		}
	}
	x.err = x.ix.finish(nil)
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
	if err := x.finish(layers); err != nil {
		return err
	}
	return x.f.write(x.ix, w, nil)
}

// finish adds the layers not added yet, waits for pass 1 to end and
// checks that the layers added are the given ones.
func (x *Indexer) finish(layers []Layer) error {
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
	return nil
}

// Close stops indexing and waits for the indexer's goroutine to return,
// so that no layer is read after Close.
func (x *Indexer) Close() {
	x.cancel()
	<-x.done
	x.ix.close()
}
