package analyze

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/docker-layers/docker-layers/flatten"
)

// x is n bytes of filler; y is n other bytes.
func x(n int) string { return strings.Repeat("x", n) }
func y(n int) string { return strings.Repeat("y", n) }

func renderWasted(ws []WastedPath) []string {
	var out []string
	for _, w := range ws {
		out = append(out, fmt.Sprintf("%s %d %v shown=%v", w.Path, w.Bytes, w.Layers, w.Shown))
	}
	return out
}

func renderDups(ds []DuplicateSet) []string {
	var out []string
	for _, d := range ds {
		var cs []string
		for _, c := range d.Copies {
			h := ""
			if c.Hidden {
				h = "(hidden)"
			}
			cs = append(cs, fmt.Sprintf("%d:%s%s", c.Layer, c.Path, h))
		}
		out = append(out, fmt.Sprintf("%d×%d %s", d.Size, len(d.Copies), strings.Join(cs, " ")))
	}
	return out
}

func TestEfficiency(t *testing.T) {
	tests := []struct {
		name   string
		layers [][]tf
		base   int
		// stored, user, wasted, user wasted
		stored, user, wasted, userWasted int64
		wastedPaths                      []string
		dups                             []string
	}{
		{
			name:   "nothing hidden",
			layers: [][]tf{{dir("a/"), reg("a/f", x(10))}, {reg("a/g", y(5))}},
			stored: 15, user: 5,
		},
		{
			name:   "rewrite: the lower copy is wasted",
			layers: [][]tf{{reg("f", x(10))}, {reg("f", y(12))}},
			stored: 22, user: 12, wasted: 10,
			wastedPaths: []string{"f 10 [0 1] shown=true"},
		},
		{
			name:   "chmod only: same bytes stored twice, the lower wasted, and a duplicate",
			layers: [][]tf{{reg("f", x(10))}, {chmod(reg("f", x(10)), 0o600)}},
			stored: 20, user: 10, wasted: 10,
			wastedPaths: []string{"f 10 [0 1] shown=true"},
			dups:        []string{"10×2 0:f(hidden) 1:f"},
		},
		{
			name:   "delete a file",
			layers: [][]tf{{reg("keep", x(1))}, {reg("f", x(10))}, {wh("f")}},
			stored: 11, user: 10, wasted: 10, userWasted: 10,
			wastedPaths: []string{"f 10 [1] shown=false"},
		},
		{
			name: "whiteout of a directory hides its subtree",
			layers: [][]tf{
				{reg("keep", x(1))},
				{dir("d/"), reg("d/a", x(10)), dir("d/e/"), reg("d/e/b", y(7))},
				{wh("d")},
			},
			stored: 18, user: 17, wasted: 17, userWasted: 17,
			wastedPaths: []string{"d/a 10 [1] shown=false", "d/e/b 7 [1] shown=false"},
		},
		{
			name: "opaque directory hides the lower children, keeps its own",
			layers: [][]tf{
				{dir("d/"), reg("d/a", x(10)), reg("d/b", y(3))},
				{dir("d/"), opq("d"), reg("d/c", x(4))},
			},
			stored: 17, user: 4, wasted: 13,
			wastedPaths: []string{"d/a 10 [0] shown=false", "d/b 3 [0] shown=false"},
		},
		{
			name: "delete and re-create: only the deleted copy is wasted",
			layers: [][]tf{
				{reg("keep", x(1))},
				{reg("f", x(10))},
				{wh("f")},
				{reg("f", x(10))},
			},
			stored: 21, user: 20, wasted: 10, userWasted: 10,
			wastedPaths: []string{"f 10 [1 3] shown=true"},
			dups:        []string{"10×2 1:f(hidden) 3:f"},
		},
		{
			name: "a file that grows",
			layers: [][]tf{
				{reg("keep", x(1))},
				{reg("f", x(10))},
				{reg("f", x(30))},
			},
			stored: 41, user: 40, wasted: 10, userWasted: 10,
			wastedPaths: []string{"f 10 [1 2] shown=true"},
		},
		{
			name: "duplicates across paths and layers, one set larger",
			layers: [][]tf{
				{reg("a", x(10)), reg("b", x(10)), reg("c", y(10))},
				{reg("d", x(10)), reg("e", y(4)), reg("f", y(20))},
			},
			stored: 64, user: 34,
			dups: []string{"10×3 0:a 0:b 1:d"},
		},
		{
			name: "a hardlink is not a duplicate, and keeps its file shown",
			layers: [][]tf{
				{reg("a", x(10)), hl("b", "a")},
				{wh("a")},
			},
			stored: 10, user: 0,
		},
		{
			name: "empty files are never duplicates nor wasted",
			layers: [][]tf{
				{reg("a", ""), reg("b", "")},
				{reg("a", "")},
			},
		},
		{
			name: "base of two layers: the user figures count layer 2 up",
			base: 2,
			layers: [][]tf{
				{reg("a", x(10))},
				{reg("b", x(20))},
				{reg("b", y(5)), reg("c", x(7))},
				{wh("c")},
			},
			stored: 42, user: 12, wasted: 27, userWasted: 7,
			wastedPaths: []string{"b 20 [1 2] shown=true", "c 7 [2] shown=false"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Efficiency(context.Background(), mkLayers(t, tc.layers...), EfficiencyOptions{Base: tc.base})
			if err != nil {
				t.Fatal(err)
			}
			got := []int64{e.StoredBytes, e.UserBytes, e.WastedBytes, e.UserWastedBytes}
			want := []int64{tc.stored, tc.user, tc.wasted, tc.userWasted}
			if !slices.Equal(got, want) {
				t.Errorf("stored, user, wasted, user wasted = %v, want %v", got, want)
			}
			score := 1.0
			if tc.stored > 0 {
				score = float64(tc.stored-tc.wasted) / float64(tc.stored)
			}
			if math.Abs(e.Score-score) > 1e-12 {
				t.Errorf("score = %v, want %v", e.Score, score)
			}
			pct := 0.0
			if tc.user > 0 {
				pct = float64(tc.userWasted) / float64(tc.user)
			}
			if math.Abs(e.UserWastedPercent-pct) > 1e-12 {
				t.Errorf("user wasted percent = %v, want %v", e.UserWastedPercent, pct)
			}
			if got := renderWasted(e.Wasted); !slices.Equal(got, tc.wastedPaths) {
				t.Errorf("wasted paths:\n got %q\nwant %q", got, tc.wastedPaths)
			}
			if got := renderDups(e.Duplicates); !slices.Equal(got, tc.dups) {
				t.Errorf("duplicates:\n got %q\nwant %q", got, tc.dups)
			}
			var sum, lw int64
			for _, l := range e.Layers {
				sum += l.StoredBytes
				lw += l.WastedBytes
			}
			if sum != e.StoredBytes || lw != e.WastedBytes {
				t.Errorf("layers sum to %d stored, %d wasted; want %d, %d", sum, lw, e.StoredBytes, e.WastedBytes)
			}
		})
	}
}

// The wasted bytes are diff --summary's WASTED column, summed.
func TestEfficiencyMatchesChanges(t *testing.T) {
	ls := mkLayers(t,
		[]tf{dir("d/"), reg("d/a", x(10)), reg("d/b", y(3)), reg("f", x(5))},
		[]tf{dir("d/"), opq("d"), reg("d/c", x(4)), reg("f", y(6))},
		[]tf{wh("d"), reg("g", x(9))},
	)
	e, err := Efficiency(context.Background(), ls, EfficiencyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := flatten.Changes(context.Background(), ls, flatten.ChangesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range cs.Summaries {
		if s.Wasted != e.Layers[i].WastedBytes {
			t.Errorf("layer %d: wasted %d, diff --summary says %d", i, e.Layers[i].WastedBytes, s.Wasted)
		}
	}
}

func TestEfficiencyFilter(t *testing.T) {
	ls := mkLayers(t,
		[]tf{dir("etc/"), reg("etc/a", x(10)), reg("b", x(10))},
		[]tf{wh("etc/a"), wh("b")},
	)
	pf, err := flatten.NewPathFilter([]string{"/etc"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	e, err := Efficiency(context.Background(), ls, EfficiencyOptions{Filter: pf})
	if err != nil {
		t.Fatal(err)
	}
	if e.StoredBytes != 10 || e.WastedBytes != 10 || len(e.Wasted) != 1 || e.Wasted[0].Path != "etc/a" {
		t.Errorf("got stored %d wasted %d %v", e.StoredBytes, e.WastedBytes, renderWasted(e.Wasted))
	}
}

func TestEfficiencyCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Efficiency(ctx, mkLayers(t, []tf{reg("a", x(1))}), EfficiencyOptions{})
	if err == nil {
		t.Fatal("no error from a canceled context")
	}
}
