package flatten

import (
	"errors"
	"io"
	"os"
	"sync/atomic"
)

// zeroCopyMin is the smallest file whose data is moved by the kernel
// instead of through the copy buffer. Below it, one syscall per file costs
// more than the copy it saves, and small files go out with their headers
// in one buffered write.
const zeroCopyMin = 128 << 10

// zeroCopyChunk bounds one copy_file_range or sendfile call, so that a
// cancelled context stops a large file within a fraction of a second.
const zeroCopyChunk = 16 << 20

// errZeroCopyUnsupported: the kernel or file system cannot copy between
// these two files; nothing was copied, and the caller copies the data
// itself.
var errZeroCopyUnsupported = errors.New("zero-copy unsupported")

// kernelCopied counts the bytes the kernel copied, for tests.
var kernelCopied atomic.Int64

// sink is what the tar writer writes to. While discard is set it drops
// what it is given: the file data that the kernel already copied to the
// output, which the tar writer must still count to pad and check the entry.
type sink struct {
	w       io.Writer
	discard bool
}

func (s *sink) Write(p []byte) (int, error) {
	if s.discard {
		return len(p), nil
	}
	return s.w.Write(p)
}

// zeros is written to the tar writer, into a discarding sink, in place of
// data the kernel copied.
var zeros = make([]byte, 256<<10)

// fileSection returns the file and the offset in it where r's byte 0 is,
// when r reads an *os.File directly or through sections of it: a spool
// file, or a layer of a saved archive (a section of the archive, itself a
// section of the file from where the archive starts in it).
func fileSection(r io.ReaderAt) (*os.File, int64, bool) {
	base := int64(0)
	for {
		switch s := r.(type) {
		case *os.File:
			return s, base, true
		case *io.SectionReader:
			outer, off, _ := s.Outer()
			r, base = outer, base+off
		default:
			return nil, 0, false
		}
	}
}

// zeroCopyOutput returns the output file when file data may be moved to it
// by the kernel, and whether it is a regular file (copy_file_range) or
// something else (sendfile: a pipe, /dev/null). It returns nil when out is
// not an *os.File or the platform has neither call.
func zeroCopyOutput(out io.Writer) (*os.File, bool) {
	f, ok := out.(*os.File)
	if !ok || !zeroCopySupported {
		return nil, false
	}
	fi, err := f.Stat()
	if err != nil {
		return nil, false
	}
	return f, fi.Mode().IsRegular()
}
