package source

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/containerd/log"
	"github.com/docker-layers/docker-layers/extract"
	"github.com/docker-layers/docker-layers/flatten"
	"github.com/docker-layers/docker-layers/inspect"
	"github.com/docker/docker/api/types/system"
	"github.com/dustin/go-humanize"
	"github.com/google/go-containerregistry/pkg/authn"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Options configure how an image is read. The zero value is ready to use.
type Options struct {
	// Platform selects one platform of a multi-platform image; nil leaves
	// the choice to the daemon, or takes the running platform in an
	// archive or layout.
	Platform *ocispec.Platform
	// TmpDir is where layers are spooled; default os.TempDir().
	TmpDir string
	// GzipProgram inflates gzip layers; see extract.Options.GzipProgram.
	GzipProgram string
	// Progress, if set, reports the reading of layers; see
	// extract.Options.Progress.
	Progress func(extract.Progress)
	// Record keeps the layers that are not read in place as
	// flatten.Recordings, not spooled: see extract.Options.Record. Only
	// flatten.Compare and flatten.Changes can read such layers.
	Record bool
	// Keychain gives the credentials for a registry (docker:// images);
	// nil is anonymous access. The docker CLI's config file, with its
	// credential helpers, is the command's.
	Keychain authn.Keychain
}

func (o Options) extract() extract.Options {
	return extract.Options{Platform: o.Platform, TmpDir: o.TmpDir, GzipProgram: o.GzipProgram, Progress: o.Progress, Record: o.Record}
}

// Client holds the Engine API methods that reading an image from the
// daemon calls. The docker CLI's API client satisfies it.
type Client interface {
	inspect.Client
	extract.Client
	Info(ctx context.Context) (system.Info, error)
	NegotiateAPIVersion(ctx context.Context)
	ClientVersion() string
}

// Image is one image, of one platform, from one source.
type Image interface {
	// Ancestry returns the image's layers and history.
	Ancestry(ctx context.Context) (*inspect.Ancestry, error)
	// Config returns the image's config: its platform, what a container
	// of it starts with (Env, Cmd, Labels, Healthcheck…), its layers' diff
	// IDs, bottom first, and its history, oldest first; what compare
	// compares of two images. An archive's is its config as stored. The
	// daemon's is built from ImageInspect and Ancestry, as the Engine API
	// has no call that returns the config itself: its history has
	// whole-second Created times, no Author, and EmptyLayer as Ancestry
	// maps steps to layers (which may be inferred: see inspect.Step).
	Config(ctx context.Context) (*dockerspec.DockerOCIImage, error)
	// TagLookup resolves the references in layer specs ("myimg:base:"); nil
	// when only the image's own history can.
	TagLookup() inspect.TagLookup
	// Layers returns the layers whose diff IDs are in want, in the order of
	// want, each verified against its diff ID. They stay valid until
	// Close. ready, when not nil, gets each layer as soon as it can be
	// read, maybe before it is verified and from several goroutines:
	// nothing read from it may be trusted unless Layers then succeeds.
	Layers(ctx context.Context, want []digest.Digest, ready func(k int, l flatten.Layer)) ([]flatten.Layer, error)
	// Stored returns the image as its source stores it (blobs, manifest,
	// raw config), for squash. The daemon's image is read into the spool
	// first, from one ImageSave stream.
	Stored(ctx context.Context) (*extract.Archive, *extract.Image, error)
	// Close releases the spool and the files the image holds open.
	Close() error
}

// Open opens the image ref names. c is used only for the daemon, and may
// be nil otherwise. The caller must Close the image.
func Open(ctx context.Context, c Client, ref Reference, opts Options) (Image, error) {
	switch ref.Transport {
	case Daemon, "":
		if c == nil {
			return nil, errors.New("no Docker daemon to read the image from")
		}
		return &daemonImage{c: c, ref: ref.Name, opts: opts}, nil
	case DockerArchive, OCIArchive, OCILayout:
		return openArchive(ctx, ref, opts)
	case Registry:
		return openRegistry(ctx, ref, opts)
	}
	return nil, fmt.Errorf("unknown image source %q", ref.Transport)
}

// Selection is an opened image with its ancestry and the layers a user's
// specs selected, bottom first.
type Selection struct {
	Image
	Ref      Reference
	Ancestry *inspect.Ancestry
	Selected []int
}

// Select opens the image ref names, reads its ancestry and resolves the
// layer specs (all layers when there are none). The caller must Close the
// returned Selection, also on error when it is not nil.
func Select(ctx context.Context, c Client, ref Reference, specs []string, opts Options) (*Selection, error) {
	start := time.Now()
	img, err := Open(ctx, c, ref, opts)
	if err != nil {
		return nil, err
	}
	s := &Selection{Image: img, Ref: ref}
	if s.Ancestry, err = img.Ancestry(ctx); err != nil {
		return s, err
	}
	if s.Selected, err = s.Ancestry.Resolve(ctx, specs, img.TagLookup()); err != nil {
		return s, err
	}
	log.G(ctx).Debugf("selection: %s, %d of %d layers selected in %s", ref, len(s.Selected), len(s.Ancestry.Layers), time.Since(start).Round(time.Millisecond))
	return s, nil
}

// Layers is Image.Layers; it logs how long reading the layers took.
func (s *Selection) Layers(ctx context.Context, want []digest.Digest, ready func(k int, l flatten.Layer)) ([]flatten.Layer, error) {
	start := time.Now()
	ls, err := s.Image.Layers(ctx, want, ready)
	if err != nil {
		return nil, err
	}
	if l := log.G(ctx); l.Logger.IsLevelEnabled(log.DebugLevel) {
		var size int64
		for _, x := range ls {
			size += x.Size
		}
		took := time.Since(start)
		l.Debugf("reading layers: %d layers, %s, in %s (%s/s)", len(ls), humanize.Bytes(uint64(size)), took.Round(time.Millisecond), humanize.Bytes(uint64(float64(size)/max(took.Seconds(), 1e-3))))
	}
	return ls, nil
}

// lazyImage is an image whose layers are each fetched when asked for (a
// registry's), not read from one stream or file.
type lazyImage interface{ fetchesLayers() bool }

// Open returns the regular file at path in the merge of the selected
// layers, as flatten.Open finds it; File.Layer and DeletedError.Layer
// index Selected. A registry's layers are fetched from the top down, only
// as many as decide path (flatten.OpenTop); the other sources read them
// all, as one stream from the daemon or one archive costs no more.
func (s *Selection) Open(ctx context.Context, path string) (*flatten.File, error) {
	want := s.DiffIDs()
	if l, ok := s.Image.(lazyImage); ok && l.fetchesLayers() {
		get := func(from int) ([]flatten.Layer, error) { return s.Layers(ctx, want[from:], nil) }
		return flatten.OpenTop(ctx, len(want), get, path)
	}
	layers, err := s.Layers(ctx, want, nil)
	if err != nil {
		return nil, err
	}
	return flatten.Open(ctx, layers, path)
}

// DiffIDs returns the selected layers' diff IDs, bottom first.
func (s *Selection) DiffIDs() []digest.Digest {
	want := make([]digest.Digest, len(s.Selected))
	for i, idx := range s.Selected {
		want[i] = s.Ancestry.Layers[idx].DiffID
	}
	return want
}

// Range returns the selected layers as one range, bottom first, and an
// error when they are not one.
func (s *Selection) Range() (from, to int, err error) {
	if len(s.Selected) == 0 {
		return 0, 0, fmt.Errorf("image %s has no layers", s.Ancestry.Ref)
	}
	from, to = s.Selected[0], s.Selected[len(s.Selected)-1]
	if to-from+1 != len(s.Selected) {
		return 0, 0, fmt.Errorf("layers %v are not one range", s.Selected)
	}
	return from, to, nil
}

// Close closes the image; a nil Selection is fine.
func (s *Selection) Close() error {
	if s == nil {
		return nil
	}
	return s.Image.Close()
}

// unwrapPathError drops the *fs.PathError around err when its path is
// already in the message that wraps it.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
