package squash

import (
	"archive/tar"
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
	annotationContainerdImage = "io.containerd.image.name"
)

// epoch is the mtime of every entry written.
var epoch = time.Unix(0, 0)

// keptLayer is a kept layer: its descriptor and where it is in out.
type keptLayer struct {
	desc ocispec.Descriptor
	path string
}

// finish squashes the range and writes the new image's documents.
func (s *squasher) finish(rng *extract.Layers) (*Result, error) {
	cfgDigest, man, err := s.findConfig()
	if err != nil {
		return nil, err
	}
	n := len(s.img.DiffIDs)
	kept := make(map[int]keptLayer, n)
	for i, diff := range s.img.DiffIDs {
		if i >= s.opts.From && i <= s.opts.To {
			continue
		}
		var k keptLayer
		if man != nil {
			k.desc = man.layers[i]
			bi, ok := s.written[k.desc.Digest]
			if !ok {
				return nil, fmt.Errorf("layer %s (blob %s) is not in the save stream: %w", diff, k.desc.Digest, extract.ErrLayerNotFound)
			}
			k.path = bi.path
		} else {
			bi, ok := s.written[diff]
			if !ok {
				return nil, fmt.Errorf("layer %s is not in the save stream: %w", diff, extract.ErrLayerNotFound)
			}
			k.desc = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: diff, Size: bi.size}
			k.path = bi.path
		}
		kept[i] = k
	}

	docker := man != nil && man.mediaType == mediaTypeDockerManifest
	layer, err := s.squashLayer(rng, docker)
	if err != nil {
		return nil, err
	}
	defer layer.remove()
	if bi, ok := s.written[layer.desc.Digest]; !ok || bi.path != layer.blobPath() {
		if err := s.writeFile(layer.blobPath(), layer.desc.Size, layer.f); err != nil {
			return nil, err
		}
		s.written[layer.desc.Digest] = blobInfo{path: layer.blobPath(), size: layer.desc.Size}
	}

	// The config.
	created := s.opts.Created
	if created.IsZero() {
		created = time.Now()
	}
	change := ConfigChange{
		From: s.opts.From, To: s.opts.To, DiffID: layer.diffID, Created: created,
		CreatedBy: s.opts.CreatedBy, Comment: s.opts.Comment,
	}
	if change.CreatedBy == "" {
		change.CreatedBy = fmt.Sprintf("docker-layers squash %d..%d", s.opts.From, s.opts.To)
	}
	if change.Comment == "" {
		change.Comment = fmt.Sprintf("docker-layers squashed layers %d..%d (%d layers) into one", s.opts.From, s.opts.To, s.opts.To-s.opts.From+1)
	}
	cfg, err := RewriteConfig(s.configs[cfgDigest], change)
	if err != nil {
		return nil, err
	}
	cfgDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(cfg), Size: int64(len(cfg))}
	if docker {
		cfgDesc.MediaType = mediaTypeDockerConfig
	}
	if err := s.writeBlob(cfgDesc.Digest, cfg); err != nil {
		return nil, err
	}

	// The manifest, and the layer paths of manifest.json.
	mf := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: cfgDesc}
	mf.SchemaVersion = 2
	if docker {
		mf.MediaType = mediaTypeDockerManifest
	}
	var paths []string
	res := &Result{Config: cfgDesc.Digest, Layer: layer.diffID, LayerBlob: layer.desc.Digest, LayerSize: layer.desc.Size}
	for i := 0; i < n; i++ {
		switch {
		case i < s.opts.From || i > s.opts.To:
			k := kept[i]
			mf.Layers = append(mf.Layers, k.desc)
			paths = append(paths, k.path)
			res.DiffIDs = append(res.DiffIDs, s.img.DiffIDs[i])
			if blob := blobPath(k.desc.Digest); k.path != blob {
				// A legacy <v1id>/layer.tar: index.json names blobs.
				if err := s.writeLink(blob, k.path); err != nil {
					return nil, err
				}
			}
		case i == s.opts.To:
			mf.Layers = append(mf.Layers, layer.desc)
			paths = append(paths, layer.blobPath())
			res.DiffIDs = append(res.DiffIDs, layer.diffID)
		}
	}
	mb, err := json.Marshal(mf)
	if err != nil {
		return nil, err
	}
	mDesc := ocispec.Descriptor{MediaType: mf.MediaType, Digest: digest.FromBytes(mb), Size: int64(len(mb))}
	if err := s.writeBlob(mDesc.Digest, mb); err != nil {
		return nil, err
	}
	res.Manifest = mDesc.Digest
	res.ID = cfgDesc.Digest
	if s.opts.Containerd {
		res.ID = mDesc.Digest
	}

	// index.json, oci-layout and manifest.json.
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex}
	idx.SchemaVersion = 2
	var repoTags []string
	for _, t := range s.opts.Tags {
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
	if err := s.writeJSON("index.json", idx); err != nil {
		return nil, err
	}
	if err := s.writeJSON(ocispec.ImageLayoutFile, ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion}); err != nil {
		return nil, err
	}
	type manifestItem struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if repoTags == nil {
		repoTags = []string{}
	}
	if err := s.writeJSON("manifest.json", []manifestItem{{Config: blobPath(cfgDesc.Digest), RepoTags: repoTags, Layers: paths}}); err != nil {
		return nil, err
	}
	if err := s.out.Close(); err != nil {
		return nil, fmt.Errorf("writing the archive: %w", err)
	}

	referenced := map[digest.Digest]bool{}
	for _, l := range mf.Layers {
		referenced[l.Digest] = true
	}
	for d, bi := range s.written {
		if !referenced[d] && !strings.HasSuffix(bi.path, ".json") && d != cfgDesc.Digest && d != mDesc.Digest {
			res.Unreferenced++
		}
	}
	return res, nil
}

// spooledLayer is the squashed layer in a spool file.
type spooledLayer struct {
	f      *os.File
	diffID digest.Digest
	desc   ocispec.Descriptor
}

func (l *spooledLayer) blobPath() string { return blobPath(l.desc.Digest) }

func (l *spooledLayer) remove() {
	_ = l.f.Close()
	_ = os.Remove(l.f.Name())
}

// squashLayer flattens the range, keeping whiteouts, into a spool file;
// gzip-compressed for the containerd store.
func (s *squasher) squashLayer(rng *extract.Layers, docker bool) (_ *spooledLayer, retErr error) {
	var layers []flatten.Layer
	for _, l := range rng.List() {
		layers = append(layers, flatten.Layer{ID: l.DiffID.String(), R: l.R, Size: l.Size})
	}
	f, err := os.CreateTemp(s.opts.TmpDir, "docker-layers-squash-*.tar")
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
	if s.opts.Containerd {
		zw = pgzip.NewWriter(w)
		w = zw
	}
	err = s.ix.Flatten(io.MultiWriter(w, diffH), layers)
	if err != nil {
		return nil, fmt.Errorf("squashing layers %d..%d: %w", s.opts.From, s.opts.To, err)
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
	l.desc = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: digest.NewDigest(digest.SHA256, blob), Size: blob.n}
	if s.opts.Containerd {
		l.desc.MediaType = ocispec.MediaTypeImageLayerGzip
		if docker {
			l.desc.MediaType = mediaTypeDockerLayerGzip
		}
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

// outHeader writes the header of a regular file to out, after the
// directories above it.
func (s *squasher) outHeader(name string, size int64) error {
	if err := s.outDirs(path.Dir(name)); err != nil {
		return err
	}
	if err := s.out.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Size: size, Mode: 0o644, ModTime: epoch}); err != nil {
		return fmt.Errorf("writing entry %q: %w", name, err)
	}
	return nil
}

func (s *squasher) outDirs(dir string) error {
	if dir == "." || dir == "/" || s.dirs[dir] {
		return nil
	}
	if err := s.outDirs(path.Dir(dir)); err != nil {
		return err
	}
	s.dirs[dir] = true
	if err := s.out.WriteHeader(&tar.Header{Name: dir + "/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: epoch}); err != nil {
		return fmt.Errorf("writing entry %q: %w", dir, err)
	}
	return nil
}

func (s *squasher) writeFile(name string, size int64, r io.Reader) error {
	if err := s.outHeader(name, size); err != nil {
		return err
	}
	if _, err := io.CopyBuffer(s.out, r, s.buf); err != nil {
		return fmt.Errorf("writing entry %q: %w", name, err)
	}
	return nil
}

// writeBlob writes a blob unless out already has it under its blob path.
func (s *squasher) writeBlob(d digest.Digest, b []byte) error {
	if bi, ok := s.written[d]; ok && bi.path == blobPath(d) {
		return nil
	}
	if err := s.writeFile(blobPath(d), int64(len(b)), strings.NewReader(string(b))); err != nil {
		return err
	}
	s.written[d] = blobInfo{path: blobPath(d), size: int64(len(b))}
	return nil
}

func (s *squasher) writeJSON(name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.writeFile(name, int64(len(b)), strings.NewReader(string(b)))
}

// writeLink writes name as a symlink to target (both relative to the
// archive root), unless out already has name.
func (s *squasher) writeLink(name, target string) error {
	if s.dirs[name] || s.linked(name) {
		return nil
	}
	if err := s.outDirs(path.Dir(name)); err != nil {
		return err
	}
	rel := strings.Repeat("../", strings.Count(name, "/")) + target
	if err := s.out.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: rel, Mode: 0o777, ModTime: epoch}); err != nil {
		return fmt.Errorf("writing entry %q: %w", name, err)
	}
	s.dirs[name] = true // remember it was written
	return nil
}

func (s *squasher) linked(name string) bool {
	for _, bi := range s.written {
		if bi.path == name {
			return true
		}
	}
	return false
}
