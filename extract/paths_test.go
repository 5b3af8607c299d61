package extract

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/docker-layers/docker-layers/flatten"
	"gotest.tools/v3/assert"
)

// TestUnsafeEntryName: an archive entry whose name climbs out of the
// archive is an error, whichever reader meets it; the root directory
// entry is passed over.
func TestUnsafeEntryName(t *testing.T) {
	img := newTestImage(t, hostPlatform(), nil, makeLayer(t, 1, 1000))
	for _, tc := range []struct {
		entry tarEntry
		err   error
	}{
		{tarEntry{Name: "../escape", Data: []byte("x")}, flatten.ErrUnsafePath},
		{tarEntry{Name: "a/../../escape", Data: []byte("x")}, flatten.ErrUnsafePath},
		{tarEntry{Name: "/../escape", Data: []byte("x")}, flatten.ErrUnsafePath},
		{tarEntry{Name: "..", Typeflag: tar.TypeDir}, flatten.ErrUnsafePath},
		{tarEntry{Name: "a/../..", Typeflag: tar.TypeDir}, flatten.ErrUnsafePath},
		{tarEntry{Name: "./..", Typeflag: tar.TypeDir}, flatten.ErrUnsafePath},
		{tarEntry{Name: "./", Typeflag: tar.TypeDir}, nil},
	} {
		// First, so that a reader that stops once it has its layers
		// meets it.
		raw := writeTar(t, append([]tarEntry{tc.entry}, ociEntries(t, []*testImage{img})...), nil)
		ctx := context.Background()
		a, err := ReadArchive(ctx, bytes.NewReader(raw), Options{TmpDir: t.TempDir()})
		if err == nil {
			_ = a.Close()
		}
		_, serr := FromSaveStream(ctx, bytes.NewReader(raw), img.diffIDs, Options{TmpDir: t.TempDir()})
		m, merr := ReadMetadata(ctx, bytes.NewReader(raw), Options{})
		if merr == nil {
			_ = m.Close()
		}
		for _, got := range []error{err, serr, merr} {
			if tc.err == nil {
				assert.NilError(t, got, tc.entry.Name)
				continue
			}
			assert.Check(t, errors.Is(got, tc.err) && errors.Is(got, ErrInvalid), "%q: %v", tc.entry.Name, got)
		}
	}
}
