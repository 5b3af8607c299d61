package flatten

import (
	"archive/tar"
	"context"
	"encoding/hex"
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
// compare two regular files of the same size (by sha256).
//
// The layers' rules are those of Indexer.Flatten, but an error of base
// outside the paths merged, which Flatten would report, goes unseen. The
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
	}
	for s, up := range [2][]Layer{a, b} {
		f := &flattener{ctx: ctx, layers: slices.Concat(base, up), root: &node{layer: -1, typ: tar.TypeDir}, recordings: true}
		c.sides[s] = f
		c.files[s] = newFiles(f)
	}
	for s, up := range [2][]Layer{a, b} {
		for i := range up {
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
		for li := range c.k {
			if err := c.applyBase(li); err != nil {
				return nil, err
			}
		}
	}
	for s, up := range [2][]Layer{a, b} {
		f := c.sides[s]
		for i := range up {
			if err := f.scanLayer(c.k+i, &f.scan, nil); err != nil {
				return nil, err
			}
			if err := f.applyLayer(c.k + i); err != nil {
				return nil, err
			}
		}
	}
	return c.differences()
}

type comparer struct {
	ctx   context.Context
	k     int // the shared layers: layers[:k] of both sides
	opts  CompareOptions
	sides [2]*flattener // A's tree, B's tree
	files [2]files
	// exact are the paths to merge from base, with their parents; roots
	// are those whose whole subtree is merged too.
	exact map[string]struct{}
	roots map[string]struct{}
	// leaders are, per side, the first path in output order of each file
	// that hardlinks name: the path the flattened output writes the file
	// at, the others being hardlinks to it.
	leaders [2]map[ident]string
}

// addExact adds the path p and its parents to the paths merged from base.
func (c *comparer) addExact(p string) {
	for ; ; p, _ = splitName(p) {
		if _, ok := c.exact[p]; ok {
			return
		}
		c.exact[p] = struct{}{}
		if p == "" {
			return
		}
	}
}

// addRoot adds the subtree at p to the paths merged from base.
func (c *comparer) addRoot(p string) {
	c.addExact(p)
	c.roots[p] = struct{}{}
}

// included reports whether the path p is merged from base.
func (c *comparer) included(p string) bool {
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
	f := c.sides[s]
	if err := f.scanLayer(li, &f.scan, nil); err != nil {
		return err
	}
	for _, e := range f.scan.entries {
		switch {
		case e.kind == opaqueMarker || e.kind == whiteoutMarker:
			c.addRoot(e.name)
		case e.kind == plainEntry && e.typ == tar.TypeDir:
			c.addExact(e.name)
		case e.kind == plainEntry:
			c.addRoot(e.name)
			if e.link >= 0 {
				c.addExact(f.scan.links[e.link].target)
			}
		}
	}
	return nil
}

// baseLinks scans base layer li and returns its hardlinks, as pairs of
// the link's path and its target's, appended to links.
func (c *comparer) baseLinks(li int, links [][2]string) ([][2]string, error) {
	f := c.sides[0]
	if err := f.scanLayer(li, &f.scan, nil); err != nil {
		return nil, err
	}
	s := &f.scan
	for i := range s.entries {
		if e := &s.entries[i]; e.kind == plainEntry && e.link >= 0 {
			links = append(links, [2]string{e.name, s.links[e.link].target})
		}
	}
	return links, nil
}

// addLinked adds the files that the merged hardlinks of base name, and
// the hardlinks of base to merged files (which decide how the flattened
// output writes those), until none is left to add.
func (c *comparer) addLinked(links [][2]string) {
	for added := true; added; {
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

// applyBase merges the included entries of base layer li into both trees.
func (c *comparer) applyBase(li int) error {
	fa, fb := c.sides[0], c.sides[1]
	if err := fa.scanLayer(li, &fa.scan, nil); err != nil {
		return err
	}
	s := &fa.scan
	kept := s.entries[:0]
	for _, e := range s.entries {
		if e.name == "" || c.included(e.name) {
			kept = append(kept, e)
			continue
		}
		if e.kind != plainEntry {
			continue
		}
		// The entry is not merged, but the parents it creates are: walk
		// its path through the merged ones.
		p, _ := splitName(e.name)
		for p != "" && !c.included(p) {
			p, _ = splitName(p)
		}
		if n := len(kept); p != "" && (n == 0 || kept[n-1].kind != touchEntry || kept[n-1].name != p) {
			kept = append(kept, entry{name: p, link: -1, kind: touchEntry})
		}
	}
	s.entries = kept
	fb.scan = layerScan{entries: slices.Clone(s.entries), links: slices.Clone(s.links), plnk: s.plnk}
	if err := fa.applyLayer(li); err != nil {
		return err
	}
	err := fb.applyLayer(li)
	fb.scan = layerScan{}
	return err
}

// differences compares the two trees at every path that the upper layers
// may have made differ.
func (c *comparer) differences() ([]Difference, error) {
	paths := make([]string, 0, len(c.exact))
	for p := range c.exact {
		if p != "" {
			paths = append(paths, p)
		}
	}
	for r := range c.roots {
		for _, f := range c.sides {
			if n := f.lookup(r); n != nil && n.typ == tar.TypeDir {
				paths = subtreePaths(paths, r, n)
			}
		}
	}
	slices.Sort(paths)
	paths = slices.Compact(paths)
	for s, f := range c.sides {
		c.leaders[s] = leaders(f)
	}
	var out []Difference
	for i, p := range paths {
		if i&255 == 0 {
			if err := c.ctx.Err(); err != nil {
				return nil, err
			}
		}
		if !c.opts.Filter.Match(p) {
			continue
		}
		d, ok, err := c.compare(p)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, d)
		}
	}
	return out, nil
}

// subtreePaths appends the paths under directory n, at p.
func subtreePaths(paths []string, p string, n *node) []string {
	for _, k := range n.kids {
		if k.typ == typeWhiteout {
			continue
		}
		kp := joinName(p, k.name)
		paths = append(paths, kp)
		if k.typ == tar.TypeDir {
			paths = subtreePaths(paths, kp, k)
		}
	}
	return paths
}

// compare returns the difference at path p, if any.
func (c *comparer) compare(p string) (Difference, bool, error) {
	na, nb := c.sides[0].lookup(p), c.sides[1].lookup(p)
	d := Difference{Path: p}
	var err error
	switch {
	case na == nil && nb == nil:
		return d, false, nil
	case na == nil:
		d.Kind = Added
		d.B, err = c.info(1, p, nb)
		return d, true, err
	case nb == nil:
		d.Kind = Deleted
		d.A, err = c.info(0, p, na)
		return d, true, err
	}
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

// leaders returns, for each file of tree f that a hardlink names, its
// first path in the order of the flattened output (cmpPath).
func leaders(f *flattener) map[ident]string {
	linked := map[ident]string{}
	var walk func(p string, n *node, pass int)
	walk = func(p string, n *node, pass int) {
		for _, k := range n.kids {
			kp := joinName(p, k.name)
			switch {
			case k.typ == tar.TypeDir:
				walk(kp, k, pass)
			case pass == 0 && k.typ == tar.TypeLink:
				linked[k.ident()] = ""
			case pass == 1:
				if l, ok := linked[k.ident()]; ok && (l == "" || cmpPath(kp, l) < 0) {
					linked[k.ident()] = kp
				}
			}
		}
	}
	walk("", f.root, 0)
	if len(linked) > 0 {
		walk("", f.root, 1)
	}
	return linked
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
