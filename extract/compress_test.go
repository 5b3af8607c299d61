package extract

import (
	"bytes"
	"io"
	"testing"

	"gotest.tools/v3/assert"
)

// TestZstdWindowIsCapped: a frame that asks for a 512 MiB window (hostile:
// it makes the decoder allocate that much; the library's own default
// allows it) is refused.
func TestZstdWindowIsCapped(t *testing.T) {
	// Magic, then a frame header descriptor with no content size, no
	// checksum, not single-segment, then a window descriptor with exponent
	// 19: windowLog 29, a 512 MiB window. Then a raw last block of 1 byte.
	frame := []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 19 << 3, 0x09, 0x00, 0x00, 'x'}
	zr, err := decompress(zstdCompression, bytes.NewReader(frame), Options{})
	if err == nil {
		defer zr.Close()
		_, err = io.ReadAll(zr)
	}
	assert.ErrorContains(t, err, "window size")

	// The same frame with a 1 MiB window (exponent 10) decodes.
	frame[5] = 10 << 3
	zr, err = decompress(zstdCompression, bytes.NewReader(frame), Options{})
	assert.NilError(t, err)
	defer zr.Close()
	b, err := io.ReadAll(zr)
	assert.NilError(t, err)
	assert.Equal(t, string(b), "x")
}
