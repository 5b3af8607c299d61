package extract

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/containerd/platforms"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

const (
	mediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	mediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"

	// annotationImageName is the whole reference of an image that Docker
	// and containerd write in index.json, beside the OCI ref name.
	annotationImageName = "io.containerd.image.name"

	// annotationReferenceType marks BuildKit's attestation manifests in an
	// image index; they are never images.
	annotationReferenceType = "vnd.docker.reference.type"
	attestationManifest     = "attestation-manifest"

	// maxIndexDepth bounds nested indexes.
	maxIndexDepth = 4
)

func isIndexType(mt string) bool {
	return mt == ocispec.MediaTypeImageIndex || mt == mediaTypeDockerManifestList
}

func isManifestType(mt string) bool {
	return mt == ocispec.MediaTypeImageManifest || mt == mediaTypeDockerManifest
}

// ociDoc is the union of an index and a manifest, to tell them apart by
// content when a descriptor carries no media type.
type ociDoc struct {
	MediaType string               `json:"mediaType"`
	Manifests []ocispec.Descriptor `json:"manifests"`
	Config    *ocispec.Descriptor  `json:"config"`
	Layers    []ocispec.Descriptor `json:"layers"`
}

func (d ociDoc) isIndex() bool {
	if d.MediaType != "" {
		return isIndexType(d.MediaType)
	}
	return d.Config == nil && d.Manifests != nil
}

// matcher is the platform matcher of Options.Platform: exact (as `docker
// save --platform` is) when set, the running platform and its compatible
// ones otherwise.
func (a *Archive) matcher() platforms.MatchComparer {
	if a.opts.Platform != nil {
		return platforms.OnlyStrict(*a.opts.Platform)
	}
	return platforms.Default()
}

func configPlatform(cfg ocispec.Image) ocispec.Platform {
	return platforms.Normalize(ocispec.Platform{
		OS:           cfg.OS,
		Architecture: cfg.Architecture,
		Variant:      cfg.Variant,
		OSVersion:    cfg.OSVersion,
	})
}

// formatPlatform is how a platform is shown: os/arch[/variant],
// normalized ("linux/arm64", not "linux/aarch64" or "linux/arm64/v8").
func formatPlatform(p ocispec.Platform) string {
	if p.OS == "" && p.Architecture == "" {
		return "unknown"
	}
	return platforms.Format(platforms.Normalize(p))
}

// resolveTop resolves one descriptor of index.json to an image: a
// manifest, or an index in which the platform is selected.
func (a *Archive) resolveTop(desc ocispec.Descriptor) *archiveImage {
	ai := &archiveImage{configs: make(map[digest.Digest]bool)}
	if !a.hasBlob(desc.Digest) {
		ai.err = errorf(ErrNotExist, "manifest %s is not in the %s", desc.Digest, a.what())
		ai.ref.Manifest = desc.Digest
		return ai
	}
	b, err := a.readBlob(desc.Digest)
	if err != nil {
		ai.err = err
		ai.ref.Manifest = desc.Digest
		return ai
	}
	var doc ociDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		ai.err = errorf(ErrInvalid, "image %s: %w", desc.Digest, err)
		return ai
	}
	mdesc := desc
	var fromIndex bool
	if isIndexType(desc.MediaType) || (desc.MediaType == "" && doc.isIndex()) {
		ai.ref.Index = desc.Digest
		fromIndex = true
		cands, err := a.platformManifests(doc, 1)
		if err != nil {
			ai.err = err
			return ai
		}
		for _, c := range cands {
			ai.configs[c.config] = true
		}
		mdesc, err = a.selectPlatform(cands)
		if err != nil {
			ai.err = err
			return ai
		}
	}
	if !fromIndex && doc.Config != nil {
		ai.configs[doc.Config.Digest] = true
	}
	ai.img, ai.err = a.imageFromManifest(mdesc, fromIndex)
	if ai.img != nil {
		ai.img.Index = ai.ref.Index
		ai.ref.ID = ai.img.ID
		ai.ref.Manifest = ai.img.Manifest
		ai.configs[ai.img.ID] = true
	} else {
		ai.ref.Manifest = mdesc.Digest
	}
	return ai
}

// candidate is a platform manifest of an index that the archive holds,
// with its config.
type candidate struct {
	desc     ocispec.Descriptor
	platform ocispec.Platform
	config   digest.Digest
}

// platformManifests lists the image manifests of an index (recursing into
// nested indexes) whose manifest and config blobs are in the archive.
// Attestation manifests and unknown/unknown platforms are left out.
func (a *Archive) platformManifests(doc ociDoc, depth int) ([]candidate, error) {
	if depth > maxIndexDepth {
		return nil, errorf(ErrInvalid, "image indexes nested more than %d deep", maxIndexDepth)
	}
	var out []candidate
	for _, m := range doc.Manifests {
		if err := validDigest(m.Digest); err != nil {
			return nil, fmt.Errorf("image index: %w", err)
		}
		if m.Annotations[annotationReferenceType] == attestationManifest {
			continue
		}
		if !a.hasBlob(m.Digest) {
			continue // not exported: another platform than the daemon had
		}
		b, err := a.readBlob(m.Digest)
		if err != nil {
			return nil, err
		}
		var child ociDoc
		if err := json.Unmarshal(b, &child); err != nil {
			return nil, errorf(ErrInvalid, "manifest %s: %w", m.Digest, err)
		}
		if isIndexType(m.MediaType) || (m.MediaType == "" && child.isIndex()) {
			more, err := a.platformManifests(child, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, more...)
			continue
		}
		if child.Config == nil || validDigest(child.Config.Digest) != nil || !a.hasBlob(child.Config.Digest) {
			continue
		}
		c := candidate{desc: m, config: child.Config.Digest}
		if m.Platform != nil {
			c.platform = platforms.Normalize(*m.Platform)
		} else {
			cb, err := a.readBlob(child.Config.Digest)
			if err != nil {
				return nil, err
			}
			var cfg ocispec.Image
			if err := json.Unmarshal(cb, &cfg); err != nil {
				return nil, errorf(ErrInvalid, "config %s: %w", child.Config.Digest, err)
			}
			c.platform = configPlatform(cfg)
		}
		if c.platform.OS == "unknown" || c.platform.Architecture == "unknown" || c.platform.OS == "" {
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

// selectPlatform picks the best candidate for the platform.
func (a *Archive) selectPlatform(cands []candidate) (ocispec.Descriptor, error) {
	ps := make([]ocispec.Platform, len(cands))
	for i, c := range cands {
		ps[i] = c.platform
	}
	i, err := SelectPlatform(a.opts.Platform, ps)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	return cands[i].desc, nil
}

// SelectPlatform returns the index of the platform in available that
// suits want best: want exactly (as `docker save --platform` takes it)
// when it is set, else the running platform or the closest one it can
// run. When none suits, the error is a *PlatformError naming them all.
func SelectPlatform(want *ocispec.Platform, available []ocispec.Platform) (int, error) {
	m := platforms.Default()
	if want != nil {
		m = platforms.OnlyStrict(*want)
	}
	best := -1
	for i, p := range available {
		if m.Match(p) && (best < 0 || m.Less(p, available[best])) {
			best = i
		}
	}
	if best >= 0 {
		return best, nil
	}
	e := &PlatformError{Want: platforms.DefaultSpec()}
	if want != nil {
		e.Want = *want
	}
	for _, p := range available {
		if !slices.ContainsFunc(e.Available, func(q ocispec.Platform) bool { return formatPlatform(p) == formatPlatform(q) }) {
			e.Available = append(e.Available, p)
		}
	}
	return -1, e
}

// imageFromManifest builds an image from an image manifest.
func (a *Archive) imageFromManifest(desc ocispec.Descriptor, fromIndex bool) (*Image, error) {
	b, err := a.readBlob(desc.Digest)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, errorf(ErrInvalid, "manifest %s: %w", desc.Digest, err)
	}
	if m.MediaType != "" && !isManifestType(m.MediaType) {
		return nil, errorf(ErrInvalid, "manifest %s has media type %q", desc.Digest, m.MediaType)
	}
	cb, err := a.readBlob(m.Config.Digest)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	var cfg ocispec.Image
	if err := json.Unmarshal(cb, &cfg); err != nil {
		return nil, errorf(ErrInvalid, "config %s: %w", m.Config.Digest, err)
	}
	if err := validDiffIDs(cfg); err != nil {
		return nil, fmt.Errorf("config %s: %w", m.Config.Digest, err)
	}
	if len(m.Layers) != len(cfg.RootFS.DiffIDs) {
		return nil, errorf(ErrInvalid, "manifest %s lists %d layers but its config has %d diff IDs", shortID(desc.Digest), len(m.Layers), len(cfg.RootFS.DiffIDs))
	}
	if !fromIndex {
		if err := a.checkPlatform(cfg); err != nil {
			return nil, err
		}
	}
	mt := m.MediaType
	if mt == "" {
		mt = desc.MediaType
	}
	if mt == "" {
		mt = ocispec.MediaTypeImageManifest
	}
	img := &Image{ID: m.Config.Digest, Manifest: desc.Digest, Config: cfg, RawConfig: cb, ManifestMediaType: mt, archive: a}
	for i := range m.Layers {
		l := m.Layers[i]
		if err := validDigest(l.Digest); err != nil {
			return nil, fmt.Errorf("manifest %s: layer %d: %w", shortID(desc.Digest), i, err)
		}
		img.layers = append(img.layers, layerSource{path: blobPath(l.Digest), desc: &l})
	}
	return img, nil
}
