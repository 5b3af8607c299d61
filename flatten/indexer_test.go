package flatten

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
)

// TestIndexerAnyOrder adds the layers of random stacks in a random order,
// some from other goroutines and some left for Flatten, and checks that
// the output, or the error, is exactly Flatten's.
func TestIndexerAnyOrder(t *testing.T) {
	t.Run("unbounded", testIndexerAnyOrder)
	t.Run("bound of 3 entries ahead", func(t *testing.T) {
		defer func(m int) { maxAhead = m }(maxAhead)
		maxAhead = 3
		testIndexerAnyOrder(t)
	})
}

func testIndexerAnyOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	stacks := 300
	if testing.Short() {
		stacks = 60
	}
	for i := range stacks {
		tars := genStack(t, r, 1+r.IntN(6))
		keep := r.IntN(2) == 0
		want, wantErr := flattenBytes(tars, keep)

		layers := mkLayers(tars...)
		x := NewIndexer(t0ctx, len(layers), Options{KeepWhiteouts: keep})
		order := r.Perm(len(layers))
		order = order[:r.IntN(len(order)+1)] // the rest is left to Flatten
		done := make(chan struct{})
		go func() {
			defer close(done)
			for _, k := range order {
				x.Add(k, layers[k])
			}
		}()
		if r.IntN(2) == 0 {
			<-done
		}
		var out bytes.Buffer
		err := x.Flatten(&out, layers)
		<-done
		x.Close()
		if (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
			t.Fatalf("stack %d, order %v: error %v, Flatten's %v\n%s", i, order, err, wantErr, dumpStack(t, tars))
		}
		if !bytes.Equal(out.Bytes(), want) {
			t.Fatalf("stack %d, order %v: output differs from Flatten's\n%s", i, order, dumpStack(t, tars))
		}
	}
}

// TestIndexerErrorInOrder checks that a layer that fails to scan is
// reported when the merge reaches it, as Flatten reports it, even when a
// higher broken layer was added first.
func TestIndexerErrorInOrder(t *testing.T) {
	good := mkTar(t, reg("a", "1"))
	broken := append(mkTar(t, reg("b", "2"))[:512], bytes.Repeat([]byte{'x'}, 1024)...)
	layers := mkLayers(good, broken, good, broken)
	wantErr := flattenLayers(t0ctx, io.Discard, layers, Options{})
	if wantErr == nil || !strings.Contains(wantErr.Error(), "sha256:l1") {
		t.Fatalf("Flatten: %v, want an error naming layer sha256:l1", wantErr)
	}
	x := NewIndexer(t0ctx, len(layers), Options{})
	defer x.Close()
	for _, k := range []int{3, 2, 1, 0} {
		x.Add(k, layers[k])
	}
	if err := x.Flatten(io.Discard, layers); err == nil || err.Error() != wantErr.Error() {
		t.Fatalf("Indexer: %v, want %v", err, wantErr)
	}
}

// countingReaderAt counts the reads of a layer.
type countingReaderAt struct {
	r     io.ReaderAt
	reads atomic.Int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	c.reads.Add(1)
	return c.r.ReadAt(p, off)
}

// TestIndexerClose checks that Close stops the indexer before every layer
// is in, and that nothing is read after it returns.
func TestIndexerClose(t *testing.T) {
	b := mkTar(t, reg("a", "1"), dir("d"))
	c := &countingReaderAt{r: bytes.NewReader(b)}
	x := NewIndexer(context.Background(), 3, Options{})
	x.Add(1, Layer{ID: "sha256:l1", R: c, Size: int64(len(b))})
	x.Close()
	n := c.reads.Load()
	x.Add(0, Layer{ID: "sha256:l0", R: c, Size: int64(len(b))})
	x.Close() // again: a no-op
	if got := c.reads.Load(); got != n {
		t.Fatalf("%d reads after Close", got-n)
	}
	err := x.Flatten(io.Discard, mkLayers(b, b, b))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Flatten after Close: %v, want context.Canceled", err)
	}
}

func TestIndexerMismatch(t *testing.T) {
	a, b := mkTar(t, reg("a", "1")), mkTar(t, reg("b", strings.Repeat("2", 20000)))
	x := NewIndexer(t0ctx, 2, Options{})
	defer x.Close()
	if err := x.Flatten(io.Discard, mkLayers(a)); err == nil {
		t.Fatal("Flatten with 1 layer for an indexer of 2: no error")
	}
	x.Add(0, mkLayers(a)[0])
	if err := x.Flatten(io.Discard, mkLayers(b, b)); err == nil || !strings.Contains(err.Error(), "layer 0 was added with") {
		t.Fatalf("Flatten with another layer 0: %v, want a size mismatch", err)
	}
}
