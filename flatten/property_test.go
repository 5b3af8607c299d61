package flatten

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"math/rand/v2"
	"path"
	"slices"
	"strings"
	"testing"
	"time"
)

var (
	nStacks = flag.Int("stacks", 400, "random layer stacks for TestAgainstReference")
	seed    = flag.Uint64("seed", 1, "seed for TestAgainstReference")
)

// genStack makes a random stack of small layers over a tiny name space, so
// that entries, whiteouts, opaque markers and hardlinks collide often.
func genStack(t testing.TB, r *rand.Rand, nLayers int) [][]byte {
	dirs := []string{"a", "b", "c"}
	files := []string{"f", "g", "a.b"}
	randDir := func() string {
		p := make([]string, r.IntN(3))
		for i := range p {
			p[i] = dirs[r.IntN(len(dirs))]
		}
		return strings.Join(p, "/")
	}
	// leaf is mostly a file name; sometimes a directory name, so that
	// files and directories replace each other.
	leaf := func(fileish bool) string {
		d := randDir()
		names := dirs
		if fileish && r.IntN(5) > 0 {
			names = files
		}
		return joinName(d, names[r.IntN(len(names))])
	}
	var made []string // regular files made so far, hardlink targets
	var tars [][]byte
	for l := range nLayers {
		var es []tf
		for i := range 1 + r.IntN(8) {
			body := fmt.Sprintf("L%d-%d", l, i)
			var e tf
			switch x := r.IntN(100); {
			case x < 35:
				p := leaf(true)
				e = reg(p, body)
				made = append(made, p)
			case x < 58:
				e = dir(leaf(false))
			case x < 70:
				e = wh(leaf(r.IntN(2) == 0))
			case x < 77:
				e = opq(randDir())
			case x < 88:
				target := leaf(true)
				if len(made) > 0 && r.IntN(5) > 0 {
					target = made[r.IntN(len(made))]
				}
				e = hl(leaf(true), target)
			case x < 91:
				e = sym(leaf(true), "/"+leaf(false))
			case x < 94:
				e = with(reg(leaf(true), ""), func(h *tar.Header) { h.Typeflag = tar.TypeFifo })
			default:
				e = with(reg(leaf(true), body), func(h *tar.Header) {
					h.PAXRecords = map[string]string{"SCHILY.xattr.user.x": body}
					h.ModTime = time.Unix(1e9, int64(r.IntN(1e9))).UTC()
				})
			}
			e = with(e, func(h *tar.Header) {
				h.Mode = []int64{0o644, 0o755, 0o700, 0o4755}[r.IntN(4)]
				h.Uid, h.Gid = r.IntN(3), r.IntN(3)
			})
			es = append(es, e)
		}
		tars = append(tars, mkTar(t, es...))
	}
	return tars
}

func flattenBytes(tars [][]byte, keep bool) ([]byte, error) {
	var out bytes.Buffer
	err := flattenLayers(t0ctx, &out, mkLayers(tars...), Options{KeepWhiteouts: keep})
	return out.Bytes(), err
}

// TestAgainstReference cross-checks Flatten with the naive reference on
// random layer stacks (fixed seed): same success or failure, same entries.
// It also checks that flattening is deterministic and idempotent, and that
// the KeepWhiteouts output applied on a random lower image equals the
// input layers applied on it.
func TestAgainstReference(t *testing.T) {
	r := rand.New(rand.NewPCG(*seed, 2))
	stacks := *nStacks
	if testing.Short() {
		stacks = 100
	}
	rl := rand.New(rand.NewPCG(*seed, 3)) // the lower layers of FlattenOnto
	var ok, keepChecked, minimalChecked, markersKept, markersDropped int
	for i := range stacks {
		tars := genStack(t, r, 1+r.IntN(4))
		want, refErr := refFlatten(tars)
		out, err := flattenBytes(tars, false)
		if (err == nil) != (refErr == nil) {
			t.Fatalf("stack %d: Flatten error %v, reference error %v\n%s", i, err, refErr, dumpStack(t, tars))
		}
		if err != nil {
			continue
		}
		ok++
		if err := checkOutput(out, false); err != nil {
			t.Fatalf("stack %d: %v\n%s", i, err, dumpStack(t, tars))
		}
		got, perr := fullListing(out)
		if perr != nil {
			t.Fatalf("stack %d: output does not parse: %v", i, perr)
		}
		if d := diffLines(got, want); d != "" {
			t.Fatalf("stack %d: differs from the reference\n%s\n%s", i, d, dumpStack(t, tars))
		}
		again, _ := flattenBytes(tars, false)
		if !bytes.Equal(out, again) {
			t.Fatalf("stack %d: not deterministic", i)
		}
		re, err := flattenBytes([][]byte{out}, false)
		if err != nil || !bytes.Equal(re, out) {
			t.Fatalf("stack %d: flattening the output again changes it (err %v)", i, err)
		}

		// KeepWhiteouts: apply on a random lower image.
		keepOut, err := flattenBytes(tars, true)
		if err != nil {
			t.Fatalf("stack %d: KeepWhiteouts fails where the default succeeds: %v", i, err)
		}
		if err := checkOutput(keepOut, true); err != nil {
			t.Fatalf("stack %d: KeepWhiteouts: %v\n%s", i, err, dumpStack(t, tars))
		}
		if re, err := flattenBytes([][]byte{keepOut}, true); err != nil || !bytes.Equal(re, keepOut) {
			t.Fatalf("stack %d: KeepWhiteouts output is not stable under flattening (err %v)\n%s", i, err, dumpStack(t, tars))
		}
		for range 3 {
			base := genStack(t, r, 1)
			full, err := refFlatten(append(slices.Clone(base), tars...))
			if err != nil {
				continue
			}
			squashed, err := refFlatten([][]byte{base[0], keepOut})
			if err != nil {
				t.Fatalf("stack %d: squashed layer does not apply: %v\n%s\nsquashed:\n%s", i, err, dumpStack(t, append(base, tars...)), dumpStack(t, [][]byte{keepOut}))
			}
			full = dropEmptySynthesized(full, squashed)
			if d := diffLines(squashed, full); d != "" {
				t.Fatalf("stack %d: squashed layer applies differently\n%s\n%s\nsquashed:\n%s", i, d, dumpStack(t, append(base, tars...)), dumpStack(t, [][]byte{keepOut}))
			}
			keepChecked++
		}

		// FlattenOnto: the minimal layer diff on random lower layers
		// (none, one or two, so that a lower layer deletes in another).
		for range 2 {
			lower := genStack(t, rl, rl.IntN(3))
			c, k, d := checkOnto(t, i, tars, lower, keepOut)
			minimalChecked, markersKept, markersDropped = minimalChecked+c, markersKept+k, markersDropped+d
		}
	}
	t.Logf("%d of %d stacks flattened; %d lower-image checks of KeepWhiteouts, %d of FlattenOnto (markers: %d kept, %d dropped)",
		ok, stacks, keepChecked, minimalChecked, markersKept, markersDropped)
	if minimalChecked < stacks/4 || markersKept < stacks/8 || markersDropped < stacks/4 {
		t.Errorf("FlattenOnto checked too little: %d applications, %d markers kept, %d dropped", minimalChecked, markersKept, markersDropped)
	}
	if ok < stacks/4 {
		t.Errorf("only %d of %d random stacks succeed: the generator is too hostile", ok, stacks)
	}
}

func dumpStack(t testing.TB, tars [][]byte) string {
	var b strings.Builder
	for i, tb := range tars {
		fmt.Fprintf(&b, "layer %d:\n", i)
		tr := tar.NewReader(bytes.NewReader(tb))
		for {
			h, err := tr.Next()
			if err != nil {
				break
			}
			fmt.Fprintf(&b, "\t%c %s %s\n", h.Typeflag, h.Name, h.Linkname)
		}
	}
	return b.String()
}

// dropEmptySynthesized removes from full the synthesized directories that
// have nothing below them and are missing from squashed. That is the one
// case a squashed layer cannot express: a directory the input layers create
// implicitly (so the lower image's directory keeps its attributes, or a new
// one is made) and then empty. KeepWhiteouts leaves it out rather than
// overwrite the attributes of the lower image's directory.
func dropEmptySynthesized(full, squashed []string) []string {
	var rev []string // kept lines, last first
	for i := len(full) - 1; i >= 0; i-- {
		l := full[i]
		name, ok := strings.CutPrefix(l, "dir ")
		if ok && strings.HasSuffix(l, " 0755 0:0 mtime=1970-01-01T00:00:00Z owner=\"\":\"\"") && !slices.Contains(squashed, l) {
			name = name[:strings.IndexByte(name, ' ')]
			if len(rev) == 0 || !strings.HasPrefix(strings.SplitN(rev[len(rev)-1], " ", 3)[1], name) {
				continue
			}
		}
		rev = append(rev, l)
	}
	slices.Reverse(rev)
	return rev
}

func flattenOnto(tars, lower [][]byte) ([]byte, error) {
	return flattenOntoOpts(tars, lower, Options{})
}

// flattenOntoOpts is flattenOnto with opts, KeepWhiteouts set.
func flattenOntoOpts(tars, lower [][]byte, opts Options) ([]byte, error) {
	var out bytes.Buffer
	opts.KeepWhiteouts = true
	x := NewIndexer(t0ctx, len(tars), opts)
	defer x.Close()
	err := x.FlattenOnto(&out, mkLayers(tars...), mkLayers(lower...))
	return out.Bytes(), err
}

// checkOnto checks FlattenOnto of tars on lower against keepOut, the
// KeepWhiteouts output of tars, and the reference: it fails where the
// merge of lower fails; otherwise it is keepOut without the markers that
// hide nothing in the merge of lower, and applied on lower it gives the
// merge of lower and tars. It returns 1 if the application was checked,
// and the markers of keepOut kept and dropped.
func checkOnto(t *testing.T, i int, tars, lower [][]byte, keepOut []byte) (checked, kept, dropped int) {
	t.Helper()
	below, refErr := refFlatten(lower)
	minimal, err := flattenOnto(tars, lower)
	if (err == nil) != (refErr == nil) {
		t.Fatalf("stack %d: FlattenOnto error %v, reference error of the lower layers %v\n%s", i, err, refErr, dumpStack(t, append(lower, tars...)))
	}
	if err != nil {
		return 0, 0, 0
	}
	dump := func() string {
		return dumpStack(t, append(slices.Clone(lower), tars...)) + "minimal:\n" + dumpStack(t, [][]byte{minimal})
	}
	exists := map[string]bool{}
	for _, l := range below {
		exists[strings.TrimSuffix(strings.Fields(l)[1], "/")] = true
	}
	hides := func(name string) bool {
		dir, base := path.Split(name)
		dir = strings.TrimSuffix(dir, "/")
		if base == WhiteoutOpaqueDir {
			for p := range exists {
				if dir == "" || strings.HasPrefix(p, dir+"/") {
					return true
				}
			}
			return false
		}
		return exists[path.Join(dir, strings.TrimPrefix(base, WhiteoutPrefix))]
	}
	var want []string
	for _, l := range mustListing(t, keepOut) {
		name := strings.Fields(l)[1]
		if strings.HasPrefix(path.Base(name), WhiteoutPrefix) {
			if !hides(name) {
				dropped++
				continue
			}
			kept++
		}
		want = append(want, l)
	}
	if d := diffLines(mustListing(t, minimal), want); d != "" {
		t.Fatalf("stack %d: FlattenOnto is not the KeepWhiteouts output without the markers that hide nothing\n%s\n%s", i, d, dump())
	}
	// The same with paths selected, where parents are written late.
	sel := Options{KeepWhiteouts: true, Include: []string{"a/*", "c"}, Exclude: []string{"a/b"}}
	var keepSel bytes.Buffer
	if err := flattenLayers(t0ctx, &keepSel, mkLayers(tars...), sel); err != nil {
		t.Fatalf("stack %d: KeepWhiteouts with paths selected: %v", i, err)
	}
	minSel, err := flattenOntoOpts(tars, lower, sel)
	if err != nil {
		t.Fatalf("stack %d: FlattenOnto with paths selected: %v", i, err)
	}
	want = want[:0]
	for _, l := range mustListing(t, keepSel.Bytes()) {
		if name := strings.Fields(l)[1]; !strings.HasPrefix(path.Base(name), WhiteoutPrefix) || hides(name) {
			want = append(want, l)
		}
	}
	if d := diffLines(mustListing(t, minSel), want); d != "" {
		t.Fatalf("stack %d: with paths selected, FlattenOnto is not the KeepWhiteouts output without the markers that hide nothing\n%s\n%s", i, d, dump())
	}
	full, err := refFlatten(append(slices.Clone(lower), tars...))
	if err != nil {
		return 0, kept, dropped
	}
	squashed, err := refFlatten(append(slices.Clone(lower), minimal))
	if err != nil {
		t.Fatalf("stack %d: the minimal layer does not apply: %v\n%s", i, err, dump())
	}
	full = dropEmptySynthesized(full, squashed)
	if d := diffLines(squashed, full); d != "" {
		t.Fatalf("stack %d: the minimal layer applies differently\n%s\n%s", i, d, dump())
	}
	return 1, kept, dropped
}

func mustListing(t *testing.T, b []byte) []string {
	t.Helper()
	l, err := fullListing(b)
	if err != nil {
		t.Fatalf("output does not parse: %v", err)
	}
	return l
}
