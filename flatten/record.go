package flatten

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
)

// Recording is what Compare needs of a layer that is read once, as a
// stream, instead of being kept: its headers, each file's sha256, and
// the layer's own entries as scanLayer gives them. It holds no file data,
// so it cannot be flattened (Indexer).
//
// It is kept in memory (about 200 bytes an entry) up to four times
// Options.IndexEntries entries; past that, in two unlinked files of
// Options.TmpDir, as the index spills (spill.go): the entries as records,
// and each header's fileMeta and sha256 at the offset its entry holds.
// So memory does not grow with the layer. The caller must Close it.
type Recording struct {
	n    int // headers recorded
	plnk map[string]int64
	// In memory: entry.off indexes metas and sums.
	entries []entry
	links   []linkRef // hardlink targets of entries
	metas   []fileMeta
	sums    [][sha256.Size]byte // regular files'; zero for the rest
	// On disk: entry.off is the offset of the header's meta in metaFile.
	entryFile *spillFile
	metaFile  *spillFile
	metaSize  int64 // bytes of metaFile, the buffered ones too
	buf       []byte
	// win holds the bytes of metaFile from winOff: the metas are mostly
	// read in the order they were written.
	mu     sync.Mutex
	win    []byte
	winOff int64
	// unhashed are the sparse files too large to hash as they stream by
	// (maxSparseHash): comparing one by its data is an error.
	unhashed map[int64]bool
}

// maxSparseHash is the largest sparse file Record hashes: a sparse file
// reads as all of its size, holes as zeros, and some hold terabytes of
// holes (lastlog for a large uid).
const maxSparseHash = 1 << 30

// errNotHashed is the error of comparing the data of a sparse file that
// its recording did not hash.
var errNotHashed = fmt.Errorf("a sparse file of more than %d bytes, not hashed when its layer was read", maxSparseHash)

// Entries returns the number of tar entries recorded.
func (r *Recording) Entries() int { return r.n }

// InMemory reports whether the recording is kept in memory.
func (r *Recording) InMemory() bool { return r.entryFile == nil }

// Close releases the files of a recording kept on disk.
func (r *Recording) Close() error {
	if r.entryFile == nil {
		return nil
	}
	return errors.Join(r.entryFile.Close(), r.metaFile.Close())
}

// Record reads the layer tar r to its end-of-archive marker and returns
// its Recording. id names the layer in errors. Names, types and links are
// checked as for Indexer.Flatten, with the same errors. Of opts, TmpDir
// and IndexEntries count: see Recording.
func Record(ctx context.Context, id string, r io.Reader, opts Options) (_ *Recording, retErr error) {
	f := &flattener{ctx: ctx, layers: []Layer{{ID: id}}}
	rec := &Recording{}
	defer func() {
		if retErr != nil {
			rec.Close()
		}
	}()
	limit := 4 * maxTreeEntries
	if opts.IndexEntries > 0 {
		limit = 4 * opts.IndexEntries
	}
	var s layerScan
	tr := tar.NewReader(r)
	buf := make([]byte, 32<<10)
	prev := ""
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hdr, err := nextHeader(tr)
		if err == io.EOF {
			break
		}
		if err != nil {
			if prev != "" {
				return nil, f.errorf(0, "", fmt.Errorf("reading header after entry %q: %w", prev, err))
			}
			return nil, f.errorf(0, "", fmt.Errorf("reading header: %w", err))
		}
		prev = hdr.Name
		if hdr.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		if rec.entryFile == nil && rec.n == limit {
			if err := rec.spill(opts, &s); err != nil {
				return nil, f.errorf(0, "", fmt.Errorf("writing the recording to disk: %w", err))
			}
		}
		// Every header gets its meta, so that the offset scanEntry
		// records (an entry's, or an aufs hardlink file's) indexes it.
		off := int64(rec.n)
		if rec.entryFile != nil {
			off = rec.metaSize
		}
		if err := f.scanEntry(0, hdr, off, &s); err != nil {
			return nil, err
		}
		var sum [sha256.Size]byte
		if t, _ := normType(hdr.Typeflag); t == tar.TypeReg && IsSparse(hdr) && hdr.Size > maxSparseHash {
			if rec.unhashed == nil {
				rec.unhashed = make(map[int64]bool)
			}
			rec.unhashed[off] = true
		} else if t == tar.TypeReg {
			if sum, err = hashData(ctx, tr, buf); err != nil {
				return nil, f.errorf(0, hdr.Name, fmt.Errorf("reading data: %w", err))
			}
		}
		if err := rec.add(metaFromHeader(hdr), sum, &s); err != nil {
			return nil, f.errorf(0, hdr.Name, fmt.Errorf("writing the recording to disk: %w", err))
		}
	}
	rec.plnk = s.plnk
	if rec.entryFile == nil {
		rec.entries, rec.links = s.entries, s.links
		return rec, nil
	}
	if err := rec.putEntries(&s); err != nil {
		return nil, f.errorf(0, "", fmt.Errorf("writing the recording to disk: %w", err))
	}
	if err := errors.Join(rec.entryFile.flush(), rec.metaFile.flush()); err != nil {
		return nil, f.errorf(0, "", fmt.Errorf("writing the recording to disk: %w", err))
	}
	return rec, nil
}

// add records the next header's meta and sum; on disk, it writes the
// entries of s once there are scanPart of them.
func (r *Recording) add(m fileMeta, sum [sha256.Size]byte, s *layerScan) error {
	r.n++
	if r.entryFile == nil {
		r.metas = append(r.metas, m)
		r.sums = append(r.sums, sum)
		return nil
	}
	if err := r.putMeta(&m, &sum); err != nil {
		return err
	}
	if len(s.entries) >= scanPart {
		return r.putEntries(s)
	}
	return nil
}

// spill moves the recording to disk: the metas written so far, the
// entries of s with their offsets, now the metas' offsets in the file.
func (r *Recording) spill(opts Options, s *layerScan) error {
	r.entryFile = newSpillFile(opts, spillBufSize)
	r.metaFile = newSpillFile(opts, spillBufSize)
	at := make([]int64, len(r.metas))
	for i := range r.metas {
		at[i] = r.metaSize
		if err := r.putMeta(&r.metas[i], &r.sums[i]); err != nil {
			return err
		}
	}
	for i := range s.entries {
		s.entries[i].off = at[s.entries[i].off]
	}
	for k, v := range s.plnk {
		s.plnk[k] = at[v]
	}
	if len(r.unhashed) > 0 {
		moved := make(map[int64]bool, len(r.unhashed))
		for k := range r.unhashed {
			moved[at[k]] = true
		}
		r.unhashed = moved
	}
	r.metas, r.sums = nil, nil
	return r.putEntries(s)
}

// putEntries writes the entries of s and empties it.
func (r *Recording) putEntries(s *layerScan) error {
	for i := range s.entries {
		e := &s.entries[i]
		rc := record{off: e.off, kind: e.kind, typ: e.typ, name: e.name}
		if e.link >= 0 {
			rc.target = s.links[e.link].target
		}
		if err := r.entryFile.put(&rc); err != nil {
			return err
		}
	}
	s.entries, s.links = s.entries[:0], s.links[:0]
	return nil
}

// putMeta writes a meta and its sum at the end of metaFile: the length
// of its fields, then the fields.
func (r *Recording) putMeta(m *fileMeta, sum *[sha256.Size]byte) error {
	b := r.buf[:0]
	b = append(b, m.typ)
	for _, v := range [...]int64{m.mode, int64(m.uid), int64(m.gid), m.size, m.major, m.minor, m.mtime} {
		b = binary.AppendVarint(b, v)
	}
	if m.typ == tar.TypeReg {
		b = append(b, sum[:]...)
	}
	b = binary.AppendUvarint(b, uint64(len(m.link)))
	b = append(b, m.link...)
	b = binary.AppendUvarint(b, uint64(len(m.xattrs)))
	b = append(b, m.xattrs...)
	r.buf = b
	var h [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(h[:], uint64(len(b)))
	if err := r.metaFile.write(h[:n]); err != nil {
		return err
	}
	if err := r.metaFile.write(b); err != nil {
		return err
	}
	r.metaSize += int64(n + len(b))
	return nil
}

// meta returns the meta of the header at off.
func (r *Recording) meta(off int64) (fileMeta, error) {
	if r.entryFile == nil {
		return r.metas[off], nil
	}
	m, _, err := r.readMeta(off)
	return m, err
}

// sum returns the sha256 of the data of the file whose header is at off.
func (r *Recording) sum(off int64) ([sha256.Size]byte, error) {
	if r.unhashed[off] {
		return [sha256.Size]byte{}, errNotHashed
	}
	if r.entryFile == nil {
		return r.sums[off], nil
	}
	_, sum, err := r.readMeta(off)
	return sum, err
}

// metaWindow is the size of the window metas are read through.
const metaWindow = 64 << 10

// readAt returns the n bytes of metaFile at off, or fewer at its end,
// through the window: valid until the next call.
func (r *Recording) readAt(off int64, n int) ([]byte, error) {
	if off < r.winOff || off+int64(n) > r.winOff+int64(len(r.win)) {
		if cap(r.win) < max(n, metaWindow) {
			r.win = make([]byte, max(n, metaWindow))
		}
		k, err := r.metaFile.readAt(r.win[:cap(r.win)], off)
		if k == 0 {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("reading the recording: %w", err)
		}
		r.win, r.winOff = r.win[:k], off
	}
	return r.win[off-r.winOff : min(off-r.winOff+int64(n), int64(len(r.win)))], nil
}

// readMeta reads the meta and sum at off in metaFile.
func (r *Recording) readMeta(off int64) (m fileMeta, sum [sha256.Size]byte, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, err := r.readAt(off, binary.MaxVarintLen64)
	if err != nil {
		return m, sum, err
	}
	size, h := binary.Uvarint(b)
	if h <= 0 || size > 3<<20 {
		return m, sum, fmt.Errorf("reading the recording: %w", errSpillCorrupt)
	}
	if b, err = r.readAt(off, h+int(size)); err != nil {
		return m, sum, err
	}
	if len(b) < h+int(size) {
		return m, sum, fmt.Errorf("reading the recording: %w", io.ErrUnexpectedEOF)
	}
	d := &decoder{b: b[h : h+int(size)]}
	m.typ = d.byte()
	var v [7]int64
	for i := range v {
		v[i] = d.varint()
	}
	m.mode, m.uid, m.gid, m.size, m.major, m.minor, m.mtime = v[0], int(v[1]), int(v[2]), v[3], v[4], v[5], v[6]
	if m.typ == tar.TypeReg {
		copy(sum[:], d.bytes(sha256.Size))
	}
	m.link = string(d.bytes(int(d.uvarint())))
	m.xattrs = string(d.bytes(int(d.uvarint())))
	if d.bad {
		return m, sum, fmt.Errorf("reading the recording: %w", errSpillCorrupt)
	}
	return m, sum, nil
}

// decoder reads the fields of a meta; bad once one runs past the end.
type decoder struct {
	b   []byte
	bad bool
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.bad = true
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.bad = true
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.bad = true
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes(n int) []byte {
	if n < 0 || n > len(d.b) {
		d.bad = true
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

// errRecording is the error of reading file data from a Recording.
var errRecording = errors.New("holds only the headers and digests of its files (a recording), not their data")

// scanRecording gives s the entries of the recorded layer li, calling
// part as scanLayer does.
func (f *flattener) scanRecording(li int, s *layerScan, part func(*layerScan) error) error {
	rec := f.layers[li].Recording
	if !f.recordings {
		return f.errorf(li, "", errRecording)
	}
	clear(s.plnk)
	for k, v := range rec.plnk {
		if s.plnk == nil {
			s.plnk = make(map[string]int64)
		}
		s.plnk[k] = v
	}
	s.defined = nil
	if rec.entryFile == nil {
		s.entries = append(s.entries[:0], rec.entries...)
		s.links = append(s.links[:0], rec.links...)
		return nil
	}
	s.entries, s.links = s.entries[:0], s.links[:0]
	sr, err := rec.entryFile.reader()
	if err != nil {
		return f.errorf(li, "", fmt.Errorf("reading the recording: %w", err))
	}
	handed := 0
	var r record
	for {
		if err := sr.next(&r); err == io.EOF {
			return nil
		} else if err != nil {
			return f.errorf(li, "", err)
		}
		e := entry{name: r.name, off: r.off, link: -1, kind: r.kind, typ: r.typ}
		if r.target != "" {
			e.link = int32(len(s.links))
			s.links = append(s.links, linkRef{target: r.target})
		}
		s.entries = append(s.entries, e)
		if part != nil && len(s.entries)-handed >= scanPart {
			if err := f.ctx.Err(); err != nil {
				return err
			}
			if err := part(s); err != nil {
				return err
			}
			handed = len(s.entries)
		}
	}
}
