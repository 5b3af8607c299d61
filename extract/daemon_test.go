//go:build e2e

package extract

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	"gotest.tools/v3/assert"
)

// TestRealDaemons reads what the four real daemons save. It is built only
// with the e2e tag: e2e/run.sh runs it once the daemons run and hold the
// fixture images of e2e/fixtures/build.sh. A missing daemon fails it on CI
// (CI=true) and is passed over elsewhere (DOCKER_LAYERS_KINDS of e2e/run.sh
// may start only some), as in the e2e tests.
func TestRealDaemons(t *testing.T) {
	ran := 0
	for _, kind := range []string{"legacy", "oci", "containerd", "moby29"} {
		host := os.Getenv("DOCKER_LAYERS_" + strings.ToUpper(kind) + "_HOST")
		if host == "" {
			if os.Getenv("CI") == "true" {
				t.Fatalf("DOCKER_LAYERS_%s_HOST is not set: run this test through e2e/run.sh", strings.ToUpper(kind))
			}
			t.Logf("passing over the %s daemon: DOCKER_LAYERS_%s_HOST is not set (run e2e/run.sh)", kind, strings.ToUpper(kind))
			continue
		}
		ran++
		t.Run(kind, func(t *testing.T) {
			for _, ref := range []string{"docker-layers-fixture:latest", "docker-layers-fixture:mid"} {
				t.Run(ref, func(t *testing.T) { testRealImage(t, kind, host, ref) })
			}
			t.Run("two images", func(t *testing.T) {
				p := filepath.Join(t.TempDir(), "two.tar")
				docker(t, host, "save", "-o", p, "docker-layers-fixture:latest", "docker-layers-fixture:base")
				a, err := OpenArchive(context.Background(), p, Options{TmpDir: t.TempDir()})
				assert.NilError(t, err)
				defer a.Close()
				assert.Equal(t, len(a.Images()), 2, "%+v", a.Images())
				for _, ref := range []string{"docker-layers-fixture:latest", "docker-layers-fixture:base"} {
					img, err := a.Image(ref)
					assert.NilError(t, err)
					assert.DeepEqual(t, img.RepoTags, []string{ref})
				}
			})
		})
	}
	if ran == 0 {
		t.Fatal("no daemon: run this test through e2e/run.sh")
	}
}

func docker(t *testing.T, host string, args ...string) []byte {
	t.Helper()
	out, err := exec.Command("docker", append([]string{"-H", host}, args...)...).Output()
	assert.NilError(t, err, "docker %s", strings.Join(args, " "))
	return out
}

func testRealImage(t *testing.T, kind, host, ref string) {
	var inspect []struct {
		ID     string `json:"Id"`
		RootFS struct{ Layers []digest.Digest }
	}
	assert.NilError(t, json.Unmarshal(docker(t, host, "image", "inspect", ref), &inspect))
	want := inspect[0].RootFS.Layers
	ctx := context.Background()

	// The stream, for every layer, then for the first one only (the
	// reader stops early and docker save sees a closed pipe), then for the
	// top one only with the image's diff IDs known. On the legacy daemon
	// the spool then holds exactly the top layer: every other layer
	// directory was identified from its json and skipped.
	sizes := map[digest.Digest]int64{}
	for i, w := range [][]digest.Digest{want, want[:1], want[len(want)-1:]} {
		tmp := t.TempDir()
		opts := Options{TmpDir: tmp}
		if i == 2 {
			opts.ImageDiffIDs = [][]digest.Digest{want}
			if kind == "legacy" {
				opts.spoolLimit = sizes[w[0]]
			}
		}
		cmd := exec.Command("docker", "-H", host, "save", ref)
		stdout, err := cmd.StdoutPipe()
		assert.NilError(t, err)
		assert.NilError(t, cmd.Start())
		ls, err := FromSaveStream(ctx, stdout, w, opts)
		_ = stdout.Close()
		_ = cmd.Wait()
		assert.NilError(t, err)
		readLayers(t, ls.List(), w)
		for _, l := range ls.List() {
			sizes[digest.Digest(l.ID)] = l.Size
		}
		assert.NilError(t, ls.Close())
		assertEmptyDir(t, tmp)
	}

	// The archive, by tag and by image-ID prefix.
	p := filepath.Join(t.TempDir(), "image.tar")
	docker(t, host, "save", "-o", p, ref)
	tmp := t.TempDir()
	a, err := OpenArchive(ctx, p, Options{TmpDir: tmp})
	assert.NilError(t, err)
	t.Logf("%s: %+v", ref, a.Images())
	img, err := a.Image(ref)
	assert.NilError(t, err)
	assert.DeepEqual(t, img.Config.RootFS.DiffIDs, want)
	byID, err := a.Image(strings.TrimPrefix(inspect[0].ID, "sha256:")[:12])
	assert.NilError(t, err)
	assert.Equal(t, byID, img)
	ls, err := a.Layers(ctx, img, want, nil)
	assert.NilError(t, err)
	readLayers(t, ls, want)
	assert.NilError(t, a.Close())
	assertEmptyDir(t, tmp)

	// The same archive on a stream.
	data, err := os.ReadFile(p)
	assert.NilError(t, err)
	a, err = ReadArchive(ctx, io.MultiReader(bytes.NewReader(data)), Options{TmpDir: tmp})
	assert.NilError(t, err)
	img, err = a.Image("")
	assert.NilError(t, err)
	ls, err = a.Layers(ctx, img, want, nil)
	assert.NilError(t, err)
	readLayers(t, ls, want)
	assert.NilError(t, a.Close())
	assertEmptyDir(t, tmp)
}
