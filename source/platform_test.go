package source

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/platforms"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/system"
	"github.com/docker/docker/client"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"gotest.tools/v3/assert"
)

// fakeImage is one platform of the fake daemon's multi-platform image.
type fakeImage struct {
	platform ocispec.Platform
	layers   [][]byte // uncompressed tars
	config   []byte
	cfg      dockerspec.DockerOCIImage
	manifest []byte
	blobs    map[digest.Digest][]byte // compressed layers
	mdesc    ocispec.Descriptor
}

func fakeLayer(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range []string{"etc/common", "platform.txt", "extra"} {
		body, ok := files[name]
		if !ok {
			continue
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(body)), ModTime: time.Unix(1700000000, 0)}); err != nil {
			t.Fatal(err)
		}
		_, _ = tw.Write([]byte(body))
	}
	assert.NilError(t, tw.Close())
	return buf.Bytes()
}

func newFakeImage(t *testing.T, p ocispec.Platform, layers ...[]byte) *fakeImage {
	t.Helper()
	img := &fakeImage{platform: p, layers: layers, blobs: map[digest.Digest][]byte{}}
	created := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	img.cfg = dockerspec.DockerOCIImage{
		Image: ocispec.Image{Created: &created, Author: "fake", Platform: p, RootFS: ocispec.RootFS{Type: "layers"}},
		Config: dockerspec.DockerOCIImageConfig{
			ImageConfig: ocispec.ImageConfig{
				Env:    []string{"PATH=/usr/bin", "PLATFORM=" + platforms.Format(p)},
				Cmd:    []string{"x"},
				Labels: map[string]string{"platform": platforms.Format(p)},
			},
			DockerOCIImageConfigExt: dockerspec.DockerOCIImageConfigExt{
				Healthcheck: &dockerspec.HealthcheckConfig{Test: []string{"CMD", "true"}, Interval: 30 * time.Second},
				Shell:       []string{"/bin/sh", "-c"},
			},
		},
	}
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest}
	m.SchemaVersion = 2
	for i, l := range layers {
		img.cfg.RootFS.DiffIDs = append(img.cfg.RootFS.DiffIDs, digest.FromBytes(l))
		img.cfg.History = append(img.cfg.History, ocispec.History{Created: &created, CreatedBy: fmt.Sprintf("%s layer %d", platforms.Format(p), i)})
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		_, _ = zw.Write(l)
		assert.NilError(t, zw.Close())
		d := digest.FromBytes(gz.Bytes())
		img.blobs[d] = gz.Bytes()
		m.Layers = append(m.Layers, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: d, Size: int64(gz.Len())})
	}
	img.cfg.History = append(img.cfg.History, ocispec.History{Created: &created, CreatedBy: "CMD [\"x\"]", EmptyLayer: true})
	img.config = mustMarshal(t, img.cfg)
	m.Config = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(img.config), Size: int64(len(img.config))}
	img.manifest = mustMarshal(t, m)
	img.mdesc = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(img.manifest), Size: int64(len(img.manifest)), Platform: &p}
	return img
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	assert.NilError(t, err)
	return b
}

// fakeDaemon serves the Engine API calls loadPlatform and extract make,
// for one multi-platform image "multi:latest" (the containerd store) or
// its first platform only (graphdriver store). Like the real daemons, it
// answers for the host's platform (the first) unless the request names
// another, which only API 1.49 clients do.
type fakeDaemon struct {
	api        string
	containerd bool
	imgs       []*fakeImage
	index      []byte
	indexID    digest.Digest

	mu       sync.Mutex
	requests []string // path?query of each request, without the version
}

func newFakeDaemon(t *testing.T, api string, containerd bool, imgs ...*fakeImage) (*fakeDaemon, client.APIClient) {
	t.Helper()
	f := &fakeDaemon{api: api, containerd: containerd, imgs: imgs}
	if !containerd {
		f.imgs = imgs[:1]
	}
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex}
	idx.SchemaVersion = 2
	for _, img := range f.imgs {
		idx.Manifests = append(idx.Manifests, img.mdesc)
	}
	f.index = mustMarshal(t, idx)
	f.indexID = digest.FromBytes(f.index)
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c, err := client.NewClientWithOpts(client.WithHost("tcp://"+srv.Listener.Addr().String()), client.WithAPIVersionNegotiation())
	assert.NilError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return f, c
}

func (f *fakeDaemon) id() string {
	if f.containerd {
		return f.indexID.String()
	}
	return f.imgs[0].mdesc.Digest.String()
}

var versioned = regexp.MustCompile(`^/v[0-9.]+(/.*)$`)

func (f *fakeDaemon) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("API-Version", f.api)
	path := r.URL.Path
	if m := versioned.FindStringSubmatch(path); m != nil {
		path = m[1]
	}
	if path == "/_ping" {
		_, _ = io.WriteString(w, "OK")
		return
	}
	f.mu.Lock()
	f.requests = append(f.requests, path+"?"+r.URL.RawQuery)
	f.mu.Unlock()
	img := f.imgs[0]
	if q := r.URL.Query().Get("platform"); q != "" {
		var p ocispec.Platform
		if err := json.Unmarshal([]byte(q), &p); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		img = nil
		for _, i := range f.imgs {
			if platforms.Format(platforms.Normalize(i.platform)) == platforms.Format(platforms.Normalize(p)) {
				img = i
			}
		}
		if img == nil {
			http.Error(w, `{"message":"image does not provide the specified platform"}`, http.StatusNotFound)
			return
		}
	}
	switch {
	case path == "/info":
		var info system.Info
		if f.containerd {
			info.DriverStatus = [][2]string{{"driver-type", "io.containerd.snapshotter.v1"}}
		} else {
			info.DriverStatus = [][2]string{{"Backing Filesystem", "extfs"}}
		}
		_ = json.NewEncoder(w).Encode(info)
	case path == "/images/multi:latest/json" || path == "/images/"+f.id()+"/json":
		// Like Docker 29: asked for a platform, the containerd store
		// answers with the platform's manifest digest as the ID, which no
		// other call resolves.
		id := f.id()
		if f.containerd && r.URL.Query().Get("platform") != "" {
			id = img.mdesc.Digest.String()
		}
		resp := image.InspectResponse{
			ID: id, RepoTags: []string{"multi:latest"},
			Os: img.platform.OS, Architecture: img.platform.Architecture, Variant: img.platform.Variant,
			Created: img.cfg.Created.Format(time.RFC3339Nano), Author: img.cfg.Author, Config: &img.cfg.Config,
			RootFS: image.RootFS{Type: "layers"},
		}
		for _, d := range img.cfg.RootFS.DiffIDs {
			resp.RootFS.Layers = append(resp.RootFS.Layers, d.String())
		}
		if f.containerd && r.URL.Query().Get("manifests") == "1" {
			for _, i := range f.imgs {
				resp.Manifests = append(resp.Manifests, image.ManifestSummary{
					ID: i.mdesc.Digest.String(), Descriptor: i.mdesc, Available: true, Kind: image.ManifestKindImage,
					ImageData: &image.ImageProperties{Platform: i.platform},
				})
			}
		}
		_ = json.NewEncoder(w).Encode(resp)
	case path == "/images/"+f.id()+"/history":
		var hist []image.HistoryResponseItem
		for _, h := range img.cfg.History {
			size := int64(0)
			if !h.EmptyLayer {
				size = 100
			}
			hist = append([]image.HistoryResponseItem{{ID: "<missing>", Created: h.Created.Unix(), CreatedBy: h.CreatedBy, Size: size}}, hist...)
		}
		hist[0].ID = f.id()
		_ = json.NewEncoder(w).Encode(hist)
	case path == "/images/get":
		_, _ = w.Write(f.save(r.URL.Query().Get("platform") != "", img))
	default:
		http.Error(w, `{"message":"No such image: `+path+`"}`, http.StatusNotFound)
	}
}

// save writes the image's save stream, in the containerd store's layout
// (index.json → image index → manifests) or the graphdriver's. With one,
// only that platform's blobs are in it.
func (f *fakeDaemon) save(one bool, only *fakeImage) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(name string, b []byte) {
		_ = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o444, Size: int64(len(b))})
		_, _ = tw.Write(b)
	}
	blob := func(b []byte) { add("blobs/sha256/"+digest.FromBytes(b).Encoded(), b) }
	for _, img := range f.imgs {
		if one && img != only {
			continue
		}
		for _, b := range img.blobs {
			add("blobs/sha256/"+digest.FromBytes(b).Encoded(), b)
		}
		blob(img.config)
		blob(img.manifest)
	}
	top := f.imgs[0].mdesc
	if f.containerd {
		blob(f.index)
		top = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: f.indexID, Size: int64(len(f.index))}
	}
	top.Platform = nil
	top.Annotations = map[string]string{"io.containerd.image.name": "docker.io/library/multi:latest"}
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{top}}
	idx.SchemaVersion = 2
	b, _ := json.Marshal(idx)
	add("index.json", b)
	add("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`))
	_ = tw.Close()
	return buf.Bytes()
}

// platformParams lists the requests that named a platform.
func (f *fakeDaemon) platformParams() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, r := range f.requests {
		if strings.Contains(r, "platform=") {
			out = append(out, r[:strings.IndexByte(r, '?')])
		}
	}
	return out
}

// since returns the requests made after the first n.
func (f *fakeDaemon) since(n int) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.requests[n:]...)
}

func (f *fakeDaemon) called(path string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.requests {
		if strings.HasPrefix(r, path+"?") {
			return true
		}
	}
	return false
}

// TestDaemonPlatform drives the daemon source with --platform against fake
// daemons of each API generation and image store: API 1.49 passes the
// platform to ImageInspect, ImageHistory and ImageSave; older containerd
// stores are read through the image's save stream; graphdriver images
// have one platform.
func TestDaemonPlatform(t *testing.T) {
	amd := ocispec.Platform{OS: "linux", Architecture: "amd64"}
	arm := ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}
	common := fakeLayer(t, map[string]string{"etc/common": "shared"})
	amdImg := newFakeImage(t, amd, common, fakeLayer(t, map[string]string{"platform.txt": "linux/amd64"}))
	armImg := newFakeImage(t, arm, common, fakeLayer(t, map[string]string{"platform.txt": "linux/arm64/v8"}), fakeLayer(t, map[string]string{"extra": "arm only"}))
	s390x := ocispec.Platform{OS: "linux", Architecture: "s390x"}
	armWant := platforms.Normalize(platforms.MustParse("linux/arm64"))

	tests := []struct {
		name       string
		api        string
		containerd bool
		want       ocispec.Platform
		img        *fakeImage // the platform whose layers come back; nil: an error
		err        string
		// platformCalls are the requests that must carry the platform;
		// none other may.
		platformCalls []string
		// saveForMetadata: the ancestry needed the image's save stream.
		saveForMetadata bool
	}{
		{name: "1.49 containerd other platform", api: "1.49", containerd: true, want: armWant, img: armImg,
			platformCalls: []string{"/images/ID/json", "/images/ID/history", "/images/get"}},
		{name: "1.49 containerd host platform", api: "1.49", containerd: true, want: amd, img: amdImg,
			platformCalls: []string{"/images/ID/json", "/images/ID/history", "/images/get"}},
		{name: "1.49 containerd absent", api: "1.49", containerd: true, want: s390x,
			err: `image "multi:latest" has no linux/s390x: available platforms are linux/amd64, linux/arm64`},
		{name: "1.49 graphdriver match", api: "1.49", want: amd, img: amdImg},
		{name: "1.49 graphdriver mismatch", api: "1.49", want: armWant,
			err: `image "multi:latest" has no linux/arm64: its only platform is linux/amd64`},
		{name: "1.45 containerd other platform", api: "1.45", containerd: true, want: armWant, img: armImg, saveForMetadata: true},
		{name: "1.48 containerd other platform", api: "1.48", containerd: true, want: armWant, img: armImg, saveForMetadata: true},
		{name: "1.45 containerd host platform", api: "1.45", containerd: true, want: amd, img: amdImg},
		{name: "1.45 containerd absent", api: "1.45", containerd: true, want: s390x, saveForMetadata: true,
			err: `image "multi:latest" has no linux/s390x: available platforms are linux/amd64, linux/arm64`},
		{name: "1.45 graphdriver mismatch", api: "1.45", want: armWant,
			err: `image "multi:latest" has no linux/arm64: its only platform is linux/amd64`},
		{name: "1.41 graphdriver match", api: "1.41", want: amd, img: amdImg},
		{name: "1.41 graphdriver mismatch", api: "1.41", want: s390x,
			err: `image "multi:latest" has no linux/s390x: its only platform is linux/amd64`},
	}
	ctx := context.Background()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, c := newFakeDaemon(t, tc.api, tc.containerd, amdImg, armImg)
			tmp := t.TempDir()
			p := tc.want
			opts := Options{TmpDir: tmp, Platform: &p}
			src, err := Open(ctx, c, Reference{Transport: Daemon, Name: "multi:latest"}, opts)
			assert.NilError(t, err)
			defer func() { assert.NilError(t, src.Close()) }()
			anc, err := src.Ancestry(ctx)
			if tc.img == nil {
				assert.Error(t, err, tc.err)
				assert.Check(t, !f.called("/images/get") || tc.saveForMetadata, "ImageSave called: %v", f.requests)
				assert.Check(t, f.platformParams() == nil || tc.api == "1.49")
				return
			}
			assert.NilError(t, err)
			assert.DeepEqual(t, anc.DiffIDs(), tc.img.cfg.RootFS.DiffIDs)
			assert.Equal(t, anc.ID, f.id())
			assert.Equal(t, anc.Steps[0].CreatedBy, tc.img.cfg.History[0].CreatedBy)
			assert.Equal(t, f.called("/images/get"), tc.saveForMetadata, "%v", f.requests)

			// A tag in a layer spec resolves to its layers of the platform.
			ids, err := src.TagLookup()(ctx, "multi:latest")
			assert.NilError(t, err)
			assert.DeepEqual(t, ids, tc.img.cfg.RootFS.DiffIDs)

			ls, err := src.Layers(ctx, anc.DiffIDs(), nil)
			assert.NilError(t, err)
			for i, l := range ls {
				b, err := io.ReadAll(io.NewSectionReader(l.R, 0, l.Size))
				assert.NilError(t, err)
				assert.Check(t, bytes.Equal(b, tc.img.layers[i]), "layer %d", i)
			}
			var want []string
			for _, call := range tc.platformCalls {
				want = append(want, strings.ReplaceAll(call, "/ID/", "/"+f.id()+"/"))
			}
			if len(want) > 0 {
				// The tag lookup repeats the inspect and history calls
				// before the layers are saved.
				want = []string{want[0], want[1], want[0], want[1], want[2]}
			}
			assert.DeepEqual(t, f.platformParams(), want)

			// squash's view: the image as stored, of the same platform.
			_, stored, err := src.Stored(ctx)
			assert.NilError(t, err)
			assert.DeepEqual(t, stored.Config.RootFS.DiffIDs, tc.img.cfg.RootFS.DiffIDs)

			// compare's view: the config of the same platform, from one
			// ImageInspect, or from the save stream the ancestry was
			// read from, without another save.
			n := len(f.since(0))
			cfg, err := src.Config(ctx)
			assert.NilError(t, err)
			assert.DeepEqual(t, *cfg, tc.img.cfg)
			var wantCalls []string
			if !tc.saveForMetadata {
				inspectCall := "/images/" + f.id() + "/json?"
				if len(tc.platformCalls) > 0 {
					inspectCall += "platform=" + url.QueryEscape(string(mustMarshal(t, p)))
				}
				wantCalls = []string{inspectCall}
			}
			assert.DeepEqual(t, f.since(n), wantCalls)
		})
	}
}

// TestArchivePlatform: --platform selects in an --input archive, and an
// absent platform gives the same error as the daemon's.
func TestArchivePlatform(t *testing.T) {
	amd := ocispec.Platform{OS: "linux", Architecture: "amd64"}
	arm := ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}
	amdImg := newFakeImage(t, amd, fakeLayer(t, map[string]string{"platform.txt": "linux/amd64"}))
	armImg := newFakeImage(t, arm, fakeLayer(t, map[string]string{"platform.txt": "linux/arm64/v8"}))
	f, _ := newFakeDaemon(t, "1.45", true, amdImg, armImg)
	name := filepath.Join(t.TempDir(), "saved.tar")
	assert.NilError(t, os.WriteFile(name, f.save(false, nil), 0o644))
	armWant := platforms.Normalize(platforms.MustParse("linux/arm64/v8"))
	tests := []struct {
		platform ocispec.Platform
		ref      string
		img      *fakeImage
		err      string
	}{
		{platform: armWant, img: armImg},
		{platform: amd, ref: "multi", img: amdImg},
		{platform: ocispec.Platform{OS: "linux", Architecture: "riscv64"},
			err: `image "multi:latest" has no linux/riscv64: available platforms are linux/amd64, linux/arm64`},
		{platform: ocispec.Platform{OS: "linux", Architecture: "riscv64"}, ref: "multi",
			err: `image "multi" has no linux/riscv64: available platforms are linux/amd64, linux/arm64`},
	}
	for _, tc := range tests {
		p := tc.platform
		ref, err := FromInput(name, tc.ref)
		assert.NilError(t, err)
		src, err := Open(context.Background(), nil, ref, Options{Platform: &p})
		if tc.img == nil {
			assert.Error(t, err, tc.err)
			continue
		}
		assert.NilError(t, err)
		anc, err := src.Ancestry(context.Background())
		assert.NilError(t, err)
		assert.DeepEqual(t, anc.DiffIDs(), tc.img.cfg.RootFS.DiffIDs)
		cfg, err := src.Config(context.Background())
		assert.NilError(t, err)
		assert.DeepEqual(t, *cfg, tc.img.cfg)
		assert.NilError(t, src.Close())
	}
}

// TestDaemonStoredHostPlatform: without --platform, the image as stored
// (squash's view) is the platform the daemon described, its host's, not
// this machine's, also when the save stream holds every platform.
func TestDaemonStoredHostPlatform(t *testing.T) {
	amd := ocispec.Platform{OS: "linux", Architecture: "amd64"}
	s390x := ocispec.Platform{OS: "linux", Architecture: "s390x"}
	common := fakeLayer(t, map[string]string{"etc/common": "shared"})
	hostImg := newFakeImage(t, s390x, common, fakeLayer(t, map[string]string{"platform.txt": "linux/s390x"}), fakeLayer(t, map[string]string{"extra": "s390x only"}))
	amdImg := newFakeImage(t, amd, common, fakeLayer(t, map[string]string{"platform.txt": "linux/amd64"}))
	for _, api := range []string{"1.45", "1.49"} {
		_, c := newFakeDaemon(t, api, true, hostImg, amdImg)
		ctx := context.Background()
		src, err := Open(ctx, c, Reference{Transport: Daemon, Name: "multi:latest"}, Options{TmpDir: t.TempDir()})
		assert.NilError(t, err)
		anc, err := src.Ancestry(ctx)
		assert.NilError(t, err)
		assert.DeepEqual(t, anc.DiffIDs(), hostImg.cfg.RootFS.DiffIDs)
		_, stored, err := src.Stored(ctx)
		assert.NilError(t, err, api)
		assert.DeepEqual(t, stored.Config.RootFS.DiffIDs, hostImg.cfg.RootFS.DiffIDs)
		cfg, err := src.Config(ctx)
		assert.NilError(t, err, api)
		assert.DeepEqual(t, *cfg, hostImg.cfg)
		assert.NilError(t, src.Close())
	}
}
