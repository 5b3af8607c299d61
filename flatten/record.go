package flatten

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
)

// Recording is what Compare needs of a layer that is read once, as a
// stream, instead of being kept: its headers, each file's sha256, and
// the layer's own entries as scanLayer gives them. It holds no file data,
// so it cannot be flattened (Indexer). It takes about 200 bytes an entry.
type Recording struct {
	entries []entry   // entry.off indexes metas and sums
	links   []linkRef // hardlink targets of entries
	plnk    map[string]int64
	metas   []fileMeta
	sums    [][sha256.Size]byte // regular files'; zero for the rest
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
func (r *Recording) Entries() int { return len(r.metas) }

// Record reads the layer tar r to its end-of-archive marker and returns
// its Recording. id names the layer in errors. Names, types and links are
// checked as for Indexer.Flatten, with the same errors.
func Record(ctx context.Context, id string, r io.Reader) (*Recording, error) {
	f := &flattener{ctx: ctx, layers: []Layer{{ID: id}}}
	rec := &Recording{}
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
		// Every header gets its meta, so that the offset scanEntry
		// records (an entry's, or an aufs hardlink file's) indexes it.
		off := int64(len(rec.metas))
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
		rec.metas = append(rec.metas, metaFromHeader(hdr))
		rec.sums = append(rec.sums, sum)
	}
	rec.entries, rec.links, rec.plnk = s.entries, s.links, s.plnk
	return rec, nil
}

// errRecording is the error of reading file data from a Recording.
var errRecording = errors.New("holds only the headers and digests of its files (a recording), not their data")

// scanRecording gives s the entries of the recorded layer li.
func (f *flattener) scanRecording(li int, s *layerScan) error {
	rec := f.layers[li].Recording
	if !f.recordings {
		return f.errorf(li, "", errRecording)
	}
	s.entries = append(s.entries[:0], rec.entries...)
	s.links = append(s.links[:0], rec.links...)
	clear(s.plnk)
	for k, v := range rec.plnk {
		if s.plnk == nil {
			s.plnk = make(map[string]int64)
		}
		s.plnk[k] = v
	}
	s.defined = nil
	return nil
}
