package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var fixtures = []string{"docker-layers-fixture:base", "docker-layers-fixture:mid", "docker-layers-fixture:latest"}

// row is one line of `docker layers inspect --format '{{json .}}'`.
type row struct {
	Index, DiffID, ImageID, CreatedBy, Size, CumulativeSize, Tags string
}

func rows(t *testing.T, out string) []row {
	t.Helper()
	var rs []row
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r row
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("bad JSON line %q: %v", line, err)
		}
		rs = append(rs, r)
	}
	return rs
}

// historyRow is one line of `docker history --format '{{json .}}'`.
type historyRow struct {
	ID, CreatedBy, Size string
}

func diffIDs(t *testing.T, d daemon, img string) []string {
	t.Helper()
	var ids []string
	if err := json.Unmarshal([]byte(must(t, d.docker(t, "image", "inspect", "--format", "{{json .RootFS.Layers}}", img))), &ids); err != nil {
		t.Fatal(err)
	}
	return ids
}

// TestInspectMatchesDocker checks inspect against docker image inspect and
// docker history: the same layers in the same order, the same steps, and
// the same sizes.
func TestInspectMatchesDocker(t *testing.T) {
	forEachDaemon(t, func(t *testing.T, d daemon) {
		for _, img := range fixtures {
			t.Run(img, func(t *testing.T) {
				want := diffIDs(t, d, img)
				got := rows(t, must(t, d.plugin(t, "inspect", "--no-trunc", "-H=false", "--format", "{{json .}}", img)))
				if len(got) != len(want) {
					t.Fatalf("inspect shows %d layers, docker image inspect %d", len(got), len(want))
				}
				var total int64
				for i, r := range got {
					idx := len(want) - 1 - i // newest first
					if r.Index != fmt.Sprint(idx) || r.DiffID != want[idx] {
						t.Errorf("row %d: index %s diff ID %s, want %d %s", i, r.Index, r.DiffID, idx, want[idx])
					}
				}
				for i := len(got) - 1; i >= 0; i-- {
					var n int64
					fmt.Sscan(got[i].Size, &n)
					total += n
					if got[i].CumulativeSize != fmt.Sprint(total) {
						t.Errorf("layer %s: cumulative size %s, want %d", got[i].Index, got[i].CumulativeSize, total)
					}
				}

				// With --all, the rows are docker history's rows, one for one.
				all := rows(t, must(t, d.plugin(t, "inspect", "--all", "--no-trunc", "-H=false", "--format", "{{json .}}", img)))
				var hist []historyRow
				for _, line := range strings.Split(strings.TrimSpace(must(t, d.docker(t, "history", "--no-trunc", "-H=false", "--format", "{{json .}}", img))), "\n") {
					var h historyRow
					if err := json.Unmarshal([]byte(line), &h); err != nil {
						t.Fatal(err)
					}
					hist = append(hist, h)
				}
				if len(all) != len(hist) {
					t.Fatalf("inspect --all shows %d rows, docker history %d", len(all), len(hist))
				}
				layers := 0
				for i, h := range hist {
					a := all[i]
					if a.CreatedBy != h.CreatedBy || a.Size != h.Size || a.ImageID != h.ID {
						t.Errorf("row %d: inspect %q %s %s, history %q %s %s", i, a.CreatedBy, a.Size, a.ImageID, h.CreatedBy, h.Size, h.ID)
					}
					if strings.HasSuffix(a.Index, "*") {
						t.Errorf("row %d: the step of layer %s was inferred; these daemons' histories are exact", i, a.Index)
					}
					if a.Index != "" {
						layers++
					}
					// The classic builder's "RUN true" changes nothing and makes no layer.
					if strings.HasSuffix(h.CreatedBy, "/bin/sh -c true") && a.Index != "" {
						t.Errorf("RUN true shows as layer %s", a.Index)
					}
				}
				if layers != len(want) {
					t.Errorf("inspect --all marks %d steps as layers, want %d", layers, len(want))
				}
			})
		}
	})
}

// TestPluginAndStandaloneAgree runs the same commands both ways.
func TestPluginAndStandaloneAgree(t *testing.T) {
	forEachDaemon(t, func(t *testing.T, d daemon) {
		for _, args := range [][]string{
			{"inspect", "-H=false", "docker-layers-fixture:latest"},
			{"inspect", "--all", "--no-trunc", "-H=false", "docker-layers-fixture:latest"},
			{"inspect", "--format", "json", "-l", "1:-2", "-H=false", "docker-layers-fixture:latest"},
			{"inspect", "-q", "docker-layers-fixture:mid"},
			{"version"},
		} {
			p, s := d.plugin(t, args...), d.standalone(t, args...)
			if p.code != 0 || p.stdout != s.stdout || p.stderr != s.stderr || p.code != s.code {
				t.Errorf("%v: plugin and standalone differ:\nplugin: %s\nstandalone: %s", args, p, s)
			}
		}
	})
	t.Run("metadata", func(t *testing.T) {
		out := must(t, runCmd(t, nil, nil, binary, "docker-cli-plugin-metadata"))
		var meta map[string]string
		if err := json.Unmarshal([]byte(out), &meta); err != nil {
			t.Fatalf("metadata is not JSON: %v: %s", err, out)
		}
		if meta["SchemaVersion"] != "0.1.0" || meta["Vendor"] == "" || meta["ShortDescription"] == "" {
			t.Errorf("bad metadata: %s", out)
		}
		if v := must(t, runCmd(t, nil, nil, binary, "--version")); !strings.HasPrefix(v, "docker-layers ") || v != must(t, runCmd(t, nil, nil, binary, "version")) {
			t.Errorf("docker-layers --version: %q", v)
		}
		help := must(t, runCmd(t, []string{"DOCKER_CONFIG=" + pluginConfig}, nil, "docker", "--help"))
		if !strings.Contains(help, "layers*") {
			t.Errorf("docker --help does not list the layers plugin:\n%s", help)
		}
	})
}

// TestLayerSpecs resolves every kind of spec against docker's own IDs.
func TestLayerSpecs(t *testing.T) {
	forEachDaemon(t, func(t *testing.T, d daemon) {
		img := "docker-layers-fixture:latest"
		ids := diffIDs(t, d, img)
		n := len(ids)
		mid := diffIDs(t, d, "docker-layers-fixture:mid")
		midID := strings.TrimSpace(must(t, d.docker(t, "image", "inspect", "--format", "{{.Id}}", "docker-layers-fixture:mid")))
		rev := func(idx ...int) string { // the -q output for these layers: newest first
			slices.Sort(idx)
			var s []string
			for i := len(idx) - 1; i >= 0; i-- {
				s = append(s, ids[idx[i]])
			}
			return strings.Join(s, "\n") + "\n"
		}
		span := func(lo, hi int) []int {
			var out []int
			for i := lo; i <= hi; i++ {
				out = append(out, i)
			}
			return out
		}
		for _, tc := range []struct {
			specs []string
			want  string
		}{
			{[]string{"0"}, rev(0)},
			{[]string{"-1"}, rev(n - 1)},
			{[]string{fmt.Sprint(-n)}, rev(0)},
			{[]string{"1:3"}, rev(1, 2, 3)},
			{[]string{"3:1"}, rev(1, 2, 3)},
			{[]string{":1"}, rev(0, 1)},
			{[]string{"-2:"}, rev(n-2, n-1)},
			{[]string{"0", "-1", "0"}, rev(0, n-1)},
			{[]string{strings.TrimPrefix(ids[2], "sha256:")[:12]}, rev(2)},
			{[]string{ids[3][:19]}, rev(3)},
			{[]string{"docker-layers-fixture:mid"}, rev(len(mid) - 1)},
			{[]string{"docker-layers-fixture:mid:"}, rev(span(len(mid)-1, n-1)...)},
			{[]string{strings.TrimPrefix(midID, "sha256:")[:12]}, rev(len(mid) - 1)},
			{[]string{"docker-layers-fixture:base:-1"}, rev(span(len(diffIDs(t, d, "docker-layers-fixture:base"))-1, n-1)...)},
		} {
			got := d.plugin(t, append([]string{"inspect", "-q", "--no-trunc", img}, flagsFor(tc.specs)...)...)
			if got.code != 0 || got.stdout != tc.want {
				t.Errorf("-l %v: got %s\nwant stdout:\n%s", tc.specs, got, tc.want)
			}
		}
	})
}

func flagsFor(specs []string) []string {
	var out []string
	for _, s := range specs {
		out = append(out, "-l", s)
	}
	return out
}

// TestErrorsAndExitCodes checks every documented exit code and that each
// error is one line naming what failed.
func TestErrorsAndExitCodes(t *testing.T) {
	forEachDaemon(t, func(t *testing.T, d daemon) {
		// 17 layers: two diff IDs must share their first hex digit.
		var layers [][]byte
		for i := range 17 {
			layers = append(layers, layerTar(t, []entry{file(fmt.Sprintf("f%02d", i), fmt.Sprintf("layer %d\n", i))}))
		}
		d.load(t, loadArchive(t, "docker-layers-crafted:many", layers))
		ids := diffIDs(t, d, "docker-layers-crafted:many")
		byFirst := map[byte][]string{}
		for _, id := range ids {
			c := strings.TrimPrefix(id, "sha256:")[0]
			byFirst[c] = append(byFirst[c], id)
		}
		var shared string
		var unused string
		for _, c := range []byte("0123456789abcdef") {
			if len(byFirst[c]) > 1 && shared == "" {
				shared = "sha256:" + string(c)
			}
		}
		for _, p := range []string{"ff", "fe", "fd", "fc", "fb", "fa", "f9", "f8"} {
			used := false
			for _, id := range ids {
				used = used || strings.HasPrefix(strings.TrimPrefix(id, "sha256:"), p)
			}
			if !used {
				unused = p
				break
			}
		}

		for _, tc := range []struct {
			name     string
			args     []string
			env      []string
			code     int
			contains string
		}{
			{"unknown flag", []string{"inspect", "--bogus", "x"}, nil, 1, "unknown flag: --bogus"},
			{"missing argument", []string{"inspect"}, nil, 1, "requires exactly 1 argument"},
			{"no such image", []string{"inspect", "docker-layers-nope:latest"}, nil, 2, "docker-layers-nope"},
			{"daemon unreachable", []string{"inspect", "docker-layers-crafted:many"}, []string{"DOCKER_HOST=unix:///tmp/docker-layers-no-such.sock"}, 2, "docker-layers-no-such.sock"},
			{"index out of range", []string{"inspect", "-l", "17", "docker-layers-crafted:many"}, nil, 3, "index 17 is out of range"},
			{"negative index out of range", []string{"inspect", "-l", "-18", "docker-layers-crafted:many"}, nil, 3, "out of range"},
			{"prefix matches nothing", []string{"inspect", "-l", unused, "docker-layers-crafted:many"}, nil, 3, "no diff ID or image ID starts with " + unused},
			{"ambiguous prefix", []string{"inspect", "-l", shared, "docker-layers-crafted:many"}, nil, 3, "ambiguous prefix"},
			{"range end does not resolve", []string{"inspect", "-l", "0:" + unused, "docker-layers-crafted:many"}, nil, 3, "range end"},
			{"tag that is not an ancestor", []string{"inspect", "-l", "docker-layers-fixture:base", "docker-layers-crafted:many"}, nil, 3, "not an ancestor"},
			{"invalid spec", []string{"inspect", "-l", "Not A Spec", "docker-layers-crafted:many"}, nil, 3, "invalid layer spec"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				for _, how := range []string{"plugin", "standalone"} {
					var r result
					env := append([]string{"DOCKER_HOST=" + d.host, "DOCKER_CONFIG=" + pluginConfig, "DOCKER_CONTEXT="}, tc.env...)
					if how == "plugin" {
						r = runCmd(t, env, nil, "docker", append([]string{"layers"}, tc.args...)...)
					} else {
						r = runCmd(t, env, nil, binary, tc.args...)
					}
					if r.code != tc.code || !strings.Contains(r.stderr, tc.contains) {
						t.Errorf("%s: want exit %d and %q: %s", how, tc.code, tc.contains, r)
					}
					if lines := strings.Count(strings.TrimRight(r.stderr, "\n"), "\n") + 1; lines != 1 || r.stdout != "" {
						t.Errorf("%s: want one line on stderr and nothing on stdout: %s", how, r)
					}
				}
			})
		}
		if shared != "" {
			r := d.plugin(t, "inspect", "-l", shared, "docker-layers-crafted:many")
			for _, id := range byFirst[shared[len("sha256:")]] {
				if !strings.Contains(r.stderr, id) {
					t.Errorf("the ambiguity error does not list candidate %s: %s", id, r)
				}
			}
		}
	})
}

// TestInspectBuildKitStyleHistory: an image with no intermediate images
// (as BuildKit builds, pulls and loads make), a layer of whiteouts only
// (size 0 on the daemon) and metadata steps among the layers. Sizes alone
// cannot tell which zero-size step made the layer: inspect infers it from
// the commands, marks it, and says so.
func TestInspectBuildKitStyleHistory(t *testing.T) {
	forEachDaemon(t, func(t *testing.T, d daemon) {
		layers := [][]byte{
			layerTar(t, []entry{dir("etc"), file("etc/a", "a"), file("etc/b", "b")}),
			layerTar(t, []entry{wh("etc/.wh.b")}),
			layerTar(t, []entry{file("app", "app")}),
		}
		steps := []step{
			{createdBy: "ADD rootfs.tar / # buildkit"},
			{createdBy: `ENV PATH=/bin`, empty: true},
			{createdBy: "RUN /bin/sh -c rm /etc/b # buildkit"},
			{createdBy: `LABEL a=b`, empty: true},
			{createdBy: "COPY app /app # buildkit"},
			{createdBy: `CMD ["/app"]`, empty: true},
		}
		img := "docker-layers-crafted:buildkit-style"
		d.load(t, loadArchiveHistory(t, img, layers, steps))
		r := d.plugin(t, "inspect", "--all", "--no-trunc", "-H=false", "--format", "{{.Index}}|{{.CreatedBy}}", img)
		if r.code != 0 {
			t.Fatal(r)
		}
		// The containerd store reports a whiteout-only layer's snapshot
		// usage (a block), so its size decides and nothing is inferred.
		mark := "*"
		if d.containerdStore() {
			mark = ""
		}
		want := "|CMD [\"/app\"]\n2|COPY app /app # buildkit\n|LABEL a=b\n1" + mark + "|RUN /bin/sh -c rm /etc/b # buildkit\n|ENV PATH=/bin\n0|ADD rootfs.tar / # buildkit\n"
		if r.stdout != want {
			t.Errorf("inspect --all:\n%s\nwant:\n%s", r.stdout, want)
		}
		warned := strings.Contains(r.stderr, "warning: the Engine API does not say which history steps") && strings.Contains(r.stderr, "[1]")
		if warned != (mark == "*") {
			t.Errorf("warning about the inferred layer: got %q", r.stderr)
		}
	})
}

// TestDaemonSelection reaches the daemon the ways the docker CLI does: a
// context (--context and DOCKER_CONTEXT) and -H, as a plugin and standalone.
func TestDaemonSelection(t *testing.T) {
	forEachDaemon(t, func(t *testing.T, d daemon) {
		cfg := t.TempDir()
		if err := os.Symlink(filepath.Join(pluginConfig, "cli-plugins"), filepath.Join(cfg, "cli-plugins")); err != nil {
			t.Fatal(err)
		}
		env := []string{"DOCKER_CONFIG=" + cfg, "DOCKER_HOST=", "DOCKER_CONTEXT="}
		must(t, runCmd(t, env, nil, "docker", "context", "create", "layers-e2e", "--docker", "host="+d.host))
		want := must(t, d.plugin(t, "inspect", "-q", "--no-trunc", "docker-layers-fixture:latest"))
		for _, tc := range []struct {
			name string
			env  []string
			cmd  []string
		}{
			{"plugin --context", nil, []string{"docker", "--context", "layers-e2e", "layers", "inspect", "-q", "--no-trunc", "docker-layers-fixture:latest"}},
			{"standalone --context", nil, []string{binary, "--context", "layers-e2e", "inspect", "-q", "--no-trunc", "docker-layers-fixture:latest"}},
			{"standalone DOCKER_CONTEXT", []string{"DOCKER_CONTEXT=layers-e2e"}, []string{binary, "inspect", "-q", "--no-trunc", "docker-layers-fixture:latest"}},
			{"plugin -H", nil, []string{"docker", "-H", d.host, "layers", "inspect", "-q", "--no-trunc", "docker-layers-fixture:latest"}},
			{"standalone -H", nil, []string{binary, "-H", d.host, "inspect", "-q", "--no-trunc", "docker-layers-fixture:latest"}},
		} {
			r := runCmd(t, append(append([]string{}, env...), tc.env...), nil, tc.cmd[0], tc.cmd[1:]...)
			if r.code != 0 || r.stdout != want {
				t.Errorf("%s: %s", tc.name, r)
			}
		}
	})
}
