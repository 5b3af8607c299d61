package extract

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/opencontainers/go-digest"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestPipeHashed(t *testing.T) {
	for _, size := range []int{0, 1, copyBufSize - 1, copyBufSize, copyBufSize + 1, 5*copyBufSize + 12345} {
		data := bytes.Repeat([]byte("0123456789abcdefghijklmnopqrstuvwxyz"), size/36+1)[:size]
		var out bytes.Buffer
		// Small reads: the writer must still get whole buffers.
		d, n, err := pipeHashed(&out, iotest.HalfReader(bytes.NewReader(data)))
		assert.NilError(t, err)
		assert.Check(t, is.Equal(n, int64(size)))
		assert.Check(t, is.Equal(d, digest.NewDigestFromBytes(digest.SHA256, sha256Sum(data))))
		assert.Check(t, bytes.Equal(out.Bytes(), data), "size %d: output differs", size)
	}
}

func sha256Sum(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

// failingWriter accepts limit bytes, then fails every write.
type failingWriter struct{ limit, got int }

var errWrite = errors.New("disk on fire")

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.got+len(p) > w.limit {
		return 0, errWrite
	}
	w.got += len(p)
	return len(p), nil
}

func TestPipeHashedWriteError(t *testing.T) {
	// A write error stops the reading well before the end of a long input,
	// and is what pipeHashed returns.
	const size = 64 * copyBufSize
	src := &countingReader{r: io.LimitReader(zeroReader{}, size)}
	_, _, err := pipeHashed(&failingWriter{limit: 2 * copyBufSize}, src)
	assert.Check(t, is.ErrorIs(err, errWrite))
	assert.Check(t, src.n <= int64(2+pipeBuffers+1)*copyBufSize, "read %d bytes after the write failed", src.n)

	// Also when the failing write is the last one, at a clean end of input.
	_, _, err = pipeHashed(&failingWriter{limit: 0}, bytes.NewReader([]byte("x")))
	assert.Check(t, is.ErrorIs(err, errWrite))
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestPipeHashedReadError(t *testing.T) {
	errRead := errors.New("connection reset")
	r := io.MultiReader(bytes.NewReader(make([]byte, copyBufSize+7)), iotest.ErrReader(errRead))
	_, n, err := pipeHashed(io.Discard, r)
	assert.Check(t, is.ErrorIs(err, errRead))
	assert.Check(t, is.Equal(n, int64(copyBufSize+7)))
}
