package extract

import (
	"archive/tar"
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
)

const (
	benchLayers    = 10
	benchLayerSize = 20 << 20 // 10 × 20 MiB ≈ 200 MiB of archive
)

var (
	benchMu      sync.Mutex
	benchArchive *benchFixture
)

// benchFixtureFor builds the benchmark archive once.
func benchFixtureFor(b *testing.B) *benchFixture {
	benchMu.Lock()
	defer benchMu.Unlock()
	if benchArchive == nil {
		benchArchive = newBenchFixture(b)
	}
	return benchArchive
}

type benchFixture struct {
	data  []byte          // the OCI archive
	order []digest.Digest // diff IDs in archive order (blobs sorted by digest)
	size  int64           // of one layer
}

// randomLayer is a layer tar holding one file of n random bytes.
func randomLayer(seed uint64, n int) []byte {
	payload := make([]byte, n)
	var s [32]byte
	s[0] = byte(seed)
	_, _ = rand.NewChaCha8(s).Read(payload)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	_ = tw.WriteHeader(&tar.Header{Name: "data", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(n)})
	_, _ = tw.Write(payload)
	_ = tw.Close()
	return buf.Bytes()
}

func newBenchFixture(t testing.TB) *benchFixture {
	var layers [][]byte
	for i := range benchLayers {
		layers = append(layers, randomLayer(uint64(i+1), benchLayerSize))
	}
	img := newTestImage(t, hostPlatform(), []string{"docker.io/library/bench:latest"}, layers...)
	f := &benchFixture{data: writeTar(t, ociEntries(t, []*testImage{img}), nil), size: int64(len(layers[0]))}
	f.order = append(f.order, img.diffIDs...)
	sort.Slice(f.order, func(i, j int) bool { return f.order[i] < f.order[j] })
	return f
}

// BenchmarkFromSaveStream reads a ~200 MiB OCI save stream for one layer:
// the one stored last (the whole stream is read; the nine others are
// skipped without spooling) and the one stored first (early stop). Bytes
// are those actually read from the stream.
func BenchmarkFromSaveStream(b *testing.B) {
	f := benchFixtureFor(b)
	for _, tc := range []struct {
		name string
		want digest.Digest
	}{
		{"last", f.order[len(f.order)-1]},
		{"first", f.order[0]},
	} {
		b.Run(tc.name, func(b *testing.B) {
			dir := b.TempDir()
			r := &strictReader{r: bytes.NewReader(f.data), limit: int64(len(f.data))}
			ls, err := FromSaveStream(context.Background(), r, []digest.Digest{tc.want}, Options{TmpDir: dir})
			if err != nil {
				b.Fatal(err)
			}
			_ = ls.Close()
			b.SetBytes(r.n)
			b.ReportAllocs()
			for b.Loop() {
				ls, err := FromSaveStream(context.Background(), bytes.NewReader(f.data), []digest.Digest{tc.want}, Options{TmpDir: dir})
				if err != nil {
					b.Fatal(err)
				}
				if err := ls.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkOpenArchiveLayers opens the same archive as a file, selects the
// image and verifies one layer (a section of the file: hashed, not
// copied). Bytes are those of the layer.
func BenchmarkOpenArchiveLayers(b *testing.B) {
	f := benchFixtureFor(b)
	p := filepath.Join(b.TempDir(), "bench.tar")
	if err := os.WriteFile(p, f.data, 0o600); err != nil {
		b.Fatal(err)
	}
	want := []digest.Digest{f.order[len(f.order)-1]}
	dir := b.TempDir()
	ctx := context.Background()
	b.SetBytes(f.size)
	b.ReportAllocs()
	for b.Loop() {
		a, err := OpenArchive(ctx, p, Options{TmpDir: dir})
		if err != nil {
			b.Fatal(err)
		}
		img, err := a.Image("bench")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := a.Layers(ctx, img, want, nil); err != nil {
			b.Fatal(err)
		}
		if err := a.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
