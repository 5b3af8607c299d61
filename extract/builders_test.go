package extract

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containerd/platforms"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// This file builds save archives in memory, in the three layouts Docker
// writes, from a list of layer tars.

// tarEntry is one entry of a test archive.
type tarEntry struct {
	Name     string
	Typeflag byte // tar.TypeReg when zero
	Linkname string
	Data     []byte
}

// makeLayer returns a small deterministic layer tar holding files of the
// given total size.
func makeLayer(t testing.TB, seed uint64, size int) []byte {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mod := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("dir%d/", seed), Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mod}); err != nil {
		t.Fatal(err)
	}
	for i := 0; size > 0 || i == 0; i++ {
		n := min(size, 64<<10)
		data := make([]byte, n)
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		if err := tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("dir%d/file%d", seed, i), Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(n), ModTime: mod}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
		size -= n
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// testImage is an image to put in an archive.
type testImage struct {
	layers   [][]byte // uncompressed layer tars
	diffIDs  []digest.Digest
	platform ocispec.Platform
	tags     []string // fully qualified, e.g. docker.io/library/busybox:latest
	config   []byte
	configID digest.Digest
}

func newTestImage(t testing.TB, p ocispec.Platform, tags []string, layers ...[]byte) *testImage {
	t.Helper()
	img := &testImage{layers: layers, platform: p, tags: tags}
	created := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	cfg := ocispec.Image{
		Created:  &created,
		Platform: ocispec.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant},
		Config:   ocispec.ImageConfig{Cmd: []string{"/bin/sh"}},
		RootFS:   ocispec.RootFS{Type: "layers"},
	}
	for i, l := range layers {
		d := digest.FromBytes(l)
		img.diffIDs = append(img.diffIDs, d)
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, d)
		cfg.History = append(cfg.History, ocispec.History{Created: &created, CreatedBy: fmt.Sprintf("layer %d", i)})
		if i == 0 {
			cfg.History = append(cfg.History, ocispec.History{Created: &created, CreatedBy: "ENV x=y", EmptyLayer: true})
		}
	}
	img.config = mustJSON(t, cfg)
	img.configID = digest.FromBytes(img.config)
	return img
}

func hostPlatform() ocispec.Platform {
	p := platforms.DefaultSpec()
	return ocispec.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant}
}

// otherPlatform is a platform that is not the host's.
func otherPlatform() ocispec.Platform {
	if hostPlatform().Architecture == "s390x" {
		return ocispec.Platform{OS: "linux", Architecture: "ppc64le"}
	}
	return ocispec.Platform{OS: "linux", Architecture: "s390x"}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func familiarTags(tags []string) []string {
	var out []string
	for _, t := range tags {
		out = append(out, familiarRef(t))
	}
	return out
}

// legacyOptions shape a legacy archive.
type legacyOptions struct {
	// symlinkDuplicates makes a layer that appears again in the image a
	// symlink to the first copy, as Docker ≤ 24 does.
	symlinkDuplicates bool
}

// legacyEntries builds the Docker ≤ 24 layout: <v1id>/{VERSION,json,layer.tar},
// <config hex>.json, manifest.json, repositories.
func legacyEntries(t testing.TB, imgs []*testImage, o legacyOptions) []tarEntry {
	t.Helper()
	var entries []tarEntry
	var manifest []manifestItem
	repos := map[string]map[string]string{}
	seen := map[string]bool{}
	for _, img := range imgs {
		var layerPaths []string
		firstByDiff := map[digest.Digest]string{}
		parent := ""
		chains := ChainIDs(img.diffIDs)
		for i, l := range img.layers {
			// The v1 ID is chain-based: it differs for the same layer at
			// another position.
			v1, v1JSON := dockerV1JSON(t, chains[i], parent, i == len(img.layers)-1)
			parent = v1
			p := v1 + "/layer.tar"
			layerPaths = append(layerPaths, p)
			if seen[v1] {
				continue
			}
			seen[v1] = true
			entries = append(entries,
				tarEntry{Name: v1 + "/", Typeflag: tar.TypeDir},
				tarEntry{Name: v1 + "/VERSION", Data: []byte("1.0")},
				tarEntry{Name: v1 + "/json", Data: v1JSON},
			)
			if first, ok := firstByDiff[img.diffIDs[i]]; ok && o.symlinkDuplicates {
				entries = append(entries, tarEntry{Name: p, Typeflag: tar.TypeSymlink, Linkname: "../" + first})
				continue
			}
			firstByDiff[img.diffIDs[i]] = p
			entries = append(entries, tarEntry{Name: p, Data: l})
		}
		entries = append(entries, tarEntry{Name: img.configID.Encoded() + ".json", Data: img.config})
		manifest = append(manifest, manifestItem{Config: img.configID.Encoded() + ".json", RepoTags: familiarTags(img.tags), Layers: layerPaths})
		for _, tag := range familiarTags(img.tags) {
			name, tg, _ := strings.Cut(tag, ":")
			if repos[name] == nil {
				repos[name] = map[string]string{}
			}
			repos[name][tg] = parent
		}
	}
	entries = append(entries,
		tarEntry{Name: "manifest.json", Data: mustJSON(t, manifest)},
		tarEntry{Name: "repositories", Data: mustJSON(t, repos)},
	)
	return sortEntries(entries)
}

// dockerV1JSON returns the v1 ID and the json of a legacy layer directory
// the way Docker's save makes them (moby image/tarexport saveImage and
// image/v1.CreateID): the v1 ID hashes the layer's v1 config with its
// chain ID and its parent's v1 ID, and the json written is that config
// with the ID, the parent in hex and the OS added. Intermediate layers get
// an empty config of 1970, the top layer the image's own.
func dockerV1JSON(t testing.TB, chain digest.Digest, parent string, top bool) (string, []byte) {
	t.Helper()
	v1 := map[string]any{
		"created":          "1970-01-01T00:00:00Z",
		"container_config": map[string]any{"Hostname": "", "Cmd": nil, "Image": "<none> & more"},
	}
	if top {
		v1 = map[string]any{
			"created":          "2024-01-02T03:04:05Z",
			"container_config": map[string]any{"Hostname": "", "Cmd": []string{"/bin/sh", "-c", "echo <top>"}},
			"config":           map[string]any{"Cmd": []string{"/bin/sh"}},
			"architecture":     "amd64",
			"os":               "linux",
		}
	}
	hashed := map[string]any{"layer_id": chain}
	for k, v := range v1 {
		hashed[k] = v
	}
	if parent != "" {
		hashed["parent"] = "sha256:" + parent
	}
	id := digest.FromBytes(mustJSON(t, hashed)).Encoded()
	v1["id"] = id
	if parent != "" {
		v1["parent"] = parent
	}
	v1["os"] = "linux"
	return id, mustJSON(t, v1)
}

// ociEntries builds the Docker 25+ graphdriver layout: uncompressed blobs
// named by diff ID, a manifest per image, index.json and manifest.json.
func ociEntries(t testing.TB, imgs []*testImage) []tarEntry {
	t.Helper()
	blobs := map[digest.Digest][]byte{}
	var index ocispec.Index
	index.SchemaVersion = 2
	index.MediaType = ocispec.MediaTypeImageIndex
	var manifest []manifestItem
	for _, img := range imgs {
		m := ocispec.Manifest{
			Versioned: specs.Versioned{SchemaVersion: 2},
			MediaType: ocispec.MediaTypeImageManifest,
			Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: img.configID, Size: int64(len(img.config))},
		}
		item := manifestItem{Config: blobPath(img.configID), RepoTags: familiarTags(img.tags)}
		for i, l := range img.layers {
			blobs[img.diffIDs[i]] = l
			m.Layers = append(m.Layers, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: img.diffIDs[i], Size: int64(len(l))})
			item.Layers = append(item.Layers, blobPath(img.diffIDs[i]))
		}
		blobs[img.configID] = img.config
		mb := mustJSON(t, m)
		md := digest.FromBytes(mb)
		blobs[md] = mb
		desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: md, Size: int64(len(mb))}
		for _, tag := range img.tags {
			d := desc
			d.Annotations = map[string]string{"io.containerd.image.name": tag, ocispec.AnnotationRefName: tag[strings.LastIndexByte(tag, ':')+1:]}
			index.Manifests = append(index.Manifests, d)
		}
		if len(img.tags) == 0 {
			index.Manifests = append(index.Manifests, desc)
		}
		manifest = append(manifest, item)
	}
	entries := blobEntries(blobs)
	entries = append(entries,
		tarEntry{Name: "index.json", Data: mustJSON(t, index)},
		tarEntry{Name: "manifest.json", Data: mustJSON(t, manifest)},
		tarEntry{Name: "oci-layout", Data: []byte(`{"imageLayoutVersion": "1.0.0"}`)},
		tarEntry{Name: "repositories", Data: []byte(`{}`)},
	)
	return sortEntries(entries)
}

// containerdOptions shape a containerd-store archive.
type containerdOptions struct {
	compression compression // gzipCompression or zstdCompression
	// missing lists platforms whose manifest stays in the index but whose
	// blobs are not exported (a platform the daemon did not pull).
	missing []ocispec.Platform
	// attestations adds an attestation manifest per platform.
	attestations bool
	// nested puts the per-platform manifests behind a second index.
	nested bool
}

// containerdEntries builds the containerd image store layout: compressed
// layer blobs, per-platform manifests (plus attestation manifests) in an
// image index that index.json points to, and manifest.json for the first
// image. All images are platforms of one multi-platform image.
func containerdEntries(t testing.TB, imgs []*testImage, tags []string, o containerdOptions) []tarEntry {
	t.Helper()
	blobs := map[digest.Digest][]byte{}
	put := func(b []byte) ocispec.Descriptor {
		d := digest.FromBytes(b)
		blobs[d] = b
		return ocispec.Descriptor{Digest: d, Size: int64(len(b))}
	}
	layerType := ocispec.MediaTypeImageLayerGzip
	if o.compression == zstdCompression {
		layerType = ocispec.MediaTypeImageLayerZstd
	}
	var idx ocispec.Index
	idx.SchemaVersion = 2
	idx.MediaType = ocispec.MediaTypeImageIndex
	var first manifestItem
	for n, img := range imgs {
		m := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest}
		m.Config = put(img.config)
		m.Config.MediaType = ocispec.MediaTypeImageConfig
		item := manifestItem{Config: blobPath(m.Config.Digest), RepoTags: familiarTags(tags)}
		for _, l := range img.layers {
			d := put(compress(t, o.compression, l))
			d.MediaType = layerType
			m.Layers = append(m.Layers, d)
			item.Layers = append(item.Layers, blobPath(d.Digest))
		}
		md := put(mustJSON(t, m))
		md.MediaType = ocispec.MediaTypeImageManifest
		p := img.platform
		md.Platform = &p
		idx.Manifests = append(idx.Manifests, md)
		if n == 0 {
			first = item
		}
		if o.attestations {
			statement := put([]byte(`{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://spdx.dev/Document"}`))
			statement.MediaType = "application/vnd.in-toto+json"
			acfg := put([]byte(`{"architecture":"unknown","os":"unknown","config":{},"rootfs":{"type":"layers","diff_ids":["` + string(statement.Digest) + `"]}}`))
			acfg.MediaType = ocispec.MediaTypeImageConfig
			am := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: acfg, Layers: []ocispec.Descriptor{statement}}
			ad := put(mustJSON(t, am))
			ad.MediaType = ocispec.MediaTypeImageManifest
			ad.Platform = &ocispec.Platform{OS: "unknown", Architecture: "unknown"}
			ad.Annotations = map[string]string{
				"vnd.docker.reference.digest": string(md.Digest),
				"vnd.docker.reference.type":   "attestation-manifest",
			}
			idx.Manifests = append(idx.Manifests, ad)
		}
	}
	for i, p := range o.missing {
		p := p
		idx.Manifests = append(idx.Manifests, ocispec.Descriptor{
			MediaType: ocispec.MediaTypeImageManifest,
			Digest:    digest.FromString(fmt.Sprintf("missing manifest %d", i)),
			Size:      1234,
			Platform:  &p,
		})
	}
	top := put(mustJSON(t, idx))
	top.MediaType = ocispec.MediaTypeImageIndex
	if o.nested {
		outer := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{top}}
		top = put(mustJSON(t, outer))
		top.MediaType = ocispec.MediaTypeImageIndex
	}
	var index ocispec.Index
	index.SchemaVersion = 2
	index.MediaType = ocispec.MediaTypeImageIndex
	for _, tag := range tags {
		d := top
		d.Annotations = map[string]string{"io.containerd.image.name": tag, ocispec.AnnotationRefName: tag[strings.LastIndexByte(tag, ':')+1:]}
		index.Manifests = append(index.Manifests, d)
	}
	if len(tags) == 0 {
		index.Manifests = append(index.Manifests, top)
	}
	entries := blobEntries(blobs)
	entries = append(entries,
		tarEntry{Name: "index.json", Data: mustJSON(t, index)},
		tarEntry{Name: "manifest.json", Data: mustJSON(t, []manifestItem{first})},
		tarEntry{Name: "oci-layout", Data: []byte(`{"imageLayoutVersion":"1.0.0"}`)},
	)
	return sortEntries(entries)
}

func blobEntries(blobs map[digest.Digest][]byte) []tarEntry {
	entries := []tarEntry{{Name: "blobs/", Typeflag: tar.TypeDir}, {Name: "blobs/sha256/", Typeflag: tar.TypeDir}}
	for d, b := range blobs {
		entries = append(entries, tarEntry{Name: blobPath(d), Data: b})
	}
	return entries
}

func compress(t testing.TB, c compression, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	switch c {
	case gzipCompression:
		zw := gzip.NewWriter(&buf)
		if _, err := zw.Write(b); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	case zstdCompression:
		zw, err := zstd.NewWriter(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := zw.Write(b); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	default:
		return b
	}
	return buf.Bytes()
}

// sortEntries orders entries by name, as the exporters do.
func sortEntries(entries []tarEntry) []tarEntry {
	slices.SortStableFunc(entries, func(a, b tarEntry) int { return strings.Compare(a.Name, b.Name) })
	return entries
}

// shuffled returns entries in a random order, keeping directories first.
func shuffled(entries []tarEntry, seed uint64) []tarEntry {
	out := slices.Clone(entries)
	rng := rand.New(rand.NewPCG(seed, seed))
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// writeTar writes entries as a tar archive. offsets, if not nil, receives
// the offset just past each entry's data.
func writeTar(t testing.TB, entries []tarEntry, offsets map[string]int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mod := time.Unix(0, 0)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.Name, Typeflag: e.Typeflag, Linkname: e.Linkname, Mode: 0o644, ModTime: mod, Format: tar.FormatPAX}
		switch e.Typeflag {
		case 0:
			hdr.Typeflag = tar.TypeReg
			hdr.Size = int64(len(e.Data))
		case tar.TypeDir:
			hdr.Mode = 0o755
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.Data); err != nil {
			t.Fatal(err)
		}
		if err := tw.Flush(); err != nil {
			t.Fatal(err)
		}
		if offsets != nil {
			offsets[e.Name] = int64(buf.Len())
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// withoutEntry drops the entries named name.
func withoutEntry(entries []tarEntry, name string) []tarEntry {
	return slices.DeleteFunc(slices.Clone(entries), func(e tarEntry) bool { return e.Name == name })
}

// replaceEntry replaces the data of the entry named name.
func replaceEntry(entries []tarEntry, name string, f func(tarEntry) tarEntry) []tarEntry {
	out := slices.Clone(entries)
	for i, e := range out {
		if e.Name == name {
			out[i] = f(e)
		}
	}
	return out
}

// legacyLayerPath returns the name of the entry holding layer i of img in
// a legacy archive built by legacyEntries.
func legacyLayerPath(t testing.TB, entries []tarEntry, img *testImage, i int) string {
	t.Helper()
	var items []manifestItem
	for _, e := range entries {
		if e.Name == "manifest.json" {
			if err := json.Unmarshal(e.Data, &items); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, it := range items {
		if it.Config == img.configID.Encoded()+".json" {
			return it.Layers[i]
		}
	}
	t.Fatal("image not in manifest.json")
	return ""
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
