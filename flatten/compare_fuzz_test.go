package flatten

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
)

// FuzzCompare splits the fuzzed layers into base, A and B and checks that
// Compare succeeds where both sides flatten, that recordings of the layers
// give the same rows (or error) as the layers, that trees spilled to disk
// give the same rows, and that swapping the sides swaps Added and Deleted.
func FuzzCompare(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(encodeFuzz(s), uint8(1), uint8(1))
	}
	f.Fuzz(func(t *testing.T, data []byte, k, na uint8) {
		tars := decodeFuzz(data)
		for _, tb := range tars {
			if !declaredSizeOK(tb) {
				t.Skip("declared size too large") // hashing a huge sparse file takes its time
			}
		}
		n := len(tars)
		kb := int(k) % (n + 1)
		ka := kb + int(na)%(n-kb+1)
		ls := mkLayers(tars...)
		base, a, b := ls[:kb], ls[kb:ka], ls[ka:]
		got, err := Compare(t0ctx, base, a, b, CompareOptions{})
		if err != nil {
			_, errA := flattenBytes(slices.Concat(tars[:kb], tars[kb:ka]), false)
			_, errB := flattenBytes(slices.Concat(tars[:kb], tars[ka:]), false)
			if errA == nil && errB == nil {
				t.Fatalf("Compare fails (%v) where both sides flatten", err)
			}
		}
		recs := make([]Layer, n)
		for i, tb := range tars {
			rec, rerr := Record(t0ctx, ls[i].ID, bytes.NewReader(tb), Options{})
			if rerr != nil {
				return // Record reads the whole tar; scanLayer may stop earlier
			}
			recs[i] = Layer{ID: ls[i].ID, Recording: rec}
		}
		rgot, rerr := Compare(t0ctx, recs[:kb], recs[kb:ka], recs[ka:], CompareOptions{})
		if errString(err) != errString(rerr) {
			t.Fatalf("recordings give error %v, layers %v", rerr, err)
		}
		if fmt.Sprint(diffStrings(got)) != fmt.Sprint(diffStrings(rgot)) {
			t.Fatalf("recordings give %q, layers %q", diffStrings(rgot), diffStrings(got))
		}
		if err != nil {
			return
		}
		// With the trees spilled to disk and merged in buckets (and base
		// merged whole past 12 touched paths): the same rows. An error is
		// allowed only where a side does not flatten: of base outside the
		// paths the filter merges.
		spilled, serr := Compare(t0ctx, base, a, b, CompareOptions{IndexEntries: 3, TmpDir: t.TempDir()})
		if serr != nil {
			_, errA := flattenBytes(slices.Concat(tars[:kb], tars[kb:ka]), false)
			_, errB := flattenBytes(slices.Concat(tars[:kb], tars[ka:]), false)
			if errA == nil && errB == nil {
				t.Fatalf("Compare of spilled trees fails (%v) where both sides flatten", serr)
			}
		} else if fmt.Sprint(diffStrings(spilled)) != fmt.Sprint(diffStrings(got)) {
			t.Fatalf("spilled trees give %q, in memory %q", diffStrings(spilled), diffStrings(got))
		}
		swapped, err := Compare(t0ctx, base, b, a, CompareOptions{})
		if err != nil {
			t.Fatalf("Compare fails with the sides swapped: %v", err)
		}
		if len(swapped) != len(got) {
			t.Fatalf("swapped sides give %d rows, not %d", len(swapped), len(got))
		}
		for i := range got {
			g, s := got[i], swapped[i]
			if g.Path != s.Path || g.What != s.What || (g.Kind == Added) != (s.Kind == Deleted) {
				t.Fatalf("row %d: %v swapped gives %v", i, g, s)
			}
		}
	})
}
