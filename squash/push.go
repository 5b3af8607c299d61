package squash

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/docker-layers/docker-layers/extract"
	"github.com/docker-layers/docker-layers/flatten"
	"github.com/docker-layers/docker-layers/registry"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Source is an image as Push reads it: its config, its layers to read (the
// squashed range, and the layers below it for their headers), and its kept
// layers' blobs as its source stores them. source.Selection.Pushable
// gives one for every source: a registry image hands out its manifest's
// layers, fetched only if they must be uploaded; the others their stored
// blobs.
type Source interface {
	// RawConfig is the image's config as stored.
	RawConfig() []byte
	// ManifestMediaType is the media type of the image's manifest.
	ManifestMediaType() string
	// Layers returns the layers whose diff IDs are in want, verified,
	// as source.Image.Layers does.
	Layers(ctx context.Context, want []digest.Digest, ready func(k int, l flatten.Layer)) ([]flatten.Layer, error)
	// Blob returns layer i (bottom first) as its source stores it: its
	// descriptor, the repository that has it if any, and its bytes.
	Blob(ctx context.Context, i int) (registry.Blob, error)
}

// Push pushes img with its layers From..To squashed into one to the
// registry tag ref (REGISTRY/REPO[:TAG], as registry.ParseTag reads it),
// with the credentials of opts.Keychain. The new image is made as Write
// makes it (the same squashed layer, config and manifest), with the
// squashed layer gzip-compressed. Of the blobs, only those the target
// repository has not got are uploaded: the kept layers are found there,
// or mounted from the repository they come from when it is on the same
// registry (opts.Present is told which), and uploaded from the source
// otherwise. Result.ID is the manifest digest, the image's name in the
// registry. opts.Tags are not used.
func Push(ctx context.Context, ref string, src Source, opts Options) (*Result, error) {
	var cfg ocispec.Image
	if err := json.Unmarshal(src.RawConfig(), &cfg); err != nil {
		return nil, fmt.Errorf("decoding image config: %w", err)
	}
	diffIDs := cfg.RootFS.DiffIDs
	n := len(diffIDs)
	if opts.From < 0 || opts.To < opts.From || opts.To >= n {
		return nil, fmt.Errorf("layers %d..%d are not in an image of %d layers", opts.From, opts.To, n)
	}
	docker := src.ManifestMediaType() == mediaTypeDockerManifest
	layer, err := squashLayer(ctx, src.Layers, diffIDs, opts, docker, true)
	if err != nil {
		return nil, err
	}
	defer layer.remove()

	mf := newManifest(docker)
	res := &Result{Layer: layer.diffID, LayerBlob: layer.desc.Digest, LayerSize: layer.desc.Size}
	var blobs []registry.Blob
	byDigest := map[digest.Digest]digest.Digest{} // the kept layers' diff IDs
	for i := range n {
		var b registry.Blob
		switch {
		case i < opts.From || i > opts.To:
			if b, err = src.Blob(ctx, i); err != nil {
				return nil, err
			}
			byDigest[b.Desc.Digest] = diffIDs[i]
			b.Open = reporting(ctx, b.Open, opts.Copying, extract.Progress{Entry: blobPath(b.Desc.Digest), DiffID: diffIDs[i], Size: b.Desc.Size})
			res.DiffIDs = append(res.DiffIDs, diffIDs[i])
		case i == opts.To:
			b = registry.Blob{Desc: layer.desc, Open: func() (io.ReadCloser, error) {
				return io.NopCloser(io.NewSectionReader(layer.f, 0, layer.desc.Size)), nil
			}}
			b.Open = reporting(ctx, b.Open, opts.Copying, extract.Progress{Entry: blobPath(b.Desc.Digest), DiffID: layer.diffID, Size: b.Desc.Size})
			res.DiffIDs = append(res.DiffIDs, layer.diffID)
		default:
			continue
		}
		mf.Layers = append(mf.Layers, b.Desc)
		blobs = append(blobs, b)
	}
	config, err := newConfig(src.RawConfig(), opts, layer.diffID)
	if err != nil {
		return nil, err
	}
	mf.Config = configDescriptor(config, docker)
	mb, err := json.Marshal(mf)
	if err != nil {
		return nil, err
	}

	popts := registry.PushOptions{Keychain: opts.Keychain}
	if opts.Present != nil {
		popts.Present = func(b registry.Blob, from string) {
			if d, ok := byDigest[b.Desc.Digest]; ok {
				opts.Present(d, from)
			}
		}
	}
	if res.Manifest, err = registry.Push(ctx, ref, registry.Image{Manifest: mb, Config: config, Layers: blobs}, popts); err != nil {
		return nil, err
	}
	res.ID, res.Config = res.Manifest, mf.Config.Digest
	return res, nil
}

// reporting wraps open so that the reading of what it opens is reported
// to report, if set, as p: about every MiB, and at the end.
func reporting(ctx context.Context, open func() (io.ReadCloser, error), report func(extract.Progress), p extract.Progress) func() (io.ReadCloser, error) {
	if report == nil || open == nil {
		return open
	}
	return func() (io.ReadCloser, error) {
		rc, err := open()
		if err != nil {
			return nil, err
		}
		report(p)
		return &reportingReader{progressReader: progressReader{r: rc, ctx: ctx, report: report, p: p}, c: rc}, nil
	}
}

// reportingReader is a progressReader that also reports the end of what
// it reads, and closes it.
type reportingReader struct {
	progressReader
	c io.Closer
}

func (r *reportingReader) Read(b []byte) (int, error) {
	n, err := r.progressReader.Read(b)
	if err == io.EOF {
		r.report(r.p)
	}
	return n, err
}

func (r *reportingReader) Close() error { return r.c.Close() }
