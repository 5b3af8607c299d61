package extract

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	"gotest.tools/v3/assert"
)

// TestLegacyLayerIndexRealDaemon identifies the layer directories that
// Docker 20.10's save wrote (testdata/legacy-v1.json): each one as its
// own layer, and none once its json, its name or the chain is changed.
func TestLegacyLayerIndexRealDaemon(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "legacy-v1.json"))
	assert.NilError(t, err)
	var data struct {
		Images []struct {
			Image   string
			DiffIDs []digest.Digest `json:"diff_ids"`
			Layers  []struct{ Dir, JSON string }
		}
	}
	assert.NilError(t, json.Unmarshal(b, &data))
	assert.Assert(t, len(data.Images) == 2)
	for _, img := range data.Images {
		chains := ChainIDs(img.DiffIDs)
		assert.Equal(t, len(img.Layers), len(chains), img.Image)
		for i, l := range img.Layers {
			assert.Equal(t, LegacyLayerIndex(l.Dir, []byte(l.JSON), chains), i, "%s: layer %d", img.Image, i)

			// Any other json, name or chain identifies nothing.
			changed := strings.Replace(l.JSON, `"created":"`, `"created":" `, 1)
			assert.Equal(t, LegacyLayerIndex(l.Dir, []byte(changed), chains), -1, "%s: layer %d, json changed", img.Image, i)
			other := strings.Repeat("0", 64)
			renamed := strings.Replace(l.JSON, l.Dir, other, 1)
			assert.Equal(t, LegacyLayerIndex(other, []byte(renamed), chains), -1, "%s: layer %d, renamed", img.Image, i)
			shifted := ChainIDs(append([]digest.Digest{digest.FromString("below")}, img.DiffIDs...))
			assert.Equal(t, LegacyLayerIndex(l.Dir, []byte(l.JSON), shifted), -1, "%s: layer %d, another chain", img.Image, i)
		}
	}
	for _, bad := range []string{``, `[]`, `{"id":1}`, `{"id":null}`, `{"parent":"x"}`} {
		assert.Equal(t, LegacyLayerIndex(strings.Repeat("a", 64), []byte(bad), ChainIDs([]digest.Digest{digest.FromString("x")})), -1, bad)
	}
}

// TestLegacyStreamSkipsUnwanted reads legacy save streams knowing the
// image's diff IDs: a layer.tar that is not wanted is neither spooled nor
// hashed, whatever the order of the directories; a wanted one that does
// not hold what its json says fails as a digest mismatch; and a json that
// identifies nothing leaves its layer to be hashed, as without the diff
// IDs.
func TestLegacyStreamSkipsUnwanted(t *testing.T) {
	layers := [][]byte{makeLayer(t, 1, 300<<10), makeLayer(t, 2, 200<<10), makeLayer(t, 3, 100<<10), makeLayer(t, 4, 50<<10)}
	img := newTestImage(t, hostPlatform(), []string{"docker.io/library/x:latest"}, layers...)
	entries := legacyEntries(t, []*testImage{img}, legacyOptions{})
	run := func(t *testing.T, es []tarEntry, want []digest.Digest, opts Options) (*streamReader, error) {
		t.Helper()
		opts.TmpDir = t.TempDir()
		sp := newSpool(opts)
		t.Cleanup(func() { assert.NilError(t, sp.Close()) })
		s := newStreamReader(context.Background(), bytes.NewReader(writeTar(t, es, nil)), want, sp, opts)
		return s, s.run()
	}
	wants := map[string][]digest.Digest{
		"top":    {img.diffIDs[3]},
		"bottom": {img.diffIDs[0]},
		"two":    {img.diffIDs[1], img.diffIDs[3]},
		"all":    img.diffIDs,
	}
	for _, seed := range []uint64{1, 2, 3, 4} {
		es := shuffledDirs(entries, seed)
		for name, want := range wants {
			// Spooling more than the wanted layers fails: the limit is
			// exactly their size.
			var limit int64
			for _, d := range want {
				limit += int64(len(layers[slices.Index(img.diffIDs, d)]))
			}
			s, err := run(t, es, want, Options{ImageDiffIDs: [][]digest.Digest{img.diffIDs}, spoolLimit: limit})
			assert.NilError(t, err, "seed %d, %s", seed, name)
			assert.Equal(t, len(s.hashed), len(want), "seed %d, %s: hashed %v", seed, name, s.hashed)
			for _, d := range want {
				assert.Equal(t, s.got[d].size, int64(len(layers[slices.Index(img.diffIDs, d)])))
			}
		}
	}

	top := legacyLayerPath(t, entries, img, 3)
	t.Run("wrong content", func(t *testing.T) {
		es := replaceEntry(entries, top, func(e tarEntry) tarEntry { e.Data = layers[2]; return e })
		_, err := run(t, es, wants["top"], Options{ImageDiffIDs: [][]digest.Digest{img.diffIDs}})
		assert.ErrorIs(t, err, ErrDigestMismatch)
		assert.ErrorContains(t, err, string(img.diffIDs[3]))
	})
	t.Run("json identifies nothing", func(t *testing.T) {
		dir := strings.TrimSuffix(top, "/layer.tar")
		es := replaceEntry(entries, dir+"/json", func(e tarEntry) tarEntry { e.Data = []byte(`{"id":"` + dir + `"}`); return e })
		s, err := run(t, es, wants["top"], Options{ImageDiffIDs: [][]digest.Digest{img.diffIDs}})
		assert.NilError(t, err)
		assert.Check(t, s.hashed[top] == img.diffIDs[3])
		// Directories that come before it and were identified as
		// unwanted were skipped; others were hashed.
		for name := range s.hashed {
			assert.Check(t, name == top, "hashed %s", name)
		}
	})
}

// shuffledDirs shuffles the directories of a legacy archive, keeping each
// directory's entries together and in order, as save writes them.
func shuffledDirs(entries []tarEntry, seed uint64) []tarEntry {
	groups := map[string][]tarEntry{}
	var keys []string
	for _, e := range entries {
		k, _, _ := strings.Cut(e.Name, "/")
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], e)
	}
	var dirs []tarEntry
	for _, k := range keys {
		dirs = append(dirs, tarEntry{Name: k})
	}
	var out []tarEntry
	for _, d := range shuffled(dirs, seed) {
		out = append(out, groups[d.Name]...)
	}
	return out
}
