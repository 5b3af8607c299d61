package extract

import (
	"bytes"
	"context"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/docker-layers/docker-layers/flatten"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"gotest.tools/v3/assert"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite testdata/fuzz/FuzzReadArchive from the in-memory layouts")

// fuzzSeeds are small archives of the three layouts.
func fuzzSeeds(t testing.TB) map[string][]byte {
	l0 := makeLayer(t, 1, 300)
	l1 := makeLayer(t, 2, 100)
	// Fixed platforms: the corpus must not depend on the machine.
	img := newTestImage(t, ocispec.Platform{OS: "linux", Architecture: "amd64"}, []string{"docker.io/library/busybox:latest"}, l0, l1, l0)
	other := newTestImage(t, ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}, nil, l1)
	return map[string][]byte{
		"legacy":          writeTar(t, legacyEntries(t, []*testImage{img}, legacyOptions{symlinkDuplicates: true}), nil),
		"oci":             writeTar(t, ociEntries(t, []*testImage{img}), nil),
		"oci-shuffled":    writeTar(t, shuffled(ociEntries(t, []*testImage{img, other}), 7), nil),
		"containerd-gzip": writeTar(t, containerdEntries(t, []*testImage{img}, img.tags, containerdOptions{compression: gzipCompression}), nil),
		"containerd-zstd-nested": writeTar(t, containerdEntries(t, []*testImage{img, other}, img.tags, containerdOptions{
			compression: zstdCompression, attestations: true, nested: true,
			missing: []ocispec.Platform{{OS: "linux", Architecture: "riscv64"}},
		}), nil),
		"daemon-error": append(writeTar(t, legacyEntries(t, []*testImage{other}, legacyOptions{}), nil)[:3000], daemonJSON...),
	}
}

// TestFuzzCorpus keeps testdata/fuzz/FuzzReadArchive in step with the
// builders: run with -update-corpus to rewrite it.
func TestFuzzCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzReadArchive")
	for name, data := range fuzzSeeds(t) {
		want := "go test fuzz v1\n[]byte(" + strconv.Quote(string(data)) + ")\n"
		p := filepath.Join(dir, "seed-"+name)
		if *updateCorpus {
			assert.NilError(t, os.MkdirAll(dir, 0o755))
			assert.NilError(t, os.WriteFile(p, []byte(want), 0o644))
			continue
		}
		got, err := os.ReadFile(p)
		assert.NilError(t, err, "run go test ./extract -run TestFuzzCorpus -update-corpus")
		assert.Check(t, string(got) == want, "%s is stale: run go test ./extract -run TestFuzzCorpus -update-corpus", p)
	}
}

// FuzzReadArchive feeds arbitrary bytes to ReadArchive and FromSaveStream.
// Invariants: no panic, no hang, bounded memory and disk (the spool is
// capped), every returned layer hashes to its diff ID, and the temporary
// directory is empty once everything is closed.
func FuzzReadArchive(f *testing.F) {
	for _, data := range fuzzSeeds(f) {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tmp := t.TempDir()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		opts := Options{TmpDir: tmp, spoolLimit: 64 << 20}

		var want []digest.Digest
		a, err := ReadArchive(ctx, bytes.NewReader(data), opts)
		if err == nil {
			for _, ref := range a.Images() {
				_ = ref.String()
				for _, r := range append([]string{""}, ref.RepoTags...) {
					img, err := a.Image(r)
					if err != nil {
						continue
					}
					want = img.Config.RootFS.DiffIDs
					ls, err := a.Layers(ctx, img, want, nil)
					if err != nil {
						continue
					}
					checkLayers(t, ls)
				}
			}
			if err := a.Close(); err != nil {
				t.Fatal(err)
			}
		}
		assertEmptyDir(t, tmp)

		if len(want) == 0 {
			want = []digest.Digest{digest.FromBytes(data)}
		}
		// The stream, for every layer, then for the top one only with the
		// image's diff IDs known (legacy directories identified from
		// their json, compressed blobs deferred).
		withImage := opts
		withImage.ImageDiffIDs = want
		for _, run := range []struct {
			want []digest.Digest
			opts Options
		}{{want, opts}, {want[len(want)-1:], withImage}} {
			ls, err := FromSaveStream(ctx, bytes.NewReader(data), run.want, run.opts)
			if err == nil {
				checkLayers(t, ls.List())
				if err := ls.Close(); err != nil {
					t.Fatal(err)
				}
			}
			assertEmptyDir(t, tmp)
		}
		if ctx.Err() != nil {
			t.Fatal("took too long")
		}
	})
}

func checkLayers(t *testing.T, ls []flatten.Layer) {
	t.Helper()
	for _, l := range ls {
		d, n, err := hashReader(io.NewSectionReader(l.R, 0, l.Size))
		if err != nil {
			t.Fatal(err)
		}
		if d.String() != l.ID || n != l.Size {
			t.Fatalf("layer %s: read %d bytes hashing to %s", l.ID, n, d)
		}
	}
}
