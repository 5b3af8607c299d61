package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// withEnv runs the plugin (through the docker CLI) or the binary
// standalone, with env added to the environment.
func (d daemon) withEnv(t *testing.T, env []string, standalone bool, args ...string) result {
	t.Helper()
	env = append([]string{"DOCKER_HOST=" + d.host, "DOCKER_CONFIG=" + pluginConfig, "DOCKER_CONTEXT="}, env...)
	if standalone {
		return runCmd(t, env, nil, binary, args...)
	}
	return runCmd(t, env, nil, "docker", append([]string{"layers"}, args...)...)
}

// tarTimes reads a tar's entries' mtimes by name; gzip is undone.
func tarTimes(t *testing.T, b []byte) map[string]time.Time {
	t.Helper()
	if len(b) > 2 && b[0] == 0x1f && b[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if b, err = io.ReadAll(zr); err != nil {
			t.Fatal(err)
		}
	}
	out := map[string]time.Time{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name] = h.ModTime
	}
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestExtractSourceDateEpoch: with SOURCE_DATE_EPOCH, extract writes every
// mtime later than it as it, keeps the earlier ones, and two extracts are
// the same bytes; a malformed value is a usage error.
func TestExtractSourceDateEpoch(t *testing.T) {
	forEachDaemon(t, func(t *testing.T, d daemon) {
		img := "docker-layers-fixture:latest"
		dir := t.TempDir()
		plain := filepath.Join(dir, "plain.tar")
		must(t, d.withEnv(t, []string{"SOURCE_DATE_EPOCH="}, false, "extract", img, "-q", "-o", plain))
		orig := tarTimes(t, readFile(t, plain))
		// An epoch between the oldest and the newest mtime, so that
		// some entries are clamped and others are not.
		var lo, hi time.Time
		for _, m := range orig {
			if m.Unix() > 0 && (lo.IsZero() || m.Before(lo)) {
				lo = m
			}
			if m.After(hi) {
				hi = m
			}
		}
		if hi.Sub(lo) < 2*time.Second {
			t.Fatalf("the fixture's mtimes span %v to %v: nothing to clamp", lo, hi)
		}
		epoch := hi.Add(-time.Second).Truncate(time.Second)
		env := []string{fmt.Sprintf("SOURCE_DATE_EPOCH=%d", epoch.Unix())}

		var outs [][]byte
		for i, standalone := range []bool{false, true} {
			name := filepath.Join(dir, fmt.Sprintf("clamped%d.tar", i))
			must(t, d.withEnv(t, env, standalone, "extract", img, "-q", "-o", name))
			outs = append(outs, readFile(t, name))
		}
		if !bytes.Equal(outs[0], outs[1]) {
			t.Errorf("two extracts with SOURCE_DATE_EPOCH differ")
		}
		got := tarTimes(t, outs[0])
		if len(got) != len(orig) {
			t.Errorf("%d entries with SOURCE_DATE_EPOCH, %d without", len(got), len(orig))
		}
		var clamped, kept int
		for name, m := range got {
			want := orig[name]
			if want.After(epoch) {
				want = epoch
				clamped++
			} else {
				kept++
			}
			if !m.Equal(want) {
				t.Errorf("%s: mtime %v, want %v (was %v, epoch %v)", name, m, want, orig[name], epoch)
			}
		}
		if clamped == 0 || kept == 0 {
			t.Errorf("%d entries clamped and %d kept: want some of each", clamped, kept)
		}

		r := d.withEnv(t, []string{"SOURCE_DATE_EPOCH=yesterday"}, false, "extract", img, "-o", filepath.Join(dir, "bad.tar"))
		if r.code != 1 || !strings.Contains(r.stderr, `invalid SOURCE_DATE_EPOCH="yesterday"`) {
			t.Errorf("a malformed SOURCE_DATE_EPOCH: %s", r)
		}
		if _, err := os.Stat(filepath.Join(dir, "bad.tar")); err == nil {
			t.Errorf("a malformed SOURCE_DATE_EPOCH left an output file")
		}
	})
}

// TestSquashSourceDateEpoch: with SOURCE_DATE_EPOCH, the same squash twice
// into the daemon (-t) and twice as an archive (-o) gives one image ID on
// every daemon, and the archives are the same bytes; the times come from
// the epoch.
func TestSquashSourceDateEpoch(t *testing.T) {
	forEachDaemon(t, func(t *testing.T, d daemon) {
		img := "docker-layers-fixture:latest"
		tags := []string{"dl-repro-squash:a", "dl-repro-squash:b"}
		t.Cleanup(func() { d.docker(t, append([]string{"rmi"}, tags...)...) })
		const epochSec = 1700000000 // 2023-11-14, before the fixture was built
		epoch := time.Unix(epochSec, 0).UTC()
		env := []string{fmt.Sprintf("SOURCE_DATE_EPOCH=%d", epochSec)}
		dir := t.TempDir()

		var ids []string
		for i, tag := range tags {
			ids = append(ids, strings.TrimSpace(must(t, d.withEnv(t, env, i == 1, "squash", img, "-l", "2:4", "-q", "-t", tag))))
		}
		var archives [][]byte
		for i := range 2 {
			name := filepath.Join(dir, fmt.Sprintf("squashed%d.tar", i))
			ids = append(ids, strings.TrimSpace(must(t, d.withEnv(t, env, i == 1, "squash", img, "-l", "2:4", "-q", "-o", name))))
			archives = append(archives, readFile(t, name))
		}
		for _, tag := range tags {
			ids = append(ids, strings.TrimSpace(must(t, d.docker(t, "image", "inspect", "--format", "{{.Id}}", tag))))
		}
		for _, id := range ids[1:] {
			if id != ids[0] || !strings.HasPrefix(id, "sha256:") {
				t.Fatalf("squash -t twice, -o twice, and the daemon's IDs: %v, want one ID", ids)
			}
		}
		if !bytes.Equal(archives[0], archives[1]) {
			t.Errorf("two squash -o archives with SOURCE_DATE_EPOCH differ")
		}

		// The config's created and the collapsed step's are the epoch.
		var cfg struct {
			Created time.Time
			History []struct {
				Created   time.Time
				CreatedBy string `json:"created_by"`
			}
		}
		_, docs := archiveEntries(t, filepath.Join(dir, "squashed0.tar"))
		var items []struct {
			Config string
			Layers []string
		}
		if err := json.Unmarshal(docs["manifest.json"], &items); err != nil || len(items) != 1 {
			t.Fatalf("manifest.json: %v %s", err, docs["manifest.json"])
		}
		if err := json.Unmarshal(docs[items[0].Config], &cfg); err != nil {
			t.Fatal(err)
		}
		if !cfg.Created.Equal(epoch) {
			t.Errorf("config created %v, want %v", cfg.Created, epoch)
		}
		var steps int
		for _, h := range cfg.History {
			if h.CreatedBy == "docker-layers squash 2..4" {
				steps++
				if !h.Created.Equal(epoch) {
					t.Errorf("the collapsed step was created %v, want %v", h.Created, epoch)
				}
			}
		}
		if steps != 1 {
			t.Errorf("%d collapsed steps, want 1: %+v", steps, cfg.History)
		}
		// No time in the squashed layer is later than the epoch.
		f := mustOpen(t, filepath.Join(dir, "squashed0.tar"))
		defer f.Close()
		tr := tar.NewReader(f)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				t.Fatalf("the archive has no layer %s", items[0].Layers[2])
			}
			if err != nil {
				t.Fatal(err)
			}
			if h.Name != items[0].Layers[2] {
				continue
			}
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			times := tarTimes(t, b)
			if len(times) == 0 {
				t.Fatal("the squashed layer is empty")
			}
			for name, m := range times {
				if m.After(epoch) {
					t.Errorf("squashed layer: %s has mtime %v, after %v", name, m, epoch)
				}
			}
			break
		}
	})
}
