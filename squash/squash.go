package squash

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/docker-layers/docker-layers/extract"
	"github.com/docker-layers/docker-layers/flatten"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/jsonmessage"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/opencontainers/go-digest"
)

// Client is the Engine API method Load calls. The docker CLI's API client
// satisfies it.
type Client interface {
	ImageLoad(ctx context.Context, input io.Reader, opts ...client.ImageLoadOption) (image.LoadResponse, error)
}

// Options configure a squash. From and To are required; the zero value of
// every other field is ready to use.
type Options struct {
	// From and To are the first and the last layer to squash, bottom
	// first (0 is the base layer), inclusive.
	From, To int
	// Tags name the new image (in RepoTags of manifest.json and in the
	// annotations of index.json). With none, a loaded image is untagged.
	Tags []reference.NamedTagged
	// Comment is the comment of the collapsed history entry; by default
	// it says which layers were squashed.
	Comment string
	// CreatedBy is the created_by of the collapsed history entry; default
	// "docker-layers squash FROM..TO".
	CreatedBy string
	// Created is the time of the collapsed history entry; default
	// SourceDateEpoch, else now.
	Created time.Time
	// SourceDateEpoch, unless zero, makes the same squash give the same
	// image (SOURCE_DATE_EPOCH, reproducible-builds.org): the collapsed
	// history entry is created then, the config's created is clamped to
	// it (as buildkit does), and so are the modification times in the
	// squashed layer (flatten.Options.ClampMtime, as umoci does). The
	// kept layers and their history entries are kept as they are.
	SourceDateEpoch time.Time
	// Containerd says the archive is for a daemon with the containerd
	// image store: the squashed layer is gzip-compressed (that store keeps
	// layers as they are loaded), and the image ID is the manifest digest.
	Containerd bool
	// AllWhiteouts keeps every whiteout and opaque marker the range
	// produces, so that the squashed layer applies on any lower image as
	// the range does. By default the layers below the range, which the
	// image has, are read for their headers, and the squashed layer keeps
	// only the markers that hide something in them
	// (flatten.Indexer.FlattenOnto): the same file system on them, with
	// fewer markers.
	AllWhiteouts bool
	// TmpDir is where the squashed layer, and the index of a large range,
	// are spooled; default os.TempDir().
	TmpDir string
	// Copying, if set, reports the copying of kept layers into the output:
	// Entry, DiffID, Done and Size.
	Copying func(extract.Progress)
	// Flattening, if set, reports the writing of the squashed layer: see
	// flatten.Options.Progress.
	Flattening func(flatten.WriteProgress)
	// Present, if set, is told of each kept layer Push did not upload:
	// the target repository had it (from is ""), or mounted it from the
	// repository from (REGISTRY/REPO). It may be called from several
	// goroutines.
	Present func(diffID digest.Digest, from string)
	// Keychain gives Push the credentials for the target's registry; nil
	// is anonymous access.
	Keychain authn.Keychain
	// Warn, if set, receives warnings from flattening. It is called from
	// a goroutine of the flatten package's own, one call at a time.
	Warn func(msg string)
}

// Result describes the new image.
type Result struct {
	// ID is the ID the target daemon gives the image: the manifest digest
	// on the containerd image store, else the config digest. Of a pushed
	// image, the manifest digest.
	ID       digest.Digest
	Config   digest.Digest
	Manifest digest.Digest
	// Layer is the squashed layer: its diff ID, and its blob digest and
	// size in the archive (compressed for the containerd store).
	Layer     digest.Digest
	LayerBlob digest.Digest
	LayerSize int64
	// DiffIDs are the new image's layers, bottom first.
	DiffIDs []digest.Digest
}

// Load streams the squashed image straight into the daemon with
// ImageLoad, through a pipe: nothing but the squashed layer is spooled.
// When anything fails, the load request is aborted, so the daemon loads
// nothing.
func Load(ctx context.Context, c Client, a *extract.Archive, img *extract.Image, opts Options) (*Result, error) {
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := load(ctx, c, pr)
		// Unblock the writer if the daemon stopped reading early.
		pr.CloseWithError(errLoadEnded(err))
		done <- err
	}()
	res, err := Write(ctx, pw, a, img, opts)
	pw.CloseWithError(err) // nil: the daemon sees the end of the archive
	lerr := <-done
	if lerr != nil && (err == nil || errors.Is(err, lerr) || errors.Is(err, io.ErrClosedPipe)) {
		return nil, fmt.Errorf("loading the squashed image: %w", lerr)
	}
	if err != nil {
		return nil, err
	}
	return res, nil
}

func errLoadEnded(err error) error {
	if err != nil {
		return err
	}
	return errors.New("the daemon ended the load before the archive did")
}

// load runs ImageLoad on r and reads its response, returning the error the
// daemon reported, if any.
func load(ctx context.Context, c Client, r io.Reader) error {
	resp, err := c.ImageLoad(ctx, r, client.ImageLoadWithQuiet(true))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if !resp.JSON {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return fmt.Errorf("unexpected response: %s", strings.TrimSpace(string(b)))
	}
	dec := json.NewDecoder(resp.Body)
	for {
		var m jsonmessage.JSONMessage
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("reading the daemon's response: %w", err)
		}
		if m.Error != nil {
			return errors.New(m.Error.Message)
		}
	}
}
