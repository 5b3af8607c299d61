package flatten

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
)

// diskIndex is the index of a large image, so that memory does not grow
// with the number of entries.
//
// It writes the records of each layer to disk as they are added
// (spill.go). When pass 1 ends, the paths are cut into ranges in output
// order (cmpPath), each of about bucketEntries records (or
// Options.IndexEntries), and each bucket's records are merged into a
// tree of their own by the same rules (tree.go), and written as one part
// of the output. Only one bucket's tree is in memory at a time.
//
// What a path ends up as depends on the records at the path and at its
// ancestors, on the walks of records below it (which create missing
// directories), and for a hardlink on its target. So every bucket also
// gets a context:
//   - the records at the ancestors of every cut, which hold each ancestor
//     of a bucket's paths that lies before the bucket, and each directory
//     whose subtree goes on into the next bucket;
//   - the records at every hardlink target and its ancestors;
//   - for those context paths, the walks through them of records of other
//     buckets, as touches (tree.go) of the deepest context path on the
//     walk: the first one in each phase of each layer, and the first after
//     each record at the path or above it, since only those can create
//     anything.
//
// Records reach each bucket in layer and tar order, so the merge in a
// bucket is the whole merge restricted to its paths and the context, and
// the context paths end up as in the whole merge: the same output, the
// same first error. A bucket writes its own paths, and the ancestors of
// its first path that no earlier bucket wrote.
//
// Every bucket is merged once to find the first error in layer and tar
// order (the whole merge stops there), the warnings before it, and the
// files that hardlinks name, before anything is written; then once more to
// write it.

// bucketEntries is the default number of records per bucket. A variable
// for the tests.
var bucketEntries = 1 << 14

// maxBuckets bounds the open bucket files: past maxBuckets*bucketEntries
// records, buckets grow instead. Each is written through bucketBufSize.
const (
	maxBuckets    = 64
	bucketBufSize = 16 << 10
)

// phaseOf is the phase of applyLayer that applies a record of kind k.
func phaseOf(k markerKind) int {
	switch k {
	case opaqueMarker:
		return 0
	case whiteoutMarker:
		return 1
	}
	return 2
}

// diskIndex is the index on disk (see above).
type diskIndex struct {
	f       *flattener // the settings and layers of the merge
	file    *spillFile
	err     error               // writing the records failed: the index cannot be used
	plnk    []map[string]int64  // per layer: aufs hardlink files
	targets map[string]struct{} // hardlink targets
	sample  sampler

	layers  int32 // the layers added whole
	taken   int   // entries of layer `layers` taken from its scan
	written int   // entries of the scan written
	scanErr error // the scan error of layer bad: only the layers below it are merged
	bad     int32
	given   int32 // the warnings of the layers below it were given already

	buckets *plan            // finish's cut, for parts
	groups  map[ident]string // finish's hardlink groups
}

func newDiskIndex(f *flattener, n int) *diskIndex {
	return &diskIndex{
		f:      f,
		file:   newSpillFile(f.opts, spillBufSize),
		plnk:   make([]map[string]int64, n),
		sample: sampler{max: 4096, stride: 1},
	}
}

func (d *diskIndex) add(li int, s *layerScan, more bool) error {
	if err := d.record(li, s); err != nil {
		return err
	}
	if !more {
		d.end(li, s)
		return nil
	}
	d.taken += len(s.entries)
	d.written = 0
	s.entries, s.links = s.entries[:0], s.links[:0]
	return nil
}

// record writes the entries of s, a scan of layer li, that are not
// written yet, and leaves them in s.
func (d *diskIndex) record(li int, s *layerScan) error {
	if d.err != nil {
		return d.err
	}
	var r record
	for i := d.written; i < len(s.entries); i++ {
		e := &s.entries[i]
		r = record{layer: int32(li), seq: int32(d.taken + i), off: e.off, kind: e.kind, typ: e.typ, name: e.name}
		if e.link >= 0 {
			r.target = s.links[e.link].target
			if d.targets == nil {
				d.targets = make(map[string]struct{})
			}
			d.targets[r.target] = struct{}{}
		}
		if err := d.file.put(&r); err != nil {
			d.err = fmt.Errorf("writing the index to disk: %w", err)
			return d.err
		}
		d.sample.add(e.name)
	}
	d.written = len(s.entries)
	return nil
}

// end ends layer li, whose entries are all recorded.
func (d *diskIndex) end(li int, s *layerScan) {
	if len(s.plnk) > 0 {
		d.plnk[li] = maps.Clone(s.plnk)
	}
	d.layers, d.taken, d.written = int32(li+1), 0, 0
}

// finish cuts the records into buckets and runs the first pass over them
// (check).
func (d *diskIndex) finish(scanErr error) error {
	if scanErr != nil {
		d.scanErr, d.bad = scanErr, d.layers
	}
	return d.check()
}

func (d *diskIndex) linkGroups() map[ident]string { return maps.Clone(d.groups) }

func (d *diskIndex) close() {
	d.file.Close()
	if d.buckets != nil {
		d.buckets.close()
	}
}

// plan is the cut of the spilled records into buckets.
type plan struct {
	cuts  []string // the first path of buckets 1.. (bucket 0 starts at the root)
	files []*spillFile

	// The context: the ancestors of the cuts, and the hardlink targets
	// with their ancestors. Every bucket gets the records at these paths
	// and the touches of them.
	ctx     map[string]int // path -> index in ctxPath
	ctxPath []string       // in cmpPath order
}

func (p *plan) bucketOf(name string) int {
	return sort.Search(len(p.cuts), func(i int) bool { return cmpPath(p.cuts[i], name) > 0 })
}

// bounds returns bucket b's range [lo, hi); hi "" is no end.
func (p *plan) bounds(b int) (lo, hi string) {
	if b > 0 {
		lo = p.cuts[b-1]
	}
	if b < len(p.cuts) {
		hi = p.cuts[b]
	}
	return lo, hi
}

// deepestCtx returns the deepest context path at or above the canonical
// directory dir ("" is the root, always context).
func (p *plan) deepestCtx(dir string) string {
	if _, ok := p.ctx[dir]; ok {
		return dir
	}
	best := ""
	for i := 0; i < len(dir); i++ {
		if dir[i] == '/' {
			if _, ok := p.ctx[dir[:i]]; !ok {
				break // the context is closed under ancestors
			}
			best = dir[:i]
		}
	}
	return best
}

func (p *plan) close() {
	for _, f := range p.files {
		f.Close()
	}
}

// plan cuts the records into buckets and writes each bucket's records,
// its own and the context, to a file of its own.
func (d *diskIndex) plan() (*plan, error) {
	ctx, opts := d.f.ctx, &d.f.opts
	per := bucketEntries
	if opts.IndexEntries > 0 {
		per = opts.IndexEntries
	}
	if n := d.file.n; n > per*maxBuckets {
		per = (n + maxBuckets - 1) / maxBuckets
	}
	p := &plan{cuts: d.sample.cuts(per, d.file.n), ctx: make(map[string]int)}
	add := func(path string) { p.ctx[path] = 0 }
	add("")
	for _, c := range p.cuts {
		ancestors(c, add)
	}
	for t := range d.targets {
		ancestors(t, add)
		add(t)
	}
	for path := range p.ctx {
		p.ctxPath = append(p.ctxPath, path)
	}
	slices.SortFunc(p.ctxPath, cmpPath[string, string])
	for i, path := range p.ctxPath {
		p.ctx[path] = i
	}

	p.files = make([]*spillFile, len(p.cuts)+1)
	for b := range p.files {
		p.files[b] = newSpillFile(*opts, bucketBufSize)
	}
	if err := d.distribute(ctx, p, opts.KeepWhiteouts); err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

// distribute writes every record to its bucket, the context records to
// every bucket, and the touches of the context to every bucket: of the
// walks through a context path in one phase of one layer, only the first
// one, and the first after each record at the path or above it, can
// create anything.
func (d *diskIndex) distribute(ctx context.Context, p *plan, keep bool) error {
	sr, err := d.file.reader()
	if err != nil {
		return fmt.Errorf("writing the index to disk: %w", err)
	}
	// touched[i][phase]: context path i was touched in this layer and
	// phase since the last record at it or above it.
	touched := make([][3]bool, len(p.ctxPath))
	layer := int32(-1)
	toAll := func(r *record) error {
		for _, f := range p.files {
			if err := f.put(r); err != nil {
				return err
			}
		}
		return nil
	}
	var r record
	for n := 0; ; n++ {
		if n&4095 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if err := sr.next(&r); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		if d.scanErr != nil && r.layer >= d.bad {
			return nil // the failed layer's records before its error
		}
		if r.layer != layer {
			layer = r.layer
			clear(touched)
		}
		phase := phaseOf(r.kind)
		if i, ok := p.ctx[r.name]; ok {
			// The record's subtree in the context is the run of paths
			// from i on that it is an ancestor of.
			touched[i][phase] = false
			for j := i + 1; j < len(p.ctxPath) && isAncestor(r.name, p.ctxPath[j]); j++ {
				touched[j][phase] = false
			}
			if err := toAll(&r); err != nil {
				return err
			}
			continue
		}
		if err := p.files[p.bucketOf(r.name)].put(&r); err != nil {
			return err
		}
		if phase < 2 && !keep {
			continue // without KeepWhiteouts, markers create nothing
		}
		walk := r.name
		if r.kind != opaqueMarker {
			walk, _ = splitName(r.name)
		}
		q := p.deepestCtx(walk)
		if q == "" {
			continue // the root always exists
		}
		i := p.ctx[q]
		if touched[i][phase] {
			continue
		}
		touched[i][phase] = true
		t := record{layer: r.layer, seq: r.seq, kind: touchOf[phase], name: q}
		if err := toAll(&t); err != nil {
			return err
		}
	}
}

// applyPos is where the merge stopped with an error: layer, then markers
// before entries (opaque markers, whiteouts, plain entries), then tar order.
type applyPos struct {
	layer, phase, seq int32
}

func (a applyPos) before(b applyPos) bool {
	if a.layer != b.layer {
		return a.layer < b.layer
	}
	if a.phase != b.phase {
		return a.phase < b.phase
	}
	return a.seq < b.seq
}

// warnings are the buckets' warnings, kept to be given in layer and tar
// order, and only those before the first error (where the merge of the
// whole would have stopped). Past maxWarnings only a count is kept.
type warnings struct {
	list    []posWarning
	dropped int
}

type posWarning struct {
	at  applyPos
	msg string
}

const maxWarnings = 1000

func (ws *warnings) add(at applyPos, msg string) {
	ws.list = append(ws.list, posWarning{at, msg})
	if len(ws.list) > 2*maxWarnings {
		ws.trim()
	}
}

func (ws *warnings) trim() {
	slices.SortStableFunc(ws.list, func(a, b posWarning) int {
		switch {
		case a.at.before(b.at):
			return -1
		case b.at.before(a.at):
			return 1
		}
		return 0
	})
	if len(ws.list) > maxWarnings {
		ws.dropped += len(ws.list) - maxWarnings
		ws.list = ws.list[:maxWarnings]
	}
}

// flush gives the warnings to warn; with failed only those up to at.
func (ws *warnings) flush(warn func(string), failed bool, at applyPos) {
	ws.trim()
	if warn == nil {
		return
	}
	for _, w := range ws.list {
		if failed && at.before(w.at) {
			return
		}
		warn(w.msg)
	}
	if ws.dropped > 0 {
		warn(fmt.Sprintf("%d more warnings like these", ws.dropped))
	}
}

// mergeBucket merges bucket b's records into a new tree of the merge's
// settings. Warnings go to warns (nil: none); the records of other
// buckets are context, and give none. A merge that fails with an error of
// the layers (a *LayerError) stops at at.
func (d *diskIndex) mergeBucket(p *plan, b int, warns *warnings) (bf *flattener, at applyPos, err error) {
	f := d.f
	bf = &flattener{
		ctx:    f.ctx,
		layers: f.layers,
		opts:   f.opts,
		keep:   f.keep,
		root:   &node{layer: -1, typ: tar.TypeDir},
	}
	// Of each entry of bf.scan: its index in its layer's scan, and
	// whether it is context.
	type origin struct {
		seq   int32
		quiet bool
	}
	var origins []origin
	cur := int32(-1)
	pos := func() applyPos {
		return applyPos{cur, bf.step.phase, origins[bf.step.i].seq}
	}
	bf.opts.Warn = nil
	if warns != nil {
		bf.opts.Warn = func(msg string) {
			if cur >= d.given && !origins[bf.step.i].quiet {
				warns.add(pos(), msg)
			}
		}
	}
	sr, err := p.files[b].reader()
	if err != nil {
		return nil, at, err
	}
	s := &bf.scan
	apply := func() error {
		if cur < 0 {
			return nil
		}
		s.plnk = d.plnk[cur]
		s.defined = nil
		err := bf.applyLayer(int(cur))
		if errors.As(err, new(*LayerError)) {
			at = pos()
		}
		s.entries, s.links = s.entries[:0], s.links[:0]
		origins = origins[:0]
		return err
	}
	var r record
	for {
		err := sr.next(&r)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, at, err
		}
		if r.layer != cur {
			if err := apply(); err != nil {
				return bf, at, err
			}
			cur = r.layer
		}
		e := entry{name: r.name, off: r.off, link: -1, kind: r.kind, typ: r.typ}
		if r.target != "" {
			e.link = int32(len(s.links))
			s.links = append(s.links, linkRef{target: r.target})
		}
		s.entries = append(s.entries, e)
		origins = append(origins, origin{r.seq, r.kind >= touchOpaque || p.bucketOf(r.name) != b})
	}
	return bf, at, apply()
}

// check cuts the records into buckets and runs the first pass over them:
// the first error, the warnings before it, and the files hardlinks name.
// Buckets are merged two at a time, on both cores; only what is needed of
// each merge is kept, for parts. The Indexer runs it as soon as every
// layer is scanned, while the caller may still be verifying them: nothing
// of it is written.
func (d *diskIndex) check() error {
	if d.err != nil {
		return d.err
	}
	p, err := d.plan()
	if err != nil {
		return err
	}
	d.buckets = p

	type checked struct {
		err    error
		at     applyPos
		warns  warnings
		groups map[ident]string
	}
	results := make([]checked, len(p.files))
	var (
		next atomic.Int64
		wg   sync.WaitGroup
	)
	for range min(2, len(p.files)) {
		wg.Go(func() {
			for {
				b := int(next.Add(1) - 1)
				if b >= len(p.files) {
					return
				}
				r := &results[b]
				bf, at, err := d.mergeBucket(p, b, &r.warns)
				r.err, r.at = err, at
				if err == nil && bf.nlinks > 0 {
					r.groups = make(map[ident]string)
					bf.addLinkGroups(r.groups)
				}
			}
		})
	}
	wg.Wait()
	var (
		first    error
		firstPos applyPos
		groups   map[ident]string
		warns    warnings
	)
	for _, r := range results {
		if r.err != nil && !errors.As(r.err, new(*LayerError)) {
			return r.err // I/O or cancellation
		}
		if r.err != nil && (first == nil || r.at.before(firstPos)) {
			first, firstPos = r.err, r.at
		}
		for _, w := range r.warns.list {
			warns.add(w.at, w.msg)
		}
		warns.dropped += r.warns.dropped
		if len(r.groups) > 0 {
			if groups == nil {
				groups = make(map[ident]string)
			}
			maps.Copy(groups, r.groups)
		}
	}
	warns.flush(d.f.opts.Warn, first != nil, firstPos)
	if first != nil {
		return first
	}
	if d.scanErr != nil {
		return d.scanErr
	}
	d.groups = groups
	return nil
}

// parts merges the buckets in turn, after check: while w writes one
// bucket, the next is merged on the other core.
func (d *diskIndex) parts(w partWriter) error {
	p := d.buckets
	type merged struct {
		bf  *flattener
		err error
	}
	trees := make(chan merged)
	stop := make(chan struct{})
	go func() {
		defer close(trees)
		for b := range p.files {
			bf, _, err := d.mergeBucket(p, b, nil)
			select {
			case trees <- merged{bf, err}:
			case <-stop:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	defer func() {
		close(stop)
		for range trees {
		}
	}()
	b := 0 // the merger sends every bucket, or stops after an error it sends
	for m := range trees {
		if m.err != nil {
			return m.err
		}
		lo, hi := p.bounds(b)
		if err := w.writePart(m.bf.root, lo, hi); err != nil {
			return err
		}
		b++
	}
	return nil
}
