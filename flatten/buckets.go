package flatten

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
)

// A large image is merged in buckets, so that memory does not grow with
// the number of entries.
//
// The Indexer spills the records of every layer to disk as they are
// scanned (spill.go). When the in-memory tree would grow past
// maxTreeEntries, it is dropped, and the output is made bucket by bucket
// instead: the paths are cut into ranges in output order (cmpPath), each
// of about bucketEntries records, and each bucket's records are merged
// into a tree of their own by the same rules (tree.go), then written. Only
// one bucket's tree is in memory at a time.
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
//     buckets, as touches of the deepest context path on the walk: the
//     first one in each phase of each layer, and the first after each
//     record at the path or above it, since only those can create
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

// maxTreeEntries is the number of entries merged into the in-memory tree
// (about 125 bytes each) before the index goes to buckets; bucketEntries
// the records per bucket. Variables for the tests.
var (
	maxTreeEntries = 1 << 14
	bucketEntries  = 1 << 14
)

// maxBuckets bounds the open bucket files: past maxBuckets*bucketEntries
// records, buckets grow instead. Each is written through bucketBufSize.
const (
	maxBuckets    = 64
	bucketBufSize = 16 << 10
)

// Touches: a record of another bucket whose walk passes through a context
// path creates the missing directories on the way (tree.go's walkDir). A
// bucket gets such a walk as a touch of the deepest context path on it,
// in the phase of the record (opaque markers, whiteouts, entries).
const (
	touchOpaque markerKind = 0x80 + iota
	touchWhiteout
	touchEntry
)

// touchOf is the touch of each phase of applyLayer.
var touchOf = [...]markerKind{touchOpaque, touchWhiteout, touchEntry}

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

// spill is the spilled index of an Indexer.
type spill struct {
	file    *spillFile
	dir     string
	err     error               // writing the spill failed: it cannot be used
	plnk    []map[string]int64  // per layer: aufs hardlink files
	targets map[string]struct{} // hardlink targets
	sample  sampler
	scanErr error // the scan error of layer bad: only the layers below it are merged
	bad     int32
	merged  int32 // layers the in-memory tree merged, and warned about, before the spill

	buckets *plan            // check's cut, for write
	groups  map[ident]string // check's hardlink groups, for write
}

func newSpill(dir string, n int) *spill {
	return &spill{
		file:   newSpillFile(dir, spillBufSize),
		dir:    dir,
		plnk:   make([]map[string]int64, n),
		sample: sampler{max: 4096, stride: 1},
	}
}

// add spills what is left to spill of s, the whole scan of layer li, the
// next one.
func (sp *spill) add(li int, s *layerScan) {
	sp.flush(li, s)
	if len(s.plnk) > 0 && sp.err == nil {
		sp.plnk[li] = maps.Clone(s.plnk)
	}
}

// flush spills the entries of s, a scan of layer li, that are not spilled
// yet.
func (sp *spill) flush(li int, s *layerScan) error {
	if sp.err != nil {
		return sp.err
	}
	var r record
	for i := s.spilled; i < len(s.entries); i++ {
		e := &s.entries[i]
		r = record{layer: int32(li), seq: int32(s.base + i), off: e.off, kind: e.kind, typ: e.typ, name: e.name}
		if e.link >= 0 {
			r.target = s.links[e.link].target
			if sp.targets == nil {
				sp.targets = make(map[string]struct{})
			}
			sp.targets[r.target] = struct{}{}
		}
		if err := sp.file.put(&r); err != nil {
			sp.err = fmt.Errorf("writing the index to disk: %w", err)
			return sp.err
		}
		sp.sample.add(e.name)
	}
	s.spilled = len(s.entries)
	return nil
}

func (sp *spill) close() {
	sp.file.Close()
	if sp.buckets != nil {
		sp.buckets.close()
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

// plan cuts the spilled records into buckets and writes each bucket's
// records, its own and the context, to a file of its own.
func (sp *spill) plan(ctx context.Context, opts *Options) (*plan, error) {
	per := bucketEntries
	if opts.IndexEntries > 0 {
		per = opts.IndexEntries
	}
	if n := sp.file.n; n > per*maxBuckets {
		per = (n + maxBuckets - 1) / maxBuckets
	}
	p := &plan{cuts: sp.sample.cuts(per, sp.file.n), ctx: make(map[string]int)}
	add := func(path string) { p.ctx[path] = 0 }
	add("")
	for _, c := range p.cuts {
		ancestors(c, add)
	}
	for t := range sp.targets {
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
		p.files[b] = newSpillFile(sp.dir, bucketBufSize)
	}
	if err := sp.distribute(ctx, p, opts.KeepWhiteouts); err != nil {
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
func (sp *spill) distribute(ctx context.Context, p *plan, keep bool) error {
	sr, err := sp.file.reader()
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
		if sp.scanErr != nil && r.layer >= sp.bad {
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

// mergeBucket merges bucket b's records into a new tree of f's settings.
// Warnings go to warns (nil: none). The records of other buckets are
// context: they give no warnings.
func (sp *spill) mergeBucket(f *flattener, p *plan, b int, warns *warnings) (*flattener, error) {
	bf := &flattener{
		ctx:    f.ctx,
		layers: f.layers,
		opts:   f.opts,
		keep:   f.keep,
		root:   &node{layer: -1, typ: tar.TypeDir},
	}
	bf.opts.Warn = nil
	if warns != nil {
		bf.opts.Warn = func(msg string) {
			if bf.at.layer >= sp.merged {
				warns.add(bf.at, msg)
			}
		}
	}
	sr, err := p.files[b].reader()
	if err != nil {
		return nil, err
	}
	s := &bf.scan
	cur := int32(-1)
	apply := func() error {
		if cur < 0 {
			return nil
		}
		s.plnk = sp.plnk[cur]
		s.defined = nil
		err := bf.applyLayer(int(cur))
		s.entries, s.links = s.entries[:0], s.links[:0]
		return err
	}
	var r record
	for {
		err := sr.next(&r)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if r.layer != cur {
			if err := apply(); err != nil {
				return bf, err
			}
			cur = r.layer
		}
		e := entry{name: r.name, off: r.off, link: -1, kind: r.kind, typ: r.typ, seq: r.seq}
		e.quiet = r.kind >= touchOpaque || p.bucketOf(r.name) != b
		if r.target != "" {
			e.link = int32(len(s.links))
			s.links = append(s.links, linkRef{target: r.target})
		}
		s.entries = append(s.entries, e)
	}
	return bf, apply()
}

// check cuts the spilled records into buckets and runs the first pass
// over them: the first error, the warnings before it, and the files
// hardlinks name. Buckets are merged two at a time, on both cores; only
// what is needed of each merge is kept, for write. The Indexer runs it as
// soon as every layer is scanned, while the caller may still be verifying
// them: nothing of it is written.
func (sp *spill) check(f *flattener) error {
	if sp.err != nil {
		return sp.err
	}
	p, err := sp.plan(f.ctx, &f.opts)
	if err != nil {
		return err
	}
	sp.buckets = p

	type checked struct {
		err    error
		failed bool
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
				bf, err := sp.mergeBucket(f, p, b, &r.warns)
				r.err = err
				if bf != nil {
					r.failed, r.at = bf.failed, bf.at
					if err == nil && bf.nlinks > 0 {
						r.groups = make(map[ident]string)
						bf.addLinkGroups(r.groups)
					}
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
		if r.err != nil && !r.failed {
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
	warns.flush(f.opts.Warn, first != nil, firstPos)
	if first != nil {
		return first
	}
	if sp.scanErr != nil {
		return sp.scanErr
	}
	sp.groups = groups
	return nil
}

// write writes the merge of the spilled layers to out, bucket by bucket,
// after check: while one bucket is written, the next is merged on the
// other core.
func (sp *spill) write(f *flattener, out io.Writer) error {
	p := sp.buckets
	filter, err := newWriteFilter(f.opts)
	if err != nil {
		return err
	}
	type merged struct {
		bf  *flattener
		err error
	}
	trees := make(chan merged)
	stop := make(chan struct{})
	go func() {
		defer close(trees)
		for b := range p.files {
			bf, err := sp.mergeBucket(f, p, b, nil)
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
	w := newWriter(f, out)
	defer w.abort()
	w.groups = sp.groups
	b := 0 // the merger sends every bucket, or stops after an error it sends
	for m := range trees {
		if m.err != nil {
			return m.err
		}
		w.f = m.bf
		lo, hi := p.bounds(b)
		if err := w.writeTree(m.bf.root, filter, lo, hi, b == 0); err != nil {
			return err
		}
		b++
	}
	w.f = f
	return w.close()
}
