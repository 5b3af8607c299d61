package commands

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/containerd/platforms"
	"github.com/docker-layers/docker-layers/extract"
	"github.com/docker-layers/docker-layers/inspect"
	"github.com/docker/cli/cli/command/completion"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/system"
	"github.com/docker/docker/api/types/versions"
	"github.com/docker/docker/client"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// platformAPIVersion is the Engine API version from which ImageInspect,
// ImageHistory and ImageSave all take a platform (ImageHistory and
// ImageSave from 1.48, ImageInspect from 1.49).
const platformAPIVersion = "1.49"

const platformHelp = `Platform of a multi-platform image to use, as os/arch[/variant] (e.g. "linux/arm64")`

// platformValue is the --platform flag: parsed and normalized with
// containerd's platforms package, so that a bad value is a usage error.
type platformValue struct{ p **ocispec.Platform }

func (v platformValue) String() string {
	if *v.p == nil {
		return ""
	}
	return platforms.Format(**v.p)
}

func (v platformValue) Set(s string) error {
	p, err := parsePlatform(s)
	if err != nil {
		return err
	}
	*v.p = &p
	return nil
}

func (platformValue) Type() string { return "string" }

// parsePlatform parses os/arch[/variant] and normalizes it ("aarch64" is
// "arm64", "linux/arm64/v8" is "linux/arm64").
func parsePlatform(s string) (ocispec.Platform, error) {
	if strings.TrimSpace(s) == "" {
		return ocispec.Platform{}, errors.New("empty platform: want os/arch[/variant], e.g. linux/arm64")
	}
	p, err := platforms.Parse(s)
	if err != nil {
		return ocispec.Platform{}, fmt.Errorf("invalid platform %q: want os/arch[/variant], e.g. linux/arm64", s)
	}
	return platforms.Normalize(p), nil
}

// addPlatformFlag adds --platform to a command that reads an image through
// selectLayers: pass the value on as extract.Options.Platform. A nil
// platform (the default) leaves the choice to the daemon, or to the running
// platform for an --input archive.
func addPlatformFlag(cmd *cobra.Command, flags *pflag.FlagSet, p **ocispec.Platform) {
	flags.Var(platformValue{p}, "platform", platformHelp)
	_ = cmd.RegisterFlagCompletionFunc("platform", completion.Platforms)
}

// platformError is the one-line error for an image that lacks the platform
// asked for.
func platformError(ref string, want ocispec.Platform, avail []ocispec.Platform) error {
	var names []string
	for _, p := range avail {
		if n := formatPlatform(p); !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	switch len(names) {
	case 0:
		return fmt.Errorf("image %q has no %s, nor any other platform", ref, formatPlatform(want))
	case 1:
		return fmt.Errorf("image %q has no %s: its only platform is %s", ref, formatPlatform(want), names[0])
	}
	return fmt.Errorf("image %q has no %s: available platforms are %s", ref, formatPlatform(want), strings.Join(names, ", "))
}

func formatPlatform(p ocispec.Platform) string {
	if p.OS == "" && p.Architecture == "" {
		return "unknown"
	}
	return platforms.Format(platforms.Normalize(p))
}

// archivePlatformError turns an archive's *extract.PlatformError into
// platformError; other errors are returned as they are.
func archivePlatformError(a *extract.Archive, ref string, err error) error {
	var pe *extract.PlatformError
	if !errors.As(err, &pe) {
		return err
	}
	if ref == "" {
		ref = "in the archive"
		if imgs := a.Images(); len(imgs) == 1 {
			ref = imgs[0].String()
			if len(imgs[0].RepoTags) > 0 {
				ref = imgs[0].RepoTags[0]
			}
		}
	}
	return platformError(ref, pe.Want, pe.Available)
}

// platformClient holds the Engine API methods that reading one platform of
// an image calls. The docker CLI's API client satisfies it.
type platformClient interface {
	inspect.Client
	extract.Client
	Info(ctx context.Context) (system.Info, error)
	NegotiateAPIVersion(ctx context.Context)
	ClientVersion() string
}

// loadPlatform reads the ancestry of platform p of the image ref, and
// returns the ImageSave options that export its layers.
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
func loadPlatform(ctx context.Context, c platformClient, ref string, p ocispec.Platform) (*inspect.Ancestry, []client.ImageSaveOption, error) {
	c.NegotiateAPIVersion(ctx)
	matcher := platforms.OnlyStrict(p)
	if versions.GreaterThanOrEqualTo(c.ClientVersion(), platformAPIVersion) {
		img, err := c.ImageInspect(ctx, ref, client.ImageInspectWithManifests(true))
		if err != nil {
			return nil, nil, err
		}
		if len(img.Manifests) == 0 {
			// A single-platform image (graphdriver store).
			if own := imagePlatform(img); !matcher.Match(own) {
				return nil, nil, platformError(ref, p, []ocispec.Platform{own})
			}
			anc, err := inspect.Load(ctx, c, ref)
			return anc, nil, err
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
			return nil, nil, platformError(ref, p, avail)
		}
		anc, err := inspect.LoadPlatform(ctx, c, ref, p)
		if err != nil {
			return nil, nil, err
		}
		return anc, []client.ImageSaveOption{client.ImageSaveWithPlatforms(p)}, nil
	}

	img, err := c.ImageInspect(ctx, ref)
	if err != nil {
		return nil, nil, err
	}
	own := imagePlatform(img)
	if matcher.Match(own) {
		anc, err := inspect.Load(ctx, c, ref)
		return anc, nil, err
	}
	if cs, err := containerdStore(ctx, c); err != nil {
		return nil, nil, err
	} else if !cs {
		return nil, nil, platformError(ref, p, []ocispec.Platform{own})
	}
	rc, err := c.ImageSave(ctx, []string{img.ID})
	if err != nil {
		return nil, nil, fmt.Errorf("saving image %s: %w", ref, err)
	}
	defer rc.Close()
	a, err := extract.ReadMetadata(ctx, rc, extract.Options{Platform: &p})
	if err != nil {
		return nil, nil, fmt.Errorf("reading the platforms of image %s: %w", ref, err)
	}
	defer a.Close()
	x, err := a.Image("")
	if err != nil {
		var pe *extract.PlatformError
		if errors.As(err, &pe) {
			return nil, nil, platformError(ref, p, pe.Available)
		}
		return nil, nil, fmt.Errorf("reading the platforms of image %s: %w", ref, err)
	}
	anc, err := inspect.FromConfig(ref, img.ID, img.RepoTags, x.Config, nil)
	return anc, nil, err
}

// imagePlatform is the platform ImageInspect describes.
func imagePlatform(img image.InspectResponse) ocispec.Platform {
	return platforms.Normalize(ocispec.Platform{OS: img.Os, Architecture: img.Architecture, Variant: img.Variant, OSVersion: img.OsVersion})
}

// containerdStore reports whether the daemon uses the containerd image
// store, whose images may hold several platforms.
func containerdStore(ctx context.Context, c platformClient) (bool, error) {
	info, err := c.Info(ctx)
	if err != nil {
		return false, fmt.Errorf("asking the daemon for its image store: %w", err)
	}
	for _, kv := range info.DriverStatus {
		if len(kv) == 2 && kv[0] == "driver-type" && strings.HasPrefix(kv[1], "io.containerd.snapshotter") {
			return true, nil
		}
	}
	return false, nil
}

// platformTagLookup resolves tags in layer specs to the layers of their
// platform p.
func platformTagLookup(c platformClient, p ocispec.Platform) inspect.TagLookup {
	return func(ctx context.Context, ref string) ([]digest.Digest, error) {
		anc, _, err := loadPlatform(ctx, c, ref, p)
		if err != nil {
			return nil, err
		}
		return anc.DiffIDs(), nil
	}
}
