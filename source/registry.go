package source

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containerd/log"
	"github.com/containerd/platforms"
	"github.com/docker-layers/docker-layers/extract"
	"github.com/docker-layers/docker-layers/flatten"
	"github.com/docker-layers/docker-layers/inspect"
	"github.com/docker-layers/docker-layers/registry"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// registryJobs is how many blobs are fetched from a registry at once, as
// many as dockerd's max-concurrent-downloads default.
const registryJobs = 3

// blobRetries is how many times a blob whose connection dropped is asked
// for again, from where it stopped (a ranged GET), before the fetch fails.
const blobRetries = 3

// registryImage is an image of a registry, read with go-containerregistry:
// its manifest and config when it is opened, then only the layer blobs
// that Layers is asked for, each once.
type registryImage struct {
	ref    name.Reference
	shown  string // the reference as the user gave it
	opts   Options
	client *http.Client // authenticated for pulls from ref's repository

	index     digest.Digest // the index the image was selected from, if any
	manifest  digest.Digest
	rawMan    []byte
	layers    []v1.Descriptor // the manifest's, parallel to the config's diff IDs
	rawConfig []byte
	config    ocispec.Image

	blobs *extract.Blobs
	mu    sync.Mutex
	got   map[digest.Digest]flatten.Layer // layers fetched, by diff ID
	dir   string                          // Stored's OCI layout, removed by Close
	store *extract.Archive                // Stored's archive over dir
}

// openRegistry resolves ref in its registry to one image manifest, for
// opts.Platform, and reads the manifest and config. No layer is fetched.
func openRegistry(ctx context.Context, ref Reference, opts Options) (*registryImage, error) {
	start := time.Now()
	r, err := name.ParseReference(ref.Name)
	if err != nil {
		return nil, fmt.Errorf("invalid image %q: %w", ref.String(), err)
	}
	repo := r.Context()
	auth, err := registry.Authenticator(opts.Keychain, repo)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", ref, err)
	}
	base, err := registry.BaseTransport(repo.RegistryStr())
	if err != nil {
		return nil, err
	}
	// ggcr retries requests only on a transport it wraps itself; this one
	// it is given ready-made (one ping and one token for every request).
	tr, err := transport.NewWithContext(ctx, repo.Registry, auth, registry.Retrying(base), []string{repo.Scope(transport.PullScope)})
	if err != nil {
		return nil, registryError(ref, err)
	}
	img := &registryImage{ref: r, shown: ref.String(), opts: opts, client: &http.Client{Transport: tr}, got: map[digest.Digest]flatten.Layer{}}
	ropts := []remote.Option{remote.WithContext(ctx), remote.WithTransport(tr)}
	desc, err := remote.Get(r, ropts...)
	if err != nil {
		return nil, registryError(ref, err)
	}
	log.G(ctx).Debugf("registry: %s is a %s (%s)", r, desc.MediaType, desc.Digest)
	var ri v1.Image
	switch {
	case desc.MediaType.IsIndex():
		img.index = digest.Digest(desc.Digest.String())
		idx, err := desc.ImageIndex()
		if err != nil {
			return nil, registryError(ref, err)
		}
		if ri, err = img.selectPlatform(idx); err != nil {
			if pe := (*extract.PlatformError)(nil); errors.As(err, &pe) {
				return nil, withRef(err, ref.String())
			}
			return nil, registryError(ref, err)
		}
	case desc.MediaType.IsImage():
		if ri, err = desc.Image(); err != nil {
			return nil, registryError(ref, err)
		}
	default:
		return nil, fmt.Errorf("image %s: a %s is not an image", ref, desc.MediaType)
	}
	if err := img.read(ri); err != nil {
		return nil, registryError(ref, err)
	}
	if opts.Platform != nil {
		if _, err := extract.SelectPlatform(opts.Platform, []ocispec.Platform{configPlatform(img.config)}); err != nil {
			return nil, withRef(err, ref.String())
		}
	}
	img.blobs = extract.NewBlobs(opts.extract())
	log.G(ctx).Debugf("registry: manifest %s, %d layers, read in %s", img.manifest, len(img.layers), time.Since(start).Round(time.Millisecond))
	return img, nil
}

// maxIndexDepth bounds how deep image indexes may nest.
const maxIndexDepth = 4

// selectPlatform picks the image of idx for the platform, among the
// images of idx and of the indexes it nests, as extract.SelectPlatform
// picks it; attestations and unknown platforms are left out.
func (s *registryImage) selectPlatform(idx v1.ImageIndex) (v1.Image, error) {
	type candidate struct {
		idx v1.ImageIndex // the index that lists it
		d   v1.Hash
	}
	var (
		cands []candidate
		plats []ocispec.Platform
	)
	var gather func(idx v1.ImageIndex, depth int) error
	gather = func(idx v1.ImageIndex, depth int) error {
		if depth > maxIndexDepth {
			return fmt.Errorf("image indexes nested more than %d deep", maxIndexDepth)
		}
		im, err := idx.IndexManifest()
		if err != nil {
			return err
		}
		for _, m := range im.Manifests {
			switch {
			case m.Annotations["vnd.docker.reference.type"] == "attestation-manifest":
				continue
			case m.MediaType.IsIndex():
				child, err := idx.ImageIndex(m.Digest)
				if err != nil {
					return err
				}
				if err := gather(child, depth+1); err != nil {
					return err
				}
				continue
			case !m.MediaType.IsImage():
				continue
			}
			p := m.Platform
			if p == nil {
				ri, err := idx.Image(m.Digest)
				if err != nil {
					return err
				}
				cf, err := ri.ConfigFile()
				if err != nil {
					return err
				}
				p = cf.Platform()
			}
			pl := platforms.Normalize(ocispec.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant, OSVersion: p.OSVersion})
			if pl.OS == "" || pl.OS == "unknown" || pl.Architecture == "unknown" {
				continue
			}
			cands, plats = append(cands, candidate{idx, m.Digest}), append(plats, pl)
		}
		return nil
	}
	if err := gather(idx, 0); err != nil {
		return nil, err
	}
	i, err := extract.SelectPlatform(s.opts.Platform, plats)
	if err != nil {
		return nil, err
	}
	return cands[i].idx.Image(cands[i].d)
}

// read reads the manifest and config of ri.
func (s *registryImage) read(ri v1.Image) error {
	var err error
	if s.rawMan, err = ri.RawManifest(); err != nil {
		return err
	}
	s.manifest = digest.FromBytes(s.rawMan)
	m, err := ri.Manifest()
	if err != nil {
		return err
	}
	if s.rawConfig, err = ri.RawConfigFile(); err != nil {
		return err
	}
	if got := digest.FromBytes(s.rawConfig); got.String() != m.Config.Digest.String() {
		return fmt.Errorf("config has digest %s, its manifest says %s", got, m.Config.Digest)
	}
	if err := json.Unmarshal(s.rawConfig, &s.config); err != nil {
		return fmt.Errorf("reading config %s: %w", m.Config.Digest, err)
	}
	if len(m.Layers) != len(s.config.RootFS.DiffIDs) {
		return fmt.Errorf("manifest %s has %d layers, its config %d diff IDs", s.manifest, len(m.Layers), len(s.config.RootFS.DiffIDs))
	}
	s.layers = m.Layers
	return nil
}

func (s *registryImage) Ancestry(context.Context) (*inspect.Ancestry, error) {
	id := digest.FromBytes(s.rawConfig).String()
	if s.index != "" {
		id = s.index.String()
	}
	var tags []string
	if t, ok := s.ref.(name.Tag); ok {
		tags = []string{t.String()}
	}
	// The layers' sizes are unknown until they are fetched (the manifest
	// gives their compressed sizes), as in an archive.
	return inspect.FromConfig(s.shown, id, tags, s.config, nil)
}

func (s *registryImage) TagLookup() inspect.TagLookup { return nil }

func (s *registryImage) Config(context.Context) (*dockerspec.DockerOCIImage, error) {
	return parseConfig(s.rawConfig, s.shown)
}

// Layers fetches the blobs of the layers in want that are not fetched yet,
// registryJobs at a time, each streamed into extract.Blobs (decompressed,
// verified) as it arrives.
func (s *registryImage) Layers(ctx context.Context, want []digest.Digest, ready func(k int, l flatten.Layer)) ([]flatten.Layer, error) {
	if ready == nil {
		ready = func(int, flatten.Layer) {}
	}
	out := make([]flatten.Layer, len(want))
	descs := make([]*v1.Descriptor, len(want))
	var todo []int
	for k, w := range want {
		i := slices.Index(s.config.RootFS.DiffIDs, w)
		if i < 0 {
			return nil, fmt.Errorf("layer %s is not in image %s", w, s.shown)
		}
		s.mu.Lock()
		l, ok := s.got[w]
		s.mu.Unlock()
		if ok {
			out[k] = l
			ready(k, l)
			continue
		}
		if slices.ContainsFunc(todo, func(t int) bool { return want[t] == w }) {
			continue // wanted twice: fetched once, below
		}
		descs[k] = &s.layers[i]
		todo = append(todo, k)
	}
	// The largest first, so that the last to finish is a small one.
	slices.SortStableFunc(todo, func(a, b int) int { return int(min(max(descs[b].Size-descs[a].Size, -1), 1)) })
	errs := make([]error, len(want))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range min(registryJobs, len(todo)) {
		wg.Go(func() {
			for k := range jobs {
				out[k], errs[k] = s.fetch(ctx, *descs[k], want[k], extract.Progress{Layers: k, Wanted: len(want)})
				if errs[k] != nil {
					cancel()
					continue
				}
				ready(k, out[k])
			}
		})
	}
	for _, k := range todo {
		jobs <- k
	}
	close(jobs)
	wg.Wait()
	// The first error in want's order that is not the cancellation of
	// the others.
	var first error
	for _, err := range errs {
		if err != nil && (first == nil || errors.Is(first, context.Canceled)) {
			first = err
		}
	}
	if first != nil {
		return nil, first
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range todo {
		s.got[want[k]] = out[k]
	}
	for k, w := range want {
		if out[k] == (flatten.Layer{}) {
			out[k] = s.got[w]
		}
	}
	return out, nil
}

// fetch streams the blob desc of the layer w into s.blobs.
func (s *registryImage) fetch(ctx context.Context, desc v1.Descriptor, w digest.Digest, p extract.Progress) (l flatten.Layer, err error) {
	start := time.Now()
	d := digest.Digest(desc.Digest.String())
	if len(desc.URLs) > 0 || strings.Contains(string(desc.MediaType), "nondistributable") || strings.Contains(string(desc.MediaType), "foreign") {
		// A foreign layer (Windows base layers) may be in the registry
		// too; when it is not, say why.
		defer func() {
			if err != nil && errors.Is(err, errBlobNotFound) {
				err = fmt.Errorf("image %s: layer %s is a foreign layer, which the registry does not hold", s.shown, w)
			}
		}()
	}
	r := &blobReader{ctx: ctx, s: s, d: d, size: desc.Size}
	defer r.close()
	l, err = s.blobs.Layer(ctx, r, ocispec.Descriptor{MediaType: string(desc.MediaType), Digest: d, Size: desc.Size}, w, p)
	if err != nil {
		if r.err != nil {
			err = r.err // the fetch's own error, not what it caused downstream
		}
		return flatten.Layer{}, fmt.Errorf("image %s: %w", s.shown, err)
	}
	log.G(ctx).Debugf("registry: blob %s (%d bytes) fetched in %s, %d retries", d, desc.Size, time.Since(start).Round(time.Millisecond), r.retries)
	return l, nil
}

// errBlobNotFound: the registry has no such blob in the repository.
var errBlobNotFound = errors.New("the registry has no such blob")

// blobReader reads a blob of s's repository. When the connection drops
// before the end, it asks again for the rest (a ranged GET), up to
// blobRetries times.
type blobReader struct {
	ctx     context.Context
	s       *registryImage
	d       digest.Digest
	size    int64
	off     int64
	body    io.ReadCloser
	retries int
	err     error // the error Read returned, if it failed
}

func (r *blobReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err // failed for good: no more requests
	}
	for {
		if r.off >= r.size {
			return 0, io.EOF
		}
		if r.body == nil {
			body, err := r.open()
			if err != nil {
				if r.retry(err) {
					continue
				}
				r.err = err
				return 0, err
			}
			r.body = body
		}
		n, err := r.body.Read(p)
		r.off += int64(n)
		switch {
		case err == nil:
			return n, nil
		case err == io.EOF && r.off >= r.size:
			return n, io.EOF
		case err == io.EOF:
			err = io.ErrUnexpectedEOF
		}
		r.close()
		err = fmt.Errorf("fetching blob %s: %w", r.d, err)
		if n > 0 {
			if !r.retry(err) {
				r.err = err
				return n, err
			}
			return n, nil
		}
		if !r.retry(err) {
			r.err = err
			return 0, err
		}
	}
}

// retry reports whether to try again after err, waiting first.
func (r *blobReader) retry(err error) bool {
	var te *transport.Error
	if r.ctx.Err() != nil || r.retries >= blobRetries || (errors.As(err, &te) && !te.Temporary()) {
		return false
	}
	r.retries++
	wait := time.Duration(r.retries*r.retries) * 250 * time.Millisecond
	log.G(r.ctx).Debugf("registry: blob %s: %v; asking again from byte %d in %s", r.d, err, r.off, wait)
	select {
	case <-time.After(wait):
		return true
	case <-r.ctx.Done():
		return false
	}
}

// open GETs the blob from r.off on.
func (r *blobReader) open() (io.ReadCloser, error) {
	repo := r.s.ref.Context()
	u := fmt.Sprintf("%s://%s/v2/%s/blobs/%s", repo.Scheme(), repo.RegistryStr(), repo.RepositoryStr(), r.d)
	req, err := http.NewRequestWithContext(r.ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if r.off > 0 {
		// The end too: some registries take only closed ranges.
		req.Header.Set("Range", "bytes="+strconv.FormatInt(r.off, 10)+"-"+strconv.FormatInt(r.size-1, 10))
	}
	resp, err := r.s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching blob %s: %w", r.d, registry.RedactURL(err))
	}
	if err := transport.CheckError(resp, http.StatusOK, http.StatusPartialContent); err != nil {
		_ = resp.Body.Close()
		if resp.StatusCode == http.StatusNotFound {
			err = errBlobNotFound
		}
		return nil, fmt.Errorf("fetching blob %s: %w", r.d, err)
	}
	if r.off > 0 && resp.StatusCode == http.StatusOK {
		// No range support: skip what was read already.
		if _, err := io.CopyN(io.Discard, resp.Body, r.off); err != nil {
			_ = resp.Body.Close()
			return nil, fmt.Errorf("fetching blob %s: %w", r.d, err)
		}
	}
	if r.off > 0 && resp.StatusCode == http.StatusPartialContent && !strings.HasPrefix(resp.Header.Get("Content-Range"), "bytes "+strconv.FormatInt(r.off, 10)+"-") {
		_ = resp.Body.Close()
		return nil, fmt.Errorf("fetching blob %s: asked for bytes from %d, got %q", r.d, r.off, resp.Header.Get("Content-Range"))
	}
	return resp.Body, nil
}

func (r *blobReader) close() {
	if r.body != nil {
		_ = r.body.Close()
		r.body = nil
	}
}

// Stored fetches every blob of the image into an OCI layout in the spool
// and opens it, for squash.
func (s *registryImage) Stored(ctx context.Context) (*extract.Archive, *extract.Image, error) {
	if s.store != nil {
		img, err := s.store.Image("")
		return s.store, img, err
	}
	parent := s.opts.TmpDir
	if parent == "" {
		parent = os.TempDir()
	}
	if s.dir != "" { // what a failed call left
		_ = os.RemoveAll(s.dir)
		s.dir = ""
	}
	dir, err := os.MkdirTemp(parent, "docker-layers-layout-")
	if err != nil {
		return nil, nil, fmt.Errorf("creating a layout for %s: %w", s.shown, err)
	}
	s.dir = dir
	blob := func(d digest.Digest) string { return filepath.Join(dir, "blobs", d.Algorithm().String(), d.Encoded()) }
	if err := os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o700); err != nil {
		return nil, nil, err
	}
	var errs []error
	errs = append(errs, os.WriteFile(blob(s.manifest), s.rawMan, 0o600))
	errs = append(errs, os.WriteFile(blob(digest.FromBytes(s.rawConfig)), s.rawConfig, 0o600))
	for i, l := range s.layers {
		d := digest.Digest(l.Digest.String())
		if err := s.download(ctx, d, l.Size, blob(d), extract.Progress{Layers: i, Wanted: len(s.layers)}); err != nil {
			return nil, nil, fmt.Errorf("image %s: %w", s.shown, err)
		}
	}
	index, _ := json.Marshal(ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{{MediaType: manifestMediaType(s.rawMan), Digest: s.manifest, Size: int64(len(s.rawMan))}},
	})
	errs = append(errs, os.WriteFile(filepath.Join(dir, "index.json"), index, 0o600))
	errs = append(errs, os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o600))
	if err := errors.Join(errs...); err != nil {
		return nil, nil, fmt.Errorf("writing a layout of %s: %w", s.shown, err)
	}
	eo := s.opts.extract()
	eo.Platform = nil // the layout holds the one image selected
	if s.store, err = extract.OpenLayout(ctx, dir, eo); err != nil {
		return nil, nil, err
	}
	img, err := s.store.Image("")
	return s.store, img, err
}

// download fetches blob d to the file path, checked against d.
func (s *registryImage) download(ctx context.Context, d digest.Digest, size int64, path string, p extract.Progress) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	r := &blobReader{ctx: ctx, s: s, d: d, size: size}
	defer r.close()
	v := d.Verifier()
	p.Entry, p.Size = d.String(), size
	if s.opts.Progress != nil {
		s.opts.Progress(p)
	}
	n, err := io.Copy(io.MultiWriter(f, v), r)
	if err != nil {
		return err
	}
	if n != size || !v.Verified() {
		return fmt.Errorf("blob %s: %w", d, extract.ErrDigestMismatch)
	}
	if s.opts.Progress != nil {
		p.Done = n
		s.opts.Progress(p)
	}
	return f.Close()
}

func (s *registryImage) Close() error {
	var errs []error
	if s.store != nil {
		errs = append(errs, s.store.Close())
	}
	if s.dir != "" {
		errs = append(errs, os.RemoveAll(s.dir))
	}
	if s.blobs != nil {
		errs = append(errs, s.blobs.Close())
	}
	return errors.Join(errs...)
}

// manifestMediaType is the media type a manifest declares, OCI's when it
// declares none.
func manifestMediaType(raw []byte) string {
	var m struct {
		MediaType string `json:"mediaType"`
	}
	if json.Unmarshal(raw, &m) == nil && m.MediaType != "" {
		return m.MediaType
	}
	return ocispec.MediaTypeImageManifest
}

// registryError makes an error of go-containerregistry one line that names
// the image (registry.Error).
func registryError(ref Reference, err error) error {
	return registry.Error("image "+ref.String(), registryHost(ref), err)
}

// registryHost is the registry of a docker:// reference, as docker login
// takes it.
func registryHost(ref Reference) string {
	r, err := name.ParseReference(ref.Name)
	if err != nil {
		return ""
	}
	return r.Context().RegistryStr()
}

// configPlatform is the platform a config declares.
func configPlatform(cfg ocispec.Image) ocispec.Platform {
	return platforms.Normalize(ocispec.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant, OSVersion: cfg.OSVersion})
}

func (s *registryImage) fetchesLayers() bool { return true }
