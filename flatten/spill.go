package flatten

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
)

// The index spills to disk when an image has many entries, so that memory
// does not grow with the image (see buckets.go). A spill file holds
// records: the entries of the layers as pass 1 scanned them, in layer
// order and, within a layer, in tar order.

// record is one scanned entry as spilled.
type record struct {
	layer  int32
	seq    int32 // the entry's index in its layer's scan (tar order)
	off    int64
	kind   markerKind
	typ    byte
	name   string
	target string // hardlinks: the target
}

// spillFile is a temporary file of records, removed from its directory as
// soon as it is created, so that nothing is left behind whatever happens
// to the process. Where an open file cannot be removed (Windows), it is
// removed when it is closed. It is created on the first write.
type spillFile struct {
	dir        string
	removeLate bool   // do not try to remove the open file
	name       string // the file, while it is still in dir
	f          *os.File
	bw         *bufio.Writer
	size       int64
	n          int // records written
	buf        []byte
	bufN       int // size of the write buffer
}

// spillBufSize is the buffer a spill file is read through, and written
// through unless the caller writes many at once.
const spillBufSize = 64 << 10

// newSpillFile returns a spill file in opts.TmpDir, written through a
// buffer of bufSize.
func newSpillFile(opts Options, bufSize int) *spillFile {
	return &spillFile{dir: opts.TmpDir, removeLate: opts.removeSpillLate, bufN: bufSize}
}

// Write is the bufio.Writer's sink: it creates the file on first use.
func (s *spillFile) Write(p []byte) (int, error) {
	if s.f == nil {
		f, err := os.CreateTemp(s.dir, "docker-layers-index-*")
		if err != nil {
			return 0, err
		}
		// Unlinked at once: the open file lives on until Close. Where
		// that fails, Close removes it.
		if s.removeLate || os.Remove(f.Name()) != nil {
			s.name = f.Name()
		}
		s.f = f
	}
	n, err := s.f.Write(p)
	s.size += int64(n)
	return n, err
}

func (s *spillFile) put(r *record) error {
	if s.bw == nil {
		s.bw = bufio.NewWriterSize(s, s.bufN)
	}
	b := s.buf[:0]
	b = binary.AppendUvarint(b, uint64(r.layer))
	b = binary.AppendUvarint(b, uint64(r.seq))
	b = binary.AppendUvarint(b, uint64(r.off))
	b = append(b, byte(r.kind), r.typ)
	b = binary.AppendUvarint(b, uint64(len(r.name)))
	b = append(b, r.name...)
	b = binary.AppendUvarint(b, uint64(len(r.target)))
	b = append(b, r.target...)
	s.buf = b
	s.n++
	_, err := s.bw.Write(b)
	return err
}

// write writes raw bytes, for a file of another format than records
// (Recording's metas).
func (s *spillFile) write(b []byte) error {
	if s.bw == nil {
		s.bw = bufio.NewWriterSize(s, s.bufN)
	}
	_, err := s.bw.Write(b)
	return err
}

// flush writes out what is buffered.
func (s *spillFile) flush() error {
	if s.bw == nil {
		return nil
	}
	return s.bw.Flush()
}

// readAt reads what was written and flushed, at off.
func (s *spillFile) readAt(p []byte, off int64) (int, error) {
	if s.f == nil {
		return 0, io.EOF
	}
	return s.f.ReadAt(p[:min(int64(len(p)), max(s.size-off, 0))], off)
}

// reader flushes what was written and returns a reader of every record.
func (s *spillFile) reader() (*spillReader, error) {
	if s.bw != nil {
		if err := s.bw.Flush(); err != nil {
			return nil, err
		}
	}
	var r io.Reader = eofReader{}
	if s.f != nil {
		r = io.NewSectionReader(s.f, 0, s.size)
	}
	return &spillReader{br: bufio.NewReaderSize(r, spillBufSize)}, nil
}

func (s *spillFile) Close() error {
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	if s.name != "" {
		if rerr := os.Remove(s.name); err == nil {
			err = rerr
		}
	}
	s.f, s.bw, s.name = nil, nil, ""
	return err
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// spillReader reads records back. The strings of the record it returns are
// its own.
type spillReader struct {
	br *bufio.Reader
}

var errSpillCorrupt = errors.New("index spill file is corrupt")

// next reads the next record into r; io.EOF at the end.
func (sr *spillReader) next(r *record) error {
	layer, err := binary.ReadUvarint(sr.br)
	if err != nil {
		if err == io.EOF {
			return io.EOF
		}
		return fmt.Errorf("reading the index spill file: %w", err)
	}
	var v [2]uint64
	for i := range v {
		if v[i], err = binary.ReadUvarint(sr.br); err != nil {
			return fmt.Errorf("reading the index spill file: %w", noEOF(err))
		}
	}
	var kt [2]byte
	if _, err := io.ReadFull(sr.br, kt[:]); err != nil {
		return fmt.Errorf("reading the index spill file: %w", noEOF(err))
	}
	*r = record{layer: int32(layer), seq: int32(v[0]), off: int64(v[1]), kind: markerKind(kt[0]), typ: kt[1]}
	if r.name, err = sr.str(); err != nil {
		return err
	}
	r.target, err = sr.str()
	return err
}

func (sr *spillReader) str() (string, error) {
	n, err := binary.ReadUvarint(sr.br)
	if err != nil {
		return "", fmt.Errorf("reading the index spill file: %w", noEOF(err))
	}
	if n > 1<<20 {
		return "", errSpillCorrupt
	}
	if n == 0 {
		return "", nil
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(sr.br, b); err != nil {
		return "", fmt.Errorf("reading the index spill file: %w", noEOF(err))
	}
	return string(b), nil
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// cmpPath orders canonical paths depth first, as the output is written:
// a directory, then its subtree, then its next sibling. It is byte order
// with "/" below every other byte, so "a/b" sorts before "a-c".
func cmpPath[A, B ~string | ~[]byte](a A, b B) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		x, y := a[i], b[i]
		if x == y {
			continue
		}
		if x == '/' {
			return -1
		}
		if y == '/' {
			return 1
		}
		if x < y {
			return -1
		}
		return 1
	}
	return len(a) - len(b)
}

// isAncestor reports whether dir ("" is the root) is a proper ancestor of
// the canonical path p.
func isAncestor[S ~string | ~[]byte](dir S, p string) bool {
	if len(dir) == 0 {
		return p != ""
	}
	return len(p) > len(dir) && p[len(dir)] == '/' && p[:len(dir)] == string(dir)
}

// ancestors calls fn with each proper ancestor of the canonical path p,
// the root ("") first.
func ancestors(p string, fn func(string)) {
	if p == "" {
		return
	}
	fn("")
	for i := 0; i < len(p); i++ {
		if p[i] == '/' {
			fn(p[:i])
		}
	}
}

// sampler keeps an evenly spaced, deterministic sample of the names it is
// shown: every stride-th, with the stride doubled whenever the sample
// fills up.
type sampler struct {
	max    int
	stride int
	seen   int
	names  []string
}

func (s *sampler) add(name string) {
	if s.seen%s.stride == 0 {
		if len(s.names) == s.max {
			k := 0
			for i := 0; i < len(s.names); i += 2 {
				s.names[k] = s.names[i]
				k++
			}
			clear(s.names[k:])
			s.names = s.names[:k]
			s.stride *= 2
			if s.seen%s.stride != 0 {
				s.seen++
				return
			}
		}
		s.names = append(s.names, name)
	}
	s.seen++
}

// cuts returns distinct names, in cmpPath order, that cut the names shown
// (total of them) into parts of per names each, the last one smaller; as
// closely as the sample tells.
func (s *sampler) cuts(per, total int) []string {
	names := slices.Clone(s.names)
	slices.SortFunc(names, cmpPath[string, string])
	var cuts []string
	for k := per; k < total && len(names) > 0; k += per {
		c := names[min(len(names)-1, int(int64(k)*int64(len(names))/int64(total)))]
		if c != "" && (len(cuts) == 0 || cuts[len(cuts)-1] != c) {
			cuts = append(cuts, c) // "": the first bucket starts at the root anyway
		}
	}
	return cuts
}
