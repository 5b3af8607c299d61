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
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/system"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/jsonmessage"
	"github.com/opencontainers/go-digest"
)

// Client holds the Engine API methods this package calls. The docker CLI's
// API client satisfies it.
type Client interface {
	ImageSave(ctx context.Context, images []string, opts ...client.ImageSaveOption) (io.ReadCloser, error)
	ImageLoad(ctx context.Context, input io.Reader, opts ...client.ImageLoadOption) (image.LoadResponse, error)
	Info(ctx context.Context) (system.Info, error)
}

// Image is the image to squash, as the daemon describes it.
type Image struct {
	// ID is the image ID, passed to ImageSave.
	ID string
	// DiffIDs are the image's layers, bottom first: they pick the image's
	// config (and manifest) out of the save stream.
	DiffIDs []digest.Digest
	// SaveOptions are passed to ImageSave, e.g.
	// client.ImageSaveWithPlatforms for one platform of a multi-platform
	// image on API >= 1.48. The config is found by its diff IDs either way.
	SaveOptions []client.ImageSaveOption
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
	// Created is the time of the collapsed history entry; default now.
	Created time.Time
	// Containerd says the archive is for a daemon with the containerd
	// image store: the squashed layer is gzip-compressed (that store keeps
	// layers as they are loaded), and the image ID is the manifest digest.
	Containerd bool
	// TmpDir is where the squashed range and the squashed layer are
	// spooled; default os.TempDir().
	TmpDir string
	// GzipProgram inflates the gzip layers of the squashed range; see
	// extract.Options.GzipProgram. "" is the built-in inflater.
	GzipProgram string
	// Progress, if set, reports the reading of the squashed range.
	Progress func(extract.Progress)
	// Copying, if set, reports the copying of kept layers (and of blobs
	// not known before they are read) into the output: Entry, DiffID when
	// known, Done and Size. It runs on the reading goroutine.
	Copying func(extract.Progress)
	// Warn, if set, receives warnings from flattening. It is called from
	// a goroutine of the flatten package's own, one call at a time, while
	// the save stream is still being read.
	Warn func(msg string)
}

// Result describes the new image.
type Result struct {
	// ID is the ID the target daemon gives the image: the manifest digest
	// on the containerd image store, else the config digest.
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
	// Unreferenced counts the entries passed through before they could be
	// told apart from squashed layers, left in the archive unreferenced.
	Unreferenced int
}

// ContainerdStore reports whether the daemon uses the containerd image
// store.
func ContainerdStore(ctx context.Context, c Client) (bool, error) {
	info, err := c.Info(ctx)
	if err != nil {
		return false, fmt.Errorf("reading daemon info: %w", err)
	}
	for _, kv := range info.DriverStatus {
		if kv[0] == "driver-type" && kv[1] == "io.containerd.snapshotter.v1" {
			return true, nil
		}
	}
	return false, nil
}

// Save calls ImageSave for img and writes the squashed image to w as a
// `docker load` archive. It does not close w.
func Save(ctx context.Context, c Client, img Image, w io.Writer, opts Options) (*Result, error) {
	rc, err := c.ImageSave(ctx, []string{img.ID}, img.SaveOptions...)
	if err != nil {
		return nil, fmt.Errorf("saving image %s: %w", img.ID, err)
	}
	defer rc.Close()
	return Write(ctx, w, rc, img, opts)
}

// Load calls ImageSave for img and streams the squashed image straight into
// the daemon with ImageLoad, through a pipe: nothing but the squashed range
// and the squashed layer is spooled. When anything fails, the load request
// is aborted, so the daemon loads nothing.
func Load(ctx context.Context, c Client, img Image, opts Options) (*Result, error) {
	rc, err := c.ImageSave(ctx, []string{img.ID}, img.SaveOptions...)
	if err != nil {
		return nil, fmt.Errorf("saving image %s: %w", img.ID, err)
	}
	defer rc.Close()

	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := load(ctx, c, pr)
		// Unblock the writer if the daemon stopped reading early.
		pr.CloseWithError(errLoadEnded(err))
		done <- err
	}()
	res, err := Write(ctx, pw, rc, img, opts)
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
