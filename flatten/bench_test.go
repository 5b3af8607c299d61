package flatten

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// tinyFilesTar is one layer of n tiny files in n/100 directories.
func tinyFilesTar(b testing.TB, n int) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i := range n {
		if i%100 == 0 {
			tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: fmt.Sprintf("usr/share/pkg%04d/", i/100), Mode: 0o755, ModTime: testTime})
		}
		body := fmt.Sprintf("file %d\n", i)
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: fmt.Sprintf("usr/share/pkg%04d/file-%06d.txt", i/100, i), Mode: 0o644, Size: int64(len(body)), ModTime: testTime})
		io.WriteString(tw, body)
	}
	tw.Close()
	return buf.Bytes()
}

func benchFlatten(b *testing.B, layers []Layer, size int64) {
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		if err := flattenLayers(context.Background(), io.Discard, layers, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// indexHeap reports the heap the whole merge index holds after pass 1, in
// memory. (Past Options.IndexEntries entries the Indexer spills it to disk
// and holds one bucket of it at a time.)
func indexHeap(b *testing.B, layers []Layer) {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	m := indexInMemory(b, layers)
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "MB-index")
	runtime.KeepAlive(m)
}

func BenchmarkTinyFiles100k(b *testing.B) {
	tb := tinyFilesTar(b, 100_000)
	layers := mkLayers(tb)
	benchFlatten(b, layers, int64(len(tb)))
	indexHeap(b, layers)
}

// BenchmarkHugeFiles flattens three layers of one 64 MiB file each, spooled
// to temporary files as a caller would.
func BenchmarkHugeFiles(b *testing.B) {
	const size = 64 << 20
	dir := b.TempDir()
	chunk := bytes.Repeat([]byte("0123456789abcdef"), 4096)
	var layers []Layer
	var total int64
	for i := range 3 {
		path := filepath.Join(dir, fmt.Sprintf("layer%d.tar", i))
		fh, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		tw := tar.NewWriter(fh)
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: fmt.Sprintf("data/blob%d", i), Mode: 0o644, Size: size, ModTime: testTime})
		for w := 0; w < size; w += len(chunk) {
			tw.Write(chunk)
		}
		if err := tw.Close(); err != nil {
			b.Fatal(err)
		}
		st, _ := fh.Stat()
		layers = append(layers, Layer{ID: path, R: fh, Size: st.Size()})
		total += st.Size()
		b.Cleanup(func() { fh.Close() })
	}
	benchFlatten(b, layers, total)
}

// BenchmarkWhiteoutChurn flattens ten layers that each delete half of the
// files of the layer below, replace directories, and recreate paths.
func BenchmarkWhiteoutChurn(b *testing.B) {
	var tars [][]byte
	var total int64
	for l := range 10 {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for d := range 20 {
			for e := range 10 {
				p := fmt.Sprintf("srv/d%02d/e%d/deep/er", d, e)
				tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: p + "/", Mode: 0o755, ModTime: testTime})
				for f := range 10 {
					tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: fmt.Sprintf("%s/f%d-%d", p, l, f), Mode: 0o644, Size: 1, ModTime: testTime})
					tw.Write([]byte{'x'})
					if l > 0 && f%2 == 0 {
						tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: fmt.Sprintf("%s/%sf%d-%d", p, WhiteoutPrefix, l-1, f), Mode: 0o644, ModTime: testTime})
					}
				}
			}
			switch {
			case l%3 == 1 && d%4 == 0:
				tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: fmt.Sprintf("srv/d%02d/%s", d, WhiteoutOpaqueDir), Mode: 0o644, ModTime: testTime})
			case l%3 == 2 && d%5 == 0:
				tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: fmt.Sprintf("srv/%sd%02d", WhiteoutPrefix, d), Mode: 0o644, ModTime: testTime})
			}
		}
		tw.Close()
		tars = append(tars, buf.Bytes())
		total += int64(buf.Len())
	}
	layers := mkLayers(tars...)
	benchFlatten(b, layers, total)
	indexHeap(b, layers)
}
