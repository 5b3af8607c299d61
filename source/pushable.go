package source

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"

	"github.com/docker-layers/docker-layers/extract"
	"github.com/docker-layers/docker-layers/flatten"
	"github.com/docker-layers/docker-layers/registry"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Pushable is an image as a push of an image made from it reads it
// (squash.Source): its config, its layers, and its layers' blobs as its
// source stores them. It stays valid until the Selection is closed.
type Pushable struct {
	rawConfig []byte
	mediaType string
	layers    func(ctx context.Context, want []digest.Digest, ready func(k int, l flatten.Layer)) ([]flatten.Layer, error)
	blob      func(ctx context.Context, i int) (registry.Blob, error)
}

// Pushable returns the image for a push. A registry image fetches nothing
// more here: its manifest gives the kept layers' descriptors, and a blob
// is fetched only when the push must upload it (the target repository has
// not got it and cannot mount it from the image's repository). The other
// sources give their stored blobs (Stored: the daemon's image is read into
// the spool first).
func (s *Selection) Pushable(ctx context.Context) (*Pushable, error) {
	if r, ok := s.Image.(*registryImage); ok {
		return &Pushable{rawConfig: r.rawConfig, mediaType: manifestMediaType(r.rawMan), layers: s.Layers, blob: r.blob}, nil
	}
	a, img, err := s.Stored(ctx)
	if err != nil {
		return nil, err
	}
	return &Pushable{
		rawConfig: img.RawConfig,
		mediaType: img.ManifestMediaType,
		layers: func(ctx context.Context, want []digest.Digest, ready func(k int, l flatten.Layer)) ([]flatten.Layer, error) {
			return a.Layers(ctx, img, want, ready)
		},
		blob: func(ctx context.Context, i int) (registry.Blob, error) { return storedBlob(ctx, a, img, i) },
	}, nil
}

// RawConfig is the image's config as stored.
func (p *Pushable) RawConfig() []byte { return p.rawConfig }

// ManifestMediaType is the media type of the image's manifest.
func (p *Pushable) ManifestMediaType() string { return p.mediaType }

// Layers is Image.Layers.
func (p *Pushable) Layers(ctx context.Context, want []digest.Digest, ready func(k int, l flatten.Layer)) ([]flatten.Layer, error) {
	return p.layers(ctx, want, ready)
}

// Blob returns layer i (bottom first) as the source stores it.
func (p *Pushable) Blob(ctx context.Context, i int) (registry.Blob, error) { return p.blob(ctx, i) }

// blob is layer i of a registry image: its manifest's descriptor, its
// repository to mount it from, and a fetch of it when it must be uploaded.
func (s *registryImage) blob(ctx context.Context, i int) (registry.Blob, error) {
	if i < 0 || i >= len(s.layers) {
		return registry.Blob{}, fmt.Errorf("image %s has no layer %d", s.shown, i)
	}
	l := s.layers[i]
	desc := ocispec.Descriptor{MediaType: string(l.MediaType), Digest: digest.Digest(l.Digest.String()), Size: l.Size, Annotations: l.Annotations}
	return registry.Blob{
		Desc: desc,
		From: s.ref.Context().Name(),
		Open: func() (io.ReadCloser, error) {
			return &blobReadCloser{blobReader{ctx: ctx, s: s, d: desc.Digest, size: desc.Size}}, nil
		},
	}, nil
}

type blobReadCloser struct{ blobReader }

func (r *blobReadCloser) Close() error {
	r.close()
	return nil
}

// storedBlob is layer i of an archive's image as the archive stores it.
func storedBlob(ctx context.Context, a *extract.Archive, img *extract.Image, i int) (registry.Blob, error) {
	desc, sr, err := a.StoredLayer(img, i)
	if err != nil {
		return registry.Blob{}, err
	}
	if desc.Digest == "" {
		// A compressed layer that only manifest.json lists: no digest
		// names its blob. What it holds is checked against its diff ID
		// first, since the digest computed here checks nothing.
		diffID := img.Config.RootFS.DiffIDs[i]
		if _, err := a.Layers(ctx, img, []digest.Digest{diffID}, nil); err != nil {
			return registry.Blob{}, err
		}
		h := sha256.New()
		if _, err := io.Copy(h, io.NewSectionReader(sr, 0, sr.Size())); err != nil {
			return registry.Blob{}, fmt.Errorf("reading layer %s: %w", diffID, err)
		}
		desc.Digest = digest.NewDigest(digest.SHA256, h)
	}
	return registry.Blob{Desc: desc, Open: func() (io.ReadCloser, error) {
		return io.NopCloser(io.NewSectionReader(sr, 0, sr.Size())), nil
	}}, nil
}
