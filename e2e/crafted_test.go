package e2e

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// entry is one tar entry of a crafted layer.
type entry struct {
	hdr  tar.Header
	body string
}

func file(name, body string) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(body))}, body: body}
}

func dir(name string) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: 0o755}}
}

func symlink(name, target string) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777}}
}

// hardlink is a hardlink to target, with the mode every tar writer of a
// real file system gives both names of one inode.
func hardlink(name, target string) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeLink, Name: name, Linkname: target, Mode: 0o644}}
}

// layerTar writes entries as an uncompressed layer tar with fixed times, so
// that the diff ID is the same on every run.
func layerTar(t *testing.T, entries []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := e.hdr
		if h.ModTime.IsZero() {
			h.ModTime = time.Unix(1700000000, 0)
		}
		h.Format = tar.FormatPAX
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// loadArchive writes a `docker load` archive (the v1.2 manifest.json layout,
// which every Docker version loads) of one image tagged tag with the given
// layers, bottom first.
func loadArchive(t *testing.T, tag string, layers [][]byte) []byte {
	t.Helper()
	var steps []step
	for i := range layers {
		steps = append(steps, step{createdBy: fmt.Sprintf("crafted layer %d", i)})
	}
	return loadArchiveHistory(t, tag, layers, append(steps, step{createdBy: `CMD ["sh"]`, empty: true}))
}

// step is one history entry of a crafted image.
type step struct {
	createdBy string
	empty     bool
}

// loadArchiveHistory is loadArchive with the image's history given: one
// step per layer, in order, plus the empty steps among them.
func loadArchiveHistory(t *testing.T, tag string, layers [][]byte, steps []step) []byte {
	t.Helper()
	return loadArchivePlatform(t, tag, "amd64", layers, steps)
}

// loadArchivePlatform is loadArchiveHistory with the image's architecture
// given (its OS is linux).
func loadArchivePlatform(t *testing.T, tag, arch string, layers [][]byte, steps []step) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(name string, data []byte) {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: time.Unix(1700000000, 0)}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	var diffIDs, paths []string
	var history []map[string]any
	for i, l := range layers {
		sum := sha256.Sum256(l)
		diffIDs = append(diffIDs, "sha256:"+hex.EncodeToString(sum[:]))
		p := fmt.Sprintf("layer%03d/layer.tar", i)
		paths = append(paths, p)
		add(p, l)
	}
	for _, s := range steps {
		history = append(history, map[string]any{"created": "2023-11-14T22:13:20Z", "created_by": s.createdBy, "empty_layer": s.empty})
	}
	config, err := json.Marshal(map[string]any{
		"architecture": arch, "os": "linux", "created": "2023-11-14T22:13:20Z",
		"config":  map[string]any{"Cmd": []string{"sh"}},
		"rootfs":  map[string]any{"type": "layers", "diff_ids": diffIDs},
		"history": history,
	})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(config)
	configName := hex.EncodeToString(sum[:]) + ".json"
	add(configName, config)
	manifest, _ := json.Marshal([]map[string]any{{"Config": configName, "RepoTags": []string{tag}, "Layers": paths}})
	add("manifest.json", manifest)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// load loads a crafted image into the daemon.
func (d daemon) load(t *testing.T, archive []byte) {
	t.Helper()
	r := runCmd(t, []string{"DOCKER_HOST=" + d.host, "DOCKER_CONTEXT="}, archive, "docker", "load", "-q")
	if r.code != 0 || !strings.Contains(r.stdout, "Loaded image") {
		t.Fatalf("docker load: %s", r)
	}
}
