package flatten

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"path"
	"strings"
	"testing"
)

// markers lists the whiteouts and opaque markers of a tar, in order.
func markers(t *testing.T, b []byte) []string {
	t.Helper()
	var out []string
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("output does not parse: %v", err)
		}
		if strings.HasPrefix(path.Base(h.Name), WhiteoutPrefix) {
			out = append(out, h.Name)
		}
	}
}

// TestFlattenOnto: the markers the minimal layer diff keeps, on lower
// layers that are given.
func TestFlattenOnto(t *testing.T) {
	tests := []struct {
		name   string
		lower  [][]tf
		layers [][]tf
		want   []string // the markers written
	}{{
		name:   "nothing below: no marker",
		layers: [][]tf{{dir("a/"), reg("a/f", "x")}, {wh("a/f"), wh("b"), opq("a")}},
		want:   nil,
	}, {
		name:   "a whiteout of a path that exists nowhere below is dropped",
		lower:  [][]tf{{dir("usr/"), reg("usr/bin", "b")}},
		layers: [][]tf{{dir("usr/share/doc/"), reg("usr/share/doc/x", "x")}, {wh("usr/share")}},
		want:   nil,
	}, {
		name:   "the whiteout of a lower path is kept: file, directory, symlink",
		lower:  [][]tf{{reg("f", "f"), dir("d/"), reg("d/x", "x"), sym("s", "/f"), dir("e/")}},
		layers: [][]tf{{wh("f"), wh("d"), wh("s"), wh("e"), wh("g")}},
		want:   []string{".wh.d", ".wh.e", ".wh.f", ".wh.s"},
	}, {
		name:   "a whiteout of a path a lower layer deleted is dropped",
		lower:  [][]tf{{dir("a/"), reg("a/f", "f"), reg("a/g", "g")}, {wh("a/f")}},
		layers: [][]tf{{wh("a/f"), wh("a/g")}},
		want:   []string{"a/.wh.g"},
	}, {
		name:   "a whiteout under a directory a lower opaque marker emptied is dropped",
		lower:  [][]tf{{dir("a/"), reg("a/f", "f")}, {opq("a"), reg("a/n", "n")}},
		layers: [][]tf{{wh("a/f"), wh("a/n")}},
		want:   []string{"a/.wh.n"},
	}, {
		name:   "an opaque marker over a lower directory with children is kept",
		lower:  [][]tf{{dir("a/"), reg("a/f", "f"), dir("b/")}},
		layers: [][]tf{{dir("a/"), opq("a"), reg("a/g", "g")}, {dir("b/"), opq("b"), reg("b/g", "g")}},
		want:   []string{"a/.wh..wh..opq"},
	}, {
		name:   "an opaque marker over a lower directory emptied below is dropped",
		lower:  [][]tf{{dir("a/"), reg("a/f", "f")}, {wh("a/f")}},
		layers: [][]tf{{dir("a/"), opq("a"), reg("a/g", "g")}},
		want:   nil,
	}, {
		name:   "a directory over a lower file: no opaque marker",
		lower:  [][]tf{{reg("a", "a")}},
		layers: [][]tf{{wh("a")}, {dir("a/"), reg("a/g", "g")}},
		want:   nil,
	}, {
		name:   "a directory over a lower directory it deleted keeps its marker",
		lower:  [][]tf{{dir("a/"), reg("a/f", "f")}},
		layers: [][]tf{{wh("a")}, {dir("a/"), reg("a/g", "g")}},
		want:   []string{"a/.wh..wh..opq"},
	}, {
		name:   "the root's opaque marker, over a lower image",
		lower:  [][]tf{{reg("f", "f")}},
		layers: [][]tf{{opq(""), reg("g", "g")}},
		want:   []string{".wh..wh..opq"},
	}, {
		name:   "the root's opaque marker, over nothing",
		lower:  [][]tf{{wh("f")}},
		layers: [][]tf{{opq(""), reg("g", "g")}},
		want:   nil,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var tars, lower [][]byte
			for _, l := range tc.layers {
				tars = append(tars, mkTar(t, l...))
			}
			for _, l := range tc.lower {
				lower = append(lower, mkTar(t, l...))
			}
			for _, n := range bucketSizes {
				withBuckets(n, func() {
					out, err := flattenOnto(tars, lower)
					if err != nil {
						t.Fatal(err)
					}
					if d := diffLines(markers(t, out), tc.want); d != "" {
						t.Errorf("buckets of %d: markers\n%s", n, d)
					}
				})
			}
		})
	}
}

func TestFlattenOntoErrors(t *testing.T) {
	tars := [][]byte{mkTar(t, reg("f", "f"))}
	var out bytes.Buffer
	x := NewIndexer(t0ctx, 1, Options{})
	defer x.Close()
	if err := x.FlattenOnto(&out, mkLayers(tars...), nil); !errors.Is(err, errOntoKeep) {
		t.Errorf("without KeepWhiteouts: %v, want %v", err, errOntoKeep)
	}
	// A lower layer that does not merge fails, though no marker asks.
	bad := [][]byte{mkTar(t, hl("l", "missing"))}
	_, err := flattenOnto(tars, bad)
	if !errors.Is(err, ErrLinkTarget) || !strings.Contains(err.Error(), "reading the layers below") {
		t.Errorf("lower layers that do not merge: %v", err)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// TestFlattenOntoOutputError: an output error ends FlattenOnto, and the
// walk of the lower layers with it, however many paths it has left.
func TestFlattenOntoOutputError(t *testing.T) {
	var lower []tf
	for i := range 5000 {
		lower = append(lower, reg(strings.Repeat("d/", i%7)+"f"+string(rune('a'+i%26))+strings.Repeat("x", i%50), "x"))
	}
	tars := [][]byte{mkTar(t, wh("d"), reg("big", strings.Repeat("b", 1<<20)))}
	withBuckets(64, func() {
		x := NewIndexer(t0ctx, 1, Options{KeepWhiteouts: true})
		defer x.Close()
		err := x.FlattenOnto(failWriter{}, mkLayers(tars...), mkLayers(mkTar(t, lower...)))
		if err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Errorf("FlattenOnto to a failing output: %v", err)
		}
	})
}
