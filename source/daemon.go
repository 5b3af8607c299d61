package source

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/containerd/log"
	"github.com/containerd/platforms"
	"github.com/docker-layers/docker-layers/extract"
	"github.com/docker-layers/docker-layers/flatten"
	"github.com/docker-layers/docker-layers/inspect"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/system"
	"github.com/docker/docker/api/types/versions"
	"github.com/docker/docker/client"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// platformAPIVersion is the Engine API version from which ImageInspect,
// ImageHistory and ImageSave all take a platform (ImageHistory and
// ImageSave from 1.48, ImageInspect from 1.49).
const platformAPIVersion = "1.49"

// daemonImage is an image of the Docker Engine.
type daemonImage struct {
	c           Client
	ref         string
	opts        Options
	saveOpts    []client.ImageSaveOption    // what ImageSave needs for the platform
	inspectOpts []client.ImageInspectOption // what ImageInspect needs for it
	rawConfig   []byte                      // the platform's config, when read from the save stream
	anc         *inspect.Ancestry
	loaded      []*extract.Layers // every call's, valid until Close
	stored      *extract.Archive
}

func (d *daemonImage) Ancestry(ctx context.Context) (*inspect.Ancestry, error) {
	if d.anc != nil {
		return d.anc, nil
	}
	if d.opts.Platform == nil {
		var err error
		if d.anc, err = inspect.Load(ctx, d.c, d.ref); err != nil {
			return nil, err
		}
	} else {
		pi, err := loadPlatform(ctx, d.c, d.ref, *d.opts.Platform)
		if err != nil {
			return nil, err
		}
		d.anc, d.saveOpts, d.inspectOpts, d.rawConfig = pi.anc, pi.saveOpts, pi.inspectOpts, pi.rawConfig
	}
	// The client negotiated the version on its first request.
	log.G(ctx).Debugf("daemon: Engine API version %s; image %s has %d layers", d.c.ClientVersion(), d.anc.ID, len(d.anc.Layers))
	return d.anc, nil
}

// Config takes the config from ImageInspect, for the same platform as the
// ancestry, and the layers and history from the ancestry, so that both
// describe one image. When the daemon could not describe the platform,
// loadPlatform kept its config from the save stream, and that is returned
// as stored.
func (d *daemonImage) Config(ctx context.Context) (*dockerspec.DockerOCIImage, error) {
	anc, err := d.Ancestry(ctx)
	if err != nil {
		return nil, err
	}
	if d.rawConfig != nil {
		return parseConfig(d.rawConfig, d.ref)
	}
	img, err := d.c.ImageInspect(ctx, anc.ID, d.inspectOpts...)
	if err != nil {
		return nil, err
	}
	cfg := &dockerspec.DockerOCIImage{Image: ocispec.Image{
		Author:   img.Author,
		Platform: ocispec.Platform{OS: img.Os, Architecture: img.Architecture, Variant: img.Variant, OSVersion: img.OsVersion},
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: anc.DiffIDs()},
	}}
	if img.Created != "" {
		created, err := time.Parse(time.RFC3339Nano, img.Created)
		if err != nil {
			return nil, fmt.Errorf("image %s has an invalid creation time %q", d.ref, img.Created)
		}
		cfg.Created = &created
	}
	if img.Config != nil {
		cfg.Config = *img.Config
	}
	for _, s := range anc.Steps {
		h := ocispec.History{CreatedBy: s.CreatedBy, Comment: s.Comment, EmptyLayer: s.Layer < 0}
		if s.Created.Unix() != 0 { // the Engine API's 0 is no time
			created := s.Created.UTC()
			h.Created = &created
		}
		cfg.History = append(cfg.History, h)
	}
	return cfg, nil
}

func (d *daemonImage) TagLookup() inspect.TagLookup {
	if p := d.opts.Platform; p != nil {
		return func(ctx context.Context, ref string) ([]digest.Digest, error) {
			pi, err := loadPlatform(ctx, d.c, ref, *p)
			if err != nil {
				return nil, err
			}
			return pi.anc.DiffIDs(), nil
		}
	}
	return func(ctx context.Context, ref string) ([]digest.Digest, error) {
		img, err := d.c.ImageInspect(ctx, ref)
		if err != nil {
			return nil, err
		}
		ids := make([]digest.Digest, 0, len(img.RootFS.Layers))
		for _, l := range img.RootFS.Layers {
			id, err := digest.Parse(l)
			if err != nil {
				return nil, fmt.Errorf("image %s has an invalid diff ID %q", ref, l)
			}
			ids = append(ids, id)
		}
		return ids, nil
	}
}

func (d *daemonImage) Layers(ctx context.Context, want []digest.Digest, ready func(k int, l flatten.Layer)) ([]flatten.Layer, error) {
	anc, err := d.Ancestry(ctx)
	if err != nil {
		return nil, err
	}
	xopts := d.opts.extract()
	// With the image's diff IDs, a layer that is not wanted is passed over
	// in the stream rather than spooled and hashed to learn what it is.
	xopts.ImageDiffIDs = [][]digest.Digest{anc.DiffIDs()}
	xopts.Ready = ready
	ls, err := extract.FromDaemon(ctx, d.c, []string{anc.ID}, want, xopts, d.saveOpts...)
	if err != nil {
		return nil, err
	}
	d.loaded = append(d.loaded, ls)
	return ls.List(), nil
}

func (d *daemonImage) Stored(ctx context.Context) (*extract.Archive, *extract.Image, error) {
	anc, err := d.Ancestry(ctx)
	if err != nil {
		return nil, nil, err
	}
	if d.stored == nil {
		// The save stream may hold every platform of the image: pick the
		// one the ancestry describes, which is the daemon's choice when
		// --platform is not given, not this machine's.
		xopts := d.opts.extract()
		if xopts.Platform == nil {
			img, err := d.c.ImageInspect(ctx, anc.ID)
			if err != nil {
				return nil, nil, err
			}
			p := imagePlatform(img)
			xopts.Platform = &p
		}
		rc, err := d.c.ImageSave(ctx, []string{anc.ID}, d.saveOpts...)
		if err != nil {
			return nil, nil, fmt.Errorf("saving image %s: %w", d.ref, err)
		}
		defer rc.Close()
		if d.stored, err = extract.ReadArchive(ctx, rc, xopts); err != nil {
			return nil, nil, err
		}
	}
	img, err := d.stored.Image("")
	if err != nil {
		return nil, nil, withRef(err, d.ref)
	}
	if !slices.Equal(img.Config.RootFS.DiffIDs, anc.DiffIDs()) {
		return nil, nil, fmt.Errorf("the saved image %s has other layers than the daemon described", d.ref)
	}
	return d.stored, img, nil
}

func (d *daemonImage) Close() error {
	var err error
	for _, ls := range d.loaded {
		err = errors.Join(err, ls.Close())
	}
	if d.stored != nil {
		err = errors.Join(err, d.stored.Close())
	}
	return err
}

// platformImage is what loadPlatform learns of one platform of an image.
type platformImage struct {
	anc *inspect.Ancestry
	// saveOpts are the ImageSave options that export its layers,
	// inspectOpts the ImageInspect options that describe it.
	saveOpts    []client.ImageSaveOption
	inspectOpts []client.ImageInspectOption
	// rawConfig is its config as stored, when the daemon cannot describe
	// the platform and the ancestry came from the image's save stream.
	rawConfig []byte
}

// loadPlatform reads the ancestry of platform p of the image ref, and the
// options that make ImageSave and ImageInspect read that platform.
//
// From API 1.49 the daemon does the work: ImageInspect (with its manifest
// list, to name the platforms the image has), ImageHistory and ImageSave
// take the platform. Before, the daemon answers ImageInspect and
// ImageHistory for one platform only: the host's, with the containerd image
// store. When that is not p, the image's own save stream tells what it
// holds: its index, manifests and configs (no layer is kept), p's config
// giving the ancestry; its layers then come from the save stream of the
// whole image, where their diff IDs identify them. An image of the
// graphdriver store has one platform, and ImageInspect names it.
func loadPlatform(ctx context.Context, c Client, ref string, p ocispec.Platform) (*platformImage, error) {
	c.NegotiateAPIVersion(ctx)
	matcher := platforms.OnlyStrict(p)
	if versions.GreaterThanOrEqualTo(c.ClientVersion(), platformAPIVersion) {
		log.G(ctx).Debugf("daemon: Engine API %s ≥ %s: the daemon selects platform %s", c.ClientVersion(), platformAPIVersion, platforms.Format(p))
		img, err := c.ImageInspect(ctx, ref, client.ImageInspectWithManifests(true))
		if err != nil {
			return nil, err
		}
		if len(img.Manifests) == 0 {
			// A single-platform image (graphdriver store).
			if own := imagePlatform(img); !matcher.Match(own) {
				return nil, &extract.PlatformError{Ref: ref, Want: p, Available: []ocispec.Platform{own}}
			}
			return loadHost(ctx, c, ref)
		}
		var avail []ocispec.Platform
		found := false
		for _, m := range img.Manifests {
			if m.Kind != image.ManifestKindImage || !m.Available || m.ImageData == nil {
				continue
			}
			avail = append(avail, m.ImageData.Platform)
			found = found || matcher.Match(platforms.Normalize(m.ImageData.Platform))
		}
		if !found {
			return nil, &extract.PlatformError{Ref: ref, Want: p, Available: avail}
		}
		// By the image's own ID, not the platform's (see LoadPlatform).
		anc, err := inspect.LoadPlatformID(ctx, c, ref, img.ID, p)
		if err != nil {
			return nil, err
		}
		return &platformImage{
			anc:         anc,
			saveOpts:    []client.ImageSaveOption{client.ImageSaveWithPlatforms(p)},
			inspectOpts: []client.ImageInspectOption{client.ImageInspectWithPlatform(&p)},
		}, nil
	}

	img, err := c.ImageInspect(ctx, ref)
	if err != nil {
		return nil, err
	}
	own := imagePlatform(img)
	if matcher.Match(own) {
		return loadHost(ctx, c, ref)
	}
	log.G(ctx).Debugf("daemon: Engine API %s < %s describes platform %s only: reading %s's platforms from its save stream", c.ClientVersion(), platformAPIVersion, platforms.Format(own), ref)
	if cs, err := ContainerdStore(ctx, c); err != nil {
		return nil, err
	} else if !cs {
		return nil, &extract.PlatformError{Ref: ref, Want: p, Available: []ocispec.Platform{own}}
	}
	rc, err := c.ImageSave(ctx, []string{img.ID})
	if err != nil {
		return nil, fmt.Errorf("saving image %s: %w", ref, err)
	}
	defer rc.Close()
	a, err := extract.ReadMetadata(ctx, rc, extract.Options{Platform: &p})
	if err != nil {
		return nil, fmt.Errorf("reading the platforms of image %s: %w", ref, err)
	}
	defer a.Close()
	x, err := a.Image("")
	if err != nil {
		var pe *extract.PlatformError
		if errors.As(err, &pe) {
			return nil, &extract.PlatformError{Ref: ref, Want: p, Available: pe.Available}
		}
		return nil, fmt.Errorf("reading the platforms of image %s: %w", ref, err)
	}
	anc, err := inspect.FromConfig(ref, img.ID, img.RepoTags, x.Config, nil)
	if err != nil {
		return nil, err
	}
	return &platformImage{anc: anc, rawConfig: x.RawConfig}, nil
}

// loadHost is loadPlatform for the one platform the daemon describes
// without options.
func loadHost(ctx context.Context, c Client, ref string) (*platformImage, error) {
	anc, err := inspect.Load(ctx, c, ref)
	if err != nil {
		return nil, err
	}
	return &platformImage{anc: anc}, nil
}

// imagePlatform is the platform ImageInspect describes.
func imagePlatform(img image.InspectResponse) ocispec.Platform {
	return platforms.Normalize(ocispec.Platform{OS: img.Os, Architecture: img.Architecture, Variant: img.Variant, OSVersion: img.OsVersion})
}

// InfoClient is the Engine API method ContainerdStore calls.
type InfoClient interface {
	Info(ctx context.Context) (system.Info, error)
}

// ContainerdStore reports whether the daemon uses the containerd image
// store, whose images may hold several platforms and whose image IDs are
// manifest or index digests.
func ContainerdStore(ctx context.Context, c InfoClient) (bool, error) {
	info, err := c.Info(ctx)
	if err != nil {
		return false, fmt.Errorf("asking the daemon for its image store: %w", err)
	}
	for _, kv := range info.DriverStatus {
		if len(kv) == 2 && kv[0] == "driver-type" && strings.HasPrefix(kv[1], "io.containerd.snapshotter") {
			log.G(ctx).Debugf("daemon: containerd image store (%s)", info.Driver)
			return true, nil
		}
	}
	log.G(ctx).Debugf("daemon: graphdriver image store (%s)", info.Driver)
	return false, nil
}
