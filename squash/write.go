package squash

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/docker-layers/docker-layers/extract"
	"github.com/docker-layers/docker-layers/flatten"
	"github.com/klauspost/pgzip"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

const (
	mediaTypeDockerManifest   = "application/vnd.docker.distribution.manifest.v2+json"
	mediaTypeDockerConfig     = "application/vnd.docker.container.image.v1+json"
	mediaTypeDockerLayerGzip  = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	mediaTypeDockerLayer      = "application/vnd.docker.image.rootfs.diff.tar"
	annotationContainerdImage = "io.containerd.image.name"
)

// epoch is the mtime of every entry written.
var epoch = time.Unix(0, 0)

// Write writes to w a `docker load` archive of img, an image of a, with
// its layers From..To squashed into one: the kept layers as a stores them,
// the squashed layer, the config, the manifest, index.json, oci-layout and
// manifest.json. It does not close w; on error what was written is not a
// complete archive (no end-of-archive marker).
func Write(ctx context.Context, w io.Writer, a *extract.Archive, img *extract.Image, opts Options) (*Result, error) {
	diffIDs := img.Config.RootFS.DiffIDs
	n := len(diffIDs)
	if opts.From < 0 || opts.To < opts.From || opts.To >= n {
		return nil, fmt.Errorf("layers %d..%d are not in an image of %d layers", opts.From, opts.To, n)
	}
	docker := img.ManifestMediaType == mediaTypeDockerManifest
	layers := func(ctx context.Context, want []digest.Digest, ready func(int, flatten.Layer)) ([]flatten.Layer, error) {
		return a.Layers(ctx, img, want, ready)
	}
	layer, err := squashLayer(ctx, layers, diffIDs, opts, docker, opts.Containerd)
	if err != nil {
		return nil, err
	}
	defer layer.remove()

	out := &writer{tw: tar.NewWriter(w), dirs: map[string]bool{}, written: map[digest.Digest]bool{}, buf: make([]byte, 1<<20)}
	mf := newManifest(docker)
	res := &Result{Layer: layer.diffID, LayerBlob: layer.desc.Digest, LayerSize: layer.desc.Size}
	for i := 0; i < n; i++ {
		switch {
		case i < opts.From || i > opts.To:
			desc, err := out.keptLayer(ctx, a, img, i, opts.Copying)
			if err != nil {
				return nil, err
			}
			mf.Layers = append(mf.Layers, desc)
			res.DiffIDs = append(res.DiffIDs, diffIDs[i])
		case i == opts.To:
			if err := out.blob(layer.desc.Digest, layer.desc.Size, layer.f); err != nil {
				return nil, err
			}
			mf.Layers = append(mf.Layers, layer.desc)
			res.DiffIDs = append(res.DiffIDs, layer.diffID)
		}
	}

	// The config.
	cfg, err := newConfig(img.RawConfig, opts, layer.diffID)
	if err != nil {
		return nil, err
	}
	mf.Config = configDescriptor(cfg, docker)
	if err := out.blobBytes(cfg); err != nil {
		return nil, err
	}

	// The manifest.
	mb, err := json.Marshal(mf)
	if err != nil {
		return nil, err
	}
	mDesc := ocispec.Descriptor{MediaType: mf.MediaType, Digest: digest.FromBytes(mb), Size: int64(len(mb))}
	if err := out.blobBytes(mb); err != nil {
		return nil, err
	}
	res.Config, res.Manifest, res.ID = mf.Config.Digest, mDesc.Digest, mf.Config.Digest
	if opts.Containerd {
		res.ID = mDesc.Digest
	}

	// index.json, oci-layout and manifest.json.
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex}
	idx.SchemaVersion = 2
	repoTags := []string{}
	for _, t := range opts.Tags {
		d := mDesc
		d.Annotations = map[string]string{
			annotationContainerdImage: t.String(),
			ocispec.AnnotationRefName: t.Tag(),
		}
		idx.Manifests = append(idx.Manifests, d)
		repoTags = append(repoTags, reference.FamiliarString(t))
	}
	if len(idx.Manifests) == 0 {
		idx.Manifests = []ocispec.Descriptor{mDesc}
	}
	if err := out.json("index.json", idx); err != nil {
		return nil, err
	}
	if err := out.json(ocispec.ImageLayoutFile, ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion}); err != nil {
		return nil, err
	}
	type manifestItem struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	var paths []string
	for _, l := range mf.Layers {
		paths = append(paths, blobPath(l.Digest))
	}
	if err := out.json("manifest.json", []manifestItem{{Config: blobPath(mf.Config.Digest), RepoTags: repoTags, Layers: paths}}); err != nil {
		return nil, err
	}
	if err := out.tw.Close(); err != nil {
		return nil, fmt.Errorf("writing the archive: %w", err)
	}
	return res, nil
}

// newConfig is the config of the new image: raw rewritten by
// RewriteConfig for the squash opts asks for, whose layer has diffID.
func newConfig(raw []byte, opts Options, diffID digest.Digest) ([]byte, error) {
	change := ConfigChange{
		From: opts.From, To: opts.To, DiffID: diffID, Created: opts.Created,
		CreatedBy: opts.CreatedBy, Comment: opts.Comment, ClampCreated: opts.SourceDateEpoch,
	}
	if change.Created.IsZero() {
		change.Created = opts.SourceDateEpoch
	}
	if change.Created.IsZero() {
		change.Created = time.Now()
	}
	if change.CreatedBy == "" {
		change.CreatedBy = fmt.Sprintf("docker-layers squash %d..%d", opts.From, opts.To)
	}
	if change.Comment == "" {
		change.Comment = fmt.Sprintf("docker-layers squashed layers %d..%d (%d layers) into one", opts.From, opts.To, opts.To-opts.From+1)
	}
	return RewriteConfig(raw, change)
}

// configDescriptor is the manifest's descriptor of the config cfg, with
// the media type of the manifest's kind.
func configDescriptor(cfg []byte, docker bool) ocispec.Descriptor {
	d := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(cfg), Size: int64(len(cfg))}
	if docker {
		d.MediaType = mediaTypeDockerConfig
	}
	return d
}

// newManifest is an empty manifest of the kind of the source's: Docker's
// or OCI's.
func newManifest(docker bool) ocispec.Manifest {
	mf := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest}
	mf.SchemaVersion = 2
	if docker {
		mf.MediaType = mediaTypeDockerManifest
	}
	return mf
}

// layersFunc reads the layers of an image whose diff IDs are in want, as
// source.Image.Layers does.
type layersFunc func(ctx context.Context, want []digest.Digest, ready func(k int, l flatten.Layer)) ([]flatten.Layer, error)

// spooledLayer is the squashed layer in a spool file.
type spooledLayer struct {
	f      *os.File
	diffID digest.Digest
	desc   ocispec.Descriptor
}

func (l *spooledLayer) remove() {
	_ = l.f.Close()
	_ = os.Remove(l.f.Name())
}

// squashLayer reads the range's layers (of an image whose layers have
// diffIDs), verified, and flattens them, keeping whiteouts, into a spool
// file: gzip-compressed if compress (for the containerd store, or a
// registry). Each layer is indexed as soon as it can be read, while the
// others are verified. Unless opts.AllWhiteouts, the layers below the
// range are read too, for their headers: the squashed layer keeps only the
// markers that hide something in them.
func squashLayer(ctx context.Context, read layersFunc, diffIDs []digest.Digest, opts Options, docker, compress bool) (_ *spooledLayer, retErr error) {
	below := opts.From
	if opts.AllWhiteouts {
		below = 0
	}
	want := diffIDs[opts.From-below : opts.To+1]
	ix := flatten.NewIndexer(ctx, len(want)-below, flatten.Options{
		KeepWhiteouts: true, ClampMtime: opts.SourceDateEpoch,
		Warn: opts.Warn, TmpDir: opts.TmpDir, Progress: opts.Flattening,
	})
	defer ix.Close()
	all, err := read(ctx, want, func(k int, l flatten.Layer) { ix.Add(k-below, l) })
	if err != nil {
		return nil, err
	}
	lower, layers := all[:below], all[below:]
	f, err := os.CreateTemp(opts.TmpDir, "docker-layers-squash-*.tar")
	if err != nil {
		return nil, fmt.Errorf("creating the squashed layer: %w", err)
	}
	l := &spooledLayer{f: f}
	defer func() {
		if retErr != nil {
			l.remove()
		}
	}()
	diffH := sha256.New()
	blob := &countHash{Hash: sha256.New()}
	var w io.Writer = io.MultiWriter(f, blob)
	var zw *pgzip.Writer
	if compress {
		zw = pgzip.NewWriter(w)
		w = zw
	}
	flat := ix.Flatten
	if !opts.AllWhiteouts {
		flat = func(w io.Writer, layers []flatten.Layer) error { return ix.FlattenOnto(w, layers, lower) }
	}
	if err := flat(io.MultiWriter(w, diffH), layers); err != nil {
		return nil, fmt.Errorf("squashing layers %d..%d: %w", opts.From, opts.To, err)
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			return nil, fmt.Errorf("compressing the squashed layer: %w", err)
		}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("reading the squashed layer: %w", err)
	}
	l.diffID = digest.NewDigest(digest.SHA256, diffH)
	l.desc = ocispec.Descriptor{Digest: digest.NewDigest(digest.SHA256, blob), Size: blob.n}
	// The media types of the manifest's own kind: a Docker manifest may
	// list Docker's layer types only.
	switch {
	case compress && docker:
		l.desc.MediaType = mediaTypeDockerLayerGzip
	case compress:
		l.desc.MediaType = ocispec.MediaTypeImageLayerGzip
	case docker:
		l.desc.MediaType = mediaTypeDockerLayer
	default:
		l.desc.MediaType = ocispec.MediaTypeImageLayer
	}
	return l, nil
}

type countHash struct {
	hash.Hash
	n int64
}

func (c *countHash) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return c.Hash.Write(p)
}

func blobPath(d digest.Digest) string {
	return path.Join("blobs", d.Algorithm().String(), d.Encoded())
}

// writer writes the output archive: each blob once, under blobs/, after
// the directories above it.
type writer struct {
	tw      *tar.Writer
	dirs    map[string]bool
	written map[digest.Digest]bool
	buf     []byte
}

// keptLayer copies layer i of img into the output as a stores it, checking
// it against its digest, and returns its descriptor.
func (w *writer) keptLayer(ctx context.Context, a *extract.Archive, img *extract.Image, i int, report func(extract.Progress)) (ocispec.Descriptor, error) {
	desc, sr, err := a.StoredLayer(img, i)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	diffID := img.Config.RootFS.DiffIDs[i]
	if desc.Digest == "" {
		// A compressed layer that only manifest.json lists: no digest
		// names its blob, and its name in the output needs one. What it
		// holds is checked against its diff ID first, since the digest
		// below checks nothing but the copy.
		if _, err := a.Layers(ctx, img, []digest.Digest{diffID}, nil); err != nil {
			return ocispec.Descriptor{}, err
		}
		h := sha256.New()
		if _, err := io.CopyBuffer(h, io.NewSectionReader(sr, 0, sr.Size()), w.buf); err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("reading layer %s: %w", diffID, err)
		}
		desc.Digest = digest.NewDigest(digest.SHA256, h)
	}
	if w.written[desc.Digest] {
		return desc, nil
	}
	var r io.Reader = io.NewSectionReader(sr, 0, sr.Size())
	if report != nil {
		r = &progressReader{r: r, ctx: ctx, report: report, p: extract.Progress{Entry: blobPath(desc.Digest), DiffID: diffID, Size: desc.Size}}
	}
	v := desc.Digest.Verifier()
	if err := w.blob(desc.Digest, desc.Size, io.TeeReader(r, v)); err != nil {
		return ocispec.Descriptor{}, err
	}
	if !v.Verified() {
		return ocispec.Descriptor{}, fmt.Errorf("layer %s: blob %s does not have that digest: %w", diffID, desc.Digest, extract.ErrDigestMismatch)
	}
	if report != nil {
		report(extract.Progress{Entry: blobPath(desc.Digest), DiffID: diffID, Done: desc.Size, Size: desc.Size})
	}
	return desc, nil
}

// progressReader reports how much of a kept layer was copied, about every
// MiB, and stops when ctx is done.
type progressReader struct {
	r      io.Reader
	ctx    context.Context
	report func(extract.Progress)
	p      extract.Progress
	last   int64
}

func (p *progressReader) Read(b []byte) (int, error) {
	if err := p.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := p.r.Read(b)
	p.p.Done += int64(n)
	if p.p.Done-p.last >= 1<<20 {
		p.last = p.p.Done
		p.report(p.p)
	}
	return n, err
}

// blob writes a blob of size bytes from r under its blob path, unless it
// was written already.
func (w *writer) blob(d digest.Digest, size int64, r io.Reader) error {
	if w.written[d] {
		return nil
	}
	name := blobPath(d)
	if err := w.header(name, size); err != nil {
		return err
	}
	if _, err := io.CopyBuffer(w.tw, r, w.buf); err != nil {
		return fmt.Errorf("writing entry %q: %w", name, err)
	}
	w.written[d] = true
	return nil
}

func (w *writer) blobBytes(b []byte) error {
	return w.blob(digest.FromBytes(b), int64(len(b)), strings.NewReader(string(b)))
}

func (w *writer) json(name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := w.header(name, int64(len(b))); err != nil {
		return err
	}
	if _, err := w.tw.Write(b); err != nil {
		return fmt.Errorf("writing entry %q: %w", name, err)
	}
	return nil
}

// header writes the header of a regular file, after the directories above
// it.
func (w *writer) header(name string, size int64) error {
	if err := w.dirsOf(path.Dir(name)); err != nil {
		return err
	}
	if err := w.tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Size: size, Mode: 0o644, ModTime: epoch}); err != nil {
		return fmt.Errorf("writing entry %q: %w", name, err)
	}
	return nil
}

func (w *writer) dirsOf(dir string) error {
	if dir == "." || dir == "/" || w.dirs[dir] {
		return nil
	}
	if err := w.dirsOf(path.Dir(dir)); err != nil {
		return err
	}
	w.dirs[dir] = true
	if err := w.tw.WriteHeader(&tar.Header{Name: dir + "/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: epoch}); err != nil {
		return fmt.Errorf("writing entry %q: %w", dir, err)
	}
	return nil
}
