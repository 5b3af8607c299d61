package flatten

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/containerd/log"
	"github.com/dustin/go-humanize"
)

// Layer is one uncompressed layer tar, readable at random offsets (a
// spooled temporary file, or a section of a saved archive); or, for
// Compare and Changes only, its Recording.
type Layer struct {
	ID   string // names the layer in errors, e.g. "sha256:ab12…" (diff ID)
	R    io.ReaderAt
	Size int64
	// Recording, when set, stands for R: the layer was read once, as a
	// stream, and only its headers and file digests were kept.
	Recording *Recording
}

// Options tune an Indexer.
type Options struct {
	// KeepWhiteouts writes the squashed layer diff: whiteouts and opaque
	// markers that hide things below layers[0] are kept, so the output is
	// itself a valid OCI layer whose application on top of any lower image
	// equals applying the input layers in order.
	KeepWhiteouts bool
	// Warn receives non-fatal problems, such as the same path twice in one
	// layer. nil ignores them. It may be called from a goroutine of the
	// package's own (the Indexer's), one call at a time.
	Warn func(msg string)
	// Include and Exclude select the paths written, with the globs of
	// PathFilter: a glob that matches a directory selects its subtree, an
	// exclusion wins, and the parents of a selected path are written too
	// so that the output extracts. Empty selects everything.
	Include, Exclude []string
	// TmpDir is where the index of a large image spills to disk, in
	// unlinked files (buckets.go); "" is the system's temporary directory.
	TmpDir string
	// IndexEntries bounds the entries the index holds in memory: past it
	// the index spills to disk, in buckets of about as many records. 0
	// is 16384 (about 2 MiB).
	IndexEntries int
	// ClampMtime, unless zero, is the latest time an entry written may
	// carry: a later modification time (and a later PAX access or change
	// time) is written as ClampMtime, and earlier ones are kept, as
	// "tar --clamp-mtime" does with SOURCE_DATE_EPOCH. Synthesized
	// directories and markers have time 0 in any case.
	ClampMtime time.Time
	// Progress, if set, reports pass 2: it is called after each batch of
	// entries is written (at most 128 entries or 256 KiB of file data
	// between calls, or one file the kernel copies) and once more when
	// the tar stream has ended, with Done set. It runs on the goroutine
	// that writes the output: keep it cheap.
	Progress func(WriteProgress)

	// noZeroCopy makes the output copy file data by hand, as it does
	// where the platform has no copy_file_range or sendfile: tests set it
	// to check the portable path on linux.
	noZeroCopy bool
	// removeSpillLate keeps the index's spill files in TmpDir until they
	// are closed, as where an open file cannot be removed (Windows):
	// tests set it to check that path on linux.
	removeSpillLate bool
}

// WriteProgress is how far pass 2 has written the merged tar stream.
type WriteProgress struct {
	Entries int64 // entries written, directories and markers included
	Bytes   int64 // bytes of file data written
	Done    bool  // the tar stream has ended: the counts are final
}

// copyBufSize is the size of the buffer that file data is copied through.
const copyBufSize = 256 << 10

// modeMask keeps what a USTAR mode field holds (permissions, setuid,
// setgid and sticky bits, and legacy file-type bits).
const modeMask = 1<<21 - 1

// synthTime is the mtime of synthesized directories and markers.
var synthTime = time.Unix(0, 0)

type flattener struct {
	ctx    context.Context
	layers []Layer
	opts   Options
	keep   bool
	root   *node
	scan   layerScan
	nlinks int   // hardlink nodes created
	step   step  // the entry being merged
	layer  int32 // the layer being merged (applyLayer)
	// recordings: the layers may be Recordings (Compare, Changes), whose
	// headers and sums files reads, never their data.
	recordings bool
}

func (f *flattener) warnf(format string, args ...any) {
	if f.opts.Warn != nil {
		f.opts.Warn(fmt.Sprintf(format, args...))
	}
}

// writer is pass 2: it walks the tree and re-reads each entry from its
// layer, and its output writes them.
type writer struct {
	f      *flattener
	out    *output
	layerR []*layerReader // per layer, created when first read
	hdr    tar.Header
	groups map[ident]string // hardlinked files -> first name written ("" before)
	filter *writeFilter     // nil: every path
	parts  int              // parts of the tree written
	path   []byte
	last   []byte // the path last written
	name   []byte // a directory's name, with its slash (emit)

	stack   []frame
	scratch [][]*node

	// visit, when set, is given each entry instead of the output (Walk);
	// out is then nil.
	visit func(*Entry) error
	entry Entry

	// lower, when set (FlattenOnto), is the merge of the layers below
	// layers[0]: a marker is written only where it hides something there.
	lower *lowerPaths
}

type frame struct {
	kids []*node
	i    int
	plen int  // length of the parent's path, with its trailing "/"
	vis  bool // content below layers[0] is visible in the parent (KeepWhiteouts)
}

// write is pass 2: it writes the merged tree that ix gives to out, part
// by part; with lower, only the markers that hide something in it.
func (f *flattener) write(ix index, out io.Writer, lower *lowerPaths) error {
	filter, err := newWriteFilter(f.opts)
	if err != nil {
		return err
	}
	w := newWriter(f, out)
	defer w.abort()
	w.filter = filter
	w.groups = ix.linkGroups()
	w.lower = lower
	start := time.Now()
	if err := ix.parts(w); err != nil {
		return err
	}
	if lower != nil {
		if err := lower.finish(); err != nil {
			return err
		}
	}
	if err := w.close(); err != nil {
		return err
	}
	if w.out != nil {
		took := time.Since(start)
		log.G(f.ctx).Debugf("pass 2 (writing): %s entries, %s of file data in %s (%s/s)", humanize.Comma(w.out.written.Entries),
			humanize.Bytes(uint64(w.out.written.Bytes)), took.Round(time.Millisecond), humanize.Bytes(uint64(float64(w.out.written.Bytes)/max(took.Seconds(), 1e-3))))
	}
	return nil
}

// writePart writes one part of the merged tree: see writeTree.
func (w *writer) writePart(root *node, lo, hi string) error {
	err := w.writeTree(root, w.filter, lo, hi, w.parts == 0)
	w.parts++
	return err
}

// newWriter starts the output to out; the caller must close or abort the
// writer.
func newWriter(f *flattener, out io.Writer) *writer {
	return &writer{f: f, out: newOutput(f.ctx, out, f.opts.Progress, !f.opts.noZeroCopy)}
}

// close writes what is left, ends the tar stream and flushes it.
func (w *writer) close() error {
	if w.out == nil {
		return nil
	}
	return w.out.close()
}

// abort stops the output without ending the tar stream; after close it
// does nothing.
func (w *writer) abort() {
	if w.out != nil {
		w.out.abort()
	}
}

// writeTree writes the tree under root, or with lo or hi set only the
// paths in [lo, hi) in cmpPath order (hi "" has no end), and the
// ancestors of lo that no earlier call wrote: one part of the index
// (index.parts). first is true for the first part of the output.
func (w *writer) writeTree(root *node, filter *writeFilter, lo, hi string, first bool) error {
	f := w.f
	if first && f.keep && root.flags != 0 && len(f.opts.Include) == 0 {
		w.path = w.path[:0]
		if hides, err := w.hidesBelow(true); err != nil {
			return err
		} else if hides {
			if err := w.marker(WhiteoutOpaqueDir); err != nil {
				return err
			}
		}
	}
	// Depth first, children in byte order of their names: every directory
	// comes before its contents. Iterative, so deep trees cannot exhaust
	// the stack; the per-depth slices are reused.
	stack := w.stack[:0]
	scratch := w.scratch
	defer func() { w.stack, w.scratch = stack[:0], scratch }()
	push := func(n *node, vis bool) {
		d := len(stack)
		if d == len(scratch) {
			scratch = append(scratch, nil)
		}
		s := scratch[d][:0]
		for _, c := range n.kids {
			s = append(s, c)
		}
		slices.SortFunc(s, func(a, b *node) int { return strings.Compare(a.name, b.name) })
		scratch[d] = s
		stack = append(stack, frame{kids: s, plen: len(w.path), vis: vis && n.flags == 0})
	}
	w.path = w.path[:0]
	push(root, true)
	for len(stack) > 0 {
		top := &stack[len(stack)-1]
		if top.i == len(top.kids) {
			clear(top.kids) // drop references for the collector
			stack = stack[:len(stack)-1]
			continue
		}
		if err := f.ctx.Err(); err != nil {
			return err
		}
		c := top.kids[top.i]
		top.i++
		w.path = append(w.path[:top.plen], c.name...)
		emit, descend := true, true
		switch {
		case hi != "" && cmpPath(w.path, hi) >= 0:
			// This and the later siblings are past the range.
			top.i = len(top.kids)
			continue
		case lo != "" && cmpPath(w.path, lo) < 0:
			// Before the range: only the ancestors of lo matter, and
			// they were written already if the last path written is in
			// their subtree.
			if !isAncestor(w.path, lo) {
				continue
			}
			done := string(w.last) == string(w.path) || isAncestor(w.path, string(w.last))
			emit = !done
			if filter != nil {
				var err error
				if emit, descend, err = filter.visit(w, c, top.vis, len(stack), done); err != nil {
					return err
				}
				emit = emit && !done
			}
		case filter != nil:
			var err error
			if emit, descend, err = filter.visit(w, c, top.vis, len(stack), false); err != nil {
				return err
			}
		}
		if emit {
			if err := w.emit(c, top.vis); err != nil {
				return err
			}
			w.last = append(w.last[:0], w.path...)
		}
		if descend && c.typ == tar.TypeDir && len(c.kids) > 0 {
			w.path = append(w.path, '/')
			push(c, top.vis)
		}
	}
	return nil
}

// clamp returns t, or c if t is later than c.
func clamp(t, c time.Time) time.Time {
	if t.After(c) {
		return c
	}
	return t
}

// addLinkGroups adds to groups the files that surviving hardlinks name.
func (f *flattener) addLinkGroups(groups map[ident]string) {
	stack := []*node{f.root}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, c := range n.kids {
			switch c.typ {
			case tar.TypeLink:
				groups[c.ident()] = ""
			case tar.TypeDir:
				stack = append(stack, c)
			}
		}
	}
}

// emit writes the node whose path is in w.path. vis tells whether content
// below layers[0] is visible in its parent.
//
// The entry's name goes to the output as bytes, which it copies next to
// the header: no string is made for it (w.name holds a directory's name
// with its slash).
func (w *writer) emit(c *node, vis bool) error {
	keep := w.f.keep
	switch c.typ {
	case typeWhiteout:
		if hides, err := w.hidesBelow(false); err != nil || !hides {
			return err
		}
		dir, base := splitName(string(w.path))
		return w.marker(whiteoutName(dir, base))
	case tar.TypeDir:
		w.name = append(append(w.name[:0], w.path...), '/')
		var err error
		switch {
		case c.layer >= 0:
			err = w.copyEntry(ident{c.layer, c.off}, c.layer, w.name, "")
		case strings.HasPrefix(c.name, WhiteoutPrefix):
			// A literal directory ".wh.X" (the parent of ".wh.X/file") has
			// no entry of its own: it would read as a whiteout of X.
		case !keep || c.flags&flagHideLower != 0 || !vis:
			// An implicit directory; with KeepWhiteouts only where the
			// lower image's directory is hidden, so an extractor would
			// create it afresh.
			w.hdr = tar.Header{Typeflag: tar.TypeDir, Mode: 0o755, ModTime: synthTime, Format: tar.FormatPAX}
			if w.visit != nil {
				err = w.visitEntry(w.path, -1, -1)
			} else {
				err = w.out.header(&w.hdr, w.name)
			}
		}
		if err != nil || !keep || c.flags == 0 {
			return err
		}
		if hides, err := w.hidesBelow(true); err != nil || !hides {
			return err
		}
		return w.marker(opaqueName(string(w.path)))
	}
	id := c.ident()
	if w.groups != nil {
		if first, ok := w.groups[id]; ok {
			if first == "" {
				// The first name of a hardlinked file is the file.
				w.groups[id] = string(w.path)
			}
			return w.copyEntry(id, c.layer, w.path, first)
		}
	}
	return w.copyEntry(id, c.layer, w.path, "")
}

// hidesBelow reports whether a marker at w.path hides anything below
// layers[0]: a whiteout if the path exists there, an opaque marker if the
// directory has children there. Without w.lower (Flatten), every marker
// may hide something in some lower image.
func (w *writer) hidesBelow(opaque bool) (bool, error) {
	switch {
	case w.lower == nil:
		return true, nil
	case opaque:
		return w.lower.hasKids(w.path)
	}
	return w.lower.has(w.path)
}

// marker writes a whiteout or opaque marker.
func (w *writer) marker(name string) error {
	w.hdr = tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o600, ModTime: synthTime, Format: tar.FormatPAX}
	return w.out.header(&w.hdr, nil)
}

// layerReader re-reads the entries of one layer in pass 2. The output's
// order is close to the layer's own (both walk directories in name order),
// so the next entry asked for is usually the one after the last: then the
// header and small files are mostly in posReader's window already. A plain
// header is read by quickHeader, without allocating; others by a tar
// reader, which goes on from the last entry when it can.
type layerReader struct {
	pr    *posReader
	tr    *tar.Reader
	next  int64 // offset of the header after the last entry read; -1 unknown
	blk   [blockSize]byte
	hdr   tar.Header // quickHeader's
	names nameCache
	data  io.LimitedReader // the data of quickHeader's entry
}

func (w *writer) layerReader(li int) *layerReader {
	return layerReaderOf(&w.layerR, w.f.layers, li)
}

// layerReaderOf returns the reader of layers[li] in *readers (one per
// layer), made on first use.
func layerReaderOf(readers *[]*layerReader, layers []Layer, li int) *layerReader {
	if *readers == nil {
		*readers = make([]*layerReader, len(layers))
	}
	lr := (*readers)[li]
	if lr == nil {
		l := layers[li]
		lr = &layerReader{pr: newPosReader(l.R, l.Size), next: -1}
		(*readers)[li] = lr
	}
	return lr
}

// header reads the header of the entry at off, and returns it and a
// reader of its data, which starts at lr.pr.pos.
func (lr *layerReader) header(off int64) (*tar.Header, io.Reader, error) {
	pos := lr.pr.pos // where the tar reader left off
	lr.pr.pos, lr.pr.armed = off, false
	if _, err := io.ReadFull(lr.pr, lr.blk[:]); err == nil && quickHeader(lr.blk[:], &lr.hdr, &lr.names) {
		hdr := &lr.hdr
		lr.data = io.LimitedReader{R: lr.pr, N: hdr.Size}
		lr.tr = nil
		lr.setNext(hdr)
		return hdr, &lr.data, nil
	}
	if lr.tr != nil && lr.next == off {
		lr.pr.pos, lr.pr.armed = pos, true
		hdr, err := nextHeader(lr.tr)
		if err == nil && lr.pr.mark == off {
			lr.setNext(hdr)
			return hdr, lr.tr, nil
		}
	}
	lr.pr.pos = off
	lr.pr.armed = false
	lr.tr = tar.NewReader(lr.pr)
	hdr, err := nextHeader(lr.tr)
	if err != nil {
		lr.tr, lr.next = nil, -1
		return nil, nil, err
	}
	lr.setNext(hdr)
	return hdr, lr.tr, nil
}

// setNext records where the header after hdr starts: after its data and
// the padding.
func (lr *layerReader) setNext(hdr *tar.Header) {
	lr.next = lr.pr.pos + dataBlocks(hdr)
}

// paxKeep reports whether a PAX record is copied as is. Records for header
// fields are rewritten from the fields; sparse records describe the input
// encoding only.
func paxKeep(k string) bool {
	switch k {
	case "path", "linkpath", "size", "uid", "gid", "uname", "gname", "mtime", "atime", "ctime":
		return false
	}
	return !strings.HasPrefix(k, "GNU.sparse.")
}

// copyEntry re-reads the entry of file id and writes it under name; as a
// hardlink to linkTo if that is set. at is the layer of the entry at the
// path (for a hardlink, the link's, which id does not give).
func (w *writer) copyEntry(id ident, at int32, name []byte, linkTo string) error {
	f := w.f
	li := int(id.layer)
	l := f.layers[li]
	lr := w.layerReader(li)
	hdr, data, err := lr.header(id.off)
	if err != nil {
		return f.errorf(li, "", fmt.Errorf("re-reading header at offset %d: %w", id.off, err))
	}
	entry := func() string { // the name in the layer, for errors
		if hdr.Name == "" {
			return string(name) // quickHeader's, which leaves it out
		}
		return hdr.Name
	}
	typ, ok := normType(hdr.Typeflag)
	if !ok {
		return f.errorf(li, entry(), fmt.Errorf("re-reading header at offset %d: type changed", id.off))
	}
	h := &w.hdr
	*h = tar.Header{
		Typeflag:   typ,
		Mode:       hdr.Mode & modeMask,
		Uid:        hdr.Uid,
		Gid:        hdr.Gid,
		Uname:      hdr.Uname,
		Gname:      hdr.Gname,
		ModTime:    hdr.ModTime,
		AccessTime: hdr.AccessTime,
		ChangeTime: hdr.ChangeTime,
		Format:     tar.FormatPAX,
	}
	if c := f.opts.ClampMtime; !c.IsZero() {
		h.ModTime, h.AccessTime, h.ChangeTime = clamp(h.ModTime, c), clamp(h.AccessTime, c), clamp(h.ChangeTime, c)
	}
	for k, v := range hdr.PAXRecords {
		if paxKeep(k) {
			if h.PAXRecords == nil {
				h.PAXRecords = make(map[string]string)
			}
			h.PAXRecords[k] = v
		}
	}
	switch {
	case linkTo != "":
		h.Typeflag, h.Linkname = tar.TypeLink, linkTo
	case typ == tar.TypeSymlink:
		h.Linkname = hdr.Linkname
	case typ == tar.TypeChar || typ == tar.TypeBlock:
		h.Devmajor, h.Devminor = hdr.Devmajor, hdr.Devminor
	case typ == tar.TypeReg:
		h.Size = hdr.Size
	}
	if w.visit != nil {
		return w.visitEntry(name, at, id.layer)
	}
	if err := w.out.header(h, name); err != nil {
		return err
	}
	// A sparse file's stored data is not its content: archive/tar
	// expands the holes, so only a copy through it is right.
	if h.Typeflag == tar.TypeReg && h.Size >= zeroCopyMin && w.out.zeroCopy() && !IsSparse(hdr) {
		if src, base, ok := fileSection(l.R); ok {
			return w.out.kernel(src, base+lr.pr.pos, h.Size)
		}
	}
	for rem := h.Size; rem > 0; {
		buf, err := w.out.room(rem)
		if err != nil {
			return err
		}
		n, err := data.Read(buf)
		if n > 0 {
			w.out.wrote(n)
			rem -= int64(n)
		}
		if err != nil && rem > 0 {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return f.errorf(li, entry(), fmt.Errorf("reading data: %w", err))
		}
	}
	return nil
}
