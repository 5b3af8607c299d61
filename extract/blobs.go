package extract

import (
	"bufio"
	"context"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"os"

	"github.com/containerd/log"
	"github.com/docker-layers/docker-layers/flatten"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Blobs reads layers from streams of their stored blobs, such as a
// registry serves them: each is decompressed (the compression is read
// from its first bytes, as for an archive) into a spool file, or recorded
// with Options.Record, and verified against its blob digest and its diff
// ID. Its methods are safe for concurrent use. The caller must Close it.
type Blobs struct {
	opts  Options
	spool *spool
}

// NewBlobs returns a Blobs that spools under opts.TmpDir.
func NewBlobs(opts Options) *Blobs {
	return &Blobs{opts: opts, spool: newSpool(opts)}
}

// Layer reads the blob desc, the stored form of the layer with diff ID w,
// from r, and returns the layer, valid until Close. p is reported as r is
// read, with Entry, DiffID and Size set from desc. r is read up to
// desc.Size bytes, which must have desc.Digest. Nothing is kept when it
// fails.
func (b *Blobs) Layer(ctx context.Context, r io.Reader, desc ocispec.Descriptor, w digest.Digest, p Progress) (flatten.Layer, error) {
	p.Entry, p.DiffID, p.Size = desc.Digest.String(), w, desc.Size
	m := newMeter(ctx, b.opts.Progress, p)
	raw := sha256.New()
	head, src, err := peek(m.reader(io.LimitReader(r, desc.Size)))
	if err != nil {
		return flatten.Layer{}, fmt.Errorf("reading layer %s (blob %s): %w", w, desc.Digest, err)
	}
	what := "blob " + desc.Digest.String()
	l, err := readLayer(ctx, b.spool, b.opts, src, raw, detectLayerCompression(head), desc.Digest, w, what)
	if err != nil {
		return flatten.Layer{}, err
	}
	m.finish()
	return l, nil
}

// Close removes the spool.
func (b *Blobs) Close() error { return b.spool.Close() }

// maxDrain is how much of a blob that fails to decompress is still read
// to tell whether its digest is wrong.
const maxDrain = 64 << 20

// readLayer reads a layer's stored bytes from src, which it hashes into
// raw, decompresses them with c into a spool file of sp (or, with
// opts.Record, into a recording), and verifies the blob digest (when
// expectRaw is known) and the diff ID w. what names where the layer is
// stored in errors, e.g. `entry "blobs/sha256/…"`. Anything after the
// compressed stream is read too, so that the blob digest covers it.
func readLayer(ctx context.Context, sp *spool, opts Options, src io.Reader, raw hash.Hash, c compression, expectRaw, w digest.Digest, what string) (flatten.Layer, error) {
	// The decompressor reads through a large buffer, so that the source is
	// read in few system calls; what follows the compressed stream is
	// drained through it too.
	how := "spool"
	if opts.Record {
		how = "recording"
	}
	log.G(ctx).Debugf("layer %s (%s): decompressing %s with %s into the %s", w, what, c, inflater(c, opts.GzipProgram), how)
	br := bufio.NewReaderSize(io.TeeReader(src, raw), decompressBufSize)
	dr, err := decompress(c, br, opts)
	if err != nil {
		return flatten.Layer{}, fmt.Errorf("decompressing layer %s (%s): %w", w, what, err)
	}
	var (
		f      *os.File
		rec    *flatten.Recording
		recErr error
		got    digest.Digest
		size   int64
	)
	if opts.Record {
		rec, recErr, got, size, err = recordHashed(ctx, dr, w.String())
	} else {
		f, got, size, err = sp.spoolHashed(dr)
	}
	_ = dr.Close()
	discard := func() {
		if f != nil {
			sp.discard(f)
		}
	}
	if err != nil {
		// A blob that is not what its digest says is the cause to name,
		// rather than what its bytes did to the decompressor.
		// Read to the end for that, but not past maxDrain: from a
		// registry, the rest of a large blob is not worth fetching.
		if _, derr := io.CopyN(io.Discard, br, maxDrain); derr == io.EOF && expectRaw != "" {
			if rawGot := digest.NewDigest(digest.SHA256, raw); rawGot != expectRaw {
				return flatten.Layer{}, errorf(ErrDigestMismatch, "layer %s (%s): blob has digest %s", w, what, rawGot)
			}
		}
		return flatten.Layer{}, fmt.Errorf("decompressing %s layer %s (%s): %w", c, w, what, err)
	}
	if _, err := io.Copy(io.Discard, br); err != nil {
		discard()
		return flatten.Layer{}, fmt.Errorf("reading layer %s (%s): %w", w, what, err)
	}
	if rawGot := digest.NewDigest(digest.SHA256, raw); expectRaw != "" && rawGot != expectRaw {
		discard()
		return flatten.Layer{}, errorf(ErrDigestMismatch, "layer %s (%s): blob has digest %s", w, what, rawGot)
	}
	if got != w {
		discard()
		return flatten.Layer{}, errorf(ErrDigestMismatch, "layer %s (%s, %s): uncompressed content has digest %s", w, what, c, got)
	}
	if recErr != nil {
		return flatten.Layer{}, recErr
	}
	if rec != nil {
		return flatten.Layer{ID: w.String(), Recording: rec}, nil
	}
	sp.keep(f)
	return flatten.Layer{ID: w.String(), R: io.NewSectionReader(f, 0, size), Size: size}, nil
}
