package extract

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/docker-layers/docker-layers/flatten"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// mode is one way of reading a save archive.
type mode string

const (
	modeStream   mode = "FromSaveStream"
	modeOpen     mode = "OpenArchive"
	modeRead     mode = "ReadArchive"
	modeReadFile mode = "ReadArchive(file)"
)

var allModes = []mode{modeStream, modeOpen, modeRead, modeReadFile}

// extractWith reads the layers want out of data with mode m, the image
// being ref in the archive modes. It returns each layer's content and
// closes everything it opened.
func extractWith(t *testing.T, m mode, data []byte, ref string, want []digest.Digest, opts Options) ([][]byte, error) {
	t.Helper()
	ctx := context.Background()
	rec := &readyRecorder{}
	if m == modeStream {
		opts.Ready = rec.ready
		ls, err := FromSaveStream(ctx, bytes.NewReader(data), want, opts)
		if err != nil {
			return nil, err
		}
		defer func() { assert.NilError(t, ls.Close()) }()
		rec.check(t, ls.List())
		return readLayers(t, ls.List(), want), nil
	}
	var a *Archive
	var err error
	switch m {
	case modeOpen, modeReadFile:
		p := filepath.Join(t.TempDir(), "image.tar")
		assert.NilError(t, os.WriteFile(p, data, 0o600))
		if m == modeOpen {
			a, err = OpenArchive(ctx, p, opts)
			break
		}
		f, ferr := os.Open(p)
		assert.NilError(t, ferr)
		defer f.Close()
		a, err = ReadArchive(ctx, f, opts)
	case modeRead:
		a, err = ReadArchive(ctx, bytes.NewReader(data), opts)
	}
	if err != nil {
		return nil, err
	}
	defer func() { assert.NilError(t, a.Close()) }()
	img, err := a.Image(ref)
	if err != nil {
		return nil, err
	}
	ls, err := a.Layers(ctx, img, want, rec.ready)
	if err != nil {
		return nil, err
	}
	rec.check(t, ls)
	return readLayers(t, ls, want), nil
}

// readyRecorder records the calls of a Ready callback.
type readyRecorder struct {
	mu  sync.Mutex
	got map[int][]flatten.Layer
}

func (r *readyRecorder) ready(k int, l flatten.Layer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.got == nil {
		r.got = map[int][]flatten.Layer{}
	}
	r.got[k] = append(r.got[k], l)
}

// check verifies that Ready was called once for each of the layers
// returned, with the same content.
func (r *readyRecorder) check(t *testing.T, ls []flatten.Layer) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	assert.Equal(t, len(r.got), len(ls), "Ready calls: %v", r.got)
	for k, l := range ls {
		calls := r.got[k]
		assert.Assert(t, is.Len(calls, 1), "Ready calls for layer %d", k)
		assert.Equal(t, calls[0].ID, l.ID)
		assert.Equal(t, calls[0].Size, l.Size)
		b, err := io.ReadAll(io.NewSectionReader(calls[0].R, 0, calls[0].Size))
		assert.NilError(t, err)
		assert.Equal(t, digest.FromBytes(b).String(), l.ID, "layer %d given to Ready", k)
	}
}

func readLayers(t *testing.T, ls []flatten.Layer, want []digest.Digest) [][]byte {
	t.Helper()
	assert.Equal(t, len(ls), len(want))
	var out [][]byte
	for i, l := range ls {
		assert.Equal(t, digest.Digest(l.ID), want[i])
		b, err := io.ReadAll(io.NewSectionReader(l.R, 0, l.Size))
		assert.NilError(t, err)
		assert.Equal(t, int64(len(b)), l.Size)
		assert.Equal(t, digest.FromBytes(b).String(), l.ID)
		out = append(out, b)
	}
	return out
}

// assertEmptyDir checks that the spool left nothing behind.
func assertEmptyDir(t testing.TB, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	assert.NilError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.Check(t, is.Len(names, 0), "left in TmpDir: %v", names)
}

// fixtureImage is a host-platform image of five layers, the fourth a
// repeat of the second (Docker ≤ 24 saves it as a symlink).
func fixtureImage(t testing.TB, tags ...string) *testImage {
	l0 := makeLayer(t, 1, 100<<10)
	l1 := makeLayer(t, 2, 3000)
	l2 := makeLayer(t, 3, 0)
	l4 := makeLayer(t, 5, 70<<10)
	return newTestImage(t, hostPlatform(), tags, l0, l1, l2, l1, l4)
}

// layout builds one archive layout from images.
type layout struct {
	name  string
	build func(t testing.TB, imgs []*testImage) []tarEntry
}

var layouts = []layout{
	{"legacy", func(t testing.TB, imgs []*testImage) []tarEntry {
		return legacyEntries(t, imgs, legacyOptions{})
	}},
	{"legacy-symlinks", func(t testing.TB, imgs []*testImage) []tarEntry {
		return legacyEntries(t, imgs, legacyOptions{symlinkDuplicates: true})
	}},
	{"oci", ociEntries},
	{"containerd-gzip", func(t testing.TB, imgs []*testImage) []tarEntry {
		return containerdEntries(t, imgs, imgs[0].tags, containerdOptions{compression: gzipCompression, attestations: true})
	}},
	{"containerd-zstd-nested", func(t testing.TB, imgs []*testImage) []tarEntry {
		return containerdEntries(t, imgs, imgs[0].tags, containerdOptions{
			compression: zstdCompression, attestations: true, nested: true,
			missing: []ocispec.Platform{{OS: "linux", Architecture: "riscv64"}},
		})
	}},
}

func TestLayouts(t *testing.T) {
	img := fixtureImage(t, "docker.io/library/busybox:latest")
	wants := map[string][]digest.Digest{
		"one":        {img.diffIDs[4]},
		"subset":     {img.diffIDs[3], img.diffIDs[0]},
		"all":        img.diffIDs,
		"empty":      {img.diffIDs[2]},
		"repeated":   {img.diffIDs[1], img.diffIDs[1]},
		"nothing":    nil,
		"first-last": {img.diffIDs[0], img.diffIDs[4]},
	}
	contents := map[digest.Digest][]byte{}
	for i, d := range img.diffIDs {
		contents[d] = img.layers[i]
	}
	for _, lay := range layouts {
		for _, order := range []string{"sorted", "shuffled"} {
			entries := lay.build(t, []*testImage{img})
			if order == "shuffled" {
				entries = shuffled(entries, 42)
			}
			data := writeTar(t, entries, nil)
			for _, m := range allModes {
				for wname, want := range wants {
					t.Run(lay.name+"/"+order+"/"+string(m)+"/"+wname, func(t *testing.T) {
						tmp := t.TempDir()
						got, err := extractWith(t, m, data, "", want, Options{TmpDir: tmp})
						assert.NilError(t, err)
						assert.Equal(t, len(got), len(want))
						for i, d := range want {
							assert.Check(t, bytes.Equal(got[i], contents[d]), "layer %d (%s) differs", i, d)
						}
						assertEmptyDir(t, tmp)
					})
				}
			}
		}
	}
}

// TestArchiveImage checks what Image returns besides layers.
func TestArchiveImage(t *testing.T) {
	img := fixtureImage(t, "docker.io/library/busybox:latest")
	for _, lay := range layouts {
		t.Run(lay.name, func(t *testing.T) {
			tmp := t.TempDir()
			a, err := ReadArchive(context.Background(), bytes.NewReader(writeTar(t, lay.build(t, []*testImage{img}), nil)), Options{TmpDir: tmp})
			assert.NilError(t, err)
			defer func() {
				assert.NilError(t, a.Close())
				assertEmptyDir(t, tmp)
			}()
			refs := a.Images()
			assert.Equal(t, len(refs), 1)
			assert.DeepEqual(t, refs[0].RepoTags, []string{"busybox:latest"})
			assert.Equal(t, refs[0].ID, img.configID)
			if strings.HasPrefix(lay.name, "containerd") {
				assert.Check(t, refs[0].Index != "")
				assert.Check(t, refs[0].Manifest != "")
			}
			got, err := a.Image("busybox")
			assert.NilError(t, err)
			assert.Equal(t, got.ID, img.configID)
			assert.DeepEqual(t, got.Config.RootFS.DiffIDs, img.diffIDs)
			assert.Equal(t, len(got.Config.History), len(img.layers)+1)
			assert.Check(t, got.Config.History[1].EmptyLayer)
			assert.Equal(t, got.Config.Architecture, hostPlatform().Architecture)
		})
	}
}

func TestPlatformSelection(t *testing.T) {
	host := newTestImage(t, hostPlatform(), nil, makeLayer(t, 10, 1000), makeLayer(t, 11, 2000))
	other := newTestImage(t, otherPlatform(), nil, makeLayer(t, 20, 1000), makeLayer(t, 21, 2000))
	tags := []string{"docker.io/library/multi:latest"}
	for _, nested := range []bool{false, true} {
		entries := containerdEntries(t, []*testImage{other, host}, tags, containerdOptions{
			compression: gzipCompression, attestations: true, nested: nested,
			missing: []ocispec.Platform{{OS: "linux", Architecture: "riscv64"}},
		})
		data := writeTar(t, entries, nil)
		op := otherPlatform()
		absent := ocispec.Platform{OS: "linux", Architecture: "riscv64"}
		tests := []struct {
			name     string
			platform *ocispec.Platform
			img      *testImage
			errMsg   string
		}{
			{name: "default", img: host},
			{name: "explicit other", platform: &op, img: other},
			{name: "not exported", platform: &absent, errMsg: "has no linux/riscv64: available platforms are "},
		}
		for _, tc := range tests {
			for _, m := range []mode{modeOpen, modeRead} {
				t.Run(tc.name+"/"+string(m), func(t *testing.T) {
					tmp := t.TempDir()
					want := host.diffIDs
					if tc.img != nil {
						want = tc.img.diffIDs
					}
					got, err := extractWith(t, m, data, "multi", want, Options{TmpDir: tmp, Platform: tc.platform})
					if tc.errMsg != "" {
						assert.ErrorContains(t, err, tc.errMsg)
						assert.Check(t, errors.Is(err, ErrNotExist))
						assert.ErrorContains(t, err, formatPlatform(hostPlatform()))
						assert.ErrorContains(t, err, formatPlatform(otherPlatform()))
						assert.Check(t, !strings.Contains(err.Error(), "unknown"), err.Error())
					} else {
						assert.NilError(t, err)
						for i := range got {
							assert.Check(t, bytes.Equal(got[i], tc.img.layers[i]))
						}
					}
					assertEmptyDir(t, tmp)
				})
			}
		}
	}
	// FromSaveStream selects by diff ID: another platform's layers are
	// found as well.
	t.Run("stream other platform", func(t *testing.T) {
		tmp := t.TempDir()
		data := writeTar(t, containerdEntries(t, []*testImage{host, other}, tags, containerdOptions{compression: zstdCompression}), nil)
		got, err := extractWith(t, modeStream, data, "", other.diffIDs, Options{TmpDir: tmp})
		assert.NilError(t, err)
		assert.Check(t, bytes.Equal(got[1], other.layers[1]))
		assertEmptyDir(t, tmp)
	})
	// A single-platform image of another platform is refused only when a
	// platform is asked for.
	t.Run("single platform", func(t *testing.T) {
		data := writeTar(t, ociEntries(t, []*testImage{other}), nil)
		tmp := t.TempDir()
		_, err := extractWith(t, modeOpen, data, "", other.diffIDs, Options{TmpDir: tmp})
		assert.NilError(t, err)
		hp := hostPlatform()
		_, err = extractWith(t, modeOpen, data, "", other.diffIDs, Options{TmpDir: tmp, Platform: &hp})
		assert.ErrorContains(t, err, "its only platform is "+formatPlatform(otherPlatform()))
		assertEmptyDir(t, tmp)
	})
}

func TestImageSelection(t *testing.T) {
	busybox := newTestImage(t, hostPlatform(), []string{"docker.io/library/busybox:latest", "docker.io/library/busybox:1.36"}, makeLayer(t, 30, 100))
	bar := newTestImage(t, hostPlatform(), []string{"docker.io/foo/bar:1.0"}, makeLayer(t, 31, 100))
	reg := newTestImage(t, hostPlatform(), []string{"registry.example.com:5000/team/app:v2"}, makeLayer(t, 32, 100))
	// An untagged image whose ID shares its first hex digit with busybox's.
	var untagged *testImage
	for i := uint64(100); ; i++ {
		untagged = newTestImage(t, hostPlatform(), nil, makeLayer(t, i, 100))
		if untagged.configID.Encoded()[0] == busybox.configID.Encoded()[0] {
			break
		}
	}
	imgs := []*testImage{busybox, bar, reg, untagged}
	for _, name := range []string{"legacy", "oci"} {
		var entries []tarEntry
		if name == "legacy" {
			entries = legacyEntries(t, imgs, legacyOptions{})
		} else {
			entries = ociEntries(t, imgs)
		}
		a, err := ReadArchive(context.Background(), bytes.NewReader(writeTar(t, entries, nil)), Options{TmpDir: t.TempDir()})
		assert.NilError(t, err)
		defer a.Close()
		assert.Equal(t, len(a.Images()), 4)
		tests := []struct {
			ref    string
			want   *testImage
			errMsg string
		}{
			{ref: "busybox", want: busybox},
			{ref: "busybox:latest", want: busybox},
			{ref: "busybox:1.36", want: busybox},
			{ref: "docker.io/library/busybox:latest", want: busybox},
			{ref: "library/busybox", want: busybox},
			{ref: "foo/bar:1.0", want: bar},
			{ref: "docker.io/foo/bar:1.0", want: bar},
			{ref: "registry.example.com:5000/team/app:v2", want: reg},
			{ref: untagged.configID.Encoded()[:12], want: untagged},
			{ref: "sha256:" + untagged.configID.Encoded()[:20], want: untagged},
			{ref: string(bar.configID), want: bar},
			{ref: "foo/bar", errMsg: `no image "foo/bar" in the archive, which holds busybox:latest, busybox:1.36 (`},
			{ref: "", errMsg: "the archive holds 4 images, name one: busybox:latest, busybox:1.36 ("},
			{ref: busybox.configID.Encoded()[:1], errMsg: "multiple images match ID prefix"},
			{ref: "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff0", errMsg: "no image"},
		}
		for _, tc := range tests {
			t.Run(name+"/"+tc.ref, func(t *testing.T) {
				got, err := a.Image(tc.ref)
				if tc.errMsg != "" {
					assert.ErrorContains(t, err, tc.errMsg)
					assert.ErrorContains(t, err, "<untagged> (")
					return
				}
				assert.NilError(t, err)
				assert.Equal(t, got.ID, tc.want.configID)
			})
		}
		t.Run(name+"/ambiguous", func(t *testing.T) {
			_, err := a.Image(busybox.configID.Encoded()[:1])
			var amb ErrAmbiguousPrefix
			assert.Assert(t, errors.As(err, &amb))
			assert.Check(t, len(amb.Matches) >= 2)
			_, err = a.Image("nope")
			assert.Check(t, errors.Is(err, ErrNotExist))
		})
	}
}

// TestContainerdImageID checks that the containerd store's image ID (the
// digest of the index or manifest) selects the image.
func TestContainerdImageID(t *testing.T) {
	img := fixtureImage(t, "docker.io/library/busybox:latest")
	entries := containerdEntries(t, []*testImage{img}, nil, containerdOptions{compression: gzipCompression})
	a, err := ReadArchive(context.Background(), bytes.NewReader(writeTar(t, entries, nil)), Options{TmpDir: t.TempDir()})
	assert.NilError(t, err)
	defer a.Close()
	refs := a.Images()
	assert.Equal(t, len(refs), 1)
	assert.Check(t, is.Len(refs[0].RepoTags, 0))
	for _, d := range []digest.Digest{refs[0].ID, refs[0].Manifest, refs[0].Index} {
		got, err := a.Image(d.Encoded()[:12])
		assert.NilError(t, err)
		assert.Equal(t, got.ID, img.configID)
	}
}

func TestSymlinks(t *testing.T) {
	img := fixtureImage(t, "docker.io/library/busybox:latest")
	base := legacyEntries(t, []*testImage{img}, legacyOptions{symlinkDuplicates: true})
	// Layer 3 repeats layer 1: its layer.tar is a symlink.
	link := legacyLayerPath(t, base, img, 3)
	target := legacyLayerPath(t, base, img, 1)
	symlink := func(to string) func(tarEntry) tarEntry {
		return func(e tarEntry) tarEntry {
			return tarEntry{Name: e.Name, Typeflag: '2', Linkname: to}
		}
	}
	// moved keeps layer 1's content under another name, reached through
	// two symlinks.
	moved := append(replaceEntry(base, target, symlink("../moved/layer.tar")), tarEntry{Name: "moved/layer.tar", Data: img.layers[1]})
	tests := []struct {
		name    string
		entries []tarEntry
		errMsg  string // archive modes
	}{
		{name: "relative", entries: base},
		{name: "two hops", entries: moved},
		{name: "loop", entries: replaceEntry(base, target, symlink("../"+link)), errMsg: "too many links"},
		{name: "self", entries: replaceEntry(base, target, symlink("layer.tar")), errMsg: "too many links"},
		{name: "escaping", entries: replaceEntry(base, target, symlink("../../../etc/passwd")), errMsg: "points outside the archive"},
		{name: "absolute", entries: replaceEntry(base, target, symlink("/etc/passwd")), errMsg: "points outside the archive"},
		{name: "dangling", entries: replaceEntry(base, target, symlink("../nothere/layer.tar")), errMsg: "which is not in the archive"},
		{name: "hardlink", entries: append(replaceEntry(base, target, func(e tarEntry) tarEntry {
			return tarEntry{Name: e.Name, Typeflag: '1', Linkname: "moved/layer.tar"}
		}), tarEntry{Name: "moved/layer.tar", Data: img.layers[1]})},
		{name: "hardlink escaping", entries: replaceEntry(base, target, func(e tarEntry) tarEntry {
			return tarEntry{Name: e.Name, Typeflag: '1', Linkname: "../x"}
		}), errMsg: "points outside the archive"},
	}
	want := []digest.Digest{img.diffIDs[3]}
	for _, tc := range tests {
		data := writeTar(t, tc.entries, nil)
		for _, m := range allModes {
			t.Run(tc.name+"/"+string(m), func(t *testing.T) {
				tmp := t.TempDir()
				got, err := extractWith(t, m, data, "", want, Options{TmpDir: tmp})
				switch {
				case tc.errMsg == "":
					assert.NilError(t, err)
					assert.Check(t, bytes.Equal(got[0], img.layers[3]))
				case m == modeStream:
					// The layer's content is nowhere in the stream: the
					// error says why.
					assert.ErrorContains(t, err, tc.errMsg)
					assert.ErrorContains(t, err, string(img.diffIDs[3]))
					assert.Check(t, errors.Is(err, ErrLayerNotFound))
				default:
					assert.ErrorContains(t, err, tc.errMsg)
				}
				assertEmptyDir(t, tmp)
			})
		}
	}
}

func TestProgress(t *testing.T) {
	img := fixtureImage(t)
	data := writeTar(t, ociEntries(t, []*testImage{img}), nil)
	for _, m := range []mode{modeStream, modeRead} {
		t.Run(string(m), func(t *testing.T) {
			var calls []Progress
			opts := Options{TmpDir: t.TempDir(), Progress: func(p Progress) { calls = append(calls, p) }}
			_, err := extractWith(t, m, data, "", []digest.Digest{img.diffIDs[0]}, opts)
			assert.NilError(t, err)
			assert.Assert(t, len(calls) > 0)
			var sawLayer bool
			for _, p := range calls {
				if p.DiffID == img.diffIDs[0] && p.Done == int64(len(img.layers[0])) {
					sawLayer = true
				}
			}
			assert.Check(t, sawLayer, "%+v", calls)
			if m == modeStream {
				last := calls[len(calls)-1]
				assert.Equal(t, last.Layers, 1)
				assert.Equal(t, last.Wanted, 1)
			}
		})
	}
}

// TestSpoolDir checks the spool directory's mode and its removal.
func TestSpoolDir(t *testing.T) {
	img := fixtureImage(t)
	data := writeTar(t, containerdEntries(t, []*testImage{img}, nil, containerdOptions{compression: gzipCompression}), nil)
	tmp := t.TempDir()
	ls, err := FromSaveStream(context.Background(), bytes.NewReader(data), img.diffIDs[:2], Options{TmpDir: tmp})
	assert.NilError(t, err)
	dirs, err := os.ReadDir(tmp)
	assert.NilError(t, err)
	assert.Equal(t, len(dirs), 1)
	fi, err := os.Stat(filepath.Join(tmp, dirs[0].Name()))
	assert.NilError(t, err)
	assert.Equal(t, fi.Mode().Perm(), os.FileMode(0o700))
	files, err := os.ReadDir(filepath.Join(tmp, dirs[0].Name()))
	assert.NilError(t, err)
	assert.Equal(t, len(files), 2, "only the wanted layers are kept")
	assert.NilError(t, ls.Close())
	assertEmptyDir(t, tmp)
	assert.NilError(t, ls.Close(), "Close is idempotent")

	// An uncompressed archive file is used in place: nothing is spooled.
	p := filepath.Join(t.TempDir(), "oci.tar")
	assert.NilError(t, os.WriteFile(p, writeTar(t, ociEntries(t, []*testImage{img}), nil), 0o600))
	a, err := OpenArchive(context.Background(), p, Options{TmpDir: tmp})
	assert.NilError(t, err)
	im, err := a.Image("")
	assert.NilError(t, err)
	layers, err := a.Layers(context.Background(), im, img.diffIDs, nil)
	assert.NilError(t, err)
	for _, l := range layers {
		_, ok := l.R.(*io.SectionReader)
		assert.Check(t, ok)
	}
	assertEmptyDir(t, tmp)
	assert.NilError(t, a.Close())
	_, err = a.Layers(context.Background(), im, img.diffIDs, nil)
	assert.ErrorContains(t, err, "closed")
}

// TestCompressedArchive checks archives compressed as a whole, which
// `docker load` accepts.
func TestCompressedArchive(t *testing.T) {
	img := fixtureImage(t)
	raw := writeTar(t, ociEntries(t, []*testImage{img}), nil)
	for _, c := range []compression{gzipCompression, zstdCompression} {
		for _, m := range []mode{modeOpen, modeRead, modeReadFile} {
			t.Run(c.String()+"/"+string(m), func(t *testing.T) {
				tmp := t.TempDir()
				got, err := extractWith(t, m, compress(t, c, raw), "", img.diffIDs[:1], Options{TmpDir: tmp})
				assert.NilError(t, err)
				assert.Check(t, bytes.Equal(got[0], img.layers[0]))
				assertEmptyDir(t, tmp)
			})
		}
	}
}

func TestRefs(t *testing.T) {
	tests := []struct{ in, normal, familiar string }{
		{"busybox", "docker.io/library/busybox:latest", ""},
		{"busybox:1", "docker.io/library/busybox:1", "busybox:1"},
		{"docker.io/library/busybox:latest", "docker.io/library/busybox:latest", "busybox:latest"},
		{"index.docker.io/library/busybox:latest", "docker.io/library/busybox:latest", "busybox:latest"},
		{"foo/bar:x", "docker.io/foo/bar:x", "foo/bar:x"},
		{"localhost/foo:1", "localhost/foo:1", "localhost/foo:1"},
		{"localhost:5000/foo", "localhost:5000/foo:latest", ""},
		{"a.b/c/d:e", "a.b/c/d:e", "a.b/c/d:e"},
		{"busybox@sha256:abc", "", ""},
		{"latest", "docker.io/library/latest:latest", ""},
		{"", "", ""},
		{"x:", "", ""},
	}
	for _, tc := range tests {
		assert.Check(t, is.Equal(normalizeRef(tc.in), tc.normal), tc.in)
		assert.Check(t, is.Equal(familiarRef(tc.in), tc.familiar), tc.in)
	}
	assert.Check(t, slices.Contains([]string{"3f57d9401f8d"}, shortID("sha256:3f57d9401f8d2c5a")))
}
