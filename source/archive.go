package source

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/docker-layers/docker-layers/extract"
	"github.com/docker-layers/docker-layers/flatten"
	"github.com/docker-layers/docker-layers/inspect"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
)

// archiveImage is an image of a docker save archive, an OCI archive or an
// OCI layout: all three are read by extract.Archive.
type archiveImage struct {
	archive *extract.Archive
	img     *extract.Image
	ref     string // how the user named the image, or its first name
}

func openArchive(ctx context.Context, ref Reference, opts Options) (_ *archiveImage, retErr error) {
	var (
		a   *extract.Archive
		err error
	)
	switch {
	case ref.Transport == OCILayout:
		a, err = extract.OpenLayout(ctx, ref.Path, opts.extract())
	case ref.Path == "-":
		a, err = extract.ReadArchive(ctx, os.Stdin, opts.extract())
	default:
		a, err = extract.OpenArchive(ctx, ref.Path, opts.extract())
	}
	if err != nil {
		return nil, err
	}
	defer func() {
		if retErr != nil {
			_ = a.Close()
		}
	}()
	img, err := a.Image(ref.Name)
	if err != nil {
		return nil, err
	}
	name := ref.Name
	if name == "" {
		name = firstName(img)
	}
	return &archiveImage{archive: a, img: img, ref: name}, nil
}

func (s *archiveImage) Ancestry(context.Context) (*inspect.Ancestry, error) {
	id := s.img.ID.String()
	if s.img.Index != "" {
		id = s.img.Index.String()
	}
	return inspect.FromConfig(s.ref, id, s.img.RepoTags, s.img.Config, nil)
}

func (s *archiveImage) TagLookup() inspect.TagLookup { return nil }

// Config parses the config as the archive stores it.
func (s *archiveImage) Config(context.Context) (*dockerspec.DockerOCIImage, error) {
	return parseConfig(s.img.RawConfig, s.ref)
}

func (s *archiveImage) Layers(ctx context.Context, want []digest.Digest, ready func(k int, l flatten.Layer)) ([]flatten.Layer, error) {
	return s.archive.Layers(ctx, s.img, want, ready)
}

func (s *archiveImage) Stored(context.Context) (*extract.Archive, *extract.Image, error) {
	return s.archive, s.img, nil
}

func (s *archiveImage) Close() error { return s.archive.Close() }

// firstName is how an image of an archive is shown when the user did not
// name it: its first tag or name, else its ID.
func firstName(img *extract.Image) string {
	if names := slices.Concat(img.RepoTags, img.Names); len(names) > 0 {
		return names[0]
	}
	return img.ID.String()
}

// parseConfig parses the stored config raw of the image ref.
func parseConfig(raw []byte, ref string) (*dockerspec.DockerOCIImage, error) {
	var cfg dockerspec.DockerOCIImage
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("reading the config of image %s: %w", ref, err)
	}
	return &cfg, nil
}

// withRef names the image in a PlatformError, which then is the whole
// message; other errors are returned as they are.
func withRef(err error, ref string) error {
	var pe *extract.PlatformError
	if !errors.As(err, &pe) {
		return err
	}
	named := *pe
	named.Ref = ref
	return &named
}
