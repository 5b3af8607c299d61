package extract

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/ulikunitz/xz"
)

// compression is a compression format, detected by magic bytes.
type compression int

const (
	uncompressed compression = iota
	gzipCompression
	zstdCompression
	bzip2Compression
	xzCompression
)

func (c compression) String() string {
	switch c {
	case gzipCompression:
		return "gzip"
	case zstdCompression:
		return "zstd"
	case bzip2Compression:
		return "bzip2"
	case xzCompression:
		return "xz"
	default:
		return "uncompressed"
	}
}

// mediaType is the OCI layer media type of a layer blob in c.
func (c compression) mediaType() string {
	switch c {
	case gzipCompression:
		return ocispec.MediaTypeImageLayerGzip
	case zstdCompression:
		return ocispec.MediaTypeImageLayerZstd
	default:
		return ocispec.MediaTypeImageLayer
	}
}

// magicLen is how many leading bytes detection needs.
const magicLen = 6

var (
	gzipMagic  = []byte{0x1f, 0x8b, 0x08}
	zstdMagic  = []byte{0x28, 0xb5, 0x2f, 0xfd}
	bzip2Magic = []byte{'B', 'Z', 'h'}
	xzMagic    = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}
)

// isZstdSkippableFrame reports whether head starts with a zstd skippable
// frame (magic 0x184D2A50..0x184D2A5F, little endian).
func isZstdSkippableFrame(head []byte) bool {
	return len(head) >= 4 && head[0]&0xf0 == 0x50 && head[1] == 0x2a && head[2] == 0x4d && head[3] == 0x18
}

// detectLayerCompression detects the compressions a layer blob may use:
// gzip and zstd (the OCI layer media types). Nothing is inferred from names.
func detectLayerCompression(head []byte) compression {
	switch {
	case bytes.HasPrefix(head, gzipMagic):
		return gzipCompression
	case bytes.HasPrefix(head, zstdMagic), isZstdSkippableFrame(head):
		return zstdCompression
	}
	return uncompressed
}

// detectArchiveCompression detects the compressions `docker load` accepts
// for a whole archive: gzip, zstd, bzip2 and xz.
func detectArchiveCompression(head []byte) compression {
	if c := detectLayerCompression(head); c != uncompressed {
		return c
	}
	switch {
	case bytes.HasPrefix(head, bzip2Magic):
		return bzip2Compression
	case bytes.HasPrefix(head, xzMagic):
		return xzCompression
	}
	return uncompressed
}

// zstd limits: the window bounds the decoder's memory for hostile input.
const (
	zstdMaxWindow = 256 << 20
)

// decompressBufSize is the size of the buffer a compressed layer is read
// through. bufio.NewReaderSize hands back a *bufio.Reader at least this
// large as it is, so a caller that buffers the input itself (Archive, to
// drain what follows the compressed stream) does not get a second buffer.
const decompressBufSize = 256 << 10

// decompress returns a reader of r decompressed with c; gzip with the
// program opts.GzipProgram unless it is "". Close releases the decoder;
// it does not close r.
func decompress(c compression, r io.Reader, opts Options) (io.ReadCloser, error) {
	switch c {
	case gzipCompression:
		if opts.GzipProgram != "" {
			return startProg(opts.GzipProgram, r, opts.pipeSize())
		}
		// Given a *bufio.Reader, the inflater reads through it directly
		// (its fastest path); a large one makes few reads of r, which is
		// a chain of readers down to the daemon's socket.
		zr, err := gzip.NewReader(bufio.NewReaderSize(r, decompressBufSize))
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		return zr, nil
	case zstdCompression:
		zr, err := zstd.NewReader(r,
			zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(zstdMaxWindow),
			zstd.WithDecoderMaxMemory(zstdMaxWindow),
		)
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		return zstdReadCloser{zr}, nil
	case bzip2Compression:
		return io.NopCloser(bzip2.NewReader(r)), nil
	case xzCompression:
		xr, err := xz.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("xz: %w", err)
		}
		return io.NopCloser(xr), nil
	case uncompressed:
		return io.NopCloser(r), nil
	}
	return nil, errors.New("unknown compression")
}

type zstdReadCloser struct{ *zstd.Decoder }

func (z zstdReadCloser) Close() error {
	z.Decoder.Close()
	return nil
}

// peek reads up to magicLen bytes of r. It returns them and a reader that
// yields the whole of r again.
func peek(r io.Reader) ([]byte, io.Reader, error) {
	head := make([]byte, magicLen)
	n, err := io.ReadFull(r, head)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, nil, err
	}
	head = head[:n]
	return head, io.MultiReader(bytes.NewReader(head), r), nil
}
