package analyze

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/docker-layers/docker-layers/flatten"
)

// entry is one tar entry of a test layer: "d:NAME", "f:NAME:SIZE",
// "l:NAME:TARGET" (symlink), "h:NAME:TARGET" (hardlink), "w:PATH"
// (whiteout), "m:NAME:MODE" (a file of 1 byte with a mode).
func mkLayer(t testing.TB, entries ...string) flatten.Layer {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range entries {
		parts := strings.SplitN(e, ":", 3)
		h := &tar.Header{Name: parts[1], Mode: 0o644, Format: tar.FormatPAX}
		var data []byte
		switch parts[0] {
		case "d":
			h.Typeflag, h.Mode = tar.TypeDir, 0o755
		case "f":
			var n int
			fmt.Sscan(parts[2], &n)
			h.Typeflag, h.Size = tar.TypeReg, int64(n)
			data = bytes.Repeat([]byte{'x'}, n)
		case "m":
			fmt.Sscanf(parts[2], "%o", &h.Mode)
			h.Typeflag, h.Size, data = tar.TypeReg, 1, []byte{'x'}
		case "l":
			h.Typeflag, h.Linkname = tar.TypeSymlink, parts[2]
		case "h":
			h.Typeflag, h.Linkname = tar.TypeLink, parts[2]
		case "w":
			dir, base := path.Split(parts[1])
			h.Typeflag, h.Name = tar.TypeReg, dir+".wh."+base
		default:
			t.Fatalf("bad entry %q", e)
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return flatten.Layer{ID: fmt.Sprintf("layer%d", len(entries)), R: bytes.NewReader(b.Bytes()), Size: int64(b.Len())}
}

// fixture: rewritten, chmod-ed, deleted and re-created files.
func fixture(t testing.TB) []flatten.Layer {
	return []flatten.Layer{
		mkLayer(t, "d:etc", "f:etc/passwd:10", "f:etc/hosts:5", "d:usr", "d:usr/lib", "f:usr/lib/a.so:100", "f:usr/lib/b.so:200", "l:usr/lib/c.so:b.so", "f:gone:7"),
		mkLayer(t, "f:etc/passwd:12", "w:gone", "f:usr/lib/b.so:300", "d:opt", "f:opt/x/big:1000"),
		mkLayer(t, "m:etc/hosts:600", "w:usr/lib/a.so", "f:gone:8", "h:opt/hard:opt/x/big"),
		mkLayer(t, "w:usr/lib/b.so", "f:usr/lib/a.so:50"),
	}
}

func list(t *testing.T, layers []flatten.Layer, opts ListOptions) []string {
	t.Helper()
	var out []string
	err := List(context.Background(), layers, opts, func(f *File) error {
		s := fmt.Sprintf("%s %c %o %d L%d d%d", f.Path, f.Type, f.Mode, f.Size, f.Layer, f.Depth)
		if f.Link != "" {
			s += " -> " + f.Link
		}
		out = append(out, s)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestList(t *testing.T) {
	layers := fixture(t)
	got := strings.Join(list(t, layers, ListOptions{}), "\n")
	want := strings.Join([]string{
		"etc 5 755 0 L0 d1",
		"etc/hosts 0 600 1 L2 d2",
		"etc/passwd 0 644 12 L1 d2",
		"gone 0 644 8 L2 d1",
		"opt 5 755 0 L1 d1",
		"opt/hard 0 644 1000 L2 d2",
		"opt/x 5 755 0 L-1 d2",
		"opt/x/big 1 644 0 L1 d3 -> opt/hard",
		"usr 5 755 0 L0 d1",
		"usr/lib 5 755 0 L0 d2",
		"usr/lib/a.so 0 644 50 L3 d3",
		"usr/lib/c.so 2 644 0 L0 d3 -> b.so",
	}, "\n")
	if got != want {
		t.Errorf("List:\n%s\nwant:\n%s", got, want)
	}
	cases := []struct {
		opts ListOptions
		want []string
	}{
		{ListOptions{Depth: 1}, []string{"etc", "gone", "opt", "usr"}},
		{ListOptions{Roots: []string{"/usr/lib"}}, []string{"usr/lib/a.so", "usr/lib/c.so"}},
		{ListOptions{Roots: []string{"etc/passwd", "/opt/"}, Depth: 1}, []string{"etc/passwd", "opt/hard", "opt/x"}},
		{ListOptions{Include: []string{"usr/*/*.so"}}, []string{"usr/lib/a.so", "usr/lib/c.so"}},
		{ListOptions{Roots: []string{"usr"}, Include: []string{"etc"}}, nil},
		// Overlapping roots: each path once.
		{ListOptions{Roots: []string{"usr", "/usr/lib/"}, Depth: 1}, []string{"usr/lib", "usr/lib/a.so", "usr/lib/c.so"}},
		{ListOptions{Roots: []string{"etc", "etc/"}, Depth: 1}, []string{"etc/hosts", "etc/passwd"}},
		{ListOptions{Roots: []string{"/", "etc"}, Depth: 1}, []string{"etc", "etc/hosts", "etc/passwd", "gone", "opt", "usr"}},
		{ListOptions{Roots: []string{"/.."}, Depth: 1}, []string{"etc", "gone", "opt", "usr"}},
	}
	for _, c := range cases {
		var paths []string
		for _, l := range list(t, layers, c.opts) {
			paths = append(paths, strings.Fields(l)[0])
		}
		if !slices.Equal(paths, c.want) {
			t.Errorf("%+v: %q, want %q", c.opts, paths, c.want)
		}
	}
	err := List(context.Background(), layers, ListOptions{Roots: []string{"etc", "/usr/lib/b.so"}}, func(*File) error { return nil })
	if !errors.Is(err, ErrNotExist) || err.Error() != "/usr/lib/b.so: no such file or directory" {
		t.Errorf("a deleted root: %v", err)
	}
}

func TestHistory(t *testing.T) {
	layers := fixture(t)
	cases := map[string]string{
		"/etc/passwd":  "L0 A 10, L1 C 12 content",
		"etc/hosts":    "L0 A 5, L2 C 1 content,mode",
		"gone":         "L0 A 7, L1 D 7, L2 A 8",
		"usr/lib/a.so": "L0 A 100, L2 D 100, L3 A 50",
		"usr/lib/b.so": "L0 A 200, L1 C 300 content, L3 D 300",
		"nothing":      "",
	}
	for p, want := range cases {
		steps, err := History(context.Background(), layers, p)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, s := range steps {
			r := fmt.Sprintf("L%d %s %d", s.Layer, s.Kind, s.Size)
			if w := s.What.Strings(); len(w) > 0 {
				r += " " + strings.Join(w, ",")
			}
			got = append(got, r)
		}
		if g := strings.Join(got, ", "); g != want {
			t.Errorf("History(%s) = %s, want %s", p, g, want)
		}
	}
	if _, err := History(context.Background(), layers, "/"); err == nil {
		t.Error("the history of the root: no error")
	}
}

// refUsage sums a flattened tar by directory, the independent way: every
// regular file's size goes to each of its ancestors.
func refUsage(t *testing.T, layers []flatten.Layer, depth int) map[string][3]int64 {
	t.Helper()
	var b bytes.Buffer
	ix := flatten.NewIndexer(context.Background(), len(layers), flatten.Options{})
	defer ix.Close()
	if err := ix.Flatten(&b, layers); err != nil {
		t.Fatal(err)
	}
	out := map[string][3]int64{"": {}}
	tr := tar.NewReader(&b)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		p := strings.TrimSuffix(h.Name, "/")
		isDir := h.Typeflag == tar.TypeDir
		elems := strings.Split(p, "/")
		if isDir && len(elems) <= depth {
			if _, ok := out[p]; !ok {
				out[p] = [3]int64{}
			}
		}
		for k := 0; k < len(elems); k++ {
			anc := strings.Join(elems[:k], "/")
			if k > depth {
				break
			}
			v := out[anc]
			switch {
			case isDir:
				v[2]++
			case h.Typeflag == tar.TypeReg:
				v[0] += h.Size
				v[1]++
			default:
				v[1]++
			}
			out[anc] = v
		}
	}
}

func TestDiskUsageAgainstFlatten(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		layers := randomLayers(t, r)
		for _, depth := range []int{0, 1, 2, 5} {
			u, err := DiskUsage(context.Background(), layers, UsageOptions{Depth: depth, Top: 3})
			if err != nil {
				continue // a stack the merge refuses: Flatten's tests cover it
			}
			want := refUsage(t, layers, depth)
			if len(u.Dirs) != len(want) {
				t.Fatalf("stack %d depth %d: %d dirs, want %d", i, depth, len(u.Dirs), len(want))
			}
			for _, d := range u.Dirs {
				var byLayer int64
				for _, b := range d.ByLayer {
					byLayer += b
				}
				if got := [3]int64{d.Bytes, d.Files, d.Dirs}; got != want[d.Path] || byLayer != d.Bytes {
					t.Fatalf("stack %d depth %d: %q: %v (by layer %d), want %v", i, depth, d.Path, got, byLayer, want[d.Path])
				}
			}
			for k := 1; k < len(u.Top); k++ {
				if u.Top[k].Size > u.Top[k-1].Size {
					t.Fatalf("top files not largest first: %+v", u.Top)
				}
			}
		}
	}
}

// randomLayers makes a small random stack over a tiny name space.
func randomLayers(t *testing.T, r *rand.Rand) []flatten.Layer {
	names := []string{"a", "b", "a/c", "a/d", "b/e", "a/c/f", "a/c/g"}
	var layers []flatten.Layer
	for range 1 + r.IntN(4) {
		var entries []string
		for range 1 + r.IntN(6) {
			n := names[r.IntN(len(names))]
			switch r.IntN(5) {
			case 0:
				entries = append(entries, "d:"+n)
			case 1:
				entries = append(entries, "w:"+n)
			case 2:
				entries = append(entries, "l:"+n+":x")
			default:
				entries = append(entries, fmt.Sprintf("f:%s:%d", n, r.IntN(50)))
			}
		}
		layers = append(layers, mkLayer(t, entries...))
	}
	return layers
}

func TestDiskUsageRootAndTop(t *testing.T) {
	layers := fixture(t)
	u, err := DiskUsage(context.Background(), layers, UsageOptions{Root: "/usr", Depth: 1, Top: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(u.Dirs) != 2 || u.Dirs[0].Path != "usr" || u.Dirs[0].Bytes != 50 || u.Dirs[1].Path != "usr/lib" || u.Dirs[1].Files != 2 {
		t.Errorf("usr: %+v", u.Dirs)
	}
	u, err = DiskUsage(context.Background(), layers, UsageOptions{Top: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(u.Top) != 2 || u.Top[0].Path != "opt/hard" || u.Top[0].Layer != 2 || u.Top[0].DataLayer != 1 || u.Top[1].Path != "usr/lib/a.so" {
		t.Errorf("top: %+v", u.Top)
	}
	// opt/hard (layer 2) is the first name of layer 1's opt/x/big: its bytes are layer 1's.
	if got := u.Dirs[0].ByLayer; !slices.Equal(got, []int64{0, 12 + 1000, 1 + 8, 50}) {
		t.Errorf("root by layer: %v", got)
	}
	if _, err := DiskUsage(context.Background(), layers, UsageOptions{Root: "etc/passwd"}); err == nil || err.Error() != "/etc/passwd: not a directory" {
		t.Errorf("a file root: %v", err)
	}
	if _, err := DiskUsage(context.Background(), layers, UsageOptions{Root: "nope"}); !errors.Is(err, ErrNotExist) {
		t.Errorf("a missing root: %v", err)
	}
	per, err := LayerDiskUsage(context.Background(), layers, []int{1}, UsageOptions{Top: 1})
	if err != nil {
		t.Fatal(err)
	}
	if d := per[0].Dirs[0]; d.Bytes != 1312 || d.ByLayer[1] != 1312 || per[0].Top[0].Layer != 1 {
		t.Errorf("layer 1: %+v %+v", d, per[0].Top)
	}
}

// TestLayerDiskUsage: each layer alone, a hardlink to a lower file stores
// nothing, and a root one layer does not hold is an empty row there.
func TestLayerDiskUsage(t *testing.T) {
	layers := []flatten.Layer{
		mkLayer(t, "d:a", "f:a/f:500", "d:etc", "f:etc/x:3"),
		mkLayer(t, "h:a/g:a/f", "f:b/new:7", "w:etc"),
	}
	per, err := LayerDiskUsage(context.Background(), layers, []int{0, 1}, UsageOptions{Depth: 1, Top: 5})
	if err != nil {
		t.Fatal(err)
	}
	got := func(u *Usage) string {
		var s []string
		for _, d := range u.Dirs {
			s = append(s, fmt.Sprintf("/%s %d %d/%d %v", d.Path, d.Bytes, d.Files, d.Dirs, d.ByLayer))
		}
		for _, f := range u.Top {
			s = append(s, fmt.Sprintf("top /%s %d L%d", f.Path, f.Size, f.DataLayer))
		}
		return strings.Join(s, "; ")
	}
	if g, w := got(per[0]), "/ 503 2/2 [503 0]; /a 500 1/0 [500 0]; /etc 3 1/0 [3 0]; top /a/f 500 L0; top /etc/x 3 L0"; g != w {
		t.Errorf("layer 0: %s\nwant %s", g, w)
	}
	if g, w := got(per[1]), "/ 7 2/0 [0 7]; /a 0 1/0 [0 0]; /b 7 1/0 [0 7]; top /b/new 7 L1"; g != w {
		t.Errorf("layer 1: %s\nwant %s", g, w)
	}
	per, err = LayerDiskUsage(context.Background(), layers, []int{0, 1}, UsageOptions{Root: "/etc"})
	if err != nil {
		t.Fatal(err)
	}
	if d := per[1].Dirs; len(d) != 1 || d[0].Path != "etc" || d[0].Bytes != 0 {
		t.Errorf("a root layer 1 does not hold: %+v", d)
	}
}
