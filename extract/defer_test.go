package extract

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/opencontainers/go-digest"
	"gotest.tools/v3/assert"
)

// TestDeferCompressed checks Options.ImageDiffIDs: with few layers wanted,
// compressed blobs that arrive before the manifest and config are spooled
// as they are and only the wanted ones are decompressed; the result is the
// same as decompressing everything at once, whatever the entry order, and
// also when nothing identifies the blobs before the end of the stream.
func TestDeferCompressed(t *testing.T) {
	layers := [][]byte{makeLayer(t, 1, 300<<10), makeLayer(t, 2, 200<<10), makeLayer(t, 3, 100<<10), makeLayer(t, 4, 50<<10)}
	img := newTestImage(t, hostPlatform(), []string{"docker.io/library/x:latest"}, layers...)
	entries := containerdEntries(t, []*testImage{img}, img.tags, containerdOptions{compression: gzipCompression})
	orders := map[string][]tarEntry{
		"name order": sortEntries(entries),
		"shuffled 1": shuffled(entries, 1),
		"shuffled 2": shuffled(entries, 2),
		// Nothing maps blobs to diff IDs: identified at the end.
		"no config":   withoutEntry(entries, "blobs/sha256/"+img.configID.Encoded()),
		"config last": append(withoutEntry(entries, "blobs/sha256/"+img.configID.Encoded()), entryNamed(t, entries, "blobs/sha256/"+img.configID.Encoded())),
	}
	wants := map[string][]digest.Digest{
		"top":         {img.diffIDs[3]},
		"bottom":      {img.diffIDs[0]},
		"two of four": {img.diffIDs[1], img.diffIDs[3]}, // half: not deferred
	}
	for oname, es := range orders {
		data := writeTar(t, es, nil)
		for wname, want := range wants {
			t.Run(oname+"/"+wname, func(t *testing.T) {
				tmp := t.TempDir()
				sp := newSpool(Options{TmpDir: tmp})
				s := newStreamReader(context.Background(), bytes.NewReader(data), want, sp, Options{ImageDiffIDs: [][]digest.Digest{img.diffIDs}})
				assert.NilError(t, s.run())
				for _, d := range want {
					got := s.got[d]
					b := make([]byte, got.size)
					_, err := got.f.ReadAt(b, 0)
					assert.NilError(t, err)
					assert.Check(t, digest.FromBytes(b) == d)
				}
				if 2*len(want) < len(layers) && oname != "no config" {
					// Deferred: only the wanted blobs were decompressed.
					assert.Check(t, len(s.hashed) == len(want), "decompressed %d blobs for %d wanted", len(s.hashed), len(want))
				}
				assert.Check(t, len(s.pending) == 0)
				assert.NilError(t, sp.Close())
				left, err := os.ReadDir(tmp)
				assert.NilError(t, err)
				assert.Check(t, len(left) == 0, "spool left behind: %v", left)
			})
		}
	}
}

func entryNamed(t *testing.T, entries []tarEntry, name string) tarEntry {
	t.Helper()
	for _, e := range entries {
		if e.Name == name {
			return e
		}
	}
	t.Fatalf("no entry %s", name)
	return tarEntry{}
}
