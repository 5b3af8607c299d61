package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// efficiencyJSON is what "efficiency --format json" prints.
type efficiencyJSON struct {
	Image             string
	Efficiency        float64
	StoredBytes       int64
	UserBytes         int64
	WastedBytes       int64
	UserWastedBytes   int64
	UserWastedPercent float64
	DuplicatedBytes   int64
	Base              int
	Layers            []struct {
		Index                    int
		StoredBytes, WastedBytes int64
	}
	Wasted []struct {
		Path   string
		Bytes  int64
		Layers []int
		Shown  bool
	}
	Duplicates []struct {
		Digest      string
		Size        int64
		WastedBytes int64
		Copies      []struct {
			Layer  int
			Path   string
			Hidden bool
		}
	}
	Rules []struct {
		Name, Status string
		Actual       float64
	}
	Result string
}

// savedLayers returns the uncompressed layer tars of the one image of a
// `docker save` archive, bottom first, from its manifest.json (which all
// three daemons write), following legacy layer.tar symlinks.
func savedLayers(t *testing.T, saved []byte) [][]byte {
	t.Helper()
	files := map[string][]byte{}
	links := map[string]string{}
	tr := tar.NewReader(bytes.NewReader(saved))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch h.Typeflag {
		case tar.TypeReg:
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			files[path.Clean(h.Name)] = b
		case tar.TypeSymlink:
			links[path.Clean(h.Name)] = path.Join(path.Dir(h.Name), h.Linkname)
		}
	}
	var manifest []struct{ Layers []string }
	if err := json.Unmarshal(files["manifest.json"], &manifest); err != nil || len(manifest) != 1 {
		t.Fatalf("manifest.json: %v (%d images)", err, len(manifest))
	}
	var out [][]byte
	for _, p := range manifest[0].Layers {
		p = path.Clean(p)
		for i := 0; i < 16 && files[p] == nil && links[p] != ""; i++ {
			p = links[p]
		}
		b := files[p]
		if b == nil {
			t.Fatalf("layer %s is not in the archive", p)
		}
		if len(b) > 2 && b[0] == 0x1f && b[1] == 0x8b {
			zr, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if b, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
		}
		out = append(out, b)
	}
	return out
}

// storedRef is a regular file a layer stores, in the reference model.
type storedRef struct {
	layer int
	path  string
	size  int64
	sum   [32]byte
}

// effRef is the independent reference: the layers applied one by one to
// a map of paths, as the OCI image spec says, remembering every regular
// file stored and which of them the final image still shows.
type effRef struct {
	stored       []storedRef
	shown        map[int]bool    // indexes into stored
	final        map[string]int  // path -> index into stored (a file), -1 other types
	deletedByDir map[int]bool    // stored files hidden by a directory's whiteout or opaque marker
	links        map[string]bool // final paths that are hardlinks
	// dive's model: per path, the size of each layer's entry (hardlinks,
	// file whiteouts: 0; a whiteout of a directory: its stacked subtree).
	occ map[string][]int64
}

func under(p, dir string) bool { return dir == "" || strings.HasPrefix(p, dir+"/") }

func referenceEfficiency(t *testing.T, layers [][]byte) *effRef {
	t.Helper()
	r := &effRef{shown: map[int]bool{}, final: map[string]int{}, deletedByDir: map[int]bool{}, links: map[string]bool{}, occ: map[string][]int64{}}
	for li, l := range layers {
		type ent struct {
			h    *tar.Header
			name string
			sum  [32]byte
		}
		var ents []ent
		tr := tar.NewReader(bytes.NewReader(l))
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			name := strings.TrimPrefix(path.Clean("/"+h.Name), "/")
			if name == "" {
				continue
			}
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			ents = append(ents, ent{h: h, name: name, sum: sha256.Sum256(data)})
		}
		// remove deletes p and what is under it; byDir marks what a
		// directory's whiteout or opaque marker hides (byDir and self: p
		// too).
		remove := func(p string, byDir, self bool) int64 {
			var size int64
			for q, i := range r.final {
				if q == p || under(q, p) {
					if i >= 0 {
						size += r.stored[i].size
						if byDir && (q != p || self) {
							r.deletedByDir[i] = true
						}
					}
					delete(r.final, q)
					delete(r.links, q)
				}
			}
			return size
		}
		// Markers first, then the entries.
		for _, e := range ents {
			dir, base := path.Split(e.name)
			dir = strings.TrimSuffix(dir, "/")
			switch {
			case base == ".wh..wh..opq":
				for q := range r.final {
					if under(q, dir) {
						remove(q, true, true)
					}
				}
			case strings.HasPrefix(base, ".wh."):
				p := path.Join(dir, strings.TrimPrefix(base, ".wh."))
				_, isFile := r.final[p]
				isFile = isFile && r.final[p] >= 0
				size := remove(p, true, false)
				if isFile {
					size = 0 // dive: a whiteout of a file counts 0
				}
				r.occ[p] = append(r.occ[p], size)
			}
		}
		for _, e := range ents {
			base := path.Base(e.name)
			if strings.HasPrefix(base, ".wh.") {
				continue
			}
			h := e.h
			if old, ok := r.final[e.name]; ok && (h.Typeflag != tar.TypeDir || old >= 0) {
				remove(e.name, false, false)
			}
			switch h.Typeflag {
			case tar.TypeReg:
				r.stored = append(r.stored, storedRef{layer: li, path: e.name, size: h.Size, sum: e.sum})
				r.final[e.name] = len(r.stored) - 1
				r.occ[e.name] = append(r.occ[e.name], h.Size)
			case tar.TypeLink:
				target := strings.TrimPrefix(path.Clean("/"+h.Linkname), "/")
				i, ok := r.final[target]
				if !ok || i < 0 {
					t.Fatalf("layer %d: hardlink %s to %s: no such file", li, e.name, target)
				}
				r.final[e.name] = i
				r.links[e.name] = true
				r.occ[e.name] = append(r.occ[e.name], 0)
			case tar.TypeDir:
				if _, ok := r.final[e.name]; !ok {
					r.final[e.name] = -1
				}
			default:
				r.final[e.name] = -1
				r.occ[e.name] = append(r.occ[e.name], 0)
			}
		}
	}
	for _, i := range r.final {
		if i >= 0 {
			r.shown[i] = true
		}
	}
	return r
}

// check compares our figures with the reference's.
func (r *effRef) check(t *testing.T, got efficiencyJSON, base int) {
	t.Helper()
	var stored, user, wasted, userWasted, dup int64
	layerStored := make([]int64, len(got.Layers))
	layerWasted := make([]int64, len(got.Layers))
	wastedAt := map[string]int64{}
	bySum := map[[32]byte][]storedRef{}
	for i, s := range r.stored {
		stored += s.size
		layerStored[s.layer] += s.size
		if s.layer >= base {
			user += s.size
		}
		if !r.shown[i] {
			wasted += s.size
			layerWasted[s.layer] += s.size
			if s.size > 0 {
				wastedAt["/"+s.path] += s.size
			}
			if s.layer >= base {
				userWasted += s.size
			}
		}
		if s.size > 0 {
			bySum[s.sum] = append(bySum[s.sum], s)
		}
	}
	for _, copies := range bySum {
		dup += copies[0].size * int64(len(copies)-1)
	}
	if got.StoredBytes != stored || got.UserBytes != user || got.WastedBytes != wasted || got.UserWastedBytes != userWasted || got.DuplicatedBytes != dup {
		t.Errorf("stored %d user %d wasted %d user wasted %d duplicated %d; the reference says %d %d %d %d %d",
			got.StoredBytes, got.UserBytes, got.WastedBytes, got.UserWastedBytes, got.DuplicatedBytes, stored, user, wasted, userWasted, dup)
	}
	for i, l := range got.Layers {
		if l.StoredBytes != layerStored[i] || l.WastedBytes != layerWasted[i] {
			t.Errorf("layer %d: stored %d wasted %d; the reference says %d %d", i, l.StoredBytes, l.WastedBytes, layerStored[i], layerWasted[i])
		}
	}
	if want := float64(stored-wasted) / float64(stored); math.Abs(got.Efficiency-want) > 1e-12 {
		t.Errorf("efficiency %v, want %v", got.Efficiency, want)
	}
	if want := float64(userWasted) / float64(user); user > 0 && math.Abs(got.UserWastedPercent-want) > 1e-12 {
		t.Errorf("user wasted percent %v, want %v", got.UserWastedPercent, want)
	}
	gotAt := map[string]int64{}
	for i, w := range got.Wasted {
		gotAt[w.Path] = w.Bytes
		if i > 0 && w.Bytes > got.Wasted[i-1].Bytes {
			t.Errorf("wasted paths are not largest first: %s after %s", w.Path, got.Wasted[i-1].Path)
		}
	}
	if !mapsEqual(gotAt, wastedAt) {
		t.Errorf("wasted paths %v; the reference says %v", gotAt, wastedAt)
	}
}

func mapsEqual(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// efficiency runs "efficiency --format json" and decodes it.
func (d daemon) efficiency(t *testing.T, args ...string) efficiencyJSON {
	t.Helper()
	out := must(t, d.plugin(t, append([]string{"efficiency", "--format", "json"}, args...)...))
	var e efficiencyJSON
	if err := json.Unmarshal([]byte(out), &e); err != nil {
		t.Fatalf("efficiency --format json: %v\n%s", err, out)
	}
	return e
}

func TestEfficiency(t *testing.T) {
	forEachDaemon(t, func(t *testing.T, d daemon) {
		const img = "docker-layers-fixture:latest"
		saved := []byte(must(t, d.docker(t, "save", img)))
		ref := referenceEfficiency(t, savedLayers(t, saved))

		got := d.efficiency(t, img)
		if got.Base != 1 {
			t.Errorf("base %d, want dive's 1", got.Base)
		}
		ref.check(t, got, 1)

		// --base by tag: the base image is the layers of
		// docker-layers-fixture:base; also from the saved archive.
		baseLayers := len(diffIDs(t, d, "docker-layers-fixture:base"))
		archive := filepath.Join(t.TempDir(), "saved.tar")
		if err := os.WriteFile(archive, saved, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{
			{img, "--base", "docker-layers-fixture:base", "--top", "1", "--no-trunc", "-H=false", "--tmpdir", t.TempDir(), "--platform", "linux/amd64"},
			{"--input", archive, "--base", strconv.Itoa(baseLayers - 1)},
		} {
			got := d.efficiency(t, args...)
			if got.Base != baseLayers {
				t.Errorf("%v: base %d, want %d", args, got.Base, baseLayers)
			}
			ref.check(t, got, baseLayers)
		}

		// --path, and a template.
		out := must(t, d.plugin(t, "efficiency", img, "--path", "/app/data", "-H=false", "--format", "{{.StoredBytes}} {{.WastedBytes}} {{.DuplicatedBytes}}"))
		if want := "3784 1892 1892\n"; out != want { // numbers.txt, written by RUN 2 and again by RUN 6's chmod
			t.Errorf("--path /app/data: %q, want %q", out, want)
		}

		// The table, every flag.
		out = must(t, d.plugin(t, "efficiency", img, "--top", "2", "-H=false", "--no-trunc"))
		for _, want := range []string{"EFFICIENCY", "WASTED    STATE", "replaced   2,6       /app/data/numbers.txt", "more paths (--top 0 lists all)", "sha256:"} {
			if !strings.Contains(out, want) {
				t.Errorf("the table has no %q:\n%s", want, out)
			}
		}

		// The CI gate.
		dir := t.TempDir()
		write := func(name, s string) string {
			p := filepath.Join(dir, name)
			if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
				t.Fatal(err)
			}
			return p
		}
		for _, tc := range []struct {
			args []string
			code int
			want string // in stdout, or stderr for a failure
		}{
			{[]string{"--lowest-efficiency", "0.9"}, 4, "FAIL: highestUserWastedPercent"}, // dive's default 0.1 too
			{[]string{"--lowest-efficiency", "0.9", "--highest-user-wasted-percent", "disabled"}, 0, "Result: PASS"},
			{[]string{"--lowest-efficiency", "1", "--highest-user-wasted-percent", "1"}, 4, "FAIL: lowestEfficiency"},
			{[]string{"--highest-wasted-bytes", "1kB", "--highest-user-wasted-percent", "1"}, 4, "FAIL: highestWastedBytes"},
			{[]string{"--highest-wasted-bytes", "1MB", "--highest-user-wasted-percent", "1"}, 0, "PASS: highestWastedBytes"},
			{[]string{"--ci-config", write("pass.yml", "rules:\n  lowestEfficiency: 0.5\n  highestWastedBytes: 20MB\n  highestUserWastedPercent: 0.9\n")}, 0, "Result: PASS [Total:3] [Passed:3]"},
			{[]string{"--ci-config", write("fail.yml", "rules:\n  lowestEfficiency: 0.99999\n")}, 4, "rules failed: highestUserWastedPercent, lowestEfficiency"},
			{[]string{"--ci-config", write("fail.yml", "rules:\n  lowestEfficiency: 0.99999\n"), "--lowest-efficiency", "disabled", "--highest-user-wasted-percent", "disabled"}, 0, "SKIP: lowestEfficiency"},
			{[]string{"--ci-config", write("bad.yml", "rules:\n  lowestEfficiency: 95%\n")}, 1, "invalid rules in"},
			{[]string{"--ci-config", write("bad.yml", "rules: [")}, 1, "not YAML"},
			{[]string{"--lowest-efficiency", "1.5"}, 1, "outside the allowed range 0 to 1"},
			{[]string{"--lowest-efficiency", "-0.1"}, 1, "outside the allowed range 0 to 1"},
			{[]string{"--lowest-efficiency", "abc"}, 1, "not a ratio"},
		} {
			r := d.plugin(t, append([]string{"efficiency", img}, tc.args...)...)
			text := r.stdout
			if r.code != 0 {
				text = r.stderr + r.stdout
			}
			if r.code != tc.code || !strings.Contains(text, tc.want) {
				t.Errorf("%v: want exit %d and %q, got %s", tc.args, tc.code, tc.want, r)
			}
			if r.code != 0 && strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
				t.Errorf("%v: stderr is not one line: %q", tc.args, r.stderr)
			}
		}
		// Without --ci-config, ./.dive-ci is read when rules are checked.
		inDir := func(args ...string) (string, int) {
			cmd := exec.Command(binary, args...)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "DOCKER_HOST="+d.host, "DOCKER_CONFIG="+pluginConfig, "DOCKER_CONTEXT=")
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				return string(out), ee.ExitCode()
			}
			if err != nil {
				t.Fatal(err)
			}
			return string(out), 0
		}
		write(".dive-ci", "rules:\n  lowestEfficiency: 0.99\n  highestUserWastedPercent: 0.5\n")
		if out, code := inDir("efficiency", img, "--ci"); code != 0 || !strings.Contains(out, "Result: PASS") {
			t.Errorf("--ci with ./.dive-ci: exit %d\n%s", code, out)
		}
		if out, code := inDir("efficiency", img); code != 0 || strings.Contains(out, "Rules:") {
			t.Errorf("without --ci or a rule, ./.dive-ci is not read: exit %d\n%s", code, out)
		}
		write(".dive-ci", "rules:\n  lowestEfficiency: nope\n")
		if out, code := inDir("efficiency", img, "--ci"); code != 1 || !strings.Contains(out, "invalid rules in .dive-ci") {
			t.Errorf("a malformed ./.dive-ci: exit %d %s", code, out)
		}
	})
}

// TestEfficiencyCrafted checks the figures of the crafted image of every
// kind of change (an opaque directory, whiteouts of files and a
// directory, chmod and chown rewrites) against the reference.
func TestEfficiencyCrafted(t *testing.T) {
	forEachDaemon(t, func(t *testing.T, d daemon) {
		const img = "docker-layers-e2e-efficiency:crafted"
		layers := diffLayers(t)
		d.load(t, loadArchive(t, img, layers))
		ref := referenceEfficiency(t, layers)
		ref.check(t, d.efficiency(t, img, "--top", "0"), 1)
		if got := d.efficiency(t, img); got.WastedBytes == 0 || len(got.Duplicates) == 0 {
			t.Errorf("the crafted image wastes %d bytes and has %d duplicates: the test checks nothing", got.WastedBytes, len(got.Duplicates))
		}
	})
}

// diveBinary finds dive (e2e/run.sh installs it): $DOCKER_LAYERS_DIVE, or
// dive in PATH. On CI a missing dive fails the test.
func diveBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("DOCKER_LAYERS_DIVE"); p != "" {
		return p
	}
	if p, err := exec.LookPath("dive"); err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("dive is missing: e2e/run.sh installs it (go install github.com/wagoodman/dive@v0.13.1)")
	}
	t.Skip("dive is missing: run the suite with e2e/run.sh, which installs it")
	return ""
}

// diveResult is what dive v0.13.1 reports of an archive.
type diveResult struct {
	Layer []struct {
		SizeBytes int64 `json:"sizeBytes"`
	} `json:"layer"`
	Image struct {
		SizeBytes        int64   `json:"sizeBytes"`
		InefficientBytes int64   `json:"inefficientBytes"`
		EfficiencyScore  float64 `json:"efficiencyScore"`
		FileReference    []struct {
			Count     int    `json:"count"`
			SizeBytes int64  `json:"sizeBytes"`
			File      string `json:"file"`
		} `json:"fileReference"`
	} `json:"image"`
	userWastedPercent float64 // from --ci's output, in percent
}

func runDive(t *testing.T, dive, archive string) diveResult {
	t.Helper()
	dir := t.TempDir()
	out := filepath.Join(dir, "dive.json")
	// dive reads ./.dive-ci in CI mode: run it in an empty directory.
	run := func(args ...string) string {
		cmd := exec.Command(dive, append([]string{"--source", "docker-archive", archive}, args...)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "CI=")
		b, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("dive: %v\n%s", err, b)
		}
		return string(b)
	}
	if s := run("--json", out); !fileExists(out) {
		t.Fatalf("dive wrote no %s:\n%s", out, s)
	}
	var res diveResult
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	ci := run("--ci", "--lowestEfficiency", "0", "--highestUserWastedPercent", "disabled")
	m := regexp.MustCompile(`userWastedPercent: ([0-9.]+) %`).FindStringSubmatch(ci)
	if m == nil {
		t.Fatalf("dive --ci printed no userWastedPercent:\n%s", ci)
	}
	res.userWastedPercent, _ = strconv.ParseFloat(m[1], 64)
	return res
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// TestEfficiencyDive compares our figures with dive's on the fixture.
// Where dive defines the figure as we do, they are equal; where dive's
// differs, each case is named and the documented relation checked.
func TestEfficiencyDive(t *testing.T) {
	dive := diveBinary(t)
	forEachDaemon(t, func(t *testing.T, d daemon) {
		crafted := "docker-layers-e2e-efficiency:crafted"
		d.load(t, loadArchive(t, crafted, diffLayers(t)))
		for _, img := range []string{"docker-layers-fixture:latest", crafted} {
			t.Run(img, func(t *testing.T) { diveCompare(t, d, dive, img) })
		}
	})
}

// diveCompare compares our figures of img with dive's.
func diveCompare(t *testing.T, d daemon, dive, img string) {
	{
		saved := []byte(must(t, d.docker(t, "save", img)))
		archive := filepath.Join(t.TempDir(), "saved.tar")
		if err := os.WriteFile(archive, saved, 0o644); err != nil {
			t.Fatal(err)
		}
		dv := runDive(t, dive, archive)
		ours := d.efficiency(t, "--input", archive)
		ref := referenceEfficiency(t, savedLayers(t, saved))

		// Equal: the image size (Σ tar header sizes), each layer's, and
		// the user size (every layer but layer 0), which dive's
		// userWastedPercent divides by.
		if dv.Image.SizeBytes != ours.StoredBytes {
			t.Errorf("image size: dive %d, ours %d", dv.Image.SizeBytes, ours.StoredBytes)
		}
		if len(dv.Layer) != len(ours.Layers) {
			t.Fatalf("dive has %d layers, we have %d", len(dv.Layer), len(ours.Layers))
		}
		for i, l := range dv.Layer {
			if l.SizeBytes != ours.Layers[i].StoredBytes {
				t.Errorf("layer %d size: dive %d, ours %d", i, l.SizeBytes, ours.Layers[i].StoredBytes)
			}
		}
		diveUserPct := float64(dv.Image.InefficientBytes) / float64(ours.UserBytes) * 100
		if math.Abs(diveUserPct-dv.userWastedPercent) > 0.0001 {
			t.Errorf("dive's userWastedPercent %.4f %% is not its wasted bytes over our user bytes (%.4f %%)", dv.userWastedPercent, diveUserPct)
		}

		// Wasted bytes, path by path. Case "replaced": dive counts every
		// copy of a path stored twice or more, the one the image still
		// shows too; ours counts the hidden copies: dive = ours + the
		// shown copy. Case "replaced by a hardlink" (/app/hello.txt, which
		// RUN 2's ln turns into a hardlink to the copied-up file): the
		// shown entry stores 0 bytes, so dive = ours. Case "deleted (a
		// whiteout of the file)": equal.
		shownSize := map[string]int64{}
		for p, i := range ref.final {
			if i >= 0 && !ref.links[p] {
				shownSize["/"+p] = ref.stored[i].size
			}
		}
		oursAt := map[string]int64{}
		for _, w := range ours.Wasted {
			oursAt[w.Path] = w.Bytes
		}
		diveAt := map[string]bool{}
		for _, f := range dv.Image.FileReference {
			if f.SizeBytes == 0 {
				continue // a path of empty files or directories
			}
			diveAt[f.File] = true
			if want := oursAt[f.File] + shownSize[f.File]; f.SizeBytes != want {
				t.Errorf("%s: dive counts %d bytes wasted, ours %d + the shown copy %d", f.File, f.SizeBytes, oursAt[f.File], shownSize[f.File])
			}
		}
		// Case "deleted with its directory" (/app/old in RUN 3, the
		// crafted image's d/): dive records the whiteout at the
		// directory's path only, seen once, and counts nothing; we count
		// the files. Case "hidden by an opaque directory" (the crafted
		// image's op/gone): dive ignores opaque markers.
		var missed []string
		for p := range oursAt {
			if diveAt[p] {
				continue
			}
			missed = append(missed, p)
			i := slices.IndexFunc(ref.stored, func(s storedRef) bool { return "/"+s.path == p && !ref.shown[slices.Index(ref.stored, s)] })
			if i < 0 || !ref.deletedByDir[i] {
				t.Errorf("%s: we count it wasted, dive does not, and it was not deleted with its directory nor hidden by an opaque one", p)
			}
		}
		sort.Strings(missed)
		t.Logf("dive: efficiency %.6f, wasted %d, user wasted %.4f %%; ours: efficiency %.6f, wasted %d, user wasted %.4f %%; deleted with their directory or by an opaque one, which dive misses: %v",
			dv.Image.EfficiencyScore, dv.Image.InefficientBytes, dv.userWastedPercent, ours.Efficiency, ours.WastedBytes, ours.UserWastedPercent*100, missed)

		// The score: dive's is Σ min / Σ cumulative size over every path
		// (each layer's entries, a whiteout of a directory counting the
		// subtree it hides, of a file 0). Ours is (stored - wasted) /
		// stored. They differ where a rewrite grows a file (dive keeps the
		// smaller size), where a file is deleted and re-created, and where
		// a directory is deleted; check that dive's is what its own
		// definition gives, so that the difference is only that.
		var minSum, cumSum int64
		for _, occ := range ref.occ {
			minSum += slices.Min(occ)
			for _, s := range occ {
				cumSum += s
			}
		}
		if want := float64(minSum) / float64(cumSum); math.Abs(dv.Image.EfficiencyScore-want) > 1e-12 {
			t.Errorf("dive's efficiency %v is not Σ min / Σ cumulative = %d / %d = %v", dv.Image.EfficiencyScore, minSum, cumSum, want)
		}
	}
}
