package extract

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/docker-layers/docker-layers/flatten"
	"github.com/docker/docker/client"
	"github.com/klauspost/readahead"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Options configure reading. The zero value is ready to use.
type Options struct {
	// TmpDir is the parent of the spool directory; default os.TempDir().
	// The spool directory is created inside it with mode 0700 when first
	// needed, and Close (or a failing call) removes it.
	TmpDir string
	// Platform selects the image in multi-platform indexes of an Archive;
	// nil means the running platform (platforms.Default()). When set, a
	// single-platform image of another platform is refused. FromSaveStream
	// needs no platform: diff IDs identify the layers.
	Platform *ocispec.Platform
	// Progress, if set, is called when an entry starts and then about every
	// MiB read. It runs on the reading goroutine: keep it cheap.
	Progress func(p Progress)
	// ImageDiffIDs are the diff IDs of each image a save stream holds,
	// bottom first, when the caller knows them (docker image inspect's
	// RootFS.Layers). With them, FromSaveStream:
	//   - identifies each layer directory of the legacy layout (Docker ≤
	//     24) from its json, which comes before its layer.tar, and skips
	//     the layer.tar of a layer that is not wanted instead of spooling
	//     and hashing it to learn what it is;
	//   - when fewer than half of the layers are wanted, spools a
	//     compressed blob that it cannot yet identify as it is, and
	//     decompresses it only once the image's manifest and config show
	//     that it is wanted, instead of decompressing every such blob to
	//     learn its diff ID.
	// Without them, a layer that the stream does not name by its diff ID
	// is spooled (decompressed if need be) and hashed as it arrives, which
	// overlaps that work with the daemon's sending when most layers are
	// wanted.
	ImageDiffIDs [][]digest.Digest
	// Ready, if set, is called by FromDaemon and FromSaveStream with each
	// wanted layer as soon as it is spooled and verified, in the order the
	// stream holds them, before the call returns: k is the layer's index
	// in want (a diff ID wanted twice is reported for each index). So a
	// caller can start reading a layer while the next ones are still being
	// read. The layer is valid until the Layers is closed, or, when the
	// call fails, until it returns. It runs on the reading goroutine: keep
	// it cheap. For an Archive, see [Archive.Layers].
	Ready func(k int, l flatten.Layer)
	// GzipProgram, if set, is a program that inflates gzip as `gzip -dc`
	// does, stdin to stdout, such as ISA-L's igzip (SIMD inflation, more
	// than twice as fast here as the built-in klauspost/compress
	// inflater). gzip layers and archives are then inflated by it, each
	// in a process of its own, instead of the built-in inflater. What
	// it inflates is verified all the same (the layer's diff ID). It
	// differs on one point: data after the last gzip member is ignored,
	// where the built-in inflater fails.
	GzipProgram string
	// Record makes FromDaemon and FromSaveStream keep each wanted layer,
	// and an Archive each compressed one, as its flatten.Recording (its
	// headers and the sha256 of each file), made as the layer streams by,
	// instead of spooling it: enough for flatten.Compare, which then needs
	// no disk. An Archive's uncompressed layers are read in place. A layer the stream does
	// not identify before it is read (a compressed blob, a legacy
	// layer.tar without ImageDiffIDs) is recorded to learn what it is.
	Record bool

	// spoolLimit, when > 0, makes spool writes fail with ENOSPC past that
	// many bytes in total. Tests and the fuzzer use it.
	spoolLimit int64
	// portable does without the calls only some platforms have, as the
	// reader does where they are missing: the spool is not limited by the
	// free space of its file system (statfs), and the pipes to
	// GzipProgram keep their default size (F_SETPIPE_SZ). Tests set it to
	// check those paths on linux.
	portable bool
}

// pipeSize is the size to ask for the pipes to and from GzipProgram; 0
// leaves them as they are.
func (o Options) pipeSize() int {
	if o.portable {
		return 0
	}
	return progPipeSize
}

// Progress reports reading progress.
type Progress struct {
	Entry  string        // tar entry being read, e.g. "blobs/sha256/…" or "<v1id>/layer.tar"
	DiffID digest.Digest // the wanted layer the entry is, when known before reading it
	Done   int64         // bytes of the entry read so far (compressed bytes for a compressed blob)
	Size   int64         // size of the entry in the archive; -1 while unknown (a whole archive being spooled), until the last report
	Layers int           // wanted layers in hand
	Wanted int           // wanted layers in all
}

// Client is the one Engine API method this package calls. The docker CLI's
// API client satisfies it.
type Client interface {
	ImageSave(ctx context.Context, images []string, opts ...client.ImageSaveOption) (io.ReadCloser, error)
}

// Layers holds spooled layers. The caller must Close it; Close removes the
// spool directory, after which the layers' readers fail.
type Layers struct {
	spool *spool
	list  []flatten.Layer
}

// List returns the layers in the order they were requested. A diff ID
// requested twice appears twice, sharing one reader.
func (l *Layers) List() []flatten.Layer {
	return l.list
}

// Close closes the spool files and removes the spool directory.
func (l *Layers) Close() error {
	if l == nil || l.spool == nil {
		return nil
	}
	return l.spool.Close()
}

// readAheadBuffers is how many copyBufSize buffers of the daemon's stream
// FromDaemon reads ahead.
const readAheadBuffers = 4

// FromDaemon calls ImageSave for images (one stream, which holds the layers
// they share once) and returns the layers whose diff IDs are in want, in
// the order of want, each verified against its diff ID.
// It stops reading and closes the save stream as soon as every wanted layer
// is in hand. saveOpts are passed to ImageSave (e.g.
// client.ImageSaveWithPlatforms, which makes a containerd-store daemon
// export one platform only).
//
// The caller must Close the returned Layers. On error nothing is left in
// opts.TmpDir.
func FromDaemon(ctx context.Context, c Client, images []string, want []digest.Digest, opts Options, saveOpts ...client.ImageSaveOption) (*Layers, error) {
	if err := validateWant(want); err != nil {
		return nil, err
	}
	if len(want) == 0 {
		return &Layers{}, nil
	}
	rc, err := c.ImageSave(ctx, images, saveOpts...)
	if err != nil {
		return nil, fmt.Errorf("saving image %s: %w", strings.Join(images, ", "), err)
	}
	// The socket is read on a goroutine of its own, a few MiB ahead of
	// the parsing, inflating and spooling, so that the daemon never waits
	// for them and they never wait for the daemon.
	ra, err := readahead.NewReaderSize(rc, readAheadBuffers, copyBufSize)
	if err != nil {
		_ = rc.Close()
		return nil, err
	}
	defer ra.Close() // second: its goroutine ends once its last read fails
	defer rc.Close() // first: ends a read in flight, whenever reading stops early
	return FromSaveStream(ctx, ra, want, opts)
}

// FromSaveStream reads a save stream (the output of `docker save` in any of
// the layouts Docker writes) and returns the layers whose diff IDs are in
// want, in the order of want, each verified against its diff ID. It stops
// reading as soon as every wanted layer is in hand; it does not close r.
//
// The caller must Close the returned Layers. On error nothing is left in
// opts.TmpDir.
func FromSaveStream(ctx context.Context, r io.Reader, want []digest.Digest, opts Options) (*Layers, error) {
	return fromSaveStream(ctx, r, want, opts)
}

func fromSaveStream(ctx context.Context, r io.Reader, want []digest.Digest, opts Options) (_ *Layers, retErr error) {
	if err := validateWant(want); err != nil {
		return nil, err
	}
	sp := newSpool(opts)
	defer func() {
		if retErr != nil {
			_ = sp.Close()
		}
	}()
	if len(want) == 0 {
		return &Layers{spool: sp}, nil
	}
	s := newStreamReader(ctx, r, want, sp, opts)
	if err := s.run(); err != nil {
		return nil, err
	}
	l := &Layers{spool: sp}
	for _, d := range want {
		l.list = append(l.list, s.got[d].layer(d))
	}
	return l, nil
}

func validateWant(want []digest.Digest) error {
	for _, d := range want {
		if err := validDigest(d); err != nil {
			return fmt.Errorf("wanted layer: %w", err)
		}
	}
	return nil
}
