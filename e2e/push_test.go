package e2e

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// uploads counts the blob requests of repo in reqs: uploads started (a
// POST without mount=, or one whose mount was refused), completed (the PUT
// with the digest, by digest), mounted (a POST with mount= that answered
// 201 Created, by digest), and blob GETs by digest.
type uploads struct {
	started            int
	completed, mounted map[string]int
	gets               map[string]int // of any repository
}

func countUploads(reqs []logRequest, repo string) uploads {
	u := uploads{completed: map[string]int{}, mounted: map[string]int{}, gets: map[string]int{}}
	prefix := "/v2/" + repo + "/blobs/uploads/"
	for _, r := range reqs {
		switch {
		case r.method == http.MethodPost && r.path == prefix && r.query.Get("mount") != "" && r.status == http.StatusCreated:
			u.mounted[r.query.Get("mount")]++
		case r.method == http.MethodPost && r.path == prefix:
			u.started++
		case r.method == http.MethodPut && strings.HasPrefix(r.path, prefix) && r.status == http.StatusCreated:
			u.completed[r.query.Get("digest")]++
		case r.method == http.MethodGet && strings.Contains(r.path, "/blobs/sha256:"):
			u.gets[r.path[strings.LastIndex(r.path, "/")+1:]]++
		}
	}
	return u
}

// TestSquashPush squashes the fixture's layers 2 to 4 and pushes the new
// image with --push: from the daemon into a new repository (every blob is
// uploaded, once), and from the registry's copy of the fixture (pushed
// there by e2e/registry/push.sh) into another repository (the kept layers
// are mounted, not uploaded, and the layers above the range are not even
// fetched). Each pushed image is pulled back into the daemon and read from
// the registry: extract of it gives the bytes extract of the fixture
// gives.
func TestSquashPush(t *testing.T) {
	reg := registries(t)
	addr := reg.plain
	forEachDaemon(t, func(t *testing.T, d daemon) {
		const fixture = "docker-layers-fixture:latest"
		want := must(t, d.plugin(t, "extract", "-o", "-", fixture))
		fixtureLayers := len(diffIDs(t, d, fixture))
		run := time.Now().UnixNano()

		check := func(t *testing.T, src, repo string, mounted bool) {
			ref := fmt.Sprintf("%s/%s:sq", addr, repo)
			tmp := t.TempDir()
			l := markLog(t, reg.plainLog, addr)
			r := d.plugin(t, "squash", src, "-l", "2:4", "--push", "docker://"+ref, "-m", "pushed by the e2e test", "--tmpdir", tmp, "--progress", "plain")
			out := strings.TrimSpace(must(t, r))
			reqs := l.requests(t)
			if left, _ := os.ReadDir(tmp); len(left) != 0 {
				t.Errorf("--tmpdir holds %d entries after squash --push", len(left))
			}

			// What it says: REF@DIGEST on stdout, and in the summary.
			img := manifestOf(t, addr, repo, "sq")
			digest, layers, config := img.digest, img.layers, img.config
			if out != ref+"@"+digest {
				t.Errorf("squash --push printed %q, the registry has %s@%s", out, ref, digest)
			}
			if summary := "Squashed layers 2 to 4: "; !strings.Contains(r.stderr, summary) || !strings.Contains(r.stderr, " pushed to "+ref+"@"+digest) {
				t.Errorf("no summary line naming %s@%s:\n%s", ref, digest, r.stderr)
			}
			if len(layers) != fixtureLayers-2 {
				t.Fatalf("the pushed image has %d layers, want %d", len(layers), fixtureLayers-2)
			}

			// Only what had to be uploaded was: the squashed layer and the
			// config, and the kept layers unless they were mounted.
			kept := map[string]bool{}
			for i, l := range layers {
				if i != 2 {
					kept[l] = true
				}
			}
			u := countUploads(reqs, repo)
			wantUp := map[string]int{layers[2]: 1, config: 1}
			if !mounted {
				for l := range kept {
					wantUp[l] = 1
				}
			}
			if fmt.Sprint(u.completed) != fmt.Sprint(wantUp) || u.started != len(wantUp) {
				t.Errorf("uploads: %d started, completed %v; want %v", u.started, u.completed, wantUp)
			}
			if mounted {
				wantMounts := map[string]int{}
				for l := range kept {
					wantMounts[l] = 1
				}
				if fmt.Sprint(u.mounted) != fmt.Sprint(wantMounts) {
					t.Errorf("mounted %v, want the kept layers %v", u.mounted, wantMounts)
				}
				// Layers 0 and 1 are read for their headers, the range
				// to be squashed: the layers above it are not fetched.
				for _, l := range layers[3:] {
					if u.gets[l] != 0 {
						t.Errorf("layer %s above the range was fetched %d times", l, u.gets[l])
					}
				}
				if !strings.Contains(r.stderr, "mounted from "+addr+"/") {
					t.Errorf("the progress does not say the kept layers were mounted:\n%s", r.stderr)
				}
			} else if len(u.mounted) != 0 {
				t.Errorf("mounted %v from nowhere", u.mounted)
			}

			// Read from the registry, and pulled back into the daemon, it
			// is the fixture's file system, byte for byte.
			if got := must(t, d.plugin(t, "extract", "-o", "-", "docker://"+ref)); got != want {
				t.Errorf("extract docker://%s differs from extract %s (%d and %d bytes)", ref, fixture, len(got), len(want))
			}
			must(t, d.docker(t, "pull", "-q", ref))
			t.Cleanup(func() { d.docker(t, "rmi", ref) })
			if got := must(t, d.plugin(t, "extract", "-o", "-", ref)); got != want {
				t.Errorf("extract of the pulled %s differs from extract %s (%d and %d bytes)", ref, fixture, len(got), len(want))
			}
		}

		t.Run("from the daemon", func(t *testing.T) {
			check(t, fixture, fmt.Sprintf("pushed/%s-%d/x", d.kind, run), false)
		})
		t.Run("from the registry", func(t *testing.T) {
			src := fmt.Sprintf("%s/%s/docker-layers-fixture:latest", addr, d.kind)
			if r := d.plugin(t, "inspect", "-q", "docker://"+src); r.code != 0 {
				if os.Getenv("CI") == "true" {
					t.Fatalf("the fixture is not in the registry (e2e/registry/push.sh pushes it): %s", r)
				}
				t.Skipf("the fixture is not in the registry (run e2e/registry/push.sh): %s", strings.TrimSpace(r.stderr))
			}
			check(t, "docker://"+src, fmt.Sprintf("pushed/%s-%d/y", d.kind, run), true)
		})
	})
}

// TestSquashPushErrors: a push the registry refuses (401: no credentials
// for the auth registry, when it runs) and an unreachable registry are one
// line and exit 2, with nothing left in --tmpdir; a bad --push and --push
// with -o or -t are usage errors, exit 1.
func TestSquashPushErrors(t *testing.T) {
	addr := registries(t).plain
	forEachDaemon(t, func(t *testing.T, d daemon) {
		const fixture = "docker-layers-fixture:latest"
		cases := []struct {
			args []string
			code int
			msg  string
		}{
			{[]string{"--push", "127.0.0.1:1/pushed/x:sq"}, 2, "pushing to 127.0.0.1:1/pushed/x:sq: "},
			{[]string{"--push", addr + "/Bad/x:sq"}, 1, "--push: invalid reference"},
			{[]string{"--push", addr + "/pushed/x@sha256:" + strings.Repeat("0", 64)}, 1, "push to a tag, not a digest"},
			{[]string{"--push", addr + "/pushed/x:sq", "-t", "dl-push:x"}, 1, "-t names it in the daemon"},
			{[]string{"--push", addr + "/pushed/x:sq", "-o", "x.tar"}, 1, "--push and -o both say where the new image goes"},
		}
		if auth := os.Getenv("DOCKER_LAYERS_REGISTRY_AUTH"); auth != "" {
			cases = append(cases, struct {
				args []string
				code int
				msg  string
			}{[]string{"--push", auth + "/pushed/x:sq"}, 2, "unauthorized: authentication required (docker login " + auth + ")"})
		}
		for _, c := range cases {
			tmp := t.TempDir()
			r := d.plugin(t, append([]string{"squash", fixture, "-l", "2:4", "--tmpdir", tmp}, c.args...)...)
			if r.code != c.code || !strings.Contains(r.stderr, c.msg) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || r.stdout != "" {
				t.Errorf("squash %v: want exit %d and one line with %q, got %s", c.args, c.code, c.msg, r)
			}
			if left, _ := os.ReadDir(tmp); len(left) != 0 {
				t.Errorf("squash %v: --tmpdir holds %d entries", c.args, len(left))
			}
		}
	})
}
