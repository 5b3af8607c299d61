package extract

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/docker-layers/docker-layers/flatten"
)

const (
	// tailSize is how much of the end of a stream is kept to find an error
	// the daemon appended, and how much more is read to find its end.
	tailSize = 64 << 10
	// blockSize is the tar block size.
	blockSize = 512
)

// saveTar reads the tar of a save stream entry by entry, and knows how a
// daemon's stream ends: the daemon answers 200 before it starts writing,
// so a failure after that is an error message it appends to what it sent
// (see trailingDaemonError), or a stream cut short. Every read error and
// every early end is reported as the daemon's own message when it
// appended one, as ErrTruncated otherwise. FromSaveStream and
// ReadMetadata both read streams through it; an Archive, which has the
// whole file, checks the same two things in index.
type saveTar struct {
	raw      *tailReader
	tr       *tar.Reader
	last     string // name of the last entry started
	entryEnd int64  // stream offset where the last entry's data ends
}

func newSaveTar(r io.Reader) *saveTar {
	raw := &tailReader{r: r}
	return &saveTar{raw: raw, tr: tar.NewReader(raw)}
}

// next returns the next entry's header. At the end of the archive it
// returns io.EOF once the end-of-archive marker is checked and no error
// follows it; a sparse entry, whose data is not stored in one piece, is
// an error.
func (s *saveTar) next() (*tar.Header, error) {
	hdr, err := s.tr.Next()
	if errors.Is(err, io.EOF) {
		if err := s.atEnd(); err != nil {
			return nil, err
		}
		return nil, io.EOF
	}
	if err != nil {
		return nil, s.fail(fmt.Errorf("reading save stream after %s: %w", s.where(), err))
	}
	s.last, s.entryEnd = hdr.Name, s.raw.n+dataSize(hdr)
	if flatten.IsSparse(hdr) {
		return nil, errorf(ErrInvalid, "entry %q is a sparse file", truncate(hdr.Name, 200))
	}
	return hdr, nil
}

// atEnd checks the end of the tar: its end-of-archive marker, and what
// the daemon may have appended after it or instead of it.
func (s *saveTar) atEnd() error {
	end := (s.entryEnd + blockSize - 1) / blockSize * blockSize
	if s.raw.n >= end+2*blockSize {
		extra, _ := io.ReadAll(io.LimitReader(s.raw.r, tailSize))
		if de := leadingDaemonError(extra); de != nil {
			return de
		}
		return nil
	}
	if de := s.daemonError(); de != nil {
		return de
	}
	if s.raw.n == 0 {
		return errorf(ErrTruncated, "save stream is empty")
	}
	return errorf(ErrTruncated, "save stream truncated: it ends after %s without the end-of-archive marker", s.where())
}

// where names the place in the stream that was reached.
func (s *saveTar) where() string {
	if s.last == "" {
		return "its start"
	}
	return fmt.Sprintf("entry %q", truncate(s.last, 200))
}

// fail turns a read error into the error to report: the daemon's message
// when it appended one to the stream, ErrTruncated for an early end.
func (s *saveTar) fail(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if de := s.daemonError(); de != nil {
		return de
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return errorf(ErrTruncated, "save stream truncated: %w", err)
	}
	return err
}

// daemonError looks for a JSON error message at the very end of the
// stream: in what was read, and in up to tailSize more bytes.
func (s *saveTar) daemonError() *DaemonError {
	extra, _ := io.ReadAll(io.LimitReader(s.raw.r, tailSize+1))
	if len(extra) > tailSize {
		return nil
	}
	return trailingDaemonError(append(s.raw.tail(), extra...))
}

// tailReader counts the bytes read from r and keeps the last tailSize of
// them.
type tailReader struct {
	r    io.Reader
	n    int64
	ring []byte
}

func (t *tailReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.record(p[:n])
	return n, err
}

func (t *tailReader) record(p []byte) {
	if len(p) == 0 {
		return
	}
	if t.ring == nil {
		t.ring = make([]byte, tailSize)
	}
	if len(p) > tailSize {
		t.n += int64(len(p) - tailSize)
		p = p[len(p)-tailSize:]
	}
	for len(p) > 0 {
		i := int(t.n % tailSize)
		c := copy(t.ring[i:], p)
		t.n += int64(c)
		p = p[c:]
	}
}

// tail returns the last bytes read, oldest first.
func (t *tailReader) tail() []byte {
	if t.n <= tailSize {
		return append([]byte(nil), t.ring[:t.n]...)
	}
	i := int(t.n % tailSize)
	return append(append([]byte(nil), t.ring[i:]...), t.ring[:i]...)
}
