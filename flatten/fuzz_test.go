package flatten

import (
	"archive/tar"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// The fuzz input is 1 to 3 layer tars: a byte n (layers = 1 + n%3), the
// lengths of all layers but the last as little-endian uint32s, then the
// layers one after the other.

func encodeFuzz(tars [][]byte) []byte {
	b := []byte{byte(len(tars) - 1)}
	for _, t := range tars[:len(tars)-1] {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(t)))
	}
	for _, t := range tars {
		b = append(b, t...)
	}
	return b
}

func decodeFuzz(data []byte) [][]byte {
	if len(data) == 0 {
		return [][]byte{nil}
	}
	n := 1 + int(data[0]%3)
	data = data[1:]
	lens := make([]int, n-1)
	for i := range lens {
		if len(data) < 4 {
			break
		}
		lens[i] = int(binary.LittleEndian.Uint32(data))
		data = data[4:]
	}
	tars := make([][]byte, 0, n)
	for _, l := range lens {
		l = min(l, len(data))
		tars = append(tars, data[:l:l])
		data = data[l:]
	}
	return append(tars, data)
}

// fuzzSeeds are the table cases, the golden cases and some random stacks.
func fuzzSeeds(t testing.TB) [][][]byte {
	var seeds [][][]byte
	add := func(layers [][]tf) {
		if len(layers) > 3 {
			layers = layers[len(layers)-3:]
		}
		var tars [][]byte
		for _, l := range layers {
			tars = append(tars, mkTar(t, l...))
		}
		seeds = append(seeds, tars)
	}
	for _, tc := range ruleCases() {
		switch {
		case tc.tars != nil && len(tc.tars[0]) < 64<<10:
			seeds = append(seeds, tc.tars)
		case tc.layers != nil:
			add(tc.layers)
		}
	}
	add(imageLayers())
	add(churnLayers())
	r := rand.New(rand.NewPCG(3, 4))
	for range 20 {
		seeds = append(seeds, genStack(t, r, 1+r.IntN(3)))
	}
	return seeds
}

// maxFuzzSize bounds the declared file sizes the fuzz target accepts, so a
// sparse entry that expands to gigabytes does not exhaust memory.
const maxFuzzSize = 1 << 20

func declaredSizeOK(tb []byte) bool {
	tr := tar.NewReader(bytes.NewReader(tb))
	for {
		h, err := tr.Next()
		if err != nil {
			return true
		}
		if h.Size > maxFuzzSize {
			return false
		}
	}
}

func FuzzFlatten(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(encodeFuzz(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tars := decodeFuzz(bytes.Clone(data))
		for _, tb := range tars {
			fixChecksums(tb)
		}
		for _, tb := range tars {
			if !declaredSizeOK(tb) {
				t.Skip("declared size too large")
			}
		}
		out, err := flattenBytes(tars, false)
		var spilled outcome
		withBuckets(2, func() { spilled = flattenOutcome(t, tars, Options{}) })
		if errString(err) != spilled.err || (err == nil && !bytes.Equal(out, spilled.out)) {
			t.Fatalf("the index in buckets gives error %q and %d bytes, in memory %v and %d bytes", spilled.err, len(spilled.out), err, len(out))
		}
		var slow outcome
		withoutQuickHeaders(func() { slow = flattenOutcome(t, tars, Options{}) })
		if errString(err) != slow.err || (err == nil && !bytes.Equal(out, slow.out)) {
			t.Fatalf("archive/tar reading every header gives error %q and %d bytes, quickHeader %v and %d bytes", slow.err, len(slow.out), err, len(out))
		}
		want, refErr := refFlatten(tars)
		if refErr == nil && err != nil {
			t.Fatalf("Flatten fails where the reference succeeds: %v", err)
		}
		if err != nil {
			var le *LayerError
			if !errors.As(err, &le) {
				t.Fatalf("error %q is not a *LayerError", err)
			}
			if bytes.HasSuffix(out, endMarker) && len(out) > 0 {
				t.Fatalf("failed output ends with an end marker: %v", err)
			}
			return
		}
		if err := checkOutput(out, false); err != nil {
			t.Fatal(err)
		}
		got, err := fullListing(out)
		if err != nil {
			t.Fatal(err)
		}
		if refErr == nil {
			if d := diffLines(got, want); d != "" {
				t.Fatalf("differs from the reference\n%s", d)
			}
		}
		re, err := flattenBytes([][]byte{out}, false)
		if err != nil || !bytes.Equal(re, out) {
			t.Fatalf("flattening the output again changes it (err %v)", err)
		}
		keepOut, err := flattenBytes(tars, true)
		if err != nil {
			t.Fatalf("KeepWhiteouts fails where the default succeeds: %v", err)
		}
		if err := checkOutput(keepOut, true); err != nil {
			t.Fatalf("KeepWhiteouts: %v", err)
		}
		re, err = flattenBytes([][]byte{keepOut}, true)
		if err != nil || !bytes.Equal(re, keepOut) {
			t.Fatalf("KeepWhiteouts output is not stable under flattening (err %v)", err)
		}
	})
}

// TestWriteFuzzSeeds writes the seed corpus files with -update. The files
// are named by index; whiteout names exist only inside their contents.
func TestWriteFuzzSeeds(t *testing.T) {
	if !*update {
		t.Skip("run with -update to rewrite testdata/fuzz/FuzzFlatten/seed-*")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzFlatten")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	old, _ := filepath.Glob(filepath.Join(dir, "seed-*"))
	for _, o := range old {
		os.Remove(o)
	}
	for i, s := range fuzzSeeds(t) {
		b := fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", encodeFuzz(s))
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%03d", i)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// fixChecksums repairs the checksum of every block that has a USTAR or
// GNU magic, so that mutated headers get past the checksum and exercise the
// layer rules. A block with a wrong checksum is still tested by the seeds.
func fixChecksums(tb []byte) {
	for off := 0; off+blockSize <= len(tb); off += blockSize {
		b := tb[off : off+blockSize]
		if bytes.Equal(b[257:262], []byte("ustar")) {
			setChecksum(b)
		}
	}
}
