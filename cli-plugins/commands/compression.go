package commands

import (
	"fmt"
	"io"
	"runtime"
	"strings"

	"github.com/dsnet/compress/bzip2"
	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"
	"github.com/ulikunitz/xz"
)

// compression is an output compression format.
type compression string

const (
	compressionNone  compression = "none"
	compressionGzip  compression = "gzip"
	compressionBzip2 compression = "bzip2"
	compressionXz    compression = "xz"
	compressionZstd  compression = "zstd"
)

var compressions = []compression{compressionNone, compressionGzip, compressionBzip2, compressionXz, compressionZstd}

// extensions maps file name endings to the compression they imply.
var extensions = []struct {
	suffix string
	c      compression
}{
	{".tar.gz", compressionGzip}, {".tgz", compressionGzip},
	{".tar.bz2", compressionBzip2}, {".tbz2", compressionBzip2}, {".tbz", compressionBzip2},
	{".tar.xz", compressionXz}, {".txz", compressionXz},
	{".tar.zst", compressionZstd}, {".tzst", compressionZstd},
	{".tar", compressionNone},
}

// compressionFromName returns the compression a file name's extension
// implies, if it implies one.
func compressionFromName(name string) (compression, bool) {
	lower := strings.ToLower(name)
	for _, e := range extensions {
		if strings.HasSuffix(lower, e.suffix) {
			return e.c, true
		}
	}
	return "", false
}

func parseCompression(s string) (compression, error) {
	for _, c := range compressions {
		if string(c) == strings.ToLower(s) {
			return c, nil
		}
	}
	return "", fmt.Errorf("unknown compression %q (want one of none, gzip, bzip2, xz, zstd)", s)
}

// levelRange is the valid --level range of each compression; 0 means the
// format's default.
var levelRange = map[compression][2]int{
	compressionGzip:  {1, 9},
	compressionBzip2: {1, 9},
	compressionXz:    {0, 9},
	compressionZstd:  {1, 22},
}

// newCompressor wraps w in c's writer. Close flushes the compressed
// stream's end; on failure, not calling Close leaves the stream without its
// footer, so a consumer sees it is broken.
func newCompressor(w io.Writer, c compression, level int) (io.WriteCloser, error) {
	if r, ok := levelRange[c]; ok && level != 0 && (level < r[0] || level > r[1]) {
		return nil, fmt.Errorf("--level %d is out of range for %s (%d to %d)", level, c, r[0], r[1])
	}
	switch c {
	case compressionGzip:
		if level == 0 {
			level = pgzip.DefaultCompression
		}
		zw, err := pgzip.NewWriterLevel(w, level)
		if err != nil {
			return nil, err
		}
		// One block per core in flight, and as many again queued. Small
		// blocks keep the peak RSS near plain extract's at almost no cost
		// in size: each block still starts with its predecessor's 32 KiB
		// window (BENCHMARKS.md).
		if err := zw.SetConcurrency(256<<10, 2*runtime.GOMAXPROCS(0)); err != nil {
			return nil, err
		}
		return zw, nil
	case compressionBzip2:
		return bzip2.NewWriter(w, &bzip2.WriterConfig{Level: level})
	case compressionXz:
		cfg := xz.WriterConfig{}
		if level != 0 {
			// The dictionary sizes of xz's presets -0 to -9.
			cfg.DictCap = []int{256 << 10, 1 << 20, 2 << 20, 4 << 20, 4 << 20, 8 << 20, 8 << 20, 16 << 20, 32 << 20, 64 << 20}[level]
		}
		return cfg.NewWriter(w)
	case compressionZstd:
		opts := []zstd.EOption{zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0))}
		if level != 0 {
			opts = append(opts, zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(level)))
		}
		return zstd.NewWriter(w, opts...)
	}
	return nopWriteCloser{w}, nil
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }
