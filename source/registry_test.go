package source

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/docker-layers/docker-layers/extract"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"gotest.tools/v3/assert"
)

// testRegistry is go-containerregistry's in-memory registry behind
// httptest, with a hook in front of it, and a count of the blob GETs it
// served by digest.
type testRegistry struct {
	*httptest.Server
	reg   http.Handler
	mu    sync.Mutex
	hook  func(w http.ResponseWriter, r *http.Request) bool // true: handled
	gets  map[string]int
	order []string
}

func newTestRegistry(t *testing.T) *testRegistry {
	t.Helper()
	tr := &testRegistry{gets: map[string]int{}}
	tr.reg = registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	tr.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if i := strings.Index(r.URL.Path, "/blobs/sha256:"); i >= 0 && r.Method == http.MethodGet {
			tr.mu.Lock()
			d := r.URL.Path[i+len("/blobs/"):]
			tr.gets[d]++
			tr.order = append(tr.order, d)
			tr.mu.Unlock()
		}
		tr.mu.Lock()
		hook := tr.hook
		tr.mu.Unlock()
		if hook != nil && hook(w, r) {
			return
		}
		tr.reg.ServeHTTP(w, r)
	}))
	t.Cleanup(tr.Close)
	return tr
}

// host is the registry's HOST:PORT (127.0.0.1: plain HTTP).
func (tr *testRegistry) host() string { return strings.TrimPrefix(tr.URL, "http://") }

// push writes img as repo:tag.
func (tr *testRegistry) push(t *testing.T, repo string, img v1.Image) name.Tag {
	t.Helper()
	tag, err := name.NewTag(tr.host() + "/" + repo)
	assert.NilError(t, err)
	assert.NilError(t, remote.Write(tag, img))
	tr.mu.Lock()
	tr.gets = map[string]int{}
	tr.order = nil
	tr.mu.Unlock()
	return tag
}

// blobGets returns how many times each blob was fetched since the push.
func (tr *testRegistry) blobGets() map[string]int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	out := map[string]int{}
	for k, v := range tr.gets {
		out[k] = v
	}
	return out
}

// layerTar is a layer holding the files, name → content.
func layerTar(t *testing.T, files ...string) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for i := 0; i < len(files); i += 2 {
		assert.NilError(t, tw.WriteHeader(&tar.Header{Name: files[i], Mode: 0o644, Size: int64(len(files[i+1])), Typeflag: tar.TypeReg}))
		_, err := tw.Write([]byte(files[i+1]))
		assert.NilError(t, err)
	}
	assert.NilError(t, tw.Close())
	return b.Bytes()
}

// testImage is an image of the layers (uncompressed tars), stored gzip.
func testImage(t *testing.T, platform string, layers ...[]byte) v1.Image {
	t.Helper()
	img := empty.Image
	for _, l := range layers {
		layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(l)), nil })
		assert.NilError(t, err)
		img, err = mutate.Append(img, mutate.Addendum{Layer: layer, History: v1.History{CreatedBy: "test"}})
		assert.NilError(t, err)
	}
	cf, err := img.ConfigFile()
	assert.NilError(t, err)
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, _ = strings.Cut(platform, "/")
	img, err = mutate.ConfigFile(img, cf)
	assert.NilError(t, err)
	return img
}

func openTestImage(t *testing.T, ref string, opts Options) *registryImage {
	t.Helper()
	opts.TmpDir = t.TempDir()
	img, err := Open(context.Background(), nil, Reference{Transport: Registry, Name: ref}, opts)
	assert.NilError(t, err)
	t.Cleanup(func() { assert.NilError(t, img.Close()) })
	return img.(*registryImage)
}

func TestRegistryLayers(t *testing.T) {
	tr := newTestRegistry(t)
	tars := [][]byte{layerTar(t, "a", "1"), layerTar(t, "b", "2"), layerTar(t, "c", "3")}
	tag := tr.push(t, "app", testImage(t, "linux/amd64", tars...))
	img := openTestImage(t, tag.String(), Options{})
	ctx := context.Background()

	anc, err := img.Ancestry(ctx)
	assert.NilError(t, err)
	want := make([]digest.Digest, len(tars))
	for i, b := range tars {
		want[i] = digest.FromBytes(b)
	}
	assert.DeepEqual(t, anc.DiffIDs(), want)
	assert.Equal(t, len(tr.blobGets()), 1, "opening reads the config, no layer")

	ls, err := img.Layers(ctx, []digest.Digest{want[2], want[0]}, nil)
	assert.NilError(t, err)
	for k, i := range []int{2, 0} {
		b, err := io.ReadAll(io.NewSectionReader(ls[k].R, 0, ls[k].Size))
		assert.NilError(t, err)
		assert.DeepEqual(t, b, tars[i])
	}
	// Asked again, with the one not fetched yet: only that one is.
	_, err = img.Layers(ctx, want, nil)
	assert.NilError(t, err)
	for d, n := range tr.blobGets() {
		assert.Equal(t, n, 1, "blob %s fetched %d times", d, n)
	}
	assert.Equal(t, len(tr.blobGets()), 4) // config + 3 layers
}

// firstLayer is img's bottom layer and its blob digest.
func firstLayer(t *testing.T, img v1.Image) (v1.Layer, v1.Hash) {
	t.Helper()
	layers, err := img.Layers()
	assert.NilError(t, err)
	d, err := layers[0].Digest()
	assert.NilError(t, err)
	return layers[0], d
}

// cutWriter passes the first left bytes of a response body, then fails.
type cutWriter struct {
	http.ResponseWriter
	left int
}

func (c *cutWriter) Write(b []byte) (int, error) {
	if c.left <= 0 {
		return 0, errors.New("cut")
	}
	n := min(len(b), c.left)
	c.left -= n
	n, err := c.ResponseWriter.Write(b[:n])
	c.ResponseWriter.(http.Flusher).Flush()
	if err == nil && c.left == 0 {
		err = errors.New("cut")
	}
	return n, err
}

// A connection that drops mid-blob is resumed from where it stopped,
// with ranged GETs.
func TestRegistryResume(t *testing.T) {
	tr := newTestRegistry(t)
	tars := [][]byte{layerTar(t, "big", strings.Repeat("long enough to be cut twice. ", 4000))}
	img := testImage(t, "linux/amd64", tars...)
	tag := tr.push(t, "app", img)
	layer, ld := firstLayer(t, img)
	var ranges []string
	tr.hook = func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, "/blobs/"+ld.String()) {
			return false
		}
		ranges = append(ranges, r.Header.Get("Range"))
		if len(ranges) > 2 {
			return false
		}
		// A few bytes of the blob, then the connection drops.
		tr.reg.ServeHTTP(&cutWriter{ResponseWriter: w, left: 100}, r)
		panic(http.ErrAbortHandler)
	}
	ri := openTestImage(t, tag.String(), Options{})
	ls, err := ri.Layers(context.Background(), []digest.Digest{digest.FromBytes(tars[0])}, nil)
	assert.NilError(t, err)
	b, err := io.ReadAll(io.NewSectionReader(ls[0].R, 0, ls[0].Size))
	assert.NilError(t, err)
	assert.DeepEqual(t, b, tars[0])
	size, err := layer.Size()
	assert.NilError(t, err)
	end := strconv.FormatInt(size-1, 10)
	assert.DeepEqual(t, ranges, []string{"", "bytes=100-" + end, "bytes=200-" + end})
}

// A blob that is not what its digest says fails, and nothing is kept.
func TestRegistryTampered(t *testing.T) {
	tr := newTestRegistry(t)
	tars := [][]byte{layerTar(t, "a", "1")}
	img := testImage(t, "linux/amd64", tars...)
	tag := tr.push(t, "app", img)
	layer, ld := firstLayer(t, img)
	blob, err := layer.Compressed()
	assert.NilError(t, err)
	data, err := io.ReadAll(blob)
	assert.NilError(t, err)
	data[len(data)-5] ^= 1
	tr.hook = func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, "/blobs/"+ld.String()) {
			return false
		}
		_, _ = w.Write(data)
		return true
	}
	ri := openTestImage(t, tag.String(), Options{})
	_, err = ri.Layers(context.Background(), []digest.Digest{digest.FromBytes(tars[0])}, nil)
	assert.Assert(t, errors.Is(err, extract.ErrDigestMismatch), "%v", err)
	assert.ErrorContains(t, err, "image docker://"+tag.String())
	assert.NilError(t, ri.Close())
	entries, _ := os.ReadDir(ri.opts.TmpDir)
	assert.Equal(t, len(entries), 0, "left in the spool: %v", entries)
}

// basicAuth requires user:password on every request, as a registry with
// htpasswd auth does.
func basicAuth(user, password string) func(w http.ResponseWriter, r *http.Request) bool {
	return func(w http.ResponseWriter, r *http.Request) bool {
		if u, p, ok := r.BasicAuth(); ok && u == user && p == password {
			return false
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`))
		return true
	}
}

type staticKeychain authn.Basic

func (k staticKeychain) Resolve(authn.Resource) (authn.Authenticator, error) {
	b := authn.Basic(k)
	return &b, nil
}

func TestRegistryAuth(t *testing.T) {
	tr := newTestRegistry(t)
	tag := tr.push(t, "app", testImage(t, "linux/amd64", layerTar(t, "a", "1")))
	tr.hook = basicAuth("dl", "s3cret-pw")
	ref := Reference{Transport: Registry, Name: tag.String()}
	for _, kc := range []authn.Keychain{nil, staticKeychain{Username: "dl", Password: "wrong-pw"}} {
		_, err := Open(context.Background(), nil, ref, Options{Keychain: kc})
		assert.Error(t, err, "image docker://"+tag.String()+": unauthorized: authentication required (docker login "+tr.host()+")")
	}
	img, err := Open(context.Background(), nil, ref, Options{Keychain: staticKeychain{Username: "dl", Password: "s3cret-pw"}, TmpDir: t.TempDir()})
	assert.NilError(t, err)
	defer img.Close()
	anc, err := img.Ancestry(context.Background())
	assert.NilError(t, err)
	_, err = img.Layers(context.Background(), anc.DiffIDs(), nil)
	assert.NilError(t, err)
}

func TestRegistryNotFound(t *testing.T) {
	tr := newTestRegistry(t)
	tr.push(t, "app", testImage(t, "linux/amd64", layerTar(t, "a", "1")))
	for _, ref := range []string{tr.host() + "/app:nope", tr.host() + "/other:latest"} {
		_, err := Open(context.Background(), nil, Reference{Transport: Registry, Name: ref}, Options{})
		assert.Error(t, err, "image docker://"+ref+": not found in the registry")
	}
}

// An index's image is picked by --platform, as in an archive.
func TestRegistryPlatform(t *testing.T) {
	tr := newTestRegistry(t)
	amd := testImage(t, "linux/amd64", layerTar(t, "arch", "amd64"))
	arm := testImage(t, "linux/arm64", layerTar(t, "arch", "arm64"))
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
	)
	idx = mutate.IndexMediaType(idx, types.OCIImageIndex)
	tag, err := name.NewTag(tr.host() + "/multi:latest")
	assert.NilError(t, err)
	assert.NilError(t, remote.WriteIndex(tag, idx))

	armDigest, err := arm.Digest()
	assert.NilError(t, err)
	img := openTestImage(t, tag.String(), Options{Platform: &ocispec.Platform{OS: "linux", Architecture: "arm64"}})
	assert.Equal(t, img.manifest.String(), armDigest.String())
	idxDigest, err := idx.Digest()
	assert.NilError(t, err)
	anc, err := img.Ancestry(context.Background())
	assert.NilError(t, err)
	assert.Equal(t, anc.ID, idxDigest.String())

	_, err = Open(context.Background(), nil, Reference{Transport: Registry, Name: tag.String()}, Options{Platform: &ocispec.Platform{OS: "linux", Architecture: "riscv64"}})
	assert.Error(t, err, `image "docker://`+tag.String()+`" has no linux/riscv64: available platforms are linux/amd64, linux/arm64`)
}

// cat of a file of the top layer fetches that layer only.
func TestRegistryOpenTop(t *testing.T) {
	tr := newTestRegistry(t)
	tars := [][]byte{layerTar(t, "a", "bottom", "b", "bottom"), layerTar(t, "c", "middle"), layerTar(t, "a", "top")}
	tag := tr.push(t, "app", testImage(t, "linux/amd64", tars...))
	ctx := context.Background()
	for _, tc := range []struct {
		path, want string
		fetched    int // layer blobs
	}{
		{"/a", "top", 1},
		{"/c", "middle", 2}, // the top one, then the two top ones
		{"b", "bottom", 3},  // then all four (three)
	} {
		sel, err := Select(ctx, nil, Reference{Transport: Registry, Name: tag.String()}, nil, Options{TmpDir: t.TempDir()})
		assert.NilError(t, err)
		before := tr.blobGets()
		f, err := sel.Open(ctx, tc.path)
		assert.NilError(t, err)
		b, err := io.ReadAll(f)
		assert.NilError(t, err)
		assert.Equal(t, string(b), tc.want)
		fetched := 0
		for d, n := range tr.blobGets() {
			fetched += n - before[d]
		}
		assert.Equal(t, fetched, tc.fetched, tc.path)
		assert.NilError(t, sel.Close())
	}
}

// An index nested in an index is searched too, beside its siblings.
func TestRegistryNestedIndex(t *testing.T) {
	tr := newTestRegistry(t)
	amd := testImage(t, "linux/amd64", layerTar(t, "arch", "amd64"))
	arm := testImage(t, "linux/arm64", layerTar(t, "arch", "arm64"))
	nested := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}})
	outer := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: nested},
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
	)
	tag, err := name.NewTag(tr.host() + "/nested:latest")
	assert.NilError(t, err)
	assert.NilError(t, remote.WriteIndex(tag, outer))
	for arch, img := range map[string]v1.Image{"amd64": amd, "arm64": arm} {
		want, err := img.Digest()
		assert.NilError(t, err)
		ri := openTestImage(t, tag.String(), Options{Platform: &ocispec.Platform{OS: "linux", Architecture: arch}})
		assert.Equal(t, ri.manifest.String(), want.String(), arch)
	}
}

// A transient failure of the manifest request is retried.
func TestRegistryRetry(t *testing.T) {
	tr := newTestRegistry(t)
	tag := tr.push(t, "app", testImage(t, "linux/amd64", layerTar(t, "a", "1")))
	failed := 0
	tr.hook = func(w http.ResponseWriter, r *http.Request) bool {
		if strings.Contains(r.URL.Path, "/manifests/") && failed == 0 {
			failed++
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}
		return false
	}
	openTestImage(t, tag.String(), Options{})
	assert.Equal(t, failed, 1)
}

// A blob redirected to storage that fails shows no signed query.
func TestRegistryRedirectRedacted(t *testing.T) {
	tr := newTestRegistry(t)
	tars := [][]byte{layerTar(t, "a", "1")}
	img := testImage(t, "linux/amd64", tars...)
	tag := tr.push(t, "app", img)
	_, ld := firstLayer(t, img)
	tr.hook = func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, "/blobs/"+ld.String()) {
			return false
		}
		http.Redirect(w, r, "http://127.0.0.1:1/blob?X-Amz-Signature=SECRETSIG&token=SECRETTOK", http.StatusTemporaryRedirect)
		return true
	}
	ri := openTestImage(t, tag.String(), Options{})
	_, err := ri.Layers(context.Background(), []digest.Digest{digest.FromBytes(tars[0])}, nil)
	assert.ErrorContains(t, err, "127.0.0.1:1/blob?…")
	assert.Assert(t, !strings.Contains(err.Error(), "SECRET"), err.Error())
}
