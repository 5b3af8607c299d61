package squash

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/distribution/reference"
	"github.com/docker-layers/docker-layers/extract"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"gotest.tools/v3/assert"
)

// testImage is what a test knows of the image in its save stream.
type testImage struct {
	ID      string
	DiffIDs []digest.Digest
}

// write opens stream as an archive and squashes its one image.
func write(t *testing.T, w io.Writer, stream []byte, opts Options) (*Result, error) {
	t.Helper()
	a, err := extract.ReadArchive(context.Background(), bytes.NewReader(stream), extract.Options{TmpDir: opts.TmpDir})
	if err != nil {
		return nil, err
	}
	defer func() { assert.NilError(t, a.Close()) }()
	img, err := a.Image("")
	if err != nil {
		return nil, err
	}
	return Write(context.Background(), w, a, img, opts)
}

type tarFile struct {
	name, body string
	link       string // a symlink when set
}

func tarOf(t *testing.T, files []tarFile) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(f.body)), ModTime: time.Unix(1700000000, 0)}
		if strings.HasSuffix(f.name, "/") {
			h.Typeflag, h.Mode = tar.TypeDir, 0o755
		}
		if f.link != "" {
			h.Typeflag, h.Linkname, h.Size = tar.TypeSymlink, f.link, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(f.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipped(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// testLayers: layer 1 deletes a file of layer 0, so squashing 1..2 must
// keep that whiteout.
func testLayers(t *testing.T) [][]byte {
	return [][]byte{
		tarOf(t, []tarFile{{name: "a/"}, {name: "a/x", body: "x"}, {name: "a/y", body: "y"}}),
		tarOf(t, []tarFile{{name: "a/.wh.x"}, {name: "b", body: "b1"}}),
		tarOf(t, []tarFile{{name: "b", body: "b2"}, {name: "c", body: "c"}}),
		tarOf(t, []tarFile{{name: "d", body: "d"}}),
	}
}

func testConfig(diffs []digest.Digest) []byte {
	var hist []map[string]any
	for i := range diffs {
		hist = append(hist, map[string]any{"created_by": fmt.Sprintf("step %d", i)})
		hist = append(hist, map[string]any{"created_by": fmt.Sprintf("env %d", i), "empty_layer": true})
	}
	b, _ := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux", "created": "2025-01-02T03:04:05.5Z",
		"config":  map[string]any{"Env": []string{"A=1"}},
		"rootfs":  map[string]any{"type": "layers", "diff_ids": diffs},
		"history": hist,
	})
	return b
}

// saveStream writes a save stream of the test image in one of Docker's
// layouts, and returns it with the image's ID and the layer blobs as the
// stream holds them.
func saveStream(t *testing.T, layout string) ([]byte, testImage, [][]byte) {
	return saveStreamOf(t, layout, testLayers(t))
}

func saveStreamOf(t *testing.T, layout string, layers [][]byte) ([]byte, testImage, [][]byte) {
	var diffs []digest.Digest
	for _, l := range layers {
		diffs = append(diffs, digest.FromBytes(l))
	}
	cfg := testConfig(diffs)
	cfgD := digest.FromBytes(cfg)
	var files []tarFile
	blobs := layers
	switch layout {
	case "legacy", "legacy-v1ids":
		var paths []string
		parent := ""
		for i, l := range layers {
			v1, js := digest.FromString(fmt.Sprint("v1 ", i)).Encoded(), "{}"
			if layout == "legacy-v1ids" {
				v1, js = dockerV1(diffs, i, parent)
				parent = v1
			}
			files = append(files, tarFile{name: v1 + "/layer.tar", body: string(l)}, tarFile{name: v1 + "/json", body: js})
			paths = append(paths, v1+"/layer.tar")
		}
		files = append(files, tarFile{name: cfgD.Encoded() + ".json", body: string(cfg)})
		m, _ := json.Marshal([]map[string]any{{"Config": cfgD.Encoded() + ".json", "RepoTags": []string{"src:latest"}, "Layers": paths}})
		files = append(files, tarFile{name: "manifest.json", body: string(m)})
		sort.Slice(files, func(i, j int) bool { return files[i].name < files[j].name })
		return tarOf(t, files), testImage{ID: cfgD.String(), DiffIDs: diffs}, blobs
	case "containerd":
		blobs = nil
		for _, l := range layers {
			blobs = append(blobs, gzipped(t, l))
		}
	}
	mf := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: cfgD, Size: int64(len(cfg))}}
	mf.SchemaVersion = 2
	for _, b := range blobs {
		mt := ocispec.MediaTypeImageLayer
		if layout == "containerd" {
			mt = ocispec.MediaTypeImageLayerGzip
		}
		mf.Layers = append(mf.Layers, ocispec.Descriptor{MediaType: mt, Digest: digest.FromBytes(b), Size: int64(len(b))})
		files = append(files, tarFile{name: "blobs/sha256/" + digest.FromBytes(b).Encoded(), body: string(b)})
	}
	mb, _ := json.Marshal(mf)
	mD := digest.FromBytes(mb)
	files = append(files, tarFile{name: "blobs/sha256/" + cfgD.Encoded(), body: string(cfg)}, tarFile{name: "blobs/sha256/" + mD.Encoded(), body: string(mb)})
	// The containerd exporter writes blobs in name order: here the
	// manifest may come after the layers.
	sort.Slice(files, func(i, j int) bool { return files[i].name < files[j].name })
	idx, _ := json.Marshal(ocispec.Index{Manifests: []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageManifest, Digest: mD, Size: int64(len(mb))}}})
	files = append(files, tarFile{name: "index.json", body: string(idx)}, tarFile{name: "oci-layout", body: `{"imageLayoutVersion":"1.0.0"}`})
	m, _ := json.Marshal([]map[string]any{{"Config": "blobs/sha256/" + cfgD.Encoded(), "RepoTags": []string{"src:latest"}}})
	files = append(files, tarFile{name: "manifest.json", body: string(m)})
	id := cfgD.String()
	if layout == "containerd" {
		id = mD.String()
	}
	return tarOf(t, files), testImage{ID: id, DiffIDs: diffs}, blobs
}

// dockerV1 returns the v1 ID and the <v1id>/json of layer i as Docker ≤ 24
// writes them (image/tarexport saveImage, image/v1.CreateID).
func dockerV1(diffs []digest.Digest, i int, parent string) (string, string) {
	chain := diffs[0]
	for _, d := range diffs[1 : i+1] {
		chain = digest.FromString(chain.String() + " " + d.String())
	}
	m := map[string]any{"created": "1970-01-01T00:00:00Z", "container_config": map[string]any{"Env": nil}, "layer_id": chain}
	if parent != "" {
		m["parent"] = "sha256:" + parent
	}
	if i == len(diffs)-1 {
		m["os"] = "linux"
	}
	b, _ := json.Marshal(m)
	id := digest.FromBytes(b).Encoded()
	delete(m, "layer_id")
	m["id"], m["os"] = id, "linux"
	if parent != "" {
		m["parent"] = parent
	}
	b, _ = json.Marshal(m)
	return id, string(b)
}

// readArchive reads an output archive: regular files and symlinks.
func readArchive(t *testing.T, b []byte) (map[string][]byte, map[string]string) {
	t.Helper()
	files, links := map[string][]byte{}, map[string]string{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files, links
		}
		if err != nil {
			t.Fatal(err)
		}
		switch h.Typeflag {
		case tar.TypeReg:
			files[h.Name], _ = io.ReadAll(tr)
		case tar.TypeSymlink:
			links[h.Name] = path.Join(path.Dir(h.Name), h.Linkname)
		}
	}
}

func tarNames(t *testing.T, b []byte) []string {
	var names []string
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
}

func TestWrite(t *testing.T) {
	tag, _ := reference.ParseNormalizedNamed("example.com/new:v1")
	for _, layout := range []string{"legacy", "legacy-v1ids", "oci", "containerd"} {
		t.Run(layout, func(t *testing.T) {
			stream, img, blobs := saveStream(t, layout)
			var out bytes.Buffer
			tmp := t.TempDir()
			res, err := write(t, &out, stream, Options{
				From: 1, To: 2, Tags: []reference.NamedTagged{tag.(reference.NamedTagged)},
				Containerd: layout == "containerd", TmpDir: tmp, Comment: "hello",
			})
			if err != nil {
				t.Fatal(err)
			}
			if left, _ := os.ReadDir(tmp); len(left) != 0 {
				t.Errorf("the spool directory holds %d entries", len(left))
			}
			files, links := readArchive(t, out.Bytes())
			get := func(p string) []byte {
				if l, ok := links[p]; ok {
					p = l
				}
				b, ok := files[p]
				if !ok {
					t.Fatalf("archive has no %s", p)
				}
				return b
			}

			// manifest.json names the config and layers: 0, squashed, 3.
			var items []struct {
				Config   string
				RepoTags []string
				Layers   []string
			}
			if err := json.Unmarshal(get("manifest.json"), &items); err != nil || len(items) != 1 {
				t.Fatalf("manifest.json: %v", err)
			}
			it := items[0]
			if len(it.RepoTags) != 1 || it.RepoTags[0] != "example.com/new:v1" || len(it.Layers) != 3 {
				t.Fatalf("manifest.json: %+v", it)
			}
			if !bytes.Equal(get(it.Layers[0]), blobs[0]) || !bytes.Equal(get(it.Layers[2]), blobs[3]) {
				t.Errorf("kept layers are not byte for byte the original blobs")
			}
			squashed := get(it.Layers[1])
			if layout == "containerd" {
				zr, err := gzip.NewReader(bytes.NewReader(squashed))
				if err != nil {
					t.Fatalf("the squashed layer is not gzip: %v", err)
				}
				squashed, _ = io.ReadAll(zr)
			}
			if got := strings.Join(tarNames(t, squashed), " "); got != "a/.wh.x b c" {
				t.Errorf("squashed layer holds %q, want the whiteout and the newest files", got)
			}

			// The config: diff IDs and history rewritten, Env kept.
			cfgB := get(it.Config)
			var cfg ocispec.Image
			if err := json.Unmarshal(cfgB, &cfg); err != nil {
				t.Fatal(err)
			}
			want := []digest.Digest{img.DiffIDs[0], digest.FromBytes(squashed), img.DiffIDs[3]}
			if fmt.Sprint(cfg.RootFS.DiffIDs) != fmt.Sprint(want) || fmt.Sprint(res.DiffIDs) != fmt.Sprint(want) || res.Layer != want[1] {
				t.Errorf("diff IDs: config %v, result %v, want %v", cfg.RootFS.DiffIDs, res.DiffIDs, want)
			}
			var hist []string
			for _, h := range cfg.History {
				hist = append(hist, h.CreatedBy+"|"+h.Comment)
			}
			if got := strings.Join(hist, ","); got != "step 0|,env 0|,env 1|,docker-layers squash 1..2|hello,env 2|,step 3|,env 3|" {
				t.Errorf("history: %s", got)
			}
			if len(cfg.Config.Env) != 1 || cfg.Config.Env[0] != "A=1" {
				t.Errorf("Env: %v", cfg.Config.Env)
			}

			// index.json → manifest → blobs, all in the archive.
			var idx ocispec.Index
			if err := json.Unmarshal(get("index.json"), &idx); err != nil || len(idx.Manifests) != 1 {
				t.Fatalf("index.json: %v %s", err, get("index.json"))
			}
			if idx.Manifests[0].Annotations["io.containerd.image.name"] != "example.com/new:v1" || idx.Manifests[0].Annotations[ocispec.AnnotationRefName] != "v1" {
				t.Errorf("index.json annotations: %v", idx.Manifests[0].Annotations)
			}
			mb := get(blobPath(idx.Manifests[0].Digest))
			var mf ocispec.Manifest
			if err := json.Unmarshal(mb, &mf); err != nil {
				t.Fatal(err)
			}
			if mf.Config.Digest != digest.FromBytes(cfgB) || len(mf.Layers) != 3 {
				t.Fatalf("manifest: %s", mb)
			}
			for i, l := range mf.Layers {
				if b := get(blobPath(l.Digest)); digest.FromBytes(b) != l.Digest || int64(len(b)) != l.Size {
					t.Errorf("layer %d: blob %s does not match its descriptor", i, l.Digest)
				}
			}
			wantID := mf.Config.Digest
			if layout == "containerd" {
				wantID = idx.Manifests[0].Digest
				if mf.Layers[1].MediaType != ocispec.MediaTypeImageLayerGzip {
					t.Errorf("squashed layer media type %s", mf.Layers[1].MediaType)
				}
			}
			if res.ID != wantID {
				t.Errorf("ID %s, want %s", res.ID, wantID)
			}
			// Every blob is in blobs/ under its digest, each once; nothing
			// is left unreferenced.
			if len(links) != 0 {
				t.Errorf("%d links, want none", len(links))
			}
			var blobNames []string
			for name := range files {
				if strings.HasPrefix(name, "blobs/") {
					blobNames = append(blobNames, name)
				}
			}
			if len(blobNames) != 5 {
				t.Errorf("blobs %v, want 3 layers, the config and the manifest", blobNames)
			}
		})
	}
}

// TestWriteDuplicateLayer squashes a range that holds a kept layer's diff
// ID again: its one blob goes both to the output and to the spool.
func TestWriteDuplicateLayer(t *testing.T) {
	l := testLayers(t)
	for _, layout := range []string{"legacy", "legacy-v1ids", "oci", "containerd"} {
		t.Run(layout, func(t *testing.T) {
			stream, img, blobs := saveStreamOf(t, layout, [][]byte{l[0], l[1], l[0]})
			var out bytes.Buffer
			res, err := write(t, &out, stream, Options{From: 1, To: 2, TmpDir: t.TempDir(), Containerd: layout == "containerd"})
			if err != nil {
				t.Fatal(err)
			}
			files, links := readArchive(t, out.Bytes())
			var items []struct{ Layers []string }
			if err := json.Unmarshal(files["manifest.json"], &items); err != nil || len(items) != 1 || len(items[0].Layers) != 2 {
				t.Fatalf("manifest.json: %v %s", err, files["manifest.json"])
			}
			p := items[0].Layers[0]
			if lp, ok := links[p]; ok {
				p = lp
			}
			if !bytes.Equal(files[p], blobs[0]) || res.DiffIDs[0] != img.DiffIDs[0] {
				t.Errorf("the kept layer changed")
			}
			sq := files[items[0].Layers[1]]
			if layout == "containerd" {
				zr, err := gzip.NewReader(bytes.NewReader(sq))
				if err != nil {
					t.Fatal(err)
				}
				sq, _ = io.ReadAll(zr)
			}
			if got := strings.Join(tarNames(t, sq), " "); got != "a/ a/x a/y b" {
				t.Errorf("squashed layer holds %q", got)
			}
		})
	}
}

func TestWriteErrors(t *testing.T) {
	stream, img, _ := saveStream(t, "oci")
	for _, tc := range []struct {
		name   string
		stream []byte
		opts   Options
		err    string
	}{
		{"range out of the image", stream, Options{From: 2, To: 4}, "layers 2..4 are not in an image of 4 layers"},
		{"truncated stream", stream[:len(stream)/2], Options{From: 1, To: 2}, "truncated"},
		{"a kept layer missing", dropEntry(t, stream, blobPath(img.DiffIDs[0])), Options{From: 1, To: 2}, `entry "` + blobPath(img.DiffIDs[0]) + `" is not in the archive`},
		{"a corrupt kept layer", corruptEntry(t, stream, blobPath(img.DiffIDs[3])), Options{From: 1, To: 2}, "digest mismatch"},
		{"a squashed layer missing", dropEntry(t, stream, blobPath(img.DiffIDs[1])), Options{From: 1, To: 1}, "is not in the archive"},
		{"a corrupt squashed layer", corruptEntry(t, stream, blobPath(img.DiffIDs[2])), Options{From: 1, To: 2}, "digest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.TmpDir = t.TempDir()
			_, err := write(t, io.Discard, tc.stream, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("got %v, want an error with %q", err, tc.err)
			}
			if left, _ := os.ReadDir(tc.opts.TmpDir); len(left) != 0 {
				t.Errorf("the spool directory holds %d entries", len(left))
			}
		})
	}
}

// rewriteStream copies a tar stream, passing each entry's name and body
// through f; an entry for which f returns false is dropped.
func rewriteStream(t *testing.T, stream []byte, f func(name string, body []byte) ([]byte, bool)) []byte {
	t.Helper()
	var files []tarFile
	tr := tar.NewReader(bytes.NewReader(stream))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		if b, keep := f(h.Name, b); keep {
			files = append(files, tarFile{name: h.Name, body: string(b), link: h.Linkname})
		}
	}
	return tarOf(t, files)
}

func dropEntry(t *testing.T, stream []byte, name string) []byte {
	return rewriteStream(t, stream, func(n string, b []byte) ([]byte, bool) { return b, n != name })
}

func corruptEntry(t *testing.T, stream []byte, name string) []byte {
	return rewriteStream(t, stream, func(n string, b []byte) ([]byte, bool) {
		if n == name {
			b = append([]byte(nil), b...)
			b[len(b)-1] ^= 1
		}
		return b, true
	})
}

// TestWriteSourceDateEpoch: with SourceDateEpoch, two squashes of the same
// image are the same bytes and the same ID, on every layout; the squashed
// layer's times and the config's created are clamped to it, and the
// collapsed step is created then.
func TestWriteSourceDateEpoch(t *testing.T) {
	epoch := time.Unix(1600000000, 0).UTC() // before the test files' 1700000000
	for _, layout := range []string{"legacy", "oci", "containerd"} {
		t.Run(layout, func(t *testing.T) {
			stream, _, _ := saveStream(t, layout)
			squash := func(epoch time.Time) ([]byte, *Result) {
				var out bytes.Buffer
				res, err := write(t, &out, stream, Options{From: 1, To: 2, TmpDir: t.TempDir(), Containerd: layout == "containerd", SourceDateEpoch: epoch})
				if err != nil {
					t.Fatal(err)
				}
				return out.Bytes(), res
			}
			a, ra := squash(epoch)
			b, rb := squash(epoch)
			if !bytes.Equal(a, b) || ra.ID != rb.ID {
				t.Errorf("two squashes with SourceDateEpoch differ: IDs %s and %s", ra.ID, rb.ID)
			}
			if _, rn := squash(time.Time{}); rn.ID == ra.ID {
				t.Errorf("a squash without SourceDateEpoch has the same ID %s", rn.ID)
			}

			files, _ := readArchive(t, a)
			var mf ocispec.Manifest
			if err := json.Unmarshal(files[blobPath(ra.Manifest)], &mf); err != nil {
				t.Fatal(err)
			}
			var cfg ocispec.Image
			if err := json.Unmarshal(files[blobPath(ra.Config)], &cfg); err != nil {
				t.Fatal(err)
			}
			if cfg.Created == nil || !cfg.Created.Equal(epoch) {
				t.Errorf("config created %v, want %v", cfg.Created, epoch)
			}
			var collapsed int
			for _, h := range cfg.History {
				if strings.HasPrefix(h.CreatedBy, "docker-layers squash") {
					collapsed++
					if h.Created == nil || !h.Created.Equal(epoch) {
						t.Errorf("collapsed step created %v, want %v", h.Created, epoch)
					}
				}
			}
			if collapsed != 1 {
				t.Errorf("%d collapsed steps, want 1", collapsed)
			}
			layer := files[blobPath(mf.Layers[1].Digest)]
			if layout == "containerd" {
				zr, err := gzip.NewReader(bytes.NewReader(layer))
				if err != nil {
					t.Fatal(err)
				}
				layer, _ = io.ReadAll(zr)
			}
			tr := tar.NewReader(bytes.NewReader(layer))
			for {
				h, err := tr.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if h.ModTime.After(epoch) {
					t.Errorf("squashed layer: %s has mtime %v, after %v", h.Name, h.ModTime, epoch)
				}
			}
		})
	}
}

// TestWriteMinimalWhiteouts: by default the squashed layer keeps only the
// markers that hide something in the layers below the range; with
// AllWhiteouts, every one the range produces.
func TestWriteMinimalWhiteouts(t *testing.T) {
	layers := [][]byte{
		tarOf(t, []tarFile{{name: "a/"}, {name: "a/x", body: "x"}, {name: "a/y", body: "y"}, {name: "gone", body: "g"}}),
		tarOf(t, []tarFile{{name: ".wh.gone"}}),
		// The range: docs installed, then deleted; a file of layer 0
		// deleted; a directory of layer 0 replaced; a path layer 1
		// deleted, deleted again.
		tarOf(t, []tarFile{{name: "doc/"}, {name: "doc/x", body: "x"}, {name: "a/.wh..wh..opq"}, {name: "a/z", body: "z"}}),
		tarOf(t, []tarFile{{name: ".wh.doc"}, {name: ".wh.gone"}, {name: "n/"}, {name: "n/.wh..wh..opq"}}),
	}
	for _, layout := range []string{"legacy", "oci", "containerd"} {
		t.Run(layout, func(t *testing.T) {
			stream, _, _ := saveStreamOf(t, layout, layers)
			for _, tc := range []struct {
				all  bool
				want string
			}{
				{false, "a/.wh..wh..opq a/z n/"},
				{true, "a/.wh..wh..opq a/z .wh.doc .wh.gone n/ n/.wh..wh..opq"},
			} {
				var out bytes.Buffer
				if _, err := write(t, &out, stream, Options{From: 2, To: 3, AllWhiteouts: tc.all, Containerd: layout == "containerd"}); err != nil {
					t.Fatal(err)
				}
				files, links := readArchive(t, out.Bytes())
				var items []struct{ Layers []string }
				if err := json.Unmarshal(files["manifest.json"], &items); err != nil || len(items) != 1 || len(items[0].Layers) != 3 {
					t.Fatalf("manifest.json: %v %+v", err, items)
				}
				p := items[0].Layers[2]
				if l, ok := links[p]; ok {
					p = l
				}
				squashed := files[p]
				if layout == "containerd" {
					zr, err := gzip.NewReader(bytes.NewReader(squashed))
					if err != nil {
						t.Fatal(err)
					}
					squashed, _ = io.ReadAll(zr)
				}
				if got := strings.Join(tarNames(t, squashed), " "); got != tc.want {
					t.Errorf("AllWhiteouts %v: squashed layer holds %q, want %q", tc.all, got, tc.want)
				}
			}
		})
	}
}
