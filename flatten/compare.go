package flatten

import (
	"archive/tar"
	"context"
	"encoding/hex"
	"errors"
	"iter"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Difference is one path in which two merged file systems, A and B,
// differ.
type Difference struct {
	// Kind is Added for a path only B has, Deleted for one only A has,
	// Changed for one both have with different attributes.
	Kind ChangeKind
	Path string     // canonical: relative, without "./"
	What ChangeWhat // Changed only
	// A and B are the path on each side; the zero value on the side that
	// does not have it.
	A, B PathInfo
}

// PathInfo is one path of a merged file system, as Compare reports it.
type PathInfo struct {
	// Type is the tar type flag: tar.TypeLink for a hardlink, whose other
	// attributes are those of the file it names.
	Type               byte
	Mode               int64 // permission bits, setuid, setgid and sticky
	UID, GID           int
	Size               int64  // a regular file's bytes
	Linkname           string // a symlink's target, or the path a hardlink's entry names
	Devmajor, Devminor int64
	ModTime            time.Time
	Xattrs             map[string]string
	// Digest is the "sha256:…" of a regular file's data, when Compare read
	// it: for the two files of a Changed path that have the same size.
	Digest string
}

// CompareOptions tune Compare.
type CompareOptions struct {
	// Filter keeps only the paths it selects; nil keeps all.
	Filter *PathFilter
	// ModTime compares modification times too.
	ModTime bool
	// TmpDir and IndexEntries are those of Options: each side's merged
	// tree is held as the Indexer holds its index, on disk in TmpDir past
	// IndexEntries entries.
	TmpDir       string
	IndexEntries int
}

// Compare returns the paths in which the merged file systems of base+a and
// base+b differ (base, a and b are bottom first; base is shared by both),
// in byte order of path, one row per path: a directory that only one side
// has gives a row for each path under it too.
//
// It reads all of a and b, and of base only what they touch: the headers
// of base are scanned, but only the paths that an entry, whiteout or
// opaque marker of a or b names, their parents, the subtrees that those
// markers and non-directories may hide or replace, and the files that
// hardlinks among them name, are merged; and base's data is read only to
// compare two regular files of the same size (by sha256). When a and b
// touch more paths than that set can hold in memory (four times
// IndexEntries), the whole of base is merged instead: the rows are the
// same.
//
// Each side's merged tree is an index of the Indexer's (index.go): in
// memory while it is small, else on disk and merged one range of paths at
// a time; the two are walked side by side in output order. So memory does
// not grow with the number of entries, but with the rows returned (and
// the hardlinked files, as Flatten's).
//
// The layers' rules are those of Indexer.Flatten, but an error of base
// outside the paths merged, which Flatten would report, may go unseen. The
// attributes compared are those of Changes, with xattrs, hardlinks (a path
// that is a hardlink to another path on one side only, or to another
// path, as the flattened output writes them) and, with ModTime,
// modification times.
func Compare(ctx context.Context, base, a, b []Layer, opts CompareOptions) ([]Difference, error) {
	c := &comparer{
		ctx:   ctx,
		k:     len(base),
		opts:  opts,
		exact: map[string]struct{}{},
		roots: map[string]struct{}{},
		limit: 4 * maxTreeEntries,
	}
	if opts.IndexEntries > 0 {
		c.limit = 4 * opts.IndexEntries
	}
	iopts := Options{TmpDir: opts.TmpDir, IndexEntries: opts.IndexEntries}
	for s, up := range [2][]Layer{a, b} {
		f := &flattener{ctx: ctx, layers: slices.Concat(base, up), opts: iopts, recordings: true}
		c.sides[s] = f
		c.files[s] = files{f: f}
		c.ix[s] = newGrowIndex(f, len(f.layers))
	}
	defer c.ix[0].close()
	defer c.ix[1].close()
	for s, up := range [2][]Layer{a, b} {
		for i := 0; i < len(up) && c.exact != nil; i++ {
			if err := c.touched(s, c.k+i); err != nil {
				return nil, err
			}
		}
	}
	if c.k > 0 && len(c.exact) > 0 {
		var links [][2]string
		for li := range c.k {
			var err error
			if links, err = c.baseLinks(li, links); err != nil {
				return nil, err
			}
		}
		c.addLinked(links)
	}
	// Nothing touched (an empty, not a dropped, filter): base is the same
	// on both sides, and not merged.
	for li := 0; li < c.k && (c.exact == nil || len(c.exact) > 0); li++ {
		if err := c.addBase(li); err != nil {
			return nil, err
		}
	}
	for s, up := range [2][]Layer{a, b} {
		f, ix := c.sides[s], c.ix[s]
		for i := range up {
			li := c.k + i
			if err := f.scanLayer(li, &f.scan, func(s *layerScan) error { return ix.add(li, s, true) }); err != nil {
				return nil, err
			}
			if err := ix.add(li, &f.scan, false); err != nil {
				return nil, err
			}
		}
	}
	for _, ix := range c.ix {
		if err := ix.finish(nil); err != nil {
			return nil, err
		}
	}
	return c.differences()
}

type comparer struct {
	ctx   context.Context
	k     int // the shared layers: layers[:k] of both sides
	opts  CompareOptions
	sides [2]*flattener // A's layers, B's layers
	ix    [2]index      // A's merged tree, B's
	files [2]files
	// exact are the paths to merge from base, with their parents; roots
	// are those whose whole subtree is merged too. nil once they would
	// hold more than limit paths: then all of base is merged.
	exact map[string]struct{}
	roots map[string]struct{}
	limit int
	// leaders are, per side, the first path in output order of each file
	// that hardlinks name: the path the flattened output writes the file
	// at, the others being hardlinks to it. They are filled in as the
	// walk meets the files.
	leaders [2]map[ident]string
}

// addExact adds the path p and its parents to the paths merged from base.
func (c *comparer) addExact(p string) {
	for ; c.exact != nil; p, _ = splitName(p) {
		if _, ok := c.exact[p]; ok {
			return
		}
		c.exact[p] = struct{}{}
		if len(c.exact)+len(c.roots) > c.limit {
			c.exact, c.roots = nil, nil // merge all of base
			return
		}
		if p == "" {
			return
		}
	}
}

// addRoot adds the subtree at p to the paths merged from base.
func (c *comparer) addRoot(p string) {
	c.addExact(p)
	if c.roots != nil {
		c.roots[p] = struct{}{}
	}
}

// included reports whether the path p is merged from base.
func (c *comparer) included(p string) bool {
	if c.exact == nil {
		return true
	}
	if _, ok := c.exact[p]; ok {
		return true
	}
	if len(c.roots) == 0 {
		return false
	}
	for q := p; ; {
		if _, ok := c.roots[q]; ok {
			return true
		}
		if q == "" {
			return false
		}
		q, _ = splitName(q)
	}
}

// touched scans upper layer li of side s and notes what it touches in
// base: the paths of its entries and markers; the subtrees that its
// markers hide and that its non-directories may replace; the files its
// hardlinks name.
func (c *comparer) touched(s, li int) error {
	if c.k == 0 {
		return nil // no base to look paths up in
	}
	f := c.sides[s]
	note := func(sc *layerScan) error {
		for _, e := range sc.entries {
			if c.exact == nil {
				break
			}
			switch {
			case e.kind == opaqueMarker || e.kind == whiteoutMarker:
				c.addRoot(e.name)
			case e.kind == plainEntry && e.typ == tar.TypeDir:
				c.addExact(e.name)
			case e.kind == plainEntry:
				c.addRoot(e.name)
				if e.link >= 0 {
					c.addExact(sc.links[e.link].target)
				}
			}
		}
		sc.entries, sc.links = sc.entries[:0], sc.links[:0]
		return nil
	}
	if err := f.scanLayer(li, &f.scan, note); err != nil {
		return err
	}
	return note(&f.scan)
}

// baseLinks scans base layer li and returns its hardlinks, as pairs of
// the link's path and its target's, appended to links. Past limit of
// them, it merges all of base instead.
func (c *comparer) baseLinks(li int, links [][2]string) ([][2]string, error) {
	f := c.sides[0]
	note := func(s *layerScan) error {
		for i := range s.entries {
			if e := &s.entries[i]; e.kind == plainEntry && e.link >= 0 && c.exact != nil {
				links = append(links, [2]string{e.name, s.links[e.link].target})
				if len(links) > c.limit {
					c.exact, c.roots, links = nil, nil, nil
				}
			}
		}
		s.entries, s.links = s.entries[:0], s.links[:0]
		return nil
	}
	if err := f.scanLayer(li, &f.scan, note); err != nil {
		return nil, err
	}
	return links, note(&f.scan)
}

// addLinked adds the files that the merged hardlinks of base name, and
// the hardlinks of base to merged files (which decide how the flattened
// output writes those), until none is left to add.
func (c *comparer) addLinked(links [][2]string) {
	for added := true; added && c.exact != nil; {
		added = false
		for _, l := range links {
			in, tin := c.included(l[0]), c.included(l[1])
			switch {
			case in && !tin:
				c.addExact(l[1])
			case tin && !in:
				c.addExact(l[0])
			default:
				continue
			}
			added = true
		}
	}
}

// addBase adds the included entries of base layer li to both sides'
// trees, as the scan reads them.
func (c *comparer) addBase(li int) error {
	f := c.sides[0]
	var dst [2]layerScan
	pass := func(s *layerScan, more bool) error {
		for _, e := range s.entries {
			if e.name != "" && !c.included(e.name) {
				if e.kind != plainEntry {
					continue
				}
				// The entry is not merged, but the parents it creates
				// are: walk its path through the merged ones.
				p, _ := splitName(e.name)
				for p != "" && !c.included(p) {
					p, _ = splitName(p)
				}
				if p == "" {
					continue
				}
				e = entry{name: p, link: -1, kind: touchEntry}
			}
			for d := range dst {
				ds := &dst[d]
				if n := len(ds.entries); e.kind == touchEntry && n > 0 && ds.entries[n-1].kind == touchEntry && ds.entries[n-1].name == e.name {
					continue
				}
				de := e
				if e.link >= 0 {
					de.link = int32(len(ds.links))
					ds.links = append(ds.links, linkRef{target: s.links[e.link].target})
				}
				ds.entries = append(ds.entries, de)
			}
		}
		s.entries, s.links = s.entries[:0], s.links[:0]
		for d := range dst {
			if !more {
				dst[d].plnk = s.plnk
				if d == 1 {
					dst[d].plnk = maps.Clone(s.plnk)
				}
			}
			if err := c.ix[d].add(li, &dst[d], more); err != nil {
				return err
			}
		}
		return nil
	}
	if err := f.scanLayer(li, &f.scan, func(s *layerScan) error { return pass(s, true) }); err != nil {
		return err
	}
	return pass(&f.scan, false)
}

// differences walks both merged trees side by side, in output order, and
// compares them at each path. The rows are returned in byte order of path.
func (c *comparer) differences() ([]Difference, error) {
	var walks [2]*sideWalk
	for s, ix := range c.ix {
		c.leaders[s] = ix.linkGroups()
		walks[s] = startSideWalk(ix)
	}
	defer func() {
		for _, w := range walks {
			w.stop()
		}
	}()
	var out []Difference
	for n := 0; ; n++ {
		if n&255 == 0 {
			if err := c.ctx.Err(); err != nil {
				return nil, err
			}
		}
		na, err := walks[0].peek()
		if err != nil {
			return nil, err
		}
		nb, err := walks[1].peek()
		if err != nil {
			return nil, err
		}
		if na == nil && nb == nil {
			break
		}
		var p string
		switch {
		case nb == nil || na != nil && cmpPath(na.path, nb.path) < 0:
			p, nb = na.path, nil
		case na == nil || cmpPath(nb.path, na.path) < 0:
			p, na = nb.path, nil
		default:
			p = na.path
		}
		for s, it := range [2]*walkItem{na, nb} {
			if it != nil {
				walks[s].i++
				c.lead(s, p, &it.n)
			}
		}
		if !c.opts.Filter.Match(p) {
			continue
		}
		d, ok, err := c.compare(p, na, nb)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(x, y Difference) int { return strings.Compare(x.Path, y.Path) })
	return out, nil
}

// lead notes p as the leader of node n's file on side s, if n is the
// first name of a hardlinked file.
func (c *comparer) lead(s int, p string, n *node) {
	if n.typ == tar.TypeDir {
		return
	}
	if l, ok := c.leaders[s][n.ident()]; ok && l == "" {
		c.leaders[s][n.ident()] = p
	}
}

// walkItem is one path of a merged tree, with its node (without kids).
type walkItem struct {
	path string
	n    node
}

// sideWalk walks the merged tree of one index, in output order, as a
// pull iterator (a coroutine, not a goroutine: the two sides' walks and
// the comparison take turns, in the same order on every run). It hands
// the paths over in batches.
type sideWalk struct {
	next  func() ([]walkItem, bool)
	stop  func()
	yield func([]walkItem) bool
	err   error // the walk's, once next reports its end
	cur   []walkItem
	i     int // the next item of cur
	stack []frame
	batch []walkItem
	path  []byte
}

// walkBatch is how many paths a side walk hands over at a time.
const walkBatch = 512

var errWalkStopped = errors.New("flatten: walk stopped")

func startSideWalk(ix index) *sideWalk {
	w := &sideWalk{}
	w.next, w.stop = iter.Pull(func(yield func([]walkItem) bool) {
		w.yield = yield
		err := ix.parts(w)
		if err == nil && len(w.batch) > 0 {
			err = w.send()
		}
		w.err = err
	})
	return w
}

// peek returns the next path of the walk, or nil at its end.
func (w *sideWalk) peek() (*walkItem, error) {
	for w.i == len(w.cur) {
		b, ok := w.next()
		if !ok {
			return nil, w.err
		}
		w.cur, w.i = b, 0
	}
	return &w.cur[w.i], nil
}

// send hands the batch over; the consumer is done with it when it asks
// for the next one, so it is reused.
func (w *sideWalk) send() error {
	if !w.yield(w.batch) {
		return errWalkStopped
	}
	w.batch = w.batch[:0]
	return nil
}

// writePart hands over the paths of the tree under root in [lo, hi) (in
// cmpPath order; "" is no bound), depth first, children in byte order of
// their names: the order of the flattened output.
func (w *sideWalk) writePart(root *node, lo, hi string) error {
	stack := w.stack[:0]
	defer func() { w.stack = stack[:0] }()
	push := func(n *node) {
		kids := make([]*node, 0, len(n.kids))
		for _, k := range n.kids {
			kids = append(kids, k)
		}
		slices.SortFunc(kids, func(a, b *node) int { return strings.Compare(a.name, b.name) })
		stack = append(stack, frame{kids: kids, plen: len(w.path)})
	}
	w.path = w.path[:0]
	push(root)
	for len(stack) > 0 {
		top := &stack[len(stack)-1]
		if top.i == len(top.kids) {
			stack = stack[:len(stack)-1]
			continue
		}
		k := top.kids[top.i]
		top.i++
		w.path = append(w.path[:top.plen], k.name...)
		switch {
		case k.typ == typeWhiteout:
			continue
		case hi != "" && cmpPath(w.path, hi) >= 0:
			top.i = len(top.kids) // and the later siblings
			continue
		case lo != "" && cmpPath(w.path, lo) < 0:
			if !isAncestor(w.path, lo) {
				continue
			}
		default:
			it := walkItem{path: string(w.path), n: *k}
			it.n.kids, it.n.name = nil, ""
			if w.batch == nil {
				w.batch = make([]walkItem, 0, walkBatch)
			}
			w.batch = append(w.batch, it)
			if len(w.batch) == walkBatch {
				if err := w.send(); err != nil {
					return err
				}
			}
		}
		if k.typ == tar.TypeDir && len(k.kids) > 0 {
			w.path = append(w.path, '/')
			push(k)
		}
	}
	return nil
}

// compare returns the difference at path p, whose nodes are na on side A
// and nb on side B (nil where the side does not have p), if any.
func (c *comparer) compare(p string, ita, itb *walkItem) (Difference, bool, error) {
	d := Difference{Path: p}
	var err error
	switch {
	case ita == nil && itb == nil:
		return d, false, nil
	case ita == nil:
		d.Kind = Added
		d.B, err = c.info(1, p, &itb.n)
		return d, true, err
	case itb == nil:
		d.Kind = Deleted
		d.A, err = c.info(0, p, &ita.n)
		return d, true, err
	}
	na, nb := &ita.n, &itb.n
	ia, ib := na.ident(), nb.ident()
	if na.typ == nb.typ && c.sameFile(ia, ib) {
		// One entry of base, or one implicit directory: only whether the
		// output writes it as a hardlink may differ.
		la, lb := c.leaders[0][ia], c.leaders[1][ib]
		if la == lb || (la == "" || la == p) && (lb == "" || lb == p) {
			return d, false, nil
		}
	}
	ma, err := c.files[0].metaOf(na)
	if err != nil {
		return d, false, err
	}
	mb, err := c.files[1].metaOf(nb)
	if err != nil {
		return d, false, err
	}
	d.Kind = Changed
	d.What = differs(ma, mb, c.opts.ModTime)
	if d.A, err = c.info(0, p, na); err != nil {
		return d, false, err
	}
	if d.B, err = c.info(1, p, nb); err != nil {
		return d, false, err
	}
	if d.What&ChangedType == 0 && hardlinkOf(d.A) != hardlinkOf(d.B) {
		d.What |= ChangedLink
	}
	if ma.typ == tar.TypeReg && mb.typ == tar.TypeReg && d.What&ChangedContent == 0 && ma.size > 0 && !c.sameFile(ia, ib) {
		// Two files of the same size: their data decides.
		sa, err := c.files[0].sum(ia)
		if err != nil {
			return d, false, err
		}
		sb, err := c.files[1].sum(ib)
		if err != nil {
			return d, false, err
		}
		if sa != sb {
			d.What |= ChangedContent
		}
		d.A.Digest = "sha256:" + hex.EncodeToString(sa[:])
		d.B.Digest = "sha256:" + hex.EncodeToString(sb[:])
	}
	if d.What == 0 {
		return d, false, nil
	}
	return d, true, nil
}

// sameFile reports whether ia of A's tree and ib of B's are one file: an
// entry of base, or the root's or an implicit directory. The layers above
// base are numbered from k on both sides.
func (c *comparer) sameFile(ia, ib ident) bool {
	return ia == ib && int(ia.layer) < c.k
}

// info describes node n, at path p, of side s.
func (c *comparer) info(s int, p string, n *node) (PathInfo, error) {
	fs := &c.files[s]
	m, err := fs.metaOf(n)
	if err != nil {
		return PathInfo{}, err
	}
	pi := PathInfo{
		Type: m.typ, Mode: m.mode, UID: m.uid, GID: m.gid, Size: m.size, Linkname: m.link,
		Devmajor: m.major, Devminor: m.minor, ModTime: time.Unix(0, m.mtime).UTC(),
		Xattrs: decodeXattrs(m.xattrs),
	}
	if l, ok := c.leaders[s][n.ident()]; ok && l != p && n.typ != tar.TypeDir {
		pi.Type, pi.Linkname = tar.TypeLink, l
	}
	return pi, nil
}

// hardlinkOf is the path that the hardlink p names, or "" when p is not
// one.
func hardlinkOf(p PathInfo) string {
	if p.Type == tar.TypeLink {
		return p.Linkname
	}
	return ""
}

// decodeXattrs parses fileMeta.xattrs; nil for none.
func decodeXattrs(s string) map[string]string {
	if s == "" {
		return nil
	}
	m := map[string]string{}
	for s != "" {
		var k, v string
		k, s = cutLenPrefixed(s)
		v, s = cutLenPrefixed(s)
		m[k] = v
	}
	return m
}

// lenPrefixed encodes s as its length, ":" and s, so that any bytes may
// follow.
func lenPrefixed(s string) string { return strconv.Itoa(len(s)) + ":" + s }

// cutLenPrefixed decodes one lenPrefixed string from the start of s.
func cutLenPrefixed(s string) (v, rest string) {
	i := strings.IndexByte(s, ':')
	n, err := strconv.Atoi(s[:max(i, 0)])
	if i < 0 || err != nil || n > len(s)-i-1 {
		return "", ""
	}
	return s[i+1 : i+1+n], s[i+1+n:]
}
