package flatten

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// indexInMemory runs pass 1 over layers into a tree in memory.
func indexInMemory(t testing.TB, layers []Layer) *memIndex {
	t.Helper()
	m := newMemIndex(&flattener{ctx: context.Background(), layers: layers})
	var s layerScan
	for i := range layers {
		if err := m.f.scanLayer(i, &s, nil); err != nil {
			t.Fatal(err)
		}
		if err := m.add(i, &s, false); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

// TestWritePassAllocations checks that pass 2 allocates nothing per entry
// for plain entries: writing 4,000 tiny files allocates no more than
// writing 1,000 (the output's batches, a reader per layer and the walk's
// stack are allocated once).
func TestWritePassAllocations(t *testing.T) {
	allocs := func(n int) float64 {
		data := tinyFilesTar(t, n)
		m := indexInMemory(t, []Layer{{R: bytes.NewReader(data), Size: int64(len(data))}})
		return testing.AllocsPerRun(5, func() {
			if err := m.f.write(m, io.Discard, nil); err != nil {
				t.Fatal(err)
			}
		})
	}
	small, large := allocs(1000), allocs(4000)
	t.Logf("write pass: %.0f allocations for 1,000 files, %.0f for 4,000", small, large)
	if per := (large - small) / 3000; per > 0.01 {
		t.Errorf("write pass: %.2f allocations per entry (%.0f for 1,000 files, %.0f for 4,000)", per, small, large)
	}
}

// TestWritePassLongNames writes names longer than a batch's room for
// names, between short ones: each must come out as it went in.
func TestWritePassLongNames(t *testing.T) {
	var entries []tf
	var want []string
	for i := range 40 {
		name := fmt.Sprintf("f%02d", i)
		if i%3 == 0 {
			name += "-" + strings.Repeat("n", (i+1)*1500) // 1.5 to 60 KiB
		}
		entries = append(entries, reg(name, "x"))
		want = append(want, render(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644}, []byte("x")))
	}
	out, _, err := run(t, [][]byte{mkTar(t, entries...)}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(want)
	if got := listing(t, out); !slices.Equal(got, want) {
		t.Errorf("names written differ from the layer's:\n%s", diffLines(got, want))
	}
}

// BenchmarkWritePass is pass 2 alone: writing 100,000 tiny files from an
// index in memory, with their allocations per entry.
func BenchmarkWritePass(b *testing.B) {
	const n = 100_000
	data := tinyFilesTar(b, n)
	m := indexInMemory(b, []Layer{{R: bytes.NewReader(data), Size: int64(len(data))}})
	b.SetBytes(int64(len(data)))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for b.Loop() {
		if err := m.f.write(m, io.Discard, nil); err != nil {
			b.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N)/n, "allocs/entry")
}
