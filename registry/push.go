package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/containerd/log"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// pushJobs is how many blobs are pushed at once, as many as dockerd's
// max-concurrent-uploads default.
const pushJobs = 5

// Blob is a blob of an image to push.
type Blob struct {
	Desc ocispec.Descriptor
	// From, when not empty, is a repository (REGISTRY/REPO) that has the
	// blob: on the target's registry it is mounted from there (a
	// cross-repository blob mount) rather than uploaded.
	From string
	// Open returns the blob's bytes. Push calls it only when the target
	// repository has not got the blob and could not mount it, and maybe
	// more than once (a retried upload); the registry checks what it
	// receives against Desc.Digest.
	Open func() (io.ReadCloser, error)
}

// Image is an image to push: its manifest, its config and its layers, in
// the manifest's order.
type Image struct {
	Manifest []byte
	Config   []byte
	Layers   []Blob
}

// PushOptions configure Push. The zero value is ready to use.
type PushOptions struct {
	// Keychain gives the credentials for the target's registry; nil is
	// anonymous access.
	Keychain authn.Keychain
	// Present, if set, is told of each layer that was not uploaded: the
	// target repository had it (from is ""), or mounted it from the
	// repository from. It may be called from several goroutines.
	Present func(b Blob, from string)
}

// ParseTag reads the reference of an image to push as docker push takes
// it (REGISTRY/REPO[:TAG], docker.io and latest by default; "docker://"
// may prefix it) and returns it in full: REGISTRY/REPO:TAG.
func ParseTag(s string) (string, error) {
	t, err := parseTag(s)
	if err != nil {
		return "", err
	}
	return fullName(t), nil
}

// fullName is REGISTRY/REPO:TAG, with Docker Hub named docker.io as the
// docker CLI names it (ggcr's index.docker.io).
func fullName(t name.Tag) string {
	if t.RegistryStr() == name.DefaultRegistry {
		return "docker.io/" + t.RepositoryStr() + ":" + t.TagStr()
	}
	return t.Name()
}

func parseTag(s string) (name.Tag, error) {
	ref := strings.TrimPrefix(s, "docker://")
	if strings.Contains(ref, "@") {
		return name.Tag{}, fmt.Errorf("invalid reference %q: push to a tag, not a digest", s)
	}
	t, err := name.NewTag(ref, name.WeakValidation)
	if err != nil {
		return name.Tag{}, fmt.Errorf("invalid reference %q: %w", s, err)
	}
	return t, nil
}

// Push pushes img to the tag ref (as ParseTag reads it) with
// go-containerregistry's remote.Write, and returns the digest of the
// manifest pushed. Each blob is first looked for in the target repository
// (HEAD) and not uploaded when it is there; a layer whose From is another
// repository of the same registry is mounted from it; the others are
// uploaded from Open. The manifest is put last, so that the tag names
// nothing until every blob is in.
func Push(ctx context.Context, ref string, img Image, opts PushOptions) (digest.Digest, error) {
	tag, err := parseTag(ref)
	if err != nil {
		return "", err
	}
	what := "pushing to " + fullName(tag)
	repo := tag.Context()
	auth, err := Authenticator(opts.Keychain, repo)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	base, err := BaseTransport(repo.RegistryStr())
	if err != nil {
		return "", err
	}
	pi, err := newPushImage(img, repo)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	start := time.Now()
	obs := &observer{next: base, repo: repo, tag: tag.TagStr(), manifest: digest.FromBytes(img.Manifest), layers: pi.byDigest, present: opts.Present}
	if err := remote.Write(tag, pi,
		remote.WithContext(ctx), remote.WithAuth(auth), remote.WithTransport(obs), remote.WithJobs(pushJobs),
	); err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("%s: %w", what, ctx.Err())
		}
		return "", Error(what, repo.RegistryStr(), err)
	}
	d := digest.FromBytes(img.Manifest)
	log.G(ctx).Debugf("registry: pushed %s@%s, %d layers, in %s", fullName(tag), d, len(img.Layers), time.Since(start).Round(time.Millisecond))
	return d, nil
}

// pushImage is an Image as ggcr's v1.Image, for remote.Write: the
// manifest and config as given, the layers as Blob says.
type pushImage struct {
	img       Image
	manifest  *v1.Manifest
	mediaType types.MediaType
	layers    []v1.Layer
	byDigest  map[string]Blob
}

func newPushImage(img Image, repo name.Repository) (*pushImage, error) {
	m, err := v1.ParseManifest(strings.NewReader(string(img.Manifest)))
	if err != nil {
		return nil, fmt.Errorf("reading the manifest: %w", err)
	}
	if len(m.Layers) != len(img.Layers) {
		return nil, fmt.Errorf("the manifest has %d layers, the image %d", len(m.Layers), len(img.Layers))
	}
	var mt struct {
		MediaType types.MediaType `json:"mediaType"`
	}
	_ = json.Unmarshal(img.Manifest, &mt)
	if mt.MediaType == "" {
		mt.MediaType = types.OCIManifestSchema1
	}
	pi := &pushImage{img: img, manifest: m, mediaType: mt.MediaType, byDigest: map[string]Blob{}}
	for i, b := range img.Layers {
		if m.Layers[i].Digest.String() != b.Desc.Digest.String() {
			return nil, fmt.Errorf("layer %d is %s, the manifest says %s", i, b.Desc.Digest, m.Layers[i].Digest)
		}
		var l v1.Layer = &blobLayer{b: b}
		if from, ok := mountable(b.From, repo); ok {
			l = &remote.MountableLayer{Layer: l, Reference: from.Digest(b.Desc.Digest.String())}
		}
		pi.layers = append(pi.layers, l)
		pi.byDigest[b.Desc.Digest.String()] = b
	}
	return pi, nil
}

// mountable returns the repository from, when a blob of it can be mounted
// into repo: another repository of the same registry.
func mountable(from string, repo name.Repository) (name.Repository, bool) {
	if from == "" {
		return name.Repository{}, false
	}
	r, err := name.NewRepository(from, name.WeakValidation)
	if err != nil || r.RegistryStr() != repo.RegistryStr() || r.RepositoryStr() == repo.RepositoryStr() {
		return name.Repository{}, false
	}
	return r, true
}

func (p *pushImage) Layers() ([]v1.Layer, error)         { return p.layers, nil }
func (p *pushImage) MediaType() (types.MediaType, error) { return p.mediaType, nil }
func (p *pushImage) Size() (int64, error)                { return int64(len(p.img.Manifest)), nil }
func (p *pushImage) ConfigName() (v1.Hash, error)        { return p.manifest.Config.Digest, nil }
func (p *pushImage) ConfigFile() (*v1.ConfigFile, error) {
	return v1.ParseConfigFile(strings.NewReader(string(p.img.Config)))
}
func (p *pushImage) RawConfigFile() ([]byte, error)  { return p.img.Config, nil }
func (p *pushImage) Manifest() (*v1.Manifest, error) { return p.manifest, nil }
func (p *pushImage) RawManifest() ([]byte, error)    { return p.img.Manifest, nil }
func (p *pushImage) LayerByDiffID(h v1.Hash) (v1.Layer, error) {
	return nil, fmt.Errorf("no layer with diff ID %s", h)
}

func (p *pushImage) Digest() (v1.Hash, error) {
	return v1.NewHash(digest.FromBytes(p.img.Manifest).String())
}

func (p *pushImage) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	for _, l := range p.layers {
		if d, _ := l.Digest(); d == h {
			return l, nil
		}
	}
	return nil, fmt.Errorf("no layer with digest %s", h)
}

// blobLayer is a Blob as ggcr's v1.Layer: what a push asks of a layer.
type blobLayer struct{ b Blob }

func (l *blobLayer) Digest() (v1.Hash, error) { return v1.NewHash(l.b.Desc.Digest.String()) }
func (l *blobLayer) Size() (int64, error)     { return l.b.Desc.Size, nil }
func (l *blobLayer) MediaType() (types.MediaType, error) {
	return types.MediaType(l.b.Desc.MediaType), nil
}
func (l *blobLayer) Compressed() (io.ReadCloser, error) { return l.b.Open() }

func (l *blobLayer) DiffID() (v1.Hash, error) {
	return v1.Hash{}, errors.New("a pushed layer's diff ID is not needed")
}

func (l *blobLayer) Uncompressed() (io.ReadCloser, error) {
	return nil, errors.New("a pushed layer is not read uncompressed")
}

// observer sees the answers of the target registry, to tell Present which
// layers were there already (HEAD answered 200, for the blob or for the
// manifest itself) or mounted (a POST with mount= answered 201 Created).
type observer struct {
	next     http.RoundTripper
	repo     name.Repository
	tag      string
	manifest digest.Digest
	layers   map[string]Blob
	present  func(Blob, string)
	once     sync.Map
}

func (o *observer) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := o.next.RoundTrip(req)
	if err != nil || o.present == nil {
		return resp, err
	}
	prefix := "/v2/" + o.repo.RepositoryStr() + "/blobs/"
	switch {
	case req.Method == http.MethodHead && resp.StatusCode == http.StatusOK && strings.HasPrefix(req.URL.Path, prefix):
		o.report(strings.TrimPrefix(req.URL.Path, prefix), "")
	case req.Method == http.MethodHead && resp.StatusCode == http.StatusOK && req.URL.Path == "/v2/"+o.repo.RepositoryStr()+"/manifests/"+o.tag &&
		resp.Header.Get("Docker-Content-Digest") == o.manifest.String():
		// The image is there already: remote.Write uploads nothing.
		for d := range o.layers {
			o.report(d, "")
		}
	case req.Method == http.MethodPost && resp.StatusCode == http.StatusCreated && req.URL.Path == prefix+"uploads/":
		q := req.URL.Query()
		if from := q.Get("from"); q.Get("mount") != "" && from != "" {
			o.report(q.Get("mount"), o.repo.Registry.RegistryStr()+"/"+from)
		}
	}
	return resp, nil
}

func (o *observer) report(d, from string) {
	b, ok := o.layers[d]
	if !ok {
		if u, err := url.PathUnescape(d); err == nil {
			b, ok = o.layers[u]
		}
	}
	if !ok {
		return // the config
	}
	if _, done := o.once.LoadOrStore(d, true); done {
		return
	}
	o.present(b, from)
}
