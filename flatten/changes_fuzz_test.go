package flatten

import (
	"errors"
	"io"
	"testing"
)

// FuzzChanges feeds FuzzFlatten's inputs to Changes and Open: no panics,
// and they fail exactly where Flatten fails; every change names a path.
func FuzzChanges(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(encodeFuzz(s), "a/b")
	}
	f.Fuzz(func(t *testing.T, data []byte, name string) {
		tars := decodeFuzz(data)
		_, ferr := flattenBytes(tars, false)
		cs, err := Changes(t0ctx, mkLayers(tars...), ChangesOptions{})
		if (err == nil) != (ferr == nil) {
			t.Fatalf("Changes error %v, Flatten error %v", err, ferr)
		}
		if err == nil {
			for _, c := range cs.Changes {
				if c.Path == "" || c.Layer < 0 || c.Layer >= len(tars) {
					t.Fatalf("bad change %+v", c)
				}
			}
		}
		file, oerr := Open(t0ctx, mkLayers(tars...), name)
		var le *LayerError
		if ferr == nil && errors.As(oerr, &le) {
			t.Fatalf("Open fails on the layers (%v) where Flatten succeeds", oerr)
		}
		if oerr == nil {
			if n, err := io.Copy(io.Discard, file); err != nil || n != file.Header.Size {
				t.Fatalf("reading %s: %d of %d bytes: %v", name, n, file.Header.Size, err)
			}
		}
	})
}
