package extract

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// skopeoEntries is an OCI image layout as `skopeo copy … oci:DIR:NAME`
// writes it: blobs (compressed with c), one manifest, and an index.json
// whose only name is the org.opencontainers.image.ref.name annotation;
// no manifest.json.
func skopeoEntries(t testing.TB, img *testImage, c compression, name string) []tarEntry {
	t.Helper()
	blobs := map[digest.Digest][]byte{img.configID: img.config}
	m := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: img.configID, Size: int64(len(img.config))},
	}
	for _, l := range img.layers {
		b := l
		if c != uncompressed {
			b = compress(t, c, l)
		}
		d := digest.FromBytes(b)
		blobs[d] = b
		m.Layers = append(m.Layers, ocispec.Descriptor{MediaType: c.mediaType(), Digest: d, Size: int64(len(b))})
	}
	mb := mustJSON(t, m)
	blobs[digest.FromBytes(mb)] = mb
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(mb), Size: int64(len(mb))}
	if name != "" {
		desc.Annotations = map[string]string{ocispec.AnnotationRefName: name}
	}
	idx := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, Manifests: []ocispec.Descriptor{desc}}
	return append(blobEntries(blobs),
		tarEntry{Name: "index.json", Data: mustJSON(t, idx)},
		tarEntry{Name: "oci-layout", Data: []byte(`{"imageLayoutVersion":"1.0.0"}`)})
}

// writeLayout writes entries as files under a new directory.
func writeLayout(t testing.TB, entries []tarEntry) string {
	t.Helper()
	dir := t.TempDir()
	for _, e := range entries {
		p := filepath.Join(dir, filepath.FromSlash(e.Name))
		if e.Typeflag == tar.TypeDir {
			assert.NilError(t, os.MkdirAll(p, 0o755))
			continue
		}
		assert.NilError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		assert.NilError(t, os.WriteFile(p, e.Data, 0o644))
	}
	return dir
}

// layoutLayers opens the layout in dir, selects ref and reads every layer
// of it, with Options.TmpDir a new directory that must be empty once the
// layout is closed.
func layoutLayers(t *testing.T, dir, ref string, opts Options) ([][]byte, error) {
	t.Helper()
	opts.TmpDir = t.TempDir()
	defer assertEmptyDir(t, opts.TmpDir)
	a, err := OpenLayout(context.Background(), dir, opts)
	if err != nil {
		return nil, err
	}
	defer func() { assert.NilError(t, a.Close()) }()
	img, err := a.Image(ref)
	if err != nil {
		return nil, err
	}
	ls, err := a.Layers(context.Background(), img, img.Config.RootFS.DiffIDs, nil)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for _, l := range ls {
		b, err := io.ReadAll(io.NewSectionReader(l.R, 0, l.Size))
		assert.NilError(t, err)
		out = append(out, b)
	}
	return out, nil
}

func TestOpenLayout(t *testing.T) {
	img := newTestImage(t, hostPlatform(), nil, makeLayer(t, 1, 3000), makeLayer(t, 2, 5000))
	other := newTestImage(t, otherPlatform(), nil, makeLayer(t, 3, 2000))
	for _, tc := range []struct {
		name    string
		entries []tarEntry
		ref     string
		opts    Options
		want    *testImage
	}{
		{name: "skopeo, uncompressed", entries: skopeoEntries(t, img, uncompressed, "latest"), ref: "latest", want: img},
		{name: "skopeo, gzip", entries: skopeoEntries(t, img, gzipCompression, "latest"), want: img},
		{name: "skopeo, zstd, unnamed", entries: skopeoEntries(t, img, zstdCompression, ""), want: img},
		{name: "docker save layout", entries: ociEntries(t, []*testImage{newTestImage(t, hostPlatform(), []string{"docker.io/library/app:1"}, img.layers...)}), ref: "app:1", want: img},
		{name: "docker save layout, by its OCI ref name", entries: ociEntries(t, []*testImage{newTestImage(t, hostPlatform(), []string{"docker.io/library/app:v1"}, img.layers...)}), ref: "v1", want: img},
		{name: "multi-platform, other platform", entries: containerdEntries(t, []*testImage{img, other}, []string{"docker.io/library/multi:latest"}, containerdOptions{compression: gzipCompression, nested: true}),
			ref: "multi", opts: Options{Platform: &[]ocispec.Platform{otherPlatform()}[0]}, want: other},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := layoutLayers(t, writeLayout(t, tc.entries), tc.ref, tc.opts)
			assert.NilError(t, err)
			assert.Equal(t, len(got), len(tc.want.layers))
			for i := range got {
				assert.Check(t, bytes.Equal(got[i], tc.want.layers[i]), "layer %d", i)
			}
		})
	}
}

// TestOpenLayoutInPlace: an uncompressed layer of a layout is its blob
// file, read in place, not a copy.
func TestOpenLayoutInPlace(t *testing.T) {
	img := newTestImage(t, hostPlatform(), nil, makeLayer(t, 1, 3000))
	dir := writeLayout(t, skopeoEntries(t, img, uncompressed, "latest"))
	a, err := OpenLayout(context.Background(), dir, Options{TmpDir: t.TempDir()})
	assert.NilError(t, err)
	defer a.Close()
	im, err := a.Image("latest")
	assert.NilError(t, err)
	ls, err := a.Layers(context.Background(), im, im.Config.RootFS.DiffIDs, nil)
	assert.NilError(t, err)
	sr, ok := ls[0].R.(*io.SectionReader)
	assert.Assert(t, ok, "%T", ls[0].R)
	f, _, _ := sr.Outer()
	file, ok := f.(*os.File)
	assert.Assert(t, ok, "%T", f)
	assert.Equal(t, file.Name(), filepath.Join(dir, "blobs", "sha256", img.diffIDs[0].Encoded()))
}

// TestOpenLayoutBroken: each way a layout can be broken is one error that
// says what is wrong, and leaves nothing in TmpDir.
func TestOpenLayoutBroken(t *testing.T) {
	img := newTestImage(t, hostPlatform(), nil, makeLayer(t, 1, 3000), makeLayer(t, 2, 4000))
	good := skopeoEntries(t, img, gzipCompression, "latest")
	layerBlob := blobPath(digest.FromBytes(compress(t, gzipCompression, img.layers[0])))
	var manifestBlob string
	for _, e := range good {
		if bytes.Contains(e.Data, []byte(`"layers":[`)) {
			manifestBlob = e.Name
		}
	}
	outside := filepath.Join(t.TempDir(), "secret")
	assert.NilError(t, os.WriteFile(outside, []byte("not a layer"), 0o644))
	riscv64 := ocispec.Platform{OS: "linux", Architecture: "riscv64"}
	for _, tc := range []struct {
		name   string
		break_ func(dir string)
		ref    string
		opts   Options
		kind   error
		err    string
	}{
		{name: "missing layer blob", break_: func(dir string) { assert.NilError(t, os.Remove(filepath.Join(dir, layerBlob))) },
			kind: ErrLayerNotFound, err: `entry "` + layerBlob + `" is not in the OCI layout`},
		{name: "missing manifest", break_: func(dir string) { assert.NilError(t, os.Remove(filepath.Join(dir, manifestBlob))) },
			kind: ErrNotExist, err: "is not in the OCI layout"},
		{name: "layer digest mismatch", break_: func(dir string) {
			// Another gzip mtime: the same layer, another blob digest.
			p := filepath.Join(dir, layerBlob)
			b, err := os.ReadFile(p)
			assert.NilError(t, err)
			b[4] ^= 1
			assert.NilError(t, os.WriteFile(p, b, 0o644))
		}, kind: ErrDigestMismatch, err: "blob has digest"},
		{name: "layer size mismatch", break_: func(dir string) {
			p := filepath.Join(dir, layerBlob)
			assert.NilError(t, os.WriteFile(p, compress(t, gzipCompression, img.layers[1]), 0o644))
		}, kind: ErrInvalid, err: "its manifest says"},
		{name: "blob is a symlink out of the layout", break_: func(dir string) {
			p := filepath.Join(dir, layerBlob)
			assert.NilError(t, os.Remove(p))
			assert.NilError(t, os.Symlink(outside, p))
		}, kind: ErrInvalid, err: "path escapes from parent"},
		{name: "blob is a symlink to an absolute path in the layout", break_: func(dir string) {
			p := filepath.Join(dir, layerBlob)
			assert.NilError(t, os.Remove(p))
			assert.NilError(t, os.Symlink(filepath.Join(dir, "oci-layout"), p))
		}, kind: ErrInvalid, err: "path escapes from parent"},
		{name: "no index.json", break_: func(dir string) { assert.NilError(t, os.Remove(filepath.Join(dir, "index.json"))) },
			kind: ErrInvalid, err: "not an OCI image layout"},
		{name: "no match for the platform", break_: func(string) {}, opts: Options{Platform: &riscv64},
			kind: ErrNotExist, err: `image "latest" has no linux/riscv64: its only platform is ` + formatPlatform(hostPlatform())},
		{name: "no such name", break_: func(string) {}, ref: "v2", kind: ErrNotExist, err: `no image "v2" in the OCI layout`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeLayout(t, good)
			tc.break_(dir)
			_, err := layoutLayers(t, dir, tc.ref, tc.opts)
			assert.ErrorContains(t, err, tc.err)
			assert.Check(t, errors.Is(err, tc.kind), "%v is not %v", err, tc.kind)
			assert.Check(t, is.Equal(strings.Count(err.Error(), "\n"), 0))
		})
	}
}
