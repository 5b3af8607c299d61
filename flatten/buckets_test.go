package flatten

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// withBuckets runs fn with the index cut into buckets of n records,
// spilled to disk once more than n/2 entries are merged (from the first
// layer on for n < 2), and scans spilled every 2 entries.
func withBuckets(n int, fn func()) {
	oldTree, oldBucket, oldFlush := maxTreeEntries, bucketEntries, scanPart
	maxTreeEntries, bucketEntries, scanPart = n/2, n, 2
	if n > 100 {
		maxTreeEntries = 0
	}
	defer func() { maxTreeEntries, bucketEntries, scanPart = oldTree, oldBucket, oldFlush }()
	fn()
}

// outcome is what a Flatten run gives: bytes, error, warnings (sorted:
// buckets give them in path order rather than layer order).
type outcome struct {
	out   []byte
	err   string
	warns []string
}

func flattenOutcome(t testing.TB, tars [][]byte, opts Options) outcome {
	t.Helper()
	out, warns, err := run(t, tars, opts)
	o := outcome{out: out, warns: warns}
	if err != nil {
		o.err = err.Error()
	}
	slices.Sort(o.warns)
	return o
}

func (o outcome) diff(want outcome) string {
	switch {
	case o.err != want.err:
		return fmt.Sprintf("error %q, want %q", o.err, want.err)
	case want.err == "" && !bytes.Equal(o.out, want.out):
		return "output differs:\n" + diffLines(fullListingOrErr(o.out), fullListingOrErr(want.out))
	case !slices.Equal(o.warns, want.warns):
		return fmt.Sprintf("warnings %q, want %q", o.warns, want.warns)
	}
	return ""
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func fullListingOrErr(b []byte) []string {
	l, err := fullListing(b)
	if err != nil {
		return append(l, "parse error: "+err.Error())
	}
	return l
}

// bucketSizes are the bucket sizes the tests cut indexes into: one record
// per bucket, a few, and one bucket for everything.
var bucketSizes = []int{1, 2, 3, 5, 1 << 20}

// TestBucketsRules: every rule case gives the same bytes, error and
// warnings with the index in buckets as with the tree in memory.
func TestBucketsRules(t *testing.T) {
	t.Setenv("TZ", "UTC")
	for _, tc := range ruleCases() {
		tars := tc.tars
		if tars == nil {
			for _, l := range tc.layers {
				tars = append(tars, mkTar(t, l...))
			}
		}
		for _, keep := range []bool{false, true} {
			opts := Options{KeepWhiteouts: keep}
			want := flattenOutcome(t, tars, opts)
			for _, n := range bucketSizes {
				var got outcome
				withBuckets(n, func() { got = flattenOutcome(t, tars, opts) })
				if d := got.diff(want); d != "" {
					t.Errorf("%s (keep %v, buckets of %d): %s", tc.name, keep, n, d)
				}
			}
		}
	}
}

// TestBucketsRandom: the same on random layer stacks, errors included.
func TestBucketsRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(*seed, 7))
	stacks := 400
	if testing.Short() {
		stacks = 100
	}
	var failed int
	for i := range stacks {
		tars := genStack(t, r, 1+r.IntN(5))
		for _, keep := range []bool{false, true} {
			opts := Options{KeepWhiteouts: keep}
			want := flattenOutcome(t, tars, opts)
			if want.err != "" {
				failed++
			}
			for _, n := range bucketSizes {
				var got outcome
				withBuckets(n, func() { got = flattenOutcome(t, tars, opts) })
				if d := got.diff(want); d != "" {
					t.Fatalf("stack %d (keep %v, buckets of %d): %s\n%s", i, keep, n, d, dumpStack(t, tars))
				}
			}
		}
	}
	t.Logf("%d stacks, %d runs that fail", stacks, failed)
}

// TestBucketsIndexer: layers added out of order, as extract does, give the
// same output in buckets, and the spill files are gone after Close.
func TestBucketsIndexer(t *testing.T) {
	// Spill files are unlinked at once, or, as on Windows where an open
	// file cannot be removed, when they are closed.
	for _, late := range []bool{false, true} {
		t.Run(fmt.Sprintf("remove late %v", late), func(t *testing.T) { testBucketsIndexer(t, late) })
	}
}

func testBucketsIndexer(t *testing.T, removeLate bool) {
	tmp := t.TempDir()
	tars := [][]byte{
		mkTar(t, dir("a"), reg("a/x", "1"), reg("a/y", "2"), dir("b"), reg("b/z", "3"), reg("c", "4")),
		mkTar(t, wh("a/x"), hl("b/link", "a/y"), reg("c", "5"), opq("b"), reg("b/new", "6")),
		mkTar(t, reg("d/e/f", "7"), hl("d/e/g", "b/link"), wh("a/y")),
	}
	want := flattenOutcome(t, tars, Options{})
	if want.err != "" {
		t.Fatal(want.err)
	}
	withBuckets(1, func() {
		x := NewIndexer(context.Background(), len(tars), Options{TmpDir: tmp, removeSpillLate: removeLate})
		layers := mkLayers(tars...)
		for _, i := range []int{2, 0, 1} {
			x.Add(i, layers[i])
		}
		var out bytes.Buffer
		err := x.Flatten(&out, layers)
		if ents, _ := os.ReadDir(tmp); removeLate != (len(ents) > 0) {
			t.Errorf("%d spill files in the directory before Close", len(ents))
		}
		x.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out.Bytes(), want.out) {
			t.Errorf("output differs:\n%s", diffLines(fullListingOrErr(out.Bytes()), fullListingOrErr(want.out)))
		}
	})
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Errorf("%d files left in the spill directory", len(ents))
	}
}

func TestCmpPath(t *testing.T) {
	sorted := []string{"", "a", "a/b", "a/b/c", "a/b-", "a-c", "a.", "ab", "b", "b/\xff", "b\x01"}
	for i := range sorted {
		for j := range sorted {
			got := cmpPath(sorted[i], sorted[j])
			if (got < 0) != (i < j) || (got == 0) != (i == j) {
				t.Errorf("cmpPath(%q, %q) = %d", sorted[i], sorted[j], got)
			}
		}
	}
}

func TestSamplerQuantiles(t *testing.T) {
	s := sampler{max: 8, stride: 1}
	for i := range 1000 {
		s.add(fmt.Sprintf("p%04d", i))
	}
	if len(s.names) > 8 {
		t.Fatalf("sample holds %d names, max 8", len(s.names))
	}
	cuts := s.cuts(300, 1000)
	if !slices.Equal(cuts, []string{"p0256", "p0512", "p0896"}) {
		// The sample holds every 128th name: p0000, p0128, … p0896.
		t.Fatalf("cuts %q", cuts)
	}
	// Evenly spaced: the sample is every stride-th name from the first.
	for i, n := range s.names {
		if want := fmt.Sprintf("p%04d", i*s.stride); n != want {
			t.Errorf("sample[%d] = %q, want %q", i, n, want)
		}
	}
}

// TestBucketsTmpDirError: a spill directory that cannot be written is one
// clear error, and nothing is written.
func TestBucketsTmpDirError(t *testing.T) {
	tars := [][]byte{mkTar(t, reg("a", "1"), reg("b", "2")), mkTar(t, reg("c", "3"))}
	withBuckets(1, func() {
		var out bytes.Buffer
		err := flattenLayers(context.Background(), &out, mkLayers(tars...), Options{TmpDir: filepath.Join(t.TempDir(), "missing")})
		if err == nil || !strings.Contains(err.Error(), "writing the index to disk: ") || !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("error %v, want one about writing the index to disk", err)
		}
		if out.Len() != 0 {
			t.Errorf("%d bytes written", out.Len())
		}
	})
}

// TestBucketsFilters: with Include and Exclude, the buckets give the same
// bytes as the tree, on random stacks and globs (parents of selected paths
// are written once, whichever bucket they fall in).
func TestBucketsFilters(t *testing.T) {
	r := rand.New(rand.NewPCG(*seed, 9))
	globs := []string{"a", "a/*", "*/b", "c/a/f", "*.b", "b/?", "[ab]/c", "c", "*/*/c", "g"}
	pick := func() []string { return pickGlobs(r, globs) }
	stacks := 200
	if testing.Short() {
		stacks = 50
	}
	for i := range stacks {
		tars := genStack(t, r, 1+r.IntN(4))
		opts := Options{Include: pick(), Exclude: pick(), KeepWhiteouts: r.IntN(2) == 0}
		want := flattenOutcome(t, tars, opts)
		for _, n := range bucketSizes {
			var got outcome
			withBuckets(n, func() { got = flattenOutcome(t, tars, opts) })
			if d := got.diff(want); d != "" {
				t.Fatalf("stack %d (include %q exclude %q keep %v, buckets of %d): %s\n%s", i, opts.Include, opts.Exclude, opts.KeepWhiteouts, n, d, dumpStack(t, tars))
			}
		}
	}
}

// TestBucketsOnto: FlattenOnto gives the same output and errors with the
// index on disk, of the range and of the lower layers, as in memory.
func TestBucketsOnto(t *testing.T) {
	r := rand.New(rand.NewPCG(*seed, 8))
	stacks := 300
	if testing.Short() {
		stacks = 100
	}
	// Half the stacks select paths: pending parents are written late.
	filters := []Options{{}, {Include: []string{"a/*", "c"}, Exclude: []string{"a/b"}}}
	var opts Options
	onto := func(tars, lower [][]byte) outcome {
		out, err := flattenOntoOpts(tars, lower, opts)
		o := outcome{out: out}
		if err != nil {
			o.err = err.Error()
		}
		return o
	}
	var failed int
	for i := range stacks {
		tars, lower := genStack(t, r, 1+r.IntN(3)), genStack(t, r, r.IntN(4))
		opts = filters[i%2]
		want := onto(tars, lower)
		if want.err != "" {
			failed++
		}
		for _, n := range bucketSizes {
			var got outcome
			withBuckets(n, func() { got = onto(tars, lower) })
			if d := got.diff(want); d != "" {
				t.Fatalf("stack %d (buckets of %d): %s\n%s", i, n, d, dumpStack(t, append(lower, tars...)))
			}
		}
	}
	t.Logf("%d stacks, %d runs that fail", stacks, failed)
}
