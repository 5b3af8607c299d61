package flatten

import (
	"archive/tar"
	"bytes"
	"io"
	"testing"
	"time"
)

// times lists the name, mtime, atime and ctime of each entry of a tar.
func times(t *testing.T, b []byte) map[string][3]time.Time {
	t.Helper()
	out := map[string][3]time.Time{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("output does not parse: %v", err)
		}
		out[h.Name] = [3]time.Time{h.ModTime.UTC(), h.AccessTime.UTC(), h.ChangeTime.UTC()}
	}
}

func TestClampMtime(t *testing.T) {
	epoch := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	before := epoch.Add(-time.Hour)
	after := epoch.Add(90 * time.Minute)
	fine := epoch.Add(-1500 * time.Millisecond) // sub-second: needs PAX
	at := func(e tf, m time.Time) tf { return with(e, func(h *tar.Header) { h.ModTime = m }) }
	var zero time.Time
	tests := []struct {
		name   string
		clamp  time.Time
		keep   bool
		layers [][]tf
		want   map[string][3]time.Time
	}{
		{
			name:  "newer clamped, older kept",
			clamp: epoch,
			layers: [][]tf{
				{at(dir("d"), before), at(reg("d/old", "o"), before), at(reg("d/new", "n"), after), at(sym("d/ln", "new"), after)},
				{at(reg("d/exact", "e"), epoch), at(reg("d/fine", "f"), fine)},
			},
			want: map[string][3]time.Time{
				"d/":      {before},
				"d/exact": {epoch},
				"d/fine":  {fine},
				"d/ln":    {epoch},
				"d/new":   {epoch},
				"d/old":   {before},
			},
		},
		{
			name:  "atime and ctime too",
			clamp: epoch,
			layers: [][]tf{{with(reg("f", "x"), func(h *tar.Header) {
				h.ModTime, h.AccessTime, h.ChangeTime = after, after, before
			})}},
			want: map[string][3]time.Time{"f": {epoch, epoch, before}},
		},
		{
			name:   "no clamp",
			clamp:  zero,
			layers: [][]tf{{at(reg("f", "x"), after)}},
			want:   map[string][3]time.Time{"f": {after}},
		},
		{
			name:  "hardlinks and synthesized parents",
			clamp: epoch,
			layers: [][]tf{
				{at(reg("a/b/f", "x"), after), at(hl("a/b/g", "a/b/f"), after)},
			},
			want: map[string][3]time.Time{
				"a/":    {time.Unix(0, 0).UTC()},
				"a/b/":  {time.Unix(0, 0).UTC()},
				"a/b/f": {epoch},
				"a/b/g": {epoch},
			},
		},
		{
			name:  "clamp at 0 with whiteouts kept",
			clamp: time.Unix(0, 0),
			keep:  true,
			layers: [][]tf{
				{at(dir("d"), before), at(reg("d/f", "x"), after)},
				{wh("d/f"), at(reg("d/g", "y"), before)},
			},
			want: map[string][3]time.Time{
				"d/":      {time.Unix(0, 0).UTC()},
				"d/.wh.f": {time.Unix(0, 0).UTC()},
				"d/g":     {time.Unix(0, 0).UTC()},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var tars [][]byte
			for _, l := range tc.layers {
				tars = append(tars, mkTar(t, l...))
			}
			out, _, err := run(t, tars, Options{ClampMtime: tc.clamp, KeepWhiteouts: tc.keep})
			if err != nil {
				t.Fatal(err)
			}
			got := times(t, out)
			if len(got) != len(tc.want) {
				t.Errorf("got %d entries, want %d: %v", len(got), len(tc.want), got)
			}
			for name, w := range tc.want {
				if g, ok := got[name]; !ok || !g[0].Equal(w[0]) || !g[1].Equal(w[1]) || !g[2].Equal(w[2]) {
					t.Errorf("%s: got times %v, want %v", name, g, w)
				}
			}
		})
	}
}

// TestClampMtimeReproducible: layers that differ only in times later than
// the clamp flatten to the same bytes.
func TestClampMtimeReproducible(t *testing.T) {
	epoch := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	build := func(m time.Time) [][]byte {
		at := func(e tf) tf { return with(e, func(h *tar.Header) { h.ModTime = m }) }
		return [][]byte{
			mkTar(t, at(dir("etc")), at(reg("etc/conf", "a")), at(reg("bin/sh", "sh"))),
			mkTar(t, wh("etc/conf"), at(reg("etc/new", "b")), at(hl("bin/sh2", "bin/sh"))),
		}
	}
	first := map[bool][]byte{}
	for _, m := range []time.Time{epoch.Add(time.Second), epoch.Add(24 * time.Hour), epoch.Add(1234567 * time.Microsecond)} {
		for _, keep := range []bool{false, true} {
			out, _, err := run(t, build(m), Options{ClampMtime: epoch, KeepWhiteouts: keep})
			if err != nil {
				t.Fatal(err)
			}
			if first[keep] == nil {
				first[keep] = out
			} else if !bytes.Equal(out, first[keep]) {
				t.Errorf("mtime %v, KeepWhiteouts %v: the output differs from the first one's", m, keep)
			}
		}
	}
}
