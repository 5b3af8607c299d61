package extract

import (
	"github.com/dustin/go-humanize"
)

// inflater names what decompresses c in the debug lines: the program of
// Options.GzipProgram or the built-in decoder.
func inflater(c compression, gzipProg string) string {
	switch c {
	case gzipCompression:
		if gzipProg != "" {
			return gzipProg
		}
		return "the built-in inflater"
	case zstdCompression:
		return "the built-in zstd decoder"
	case bzip2Compression:
		return "the built-in bzip2 decoder"
	case xzCompression:
		return "the built-in xz decoder"
	}
	return "nothing"
}

// archiveLayout names the layout of an archive from its top-level
// documents, for the debug lines.
func archiveLayout(hasIndex, hasManifest bool) string {
	switch {
	case hasIndex && hasManifest:
		return "docker save archive, OCI layout (Docker 25+)"
	case hasIndex:
		return "OCI archive"
	default:
		return "docker save archive, legacy layout (Docker ≤ 24)"
	}
}

// streamLayout names the layout of a save stream from the entries seen so
// far (a stream closed early may not have reached index.json or
// manifest.json, which exporters write last).
func (s *streamReader) layout() string {
	switch {
	case s.sawCompressed:
		return "OCI layout with compressed blobs (containerd image store)"
	case s.sawBlobs:
		return "OCI layout with uncompressed blobs (Docker 25+)"
	case s.sawLegacy:
		return "legacy layout (Docker ≤ 24)"
	}
	return "layout not known yet"
}

// humanBytes formats n bytes as go-humanize does ("1.2 GB").
func humanBytes(n int64) string {
	if n < 0 {
		return "?"
	}
	return humanize.Bytes(uint64(n))
}
