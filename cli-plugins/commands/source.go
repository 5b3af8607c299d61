package commands

import (
	"context"
	"os"

	"github.com/docker-layers/docker-layers/extract"
	"github.com/docker-layers/docker-layers/flatten"
	"github.com/docker-layers/docker-layers/inspect"
	"github.com/docker/cli/cli/command"
	"github.com/docker/docker/client"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// source is where an image's ancestry and layers come from: the daemon, or
// a saved archive (--input) with no daemon at all.
type source interface {
	// ancestry returns the image's layers and history.
	ancestry(ctx context.Context) (*inspect.Ancestry, error)
	// tagLookup resolves references in layer specs; nil when only the
	// image's own history can.
	tagLookup() inspect.TagLookup
	// layers returns the wanted layers, verified against their diff IDs, in
	// the order of want. They stay valid until close. opts.Ready, when set,
	// gets each layer as soon as it can be read, maybe before it is
	// verified (see extract.Archive.LayersReady).
	layers(ctx context.Context, want []digest.Digest, opts extract.Options) ([]flatten.Layer, error)
	close() error
}

// openSource opens the archive named by input ("-" is stdin), or the daemon
// when input is empty. ref names the image; with an archive it may be empty
// when the archive holds one image. opts.Platform, when set (--platform),
// selects that platform of a multi-platform image, in the daemon as in an
// archive.
func openSource(ctx context.Context, dockerCLI command.Cli, input, ref string, opts extract.Options) (source, error) {
	if input == "" {
		return &daemonSource{cli: dockerCLI, ref: ref, platform: opts.Platform}, nil
	}
	var (
		a   *extract.Archive
		err error
	)
	if input == "-" {
		a, err = extract.ReadArchive(ctx, os.Stdin, opts)
	} else {
		a, err = extract.OpenArchive(ctx, input, opts)
	}
	if err != nil {
		return nil, err
	}
	img, err := a.Image(ref)
	if err != nil {
		err = archivePlatformError(a, ref, err)
		_ = a.Close()
		return nil, err
	}
	return &archiveSource{archive: a, img: img, ref: ref}, nil
}

// selection is an opened source with an image's ancestry and the layers
// the user's specs selected.
type selection struct {
	src      source
	anc      *inspect.Ancestry
	selected []int
}

// selectLayers opens the source, reads the image's ancestry and resolves
// specs. The caller must call close on the returned selection, also on
// error when it is not nil.
func selectLayers(ctx context.Context, dockerCLI command.Cli, input, ref string, specs []string, opts extract.Options) (*selection, error) {
	src, err := openSource(ctx, dockerCLI, input, ref, opts)
	if err != nil {
		return nil, err
	}
	s := &selection{src: src}
	if s.anc, err = src.ancestry(ctx); err != nil {
		return s, err
	}
	s.selected, err = s.anc.Resolve(ctx, specs, src.tagLookup())
	return s, err
}

// diffIDs returns the selected layers' diff IDs, bottom first.
func (s *selection) diffIDs() []digest.Digest {
	want := make([]digest.Digest, len(s.selected))
	for i, idx := range s.selected {
		want[i] = s.anc.Layers[idx].DiffID
	}
	return want
}

// close closes the source; it keeps the first error of the caller's.
func (s *selection) close(retErr *error) {
	if s == nil {
		return
	}
	if err := s.src.close(); err != nil && *retErr == nil {
		*retErr = err
	}
}

type daemonSource struct {
	cli      command.Cli
	ref      string
	platform *ocispec.Platform        // --platform; nil: the daemon's choice
	saveOpts []client.ImageSaveOption // what ImageSave needs for the platform
	anc      *inspect.Ancestry
	loaded   *extract.Layers
}

func (s *daemonSource) ancestry(ctx context.Context) (*inspect.Ancestry, error) {
	var err error
	if s.anc == nil && s.platform != nil {
		s.anc, s.saveOpts, err = loadPlatform(ctx, s.cli.Client(), s.ref, *s.platform)
	} else if s.anc == nil {
		s.anc, err = inspect.Load(ctx, s.cli.Client(), s.ref)
	}
	return s.anc, err
}

func (s *daemonSource) tagLookup() inspect.TagLookup {
	if s.platform != nil {
		return platformTagLookup(s.cli.Client(), *s.platform)
	}
	return daemonTagLookup(s.cli.Client())
}

func (s *daemonSource) layers(ctx context.Context, want []digest.Digest, opts extract.Options) ([]flatten.Layer, error) {
	var err error
	for _, l := range s.anc.Layers {
		opts.ImageDiffIDs = append(opts.ImageDiffIDs, l.DiffID)
	}
	s.loaded, err = extract.FromDaemon(ctx, s.cli.Client(), s.anc.ID, want, opts, s.saveOpts...)
	if err != nil {
		return nil, err
	}
	return flattenLayers(s.loaded.List()), nil
}

func (s *daemonSource) close() error { return s.loaded.Close() }

type archiveSource struct {
	archive *extract.Archive
	img     *extract.Image
	ref     string
}

func (s *archiveSource) ancestry(context.Context) (*inspect.Ancestry, error) {
	ref := s.ref
	if ref == "" && len(s.img.RepoTags) > 0 {
		ref = s.img.RepoTags[0]
	}
	id := s.img.ID.String()
	if s.img.Index != "" {
		id = s.img.Index.String()
	}
	return inspect.FromConfig(ref, id, s.img.RepoTags, s.img.Config, nil)
}

func (s *archiveSource) tagLookup() inspect.TagLookup { return nil }

func (s *archiveSource) layers(ctx context.Context, want []digest.Digest, opts extract.Options) ([]flatten.Layer, error) {
	ls, err := s.archive.LayersReady(ctx, s.img, want, opts.Ready)
	if err != nil {
		return nil, err
	}
	return flattenLayers(ls), nil
}

func (s *archiveSource) close() error { return s.archive.Close() }

func flattenLayers(ls []extract.Layer) []flatten.Layer {
	out := make([]flatten.Layer, len(ls))
	for i, l := range ls {
		out[i] = flattenLayer(l)
	}
	return out
}

func flattenLayer(l extract.Layer) flatten.Layer {
	return flatten.Layer{ID: l.DiffID.String(), R: l.R, Size: l.Size}
}
