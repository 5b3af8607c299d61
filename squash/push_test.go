package squash

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker-layers/docker-layers/registry"
	"github.com/docker-layers/docker-layers/source"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// testRegistry is go-containerregistry's in-memory registry behind a
// handler that counts the blob uploads and mounts, and gives each
// repository its own blobs as distribution does (the in-memory registry
// shares them between repositories and does not mount): a blob is in a
// repository once it was uploaded or mounted into it.
type testRegistry struct {
	host string
	mu   sync.Mutex
	has  map[string]bool // repo + "@" + digest
	log  []string        // "METHOD repo what" of the uploads, mounts and blob GETs
}

func newTestRegistry(t *testing.T) *testRegistry {
	r := &testRegistry{has: map[string]bool{}}
	next := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		repo, rest, ok := strings.Cut(strings.TrimPrefix(req.URL.Path, "/v2/"), "/blobs/")
		if !ok {
			next.ServeHTTP(w, req)
			return
		}
		q := req.URL.Query()
		r.mu.Lock()
		defer r.mu.Unlock()
		switch {
		case (req.Method == http.MethodHead || req.Method == http.MethodGet) && !strings.HasPrefix(rest, "uploads/"):
			if !r.has[repo+"@"+rest] {
				http.Error(w, `{"errors":[{"code":"BLOB_UNKNOWN"}]}`, http.StatusNotFound)
				return
			}
			if req.Method == http.MethodGet {
				r.log = append(r.log, "GET "+repo+" "+rest)
			}
		case req.Method == http.MethodPost && q.Get("mount") != "":
			d, from := q.Get("mount"), q.Get("from")
			r.log = append(r.log, "MOUNT "+repo+" "+d+" from "+from)
			if from != "" && r.has[from+"@"+d] {
				r.has[repo+"@"+d] = true
				w.Header().Set("Location", "/v2/"+repo+"/blobs/"+d)
				w.WriteHeader(http.StatusCreated)
				return
			}
			r.log = append(r.log, "POST "+repo)
		case req.Method == http.MethodPost:
			r.log = append(r.log, "POST "+repo)
		case req.Method == http.MethodPatch:
			r.log = append(r.log, "PATCH "+repo)
		case req.Method == http.MethodPut:
			r.log = append(r.log, "PUT "+repo+" "+q.Get("digest"))
			rec := &statusRecorder{ResponseWriter: w}
			next.ServeHTTP(rec, req)
			if rec.status == http.StatusCreated {
				r.has[repo+"@"+q.Get("digest")] = true
			}
			return
		}
		next.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	r.host = strings.TrimPrefix(srv.URL, "http://")
	return r
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// since returns the log from n on.
func (r *testRegistry) since(n int) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.log[n:]...)
}

func (r *testRegistry) mark() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.log)
}

// count counts the log lines that start with prefix.
func count(log []string, prefix string) int {
	n := 0
	for _, l := range log {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}

// manifest reads repo:tag's manifest and config from the registry.
func (r *testRegistry) manifest(t *testing.T, repo, tag string) (ocispec.Manifest, []byte, []byte) {
	t.Helper()
	get := func(path, accept string) []byte {
		req, _ := http.NewRequest(http.MethodGet, "http://"+r.host+"/v2/"+repo+path, nil)
		req.Header.Set("Accept", accept)
		resp, err := http.DefaultClient.Do(req)
		assert.NilError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		assert.NilError(t, err)
		assert.Equal(t, resp.StatusCode, http.StatusOK, "GET %s: %s", path, b)
		return b
	}
	mb := get("/manifests/"+tag, ocispec.MediaTypeImageManifest+", "+mediaTypeDockerManifest)
	var m ocispec.Manifest
	assert.NilError(t, json.Unmarshal(mb, &m))
	n := r.mark()
	cfg := get("/blobs/"+m.Config.Digest.String(), "*/*")
	r.mu.Lock()
	r.log = r.log[:n] // the test's own GET
	r.mu.Unlock()
	return m, mb, cfg
}

// blob reads a blob of repo, without counting it.
func (r *testRegistry) blob(t *testing.T, repo string, d digest.Digest) []byte {
	t.Helper()
	n := r.mark()
	resp, err := http.Get("http://" + r.host + "/v2/" + repo + "/blobs/" + d.String())
	assert.NilError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	assert.NilError(t, err)
	r.mu.Lock()
	r.log = r.log[:n]
	r.mu.Unlock()
	return b
}

// seed pushes the test image, its layers gzipped, to repo:latest with
// registry.Push, and returns the layer blobs.
func (r *testRegistry) seed(t *testing.T, repo string) [][]byte {
	t.Helper()
	_, img, blobs := saveStream(t, "containerd")
	cfg := testConfig(img.DiffIDs)
	mf := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(cfg), Size: int64(len(cfg))}}
	mf.SchemaVersion = 2
	var layers []registry.Blob
	for _, b := range blobs {
		desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: digest.FromBytes(b), Size: int64(len(b))}
		mf.Layers = append(mf.Layers, desc)
		layers = append(layers, registry.Blob{Desc: desc, Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }})
	}
	mb, _ := json.Marshal(mf)
	_, err := registry.Push(context.Background(), r.host+"/"+repo+":latest", registry.Image{Manifest: mb, Config: cfg, Layers: layers}, registry.PushOptions{})
	assert.NilError(t, err)
	return blobs
}

// pushWith squashes layers 1..2 of ref (a source reference) and pushes the
// new image to target.
func pushWith(t *testing.T, ref source.Reference, target string, opts Options) (*Result, map[digest.Digest]string) {
	t.Helper()
	ctx := context.Background()
	sel, err := source.Select(ctx, nil, ref, []string{"1:2"}, source.Options{TmpDir: opts.TmpDir})
	assert.NilError(t, err)
	defer func() { assert.NilError(t, sel.Close()) }()
	from, to, err := sel.Range()
	assert.NilError(t, err)
	src, err := sel.Pushable(ctx)
	assert.NilError(t, err)
	opts.From, opts.To = from, to
	var mu sync.Mutex
	present := map[digest.Digest]string{}
	opts.Present = func(d digest.Digest, from string) {
		mu.Lock()
		defer mu.Unlock()
		present[d] = "exists"
		if from != "" {
			present[d] = "mounted from " + from
		}
	}
	res, err := Push(ctx, target, src, opts)
	assert.NilError(t, err)
	return res, present
}

func TestPush(t *testing.T) {
	reg := newTestRegistry(t)
	srcBlobs := reg.seed(t, "src/img")
	stream, img, _ := saveStream(t, "containerd")
	created := time.Date(2025, 6, 7, 8, 9, 10, 0, time.UTC)

	// What squash -o writes for the same range.
	var out bytes.Buffer
	want, err := write(t, &out, stream, Options{From: 1, To: 2, Created: created, Containerd: true})
	assert.NilError(t, err)
	files, _ := readArchive(t, out.Bytes())
	wantConfig := files[blobPath(want.Config)]

	archive := filepath.Join(t.TempDir(), "img.tar")
	assert.NilError(t, os.WriteFile(archive, stream, 0o600))
	kept := []int{0, 3}
	for _, tc := range []struct {
		name    string
		ref     source.Reference
		target  string // repository
		uploads int    // blob uploads (POST without mount, PATCH, PUT)
		mounts  int
		present string // how the kept layers were not uploaded
	}{
		// The kept layers are there: only the new layer and the config.
		{name: "same repository", ref: source.Reference{Transport: source.Registry, Name: reg.host + "/src/img:latest"}, target: "src/img", uploads: 2},
		// Another repository of the same registry: the kept layers are
		// mounted from the source's.
		{name: "mounted", ref: source.Reference{Transport: source.Registry, Name: reg.host + "/src/img:latest"}, target: "other/img", uploads: 2, mounts: 2, present: "mounted from " + reg.host + "/src/img"},
		// From an archive, into a new repository: everything is uploaded.
		{name: "archive", ref: source.Reference{Transport: source.DockerArchive, Path: archive}, target: "arch/img", uploads: 4},
		// The same again: the manifest is there, nothing is uploaded.
		{name: "archive again", ref: source.Reference{Transport: source.DockerArchive, Path: archive}, target: "arch/img", present: "exists"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmp := t.TempDir()
			n := reg.mark()
			res, present := pushWith(t, tc.ref, reg.host+"/"+tc.target+":sq", Options{Created: created, TmpDir: tmp})
			log := reg.since(n)
			if left, _ := os.ReadDir(tmp); len(left) != 0 {
				t.Errorf("the spool directory holds %d entries", len(left))
			}
			for _, what := range []string{"POST", "PATCH", "PUT"} {
				assert.Check(t, is.Equal(count(log, what+" "+tc.target), tc.uploads), "%s: %q", what, log)
			}
			assert.Check(t, is.Equal(count(log, "MOUNT "+tc.target), tc.mounts), "%q", log)
			// The layer above the range is never fetched.
			assert.Check(t, is.Equal(count(log, "GET src/img "+digest.FromBytes(srcBlobs[3]).String()), 0), "%q", log)

			m, mb, cfg := reg.manifest(t, tc.target, "sq")
			assert.Check(t, is.Equal(digest.FromBytes(mb), res.Manifest))
			assert.Check(t, is.Equal(string(cfg), string(wantConfig)), "the config is not squash -o's")
			var c ocispec.Image
			assert.NilError(t, json.Unmarshal(cfg, &c))
			assert.Check(t, is.DeepEqual(c.RootFS.DiffIDs, want.DiffIDs))
			assert.Check(t, is.DeepEqual(res.DiffIDs, want.DiffIDs))
			assert.Assert(t, is.Len(m.Layers, 3))
			for k, i := range kept {
				l := m.Layers[k*2]
				assert.Check(t, is.Equal(l.Digest, digest.FromBytes(srcBlobs[i])), "kept layer %d", i)
				assert.Check(t, is.Equal(l.MediaType, ocispec.MediaTypeImageLayerGzip))
				if tc.present != "" {
					assert.Check(t, is.Equal(present[img.DiffIDs[i]], tc.present), "kept layer %d", i)
				}
			}
			sq := m.Layers[1]
			assert.Check(t, is.Equal(sq.MediaType, ocispec.MediaTypeImageLayerGzip))
			assert.Check(t, is.Equal(sq.Digest, want.LayerBlob), "the squashed layer is not squash -o's")
			zr, err := gzip.NewReader(bytes.NewReader(reg.blob(t, tc.target, sq.Digest)))
			assert.NilError(t, err)
			raw, err := io.ReadAll(zr)
			assert.NilError(t, err)
			assert.Check(t, is.Equal(digest.FromBytes(raw), want.Layer))
		})
	}
}

func TestPushErrors(t *testing.T) {
	reg := newTestRegistry(t)
	reg.seed(t, "src/img")
	stream, _, _ := saveStream(t, "oci")
	archive := filepath.Join(t.TempDir(), "img.tar")
	assert.NilError(t, os.WriteFile(archive, stream, 0o600))
	ref := source.Reference{Transport: source.DockerArchive, Path: archive}
	locked := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
		http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
	}))
	defer locked.Close()
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	for _, tc := range []struct {
		name, target, want string
	}{
		{name: "unauthorized", target: strings.TrimPrefix(locked.URL, "http://") + "/err/x:sq", want: "unauthorized: authentication required (docker login " + strings.TrimPrefix(locked.URL, "http://") + ")"},
		{name: "unreachable", target: strings.TrimPrefix(gone.URL, "http://") + "/err/x:sq", want: "connection refused"},
		{name: "a digest", target: reg.host + "/err/x@sha256:" + strings.Repeat("0", 64), want: "push to a tag, not a digest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmp := t.TempDir()
			ctx := context.Background()
			sel, err := source.Select(ctx, nil, ref, []string{"1:2"}, source.Options{TmpDir: tmp})
			assert.NilError(t, err)
			src, err := sel.Pushable(ctx)
			assert.NilError(t, err)
			_, err = Push(ctx, tc.target, src, Options{From: 1, To: 2, TmpDir: tmp})
			assert.NilError(t, sel.Close())
			assert.ErrorContains(t, err, tc.want)
			assert.Check(t, !strings.Contains(err.Error(), "\n"), "%q", err)
			if left, _ := os.ReadDir(tmp); len(left) != 0 {
				t.Errorf("the spool directory holds %d entries", len(left))
			}
		})
	}
}
