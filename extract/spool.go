package extract

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/docker-layers/docker-layers/flatten"
	"github.com/opencontainers/go-digest"
)

// copyBufSize is the size of the pooled copy buffers.
const copyBufSize = 1 << 20

var copyBufPool = sync.Pool{New: func() any {
	b := make([]byte, copyBufSize)
	return &b
}}

// copyBuffered copies src to dst with a pooled buffer.
func copyBuffered(dst io.Writer, src io.Reader) (int64, error) {
	bp := copyBufPool.Get().(*[]byte)
	defer copyBufPool.Put(bp)
	return io.CopyBuffer(dst, src, *bp)
}

// spool is a private directory of temporary files. The directory is created
// on first use, with mode 0700, and removed by Close.
//
// Its methods are safe for concurrent use, so that layers can be
// decompressed into it in parallel.
type spool struct {
	mu       sync.Mutex // guards dir, files, recs, recorded and limit
	parent   string
	dir      string
	files    []*os.File
	recs     []*flatten.Recording // recordings made, closed with the spool
	recorded int                  // entries the recordings keep in memory

	// limit, when > 0, makes writes fail with ENOSPC once that many bytes
	// were written to the spool in total. It is the free space of the
	// spool's file system less a reserve (see freeSpaceLimit), or the
	// test-only Options.spoolLimit.
	limit   int64
	written atomic.Int64
	// statfs: without a limit, the free space of the file system sets
	// one (see Options.portable).
	statfs bool
}

// freeSpaceLimit returns how much the spool may write under dir: the space
// free there less 1% of the file system (at least 1 MiB), so that a
// decompression bomb or a huge image fails cleanly instead of filling the
// disk for everyone else. It returns 0 (no limit) where statfs fails.
func freeSpaceLimit(dir string) int64 {
	free, total, ok := diskSpace(dir)
	if !ok {
		return 0
	}
	reserve := max(total/100, 1<<20)
	return max(free-reserve, 1)
}

func newSpool(opts Options) *spool {
	parent := opts.TmpDir
	if parent == "" {
		parent = os.TempDir()
	}
	return &spool{parent: parent, limit: opts.spoolLimit, statfs: !opts.portable}
}

// create returns a new spool file. The caller must hand it to keep or
// discard.
func (s *spool) create() (*os.File, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dir == "" {
		dir, err := os.MkdirTemp(s.parent, "docker-layers-")
		if err != nil {
			return nil, fmt.Errorf("creating spool directory: %w", err)
		}
		s.dir = dir
		if s.limit <= 0 && s.statfs {
			s.limit = freeSpaceLimit(dir)
		}
	}
	f, err := os.CreateTemp(s.dir, "blob-")
	if err != nil {
		return nil, fmt.Errorf("creating spool file: %w", err)
	}
	return f, nil
}

// keep records f so that Close closes it.
func (s *spool) keep(f *os.File) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files = append(s.files, f)
}

// recordEntries bounds the entries that a spool's recordings keep in
// memory between them: above the 75,000 of the benchmark image and its
// copy, so that comparing those writes nothing to disk.
const recordEntries = 1 << 17

// maxRecordEntries bounds the entries one recording keeps in memory.
const maxRecordEntries = 1 << 16

// keepRecording keeps a recording to close with the spool.
func (s *spool) keepRecording(rec *flatten.Recording) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recs = append(s.recs, rec)
	if rec.InMemory() {
		s.recorded += rec.Entries()
	}
}

// discard closes and removes a spool file that is not kept.
func (s *spool) discard(f *os.File) {
	_ = f.Close()
	_ = os.Remove(f.Name())
}

// Close closes every kept file and removes the spool directory.
func (s *spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, f := range s.files {
		if err := f.Close(); err != nil && !errors.Is(err, fs.ErrClosed) {
			errs = append(errs, err)
		}
	}
	s.files = nil
	for _, rec := range s.recs {
		if err := rec.Close(); err != nil && !errors.Is(err, fs.ErrClosed) {
			errs = append(errs, err)
		}
	}
	s.recs = nil
	if s.dir != "" {
		if err := os.RemoveAll(s.dir); err != nil {
			errs = append(errs, fmt.Errorf("removing spool directory: %w", err))
		}
		s.dir = ""
	}
	return errors.Join(errs...)
}

// writer returns a writer to f that honours the test-only spool limit.
func (s *spool) writer(f *os.File) io.Writer {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.limit <= 0 {
		return f
	}
	return &limitedFile{f: f, s: s, limit: s.limit}
}

type limitedFile struct {
	f     *os.File
	s     *spool
	limit int64
}

func (l *limitedFile) Write(p []byte) (int, error) {
	if l.s.written.Add(int64(len(p))) > l.limit {
		l.s.written.Add(-int64(len(p)))
		return 0, &fs.PathError{Op: "write", Path: l.f.Name(), Err: syscall.ENOSPC}
	}
	n, err := l.f.Write(p)
	l.s.written.Add(int64(n - len(p)))
	return n, err
}

// spoolHashed copies r into a new spool file while hashing it with sha256.
// On error the file is discarded; otherwise the caller must keep or
// discard it.
//
// The copy is a three-stage pipeline (see pipeHashed): reading r, which
// for a compressed layer includes inflating it, writing the file, and
// hashing each run on a goroutine of their own, so that the stream keeps
// moving at the daemon's pace while the file is written and hashed.
func (s *spool) spoolHashed(r io.Reader) (f *os.File, d digest.Digest, n int64, err error) {
	f, err = s.create()
	if err != nil {
		return nil, "", 0, err
	}
	d, n, err = pipeHashed(s.writer(f), r)
	if err != nil {
		s.discard(f)
		return nil, "", 0, err
	}
	return f, d, n, nil
}

// pipeBuffers is how many copy buffers pipeHashed cycles through: one
// being filled, one being written, one being hashed and one spare.
const pipeBuffers = 4

// pipeHashed copies r to w and returns the sha256 digest of what it copied.
// The calling goroutine reads r a full buffer at a time, so that w gets
// large writes however small the reads of r are; a second goroutine writes
// the buffers to w and a third hashes them. Writing a spool file costs
// more system time than reading the daemon's socket: on the reading
// goroutine, the write would make the daemon wait (BENCHMARKS.md).
// A write error stops the reading and is returned, also over a clean end
// of r.
func pipeHashed(w io.Writer, r io.Reader) (digest.Digest, int64, error) {
	free := make(chan *[]byte, pipeBuffers)
	for range pipeBuffers {
		free <- copyBufPool.Get().(*[]byte)
	}
	toWrite := make(chan []byte, pipeBuffers)
	toHash := make(chan []byte, pipeBuffers)
	var (
		werr   error // the first write error; read once hashed is closed
		failed atomic.Bool
	)
	go func() {
		defer close(toHash)
		for b := range toWrite {
			if werr == nil {
				if _, err := w.Write(b); err != nil {
					werr = err
					failed.Store(true)
				}
			}
			toHash <- b
		}
	}()
	h := sha256.New()
	hashed := make(chan struct{})
	go func() {
		defer close(hashed)
		for b := range toHash {
			h.Write(b)
			bp := b[:cap(b)]
			free <- &bp
		}
	}()
	var (
		n   int64
		err error
	)
	for err == nil && !failed.Load() {
		bp := <-free
		var m int
		m, err = fill(r, *bp)
		if m > 0 {
			n += int64(m)
			toWrite <- (*bp)[:m]
		} else {
			free <- bp
		}
	}
	close(toWrite)
	<-hashed
	for range pipeBuffers {
		copyBufPool.Put(<-free)
	}
	switch {
	case werr != nil:
		return "", n, werr
	case !errors.Is(err, io.EOF):
		return "", n, err
	}
	return digest.NewDigest(digest.SHA256, h), n, nil
}

// fill reads from r until b is full or r fails. Unlike io.ReadFull it
// returns r's own error, so that io.EOF still means a clean end and
// io.ErrUnexpectedEOF a truncation.
func fill(r io.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := r.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// hashReader hashes r with sha256 without storing it.
func hashReader(r io.Reader) (digest.Digest, int64, error) {
	h := sha256.New()
	n, err := copyBuffered(h, r)
	if err != nil {
		return "", n, err
	}
	return digest.NewDigest(digest.SHA256, h), n, nil
}

// progressEvery is how many bytes pass between two Progress calls while
// one entry is read.
const progressEvery = 1 << 20

// meter counts the bytes read from an entry (through its reader),
// reports progress and stops a copy when the context is done.
type meter struct {
	ctx      context.Context
	fn       func(Progress)
	p        Progress
	reported int64
}

func newMeter(ctx context.Context, fn func(Progress), p Progress) *meter {
	m := &meter{ctx: ctx, fn: fn, p: p}
	if fn != nil {
		fn(p)
	}
	return m
}

// Write counts b, which is passed over (skipRest), or fails when the
// context is done.
func (m *meter) Write(b []byte) (int, error) {
	if err := m.ctx.Err(); err != nil {
		return 0, err
	}
	m.count(len(b))
	return len(b), nil
}

// count adds n bytes read.
func (m *meter) count(n int) {
	m.p.Done += int64(n)
	if m.fn != nil && m.p.Done-m.reported >= progressEvery {
		m.reported = m.p.Done
		m.fn(m.p)
	}
}

// finish reports the final byte count once; an entry whose size was
// unknown (-1) then gets its size, so that the report says it is read.
func (m *meter) finish() {
	if m.fn == nil {
		return
	}
	if m.p.Size < 0 {
		m.p.Size = m.p.Done
	} else if m.reported == m.p.Done {
		return
	}
	m.reported = m.p.Done
	m.fn(m.p)
}

// reader returns r metered by m. Each Read checks the context before it
// reads, so that a cancelled copy stops without losing bytes: a failing
// writer of an io.TeeReader drops what it was given, and a later Read may
// then end cleanly at the source's end, with a hole in the stream.
func (m *meter) reader(r io.Reader) io.Reader { return &meterReader{m: m, r: r} }

type meterReader struct {
	m *meter
	r io.Reader
}

func (mr *meterReader) Read(p []byte) (int, error) {
	if err := mr.m.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := mr.r.Read(p)
	mr.m.count(n)
	return n, err
}

// recordHashed reads a layer's content from r and returns its
// flatten.Recording, the sha256 of the content and its size. The content
// is read and hashed as by pipeHashed; the recording is made on a
// goroutine of its own, from a pipe, so that hashing the whole and
// parsing the tar and hashing its files run side by side. id names the
// layer in the recording's errors.
//
// When the content is read whole but is not a layer that Record takes,
// recErr says why and err is nil: the digest tells whether the content is
// the layer expected at all.
//
// The recordings of one spool keep at most recordEntries entries in
// memory between them (about 200 bytes each); a recording past what is
// left of that is kept in unlinked files of the spool's parent
// directory. The spool closes them.
func (s *spool) recordHashed(ctx context.Context, r io.Reader, id string) (rec *flatten.Recording, recErr error, d digest.Digest, n int64, err error) {
	pr, pw := io.Pipe()
	type result struct {
		rec *flatten.Recording
		err error
	}
	done := make(chan result, 1)
	go func() {
		s.mu.Lock()
		left := recordEntries - s.recorded
		s.mu.Unlock()
		// Record keeps 4×IndexEntries entries in memory: at most
		// maxRecordEntries, so that a large layer moves to disk early.
		rec, err := flatten.Record(ctx, id, pr, flatten.Options{TmpDir: s.parent, IndexEntries: max(min(left, maxRecordEntries)/4, 1)})
		if rec != nil {
			s.keepRecording(rec)
		}
		// What follows the end-of-archive marker, or the failure, is
		// hashed too.
		_, cerr := copyBuffered(io.Discard, pr)
		if err == nil && ctx.Err() == nil {
			err = cerr
		}
		done <- result{rec, err}
	}()
	d, n, err = pipeHashed(pw, r)
	pw.CloseWithError(err)
	res := <-done
	if err != nil {
		return nil, nil, "", n, err
	}
	return res.rec, res.err, d, n, nil
}
