package flatten

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
)

// diffStrings renders differences as "K path what" lines.
func diffStrings(ds []Difference) []string {
	var out []string
	for _, d := range ds {
		s := d.Kind.String() + " " + d.Path
		if d.What != 0 {
			s += " " + strings.Join(d.What.Strings(), ",")
		}
		out = append(out, s)
	}
	return out
}

// TestCompareAgainstFlatten checks Compare on random stacks against the
// flattened outputs of both sides: one row per path that only one side
// has, and a Changed row with exactly the attributes that differ.
func TestCompareAgainstFlatten(t *testing.T) {
	r := rand.New(rand.NewPCG(*seed, 4))
	stacks := *nStacks
	if testing.Short() {
		stacks = 100
	}
	defaultPart := scanPart
	defer func() { scanPart = defaultPart }()
	checked := 0
	for i := range stacks {
		k, na, nb := r.IntN(4), r.IntN(3), r.IntN(3)
		tars := genStack(t, r, k+na+nb)
		base, a, b := tars[:k], tars[k:k+na], tars[k+na:]
		outA, errA := flattenBytes(slices.Concat(base, a), false)
		outB, errB := flattenBytes(slices.Concat(base, b), false)
		if errA != nil || errB != nil {
			continue
		}
		mtime := r.IntN(2) == 0
		ls := mkLayers(tars...)
		// The layers to record: the same in both modes.
		recorded := make([]bool, len(ls))
		for j := range recorded {
			recorded[j] = r.IntN(2) == 0
		}
		var want []string
		for _, entries := range []int{0, 3} {
			// IndexEntries 3: each side's tree is spilled and merged in
			// buckets, and base is merged whole when more than 12 paths
			// are touched; layers are scanned in parts of 2 entries.
			opts := CompareOptions{ModTime: mtime, IndexEntries: entries}
			scanPart = defaultPart
			if entries > 0 {
				scanPart = 2
			}
			got, err := Compare(t0ctx, ls[:k], ls[k:k+na], ls[k+na:], opts)
			fail := func(format string, args ...any) {
				t.Fatalf("stack %d (base %d, A %d, B %d layers, mtime %v, IndexEntries %d): %s\n%s", i, k, na, nb, mtime, entries, fmt.Sprintf(format, args...), dumpStack(t, tars))
			}
			if err != nil {
				fail("Compare: %v", err)
			}
			if want == nil {
				checked++
				want = wantCompare(t, outA, outB, mtime)
			}
			if g := diffStrings(got); !slices.Equal(g, want) {
				fail("got\n\t%s\nwant\n\t%s", strings.Join(g, "\n\t"), strings.Join(want, "\n\t"))
			}
			// Recordings of some of the layers give the same rows; with
			// IndexEntries 1 for Record, those of more than 4 headers
			// are kept on disk.
			rls := slices.Clone(ls)
			for j := range rls {
				if recorded[j] {
					rec, err := Record(t0ctx, rls[j].ID, bytes.NewReader(tars[j]), Options{IndexEntries: min(entries, 1)})
					if err != nil {
						fail("Record layer %d: %v", j, err)
					}
					defer rec.Close()
					rls[j] = Layer{ID: rls[j].ID, Recording: rec}
				}
			}
			fromRec, err := Compare(t0ctx, rls[:k], rls[k:k+na], rls[k+na:], opts)
			if err != nil {
				fail("Compare of recordings: %v", err)
			}
			if g, w := diffStrings(fromRec), diffStrings(got); !slices.Equal(g, w) {
				fail("recordings give\n\t%s\nnot\n\t%s", strings.Join(g, "\n\t"), strings.Join(w, "\n\t"))
			}
			// Swapping the sides swaps Added and Deleted.
			swapped, err := Compare(t0ctx, ls[:k], ls[k+na:], ls[k:k+na], opts)
			if err != nil {
				fail("Compare swapped: %v", err)
			}
			for j := range swapped {
				switch swapped[j].Kind {
				case Added:
					swapped[j].Kind = Deleted
				case Deleted:
					swapped[j].Kind = Added
				}
			}
			if g, w := diffStrings(swapped), diffStrings(got); !slices.Equal(g, w) {
				fail("swapped sides give\n\t%s\nnot\n\t%s", strings.Join(g, "\n\t"), strings.Join(w, "\n\t"))
			}
		}
	}
	if checked < stacks/3 {
		t.Fatalf("only %d of %d stacks flattened on both sides", checked, stacks)
	}
}

// wantCompare is the rows Compare must give for two flattened outputs:
// one per path that only one side has, and a Changed row with exactly the
// attributes that differ.
func wantCompare(t *testing.T, outA, outB []byte, mtime bool) []string {
	t.Helper()
	ta, tb := fsTree(t, outA), fsTree(t, outB)
	want := []string{}
	for _, p := range slices.Sorted(func(yield func(string) bool) {
		for p := range ta {
			yield(p)
		}
		for p := range tb {
			if _, ok := ta[p]; !ok {
				yield(p)
			}
		}
	}) {
		x, inA := ta[p]
		y, inB := tb[p]
		switch {
		case !inA:
			want = append(want, "A "+p)
		case !inB:
			want = append(want, "D "+p)
		default:
			if w := wantWhat(x, y, mtime); w != 0 {
				want = append(want, "C "+p+" "+strings.Join(w.Strings(), ","))
			}
		}
	}
	return want
}

func TestCompareCases(t *testing.T) {
	xattr := func(e tf, v string) tf {
		return with(e, func(h *tar.Header) { h.PAXRecords = map[string]string{"SCHILY.xattr.user.k": v} })
	}
	base := []tf{dir("d/"), reg("d/f", "base"), reg("d/g", "gg"), dir("e/"), reg("e/x", "x"), sym("s", "d/f"), reg("keep", "same")}
	for _, tc := range []struct {
		name string
		b, a []tf // each one layer over base; B's first, as most cases change B
		want []string
	}{
		{"identical", nil, nil, nil},
		{"same layer content on both sides", []tf{reg("n", "1")}, []tf{reg("n", "1")}, nil},
		{"file to directory",
			[]tf{wh("d/f"), dir("d/f/"), reg("d/f/in", "i")}, nil,
			[]string{"C d/f type", "A d/f/in"}},
		{"directory to file",
			[]tf{wh("e"), reg("e", "now a file")}, nil,
			[]string{"C e type", "D e/x"}},
		{"directory to file on one side, file to directory on the other",
			[]tf{wh("e"), reg("e", "now a file")}, []tf{wh("d/f"), dir("d/f/"), reg("d/f/in", "i")},
			[]string{"C d/f type", "D d/f/in", "C e type", "D e/x"}},
		{"hardlink pair split",
			[]tf{reg("h1", "same"), hl("h2", "h1")}, []tf{reg("h1", "same"), reg("h2", "same")},
			[]string{"C h2 hardlink"}},
		{"hardlink to a base file", []tf{hl("k2", "keep")}, []tf{reg("k2", "same")},
			[]string{"C keep hardlink"}},
		{"opaque directory on one side",
			[]tf{opq("d"), reg("d/f", "base")}, nil,
			[]string{"D d/g"}},
		{"symlink retargeted", []tf{sym("s", "e/x")}, nil, []string{"C s content"}},
		{"only an xattr changed", []tf{xattr(reg("keep", "same"), "1")}, []tf{xattr(reg("keep", "same"), "2")},
			[]string{"C keep xattrs"}},
		{"same size other bytes", []tf{reg("d/f", "BASE")}, nil, []string{"C d/f content"}},
		{"same bytes, new entry", []tf{reg("d/f", "base")}, nil, nil},
		{"whiteout of a directory", nil, []tf{wh("d")},
			[]string{"A d", "A d/f", "A d/g"}},
		{"mode and owner", []tf{with(reg("keep", "same"), func(h *tar.Header) { h.Mode = 0o600; h.Uid = 7 })}, nil,
			[]string{"C keep mode,owner"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lb := mkLayers(mkTar(t, base...))
			var a, b []Layer
			if tc.a != nil {
				a = mkLayers(mkTar(t, tc.a...))
			}
			if tc.b != nil {
				b = mkLayers(mkTar(t, tc.b...))
			}
			got, err := Compare(t0ctx, lb, a, b, CompareOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if g := diffStrings(got); !slices.Equal(g, tc.want) {
				t.Errorf("got %q, want %q", g, tc.want)
			}
		})
	}
}

// countingReader records the bytes read from a layer.
type countingReader struct {
	mu sync.Mutex
	r  interface {
		ReadAt([]byte, int64) (int, error)
	}
	read map[int64]int
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	c.mu.Lock()
	c.read[off] += len(p)
	c.mu.Unlock()
	return c.r.ReadAt(p, off)
}

// TestCompareReadsOnlyWhatDiffers checks that a base file no upper layer
// touches is neither merged nor read, and that a touched one is read only
// when its size equals the other side's.
func TestCompareReadsOnlyWhatDiffers(t *testing.T) {
	big := strings.Repeat("x", 1<<20)
	baseTar := mkTar(t, reg("big", big), reg("touched", "abc"), reg("other", big))
	cr := &countingReader{r: mkLayers(baseTar)[0].R, read: map[int64]int{}}
	base := []Layer{{ID: "sha256:base", R: cr, Size: int64(len(baseTar))}}
	a := mkLayers(mkTar(t, reg("touched", "abd")))
	got, err := Compare(t0ctx, base, a, nil, CompareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if g := diffStrings(got); !slices.Equal(g, []string{"C touched content"}) {
		t.Fatalf("got %q", g)
	}
	total := 0
	for _, n := range cr.read {
		total += n
	}
	// Headers are read in posReader's windows; the megabytes of data of
	// "big" and "other" never are.
	if total > 256<<10 {
		t.Errorf("read %d bytes of the base layer, want headers only", total)
	}
}

// TestRecordingNotFlattened checks that a recording, which holds no file
// data, cannot be flattened.
func TestRecordingNotFlattened(t *testing.T) {
	b := mkTar(t, reg("f", "data"))
	rec, err := Record(t0ctx, "sha256:l0", bytes.NewReader(b), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Entries() != 1 {
		t.Errorf("Entries() = %d, want 1", rec.Entries())
	}
	err = flattenLayers(t0ctx, io.Discard, []Layer{{ID: "sha256:l0", Recording: rec}}, Options{})
	if !errors.Is(err, errRecording) {
		t.Fatalf("Flatten of a recording: %v", err)
	}
}

// TestRecordHugeSparseFile checks that Record does not hash the terabyte of
// holes of a huge sparse file, and that comparing it by its data is then an
// error, not a guess.
func TestRecordHugeSparseFile(t *testing.T) {
	huge := append(rawSparse("s", 1<<40, 0, "abc"), endMarker...)
	rec, err := Record(t0ctx, "sha256:l0", bytes.NewReader(huge), Options{})
	if err != nil {
		t.Fatal(err)
	}
	layer := []Layer{{ID: "sha256:l0", Recording: rec}}
	// Only on one side: no data is compared.
	got, err := Compare(t0ctx, nil, layer, nil, CompareOptions{})
	if err != nil || !slices.Equal(diffStrings(got), []string{"D s"}) {
		t.Fatalf("Compare: %q, %v", diffStrings(got), err)
	}
	// Against a file of the same size: its data would decide.
	rec2, err := Record(t0ctx, "sha256:l1", bytes.NewReader(append(rawSparse("s", 1<<40, 0, "abd"), endMarker...)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Compare(t0ctx, nil, layer, []Layer{{ID: "sha256:l1", Recording: rec2}}, CompareOptions{})
	if !errors.Is(err, errNotHashed) {
		t.Fatalf("Compare with a file of the same size: %v", err)
	}
}

// TestCompareLibarchiveXattrs checks that bsdtar's own xattr records are
// compared too.
func TestCompareLibarchiveXattrs(t *testing.T) {
	x := func(v string) tf {
		return with(reg("f", "x"), func(h *tar.Header) { h.PAXRecords = map[string]string{"LIBARCHIVE.xattr.user.k": v} })
	}
	got, err := Compare(t0ctx, nil, mkLayers(mkTar(t, x("MQ=="))), mkLayers(mkTar(t, x("Mg=="))), CompareOptions{})
	if err != nil || !slices.Equal(diffStrings(got), []string{"C f xattrs"}) {
		t.Fatalf("%q, %v", diffStrings(got), err)
	}
}
