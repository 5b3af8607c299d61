package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// The OCI sources are written by real skopeo (1.9, Debian bookworm's;
// e2e/daemons/install.sh installs it) from each daemon's `docker save` archive.
// What it writes, for every daemon's archive alike:
//
//   - index.json: one application/vnd.oci.image.manifest.v1+json descriptor
//     whose only annotation is org.opencontainers.image.ref.name, the REF of
//     oci:DIR:REF (no io.containerd.image.name, no platform); oci-layout is
//     {"imageLayoutVersion": "1.0.0"}.
//   - the manifest: application/vnd.oci.image.manifest.v1+json, no annotations.
//   - the config: application/vnd.oci.image.config.v1+json, rewritten, so its
//     digest is not the image ID: rootfs.diff_ids and history are kept, the
//     Docker-only fields (container, container_config, docker_version, empty
//     Config fields) are dropped.
//   - the layers: application/vnd.oci.image.layer.v1.tar+gzip, all of them.
//     skopeo compresses the uncompressed layers of the legacy and oci daemons
//     and recompresses the containerd store's own gzip blobs, so no layer blob
//     is a daemon's.
//   - oci-archive:FILE is the same layout in a tar, blobs/ first, index.json
//     after them. It may hold blobs that nothing names (a first run, with an
//     empty blob-info cache, left other encodings of three layers), so the
//     tests find the blobs they break through index.json and the manifest,
//     never by listing blobs/.
//
// skopeo copy --all of the crafted multi-platform archive copies its blobs
// unchanged (the same digests, gzip layers), so the nested index stays:
// index.json names the image index (with only the ref.name annotation) that
// names one manifest per platform.
//
// skopeo's docker-daemon: source asks for API version 1.22, which Docker 26.1
// refuses ("minimum supported API version is 1.24"), so the sources come from
// docker save.

// needSkopeo skips the test when skopeo is missing, and fails it on CI.
func needSkopeo(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("skopeo"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("skopeo is missing (e2e/daemons/install.sh installs it): %v", err)
		}
		t.Skipf("skopeo is missing (run e2e/daemons/install.sh): %v", err)
	}
}

// skopeo runs skopeo copy; --insecure-policy so that no system policy.json is
// needed, --tmpdir so that oci-archive's unpacked copy stays in the test's own
// directory.
func skopeo(t *testing.T, args ...string) {
	t.Helper()
	must(t, runCmd(t, nil, nil, "skopeo", append([]string{"--insecure-policy", "--tmpdir", t.TempDir(), "copy", "-q"}, args...)...))
}

// offline runs docker-layers standalone against a socket that does not exist: a
// source that needs no daemon must not ask one.
func offline(t *testing.T, args ...string) result {
	t.Helper()
	return runCmd(t, offlineEnv(), nil, binary, args...)
}

func offlineEnv() []string {
	return []string{"DOCKER_HOST=unix:///nonexistent/docker-layers-e2e.sock", "DOCKER_CONFIG=" + pluginConfig, "DOCKER_CONTEXT="}
}

// ociSources is one image of a daemon as every source reads it.
type ociSources struct {
	img     string
	saved   string // docker save of img
	dir     string // skopeo copy docker-archive:saved oci:dir:TAG
	archive string // skopeo copy docker-archive:saved oci-archive:archive:TAG
}

func (d daemon) ociSources(t *testing.T, img string) ociSources {
	t.Helper()
	tmp := t.TempDir()
	s := ociSources{img: img, saved: filepath.Join(tmp, "saved.tar"), dir: filepath.Join(tmp, "layout"), archive: filepath.Join(tmp, "oci.tar")}
	must(t, d.docker(t, "save", "-o", s.saved, img))
	skopeo(t, "docker-archive:"+s.saved, "oci:"+s.dir+":"+tagOf(img))
	skopeo(t, "docker-archive:"+s.saved, "oci-archive:"+s.archive+":"+tagOf(img))
	return s
}

// ociSource is one way of naming an image that is not the daemon's.
type ociSource struct {
	name string
	args []string // before the command's other arguments
}

// forms are the ways of naming s's image from its files.
func (s ociSources) forms() []ociSource {
	ref := tagOf(s.img)
	return []ociSource{
		{"--input layout dir", []string{"--input", s.dir}},
		{"--input oci archive", []string{"--input", s.archive}},
		{"oci:DIR:REF", []string{"oci:" + s.dir + ":" + ref}},
		{"oci:DIR", []string{"oci:" + s.dir}},
		{"oci-archive:FILE:REF", []string{"oci-archive:" + s.archive + ":" + ref}},
		{"docker-archive:FILE:REF", []string{"docker-archive:" + s.saved + ":" + s.img}},
	}
}

// outputOf runs a command that writes -o FILE, and returns the file's bytes.
func outputOf(t *testing.T, run func(t *testing.T, args ...string) result, args ...string) (string, result) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out.tar")
	r := run(t, append(args, "-o", out)...)
	if r.code != 0 {
		return "", r
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), r
}

// sameBytes reports how two extracts differ, if they do.
func sameBytes(t *testing.T, what, got, want string) {
	t.Helper()
	if got == want {
		return
	}
	diff := diffTrees(readTree(t, strings.NewReader(got)), readTree(t, strings.NewReader(want)))
	t.Errorf("%s: %d bytes, the daemon's %d; the trees differ:\n%s", what, len(got), len(want), diff)
}

// TestOCI reads one fixture image of every daemon from skopeo's OCI layout and
// OCI archive of it, with --input and with the transport prefixes, and checks
// every command against the daemon path; squashes it without a daemon; and
// breaks the layout.
//
// A broken layout is read without a daemon, and skopeo writes the same
// structure from every daemon's archive: the first daemon's layout is broken,
// not every one's.
func TestOCI(t *testing.T) {
	needSkopeo(t)
	broken := false
	forEachDaemon(t, func(t *testing.T, d daemon) {
		img := "docker-layers-fixture:latest"
		s := d.ociSources(t, img)
		t.Run("extract", func(t *testing.T) { d.checkOCIExtract(t, s) })
		t.Run("inspect diff cat", func(t *testing.T) { d.checkOCIReads(t, s) })
		t.Run("two images", func(t *testing.T) { d.checkOCITwoImages(t) })
		t.Run("squash", func(t *testing.T) { d.checkOCISquash(t, s) })
		if !broken {
			broken = true
			t.Run("broken layout", func(t *testing.T) { d.checkOCIBroken(t, s) })
		}
	})
}

// checkOCIExtract: every source gives the daemon path's bytes, written to a
// file, for the whole image (the OCI archive also on stdin and
// gzip-compressed); a layout, an archive and a prefix for layer ranges.
func (d daemon) checkOCIExtract(t *testing.T, s ociSources) {
	for i, spec := range [][]string{nil, {"-l", "2:-1"}, {"-l", "-1"}, {"-l", "0:3"}} {
		want, r := outputOf(t, d.plugin, append([]string{"extract", s.img}, spec...)...)
		if r.code != 0 {
			t.Fatalf("extract %s %v: %s", s.img, spec, r)
		}
		forms := s.forms()
		if i > 0 {
			forms = forms[:3]
		}
		for _, src := range forms {
			got, r := outputOf(t, offline, append(append([]string{"extract"}, src.args...), spec...)...)
			if r.code != 0 {
				t.Errorf("extract %s %v: %s", src.name, spec, r)
				continue
			}
			sameBytes(t, "extract "+src.name+" "+strings.Join(spec, " "), got, want)
		}
		if i == 0 {
			// The OCI archive on stdin, and gzip-compressed.
			data, err := os.ReadFile(s.archive)
			if err != nil {
				t.Fatal(err)
			}
			if r := runCmd(t, offlineEnv(), data, binary, "extract", "--input", "-", "-o", "-"); r.code != 0 {
				t.Errorf("extract --input - < oci.tar: %s", r)
			} else {
				sameBytes(t, "extract --input - < oci.tar", r.stdout, want)
			}
			var gz bytes.Buffer
			zw := gzip.NewWriter(&gz)
			_, _ = zw.Write(data)
			if err := zw.Close(); err != nil {
				t.Fatal(err)
			}
			name := filepath.Join(t.TempDir(), "oci.tar.gz")
			if err := os.WriteFile(name, gz.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			if got, r := outputOf(t, offline, "extract", "--input", name); r.code != 0 {
				t.Errorf("extract --input oci.tar.gz: %s", r)
			} else {
				sameBytes(t, "extract --input oci.tar.gz", got, want)
			}
		}
		if i > 1 {
			continue
		}
		// The daemon, named with its transport, and an OCI source through the
		// docker CLI.
		if r := d.standalone(t, append([]string{"extract", "docker-daemon:" + s.img, "-o", "-"}, spec...)...); r.code != 0 {
			t.Errorf("extract docker-daemon:%s %v: %s", s.img, spec, r)
		} else {
			sameBytes(t, "extract docker-daemon: "+strings.Join(spec, " "), r.stdout, want)
		}
		if r := d.plugin(t, append([]string{"extract", "oci:" + s.dir + ":" + tagOf(s.img), "-o", "-"}, spec...)...); r.code != 0 {
			t.Errorf("docker layers extract oci:DIR:REF %v: %s", spec, r)
		} else {
			sameBytes(t, "docker layers extract oci:DIR:REF "+strings.Join(spec, " "), r.stdout, want)
		}
	}
}

// checkOCIReads: inspect, diff and cat show from the OCI sources what they show
// from the daemon.
func (d daemon) checkOCIReads(t *testing.T, s ociSources) {
	const rowFormat = "{{.Index}}|{{.DiffID}}|{{.CreatedBy}}"
	q := must(t, d.plugin(t, "inspect", "-q", "--no-trunc", s.img))
	if n := len(strings.Fields(q)); n != 7 {
		t.Fatalf("the daemon shows %d layers of %s, want 7:\n%s", n, s.img, q)
	}
	rowsWant := must(t, d.plugin(t, "inspect", "--no-trunc", "--format", rowFormat, s.img))
	diffWant := must(t, d.plugin(t, "diff", "-H=false", "--format", diffRowFormat, s.img))
	cats := map[string]string{"/app/old/three.txt": "three, recreated\n", "/app/conf/numbers-link/README": "now a directory\n"}
	// extract reads the other forms: a bare oci:DIR and
	// docker-archive:FILE:REF.
	for _, src := range slices.DeleteFunc(s.forms(), func(f ociSource) bool { return f.name == "oci:DIR" || f.name == "docker-archive:FILE:REF" }) {
		t.Run(src.name, func(t *testing.T) {
			run := func(args ...string) (string, bool) {
				t.Helper()
				cmd := append([]string{args[0]}, src.args...)
				r := offline(t, append(cmd, args[1:]...)...)
				if r.code != 0 {
					t.Errorf("%s %v: %s", args[0], src.args, r)
					return "", false
				}
				return r.stdout, true
			}
			if got, ok := run("inspect", "-q", "--no-trunc"); ok && got != q {
				t.Errorf("inspect -q --no-trunc shows\n%sthe daemon\n%s", got, q)
			}
			if got, ok := run("inspect", "--no-trunc", "--format", rowFormat); ok && got != rowsWant {
				t.Errorf("inspect rows\n%sthe daemon's\n%s", got, rowsWant)
			}
			if got, ok := run("diff", "-H=false", "--format", diffRowFormat); ok {
				checkLines(t, "diff", got, lines(diffWant))
			}
			for _, p := range slices.Sorted(maps.Keys(cats)) {
				if got, ok := run("cat", p); ok && got != cats[p] {
					t.Errorf("cat %s = %q, want %q", p, got, cats[p])
				}
			}
			// A file that only the lower, unselected layers hold is not found.
			cmd := append(append([]string{"cat", "-l", "-1"}, src.args...), "/app/hello.txt")
			if r := offline(t, cmd...); r.code != 2 {
				t.Errorf("cat -l -1 of a lower layer's file: want exit 2, got %s", r)
			}
		})
	}
	if r := d.plugin(t, "cat", "-l", "-1", s.img, "/app/hello.txt"); r.code != 2 {
		t.Errorf("the daemon path: cat -l -1 of a lower layer's file: want exit 2, got %s", r)
	}
	for p, want := range cats {
		if got := must(t, d.plugin(t, "cat", s.img, p)); got != want {
			t.Errorf("the daemon path: cat %s = %q, want %q", p, got, want)
		}
	}
}

// checkOCITwoImages: REF picks one image of a layout, or of a docker save
// archive, that holds two.
func (d daemon) checkOCITwoImages(t *testing.T) {
	tmp := t.TempDir()
	saved, layout := filepath.Join(tmp, "two.tar"), filepath.Join(tmp, "two")
	latest, mid := "docker-layers-fixture:latest", "docker-layers-fixture:mid"
	must(t, d.docker(t, "save", "-o", saved, latest, mid))
	for _, img := range []string{latest, mid} {
		skopeo(t, "docker-archive:"+saved+":"+img, "oci:"+layout+":"+tagOf(img))
	}
	// skopeo's oci-archive: rewrites its file: the archive of two images is the
	// layout's.
	archive := archiveLayout(t, layout)
	for _, img := range []string{latest, mid} {
		want := must(t, d.plugin(t, "extract", img, "-o", "-"))
		for _, src := range []string{"oci:" + layout + ":" + tagOf(img), "docker-archive:" + saved + ":" + img} {
			if r := offline(t, "extract", src, "-o", "-"); r.code != 0 {
				t.Errorf("extract %s: %s", src, r)
			} else {
				sameBytes(t, "extract "+src, r.stdout, want)
			}
		}
		q := must(t, d.plugin(t, "inspect", "-q", "--no-trunc", img))
		src := "oci-archive:" + archive + ":" + tagOf(img)
		if r := offline(t, "inspect", "-q", "--no-trunc", src); r.code != 0 || r.stdout != q {
			t.Errorf("inspect %s: %s\nthe daemon shows\n%s", src, r, q)
		}
	}
	// A REF that names no image of the layout, or none for a layout of two, is
	// an error.
	for _, src := range []string{"oci:" + layout + ":nope", "oci:" + layout} {
		errorExit(t, "inspect "+src+" (which image?)", offline(t, "inspect", "-q", src), "")
	}
}

// checkOCISquash: squash reads a docker save archive and the OCI sources with
// no daemon and writes a docker load archive; every daemon loads it, and the
// loaded image has the original's file system.
func (d daemon) checkOCISquash(t *testing.T, s ociSources) {
	orig := d.exportTree(t, s.img)
	origIDs := diffIDs(t, d, s.img)
	sameFS := func(t *testing.T, e daemon, img string) {
		t.Helper()
		got, want := e.exportTree(t, img), maps.Clone(orig)
		dropExportAdds(got, want)
		if diff := diffTrees(got, want); diff != "" {
			t.Errorf("%s on the %s daemon: docker export differs from %s's on the %s daemon:\n%s", img, e.kind, s.img, d.kind, diff)
		}
	}
	tmp := t.TempDir()

	// From the docker save archive, layers 1 to the top, loaded on every
	// daemon.
	out := filepath.Join(t.TempDir(), "squashed.tar")
	tag := "dl-oci-squash:" + d.kind + "-saved"
	r := offline(t, "squash", "--input", s.saved, "-l", "1:-1", "-t", tag, "-o", out, "--tmpdir", tmp)
	if r.code != 0 {
		t.Fatalf("squash --input saved.tar: %s", r)
	}
	assertEmpty(t, tmp)
	for _, e := range daemons(t) {
		t.Run("docker load on "+e.kind, func(t *testing.T) {
			defer e.docker(t, "rmi", tag)
			if loaded := must(t, e.docker(t, "load", "-i", out)); !strings.Contains(loaded, tag) {
				t.Fatalf("docker load -i: %s", loaded)
			}
			ids := diffIDs(t, e, tag)
			if len(ids) != 2 || ids[0] != origIDs[0] {
				t.Errorf("the loaded image's layers are %v, want %s and the squashed one", ids, origIDs[0])
			}
			sameFS(t, e, tag)
			oc, nc := d.imageConfig(t, s.img), e.imageConfig(t, tag)
			for _, f := range []string{"Env", "Cmd", "WorkingDir", "Labels"} {
				if string(oc[f]) != string(nc[f]) {
					t.Errorf("config %s: got %s, want %s", f, nc[f], oc[f])
				}
			}
		})
	}

	// From the OCI layout and archive, loaded on this daemon.
	for _, tc := range []struct {
		name string
		args []string
		want []string // the loaded image's diff IDs, "" for the squashed one
	}{
		{"oci:DIR", []string{"oci:" + s.dir}, []string{""}},
		{"oci-archive:FILE:REF -l 2:4", []string{"oci-archive:" + s.archive + ":" + tagOf(s.img), "-l", "2:4"}, append(append(slices.Clone(origIDs[:2]), ""), origIDs[5:]...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tag := "dl-oci-squash:" + d.kind + "-" + strings.NewReplacer(":", "", " ", "-", "/", "").Replace(tc.name)
			out := filepath.Join(t.TempDir(), "squashed.tar")
			r := offline(t, append(append([]string{"squash"}, tc.args...), "-t", tag, "-o", out, "--tmpdir", tmp)...)
			if r.code != 0 {
				t.Fatalf("squash %v: %s", tc.args, r)
			}
			assertEmpty(t, tmp)
			defer d.docker(t, "rmi", tag)
			must(t, d.docker(t, "load", "-i", out))
			ids := diffIDs(t, d, tag)
			if len(ids) != len(tc.want) {
				t.Fatalf("the loaded image has the layers %v, want %d", ids, len(tc.want))
			}
			for i, id := range tc.want {
				if id != "" && ids[i] != id {
					t.Errorf("layer %d is %s, want the original's %s", i, ids[i], id)
				}
			}
			sameFS(t, d, tag)
		})
	}
}

// layoutImage reads the single image of an OCI layout: its manifest's, config's
// and layers' digests.
func layoutImage(t *testing.T, dir string) (manifest, config string, layers []string) {
	t.Helper()
	type desc struct{ MediaType, Digest string }
	var idx struct{ Manifests []desc }
	readJSON(t, filepath.Join(dir, "index.json"), &idx)
	if len(idx.Manifests) != 1 || idx.Manifests[0].MediaType != "application/vnd.oci.image.manifest.v1+json" {
		t.Fatalf("%s: index.json holds %+v, want one image manifest", dir, idx.Manifests)
	}
	var m struct {
		Config desc
		Layers []desc
	}
	manifest = idx.Manifests[0].Digest
	readJSON(t, blobPath(dir, manifest), &m)
	for _, l := range m.Layers {
		layers = append(layers, l.Digest)
	}
	return manifest, m.Config.Digest, layers
}

func readJSON(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func blobPath(dir, digest string) string {
	return filepath.Join(dir, "blobs", "sha256", strings.TrimPrefix(digest, "sha256:"))
}

// copyLayout copies an OCI layout directory.
func copyLayout(t *testing.T, from string) string {
	t.Helper()
	to := filepath.Join(t.TempDir(), "layout")
	must(t, runCmd(t, nil, nil, "cp", "-a", from, to))
	return to
}

// archiveLayout writes an OCI archive of a layout directory, blobs first, as
// skopeo does; symlinks stay symlinks.
func archiveLayout(t *testing.T, dir string) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "oci.tar")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	var last []string
	err = filepath.WalkDir(dir, func(p string, de fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "index.json" {
			last = append(last, p)
			return nil
		}
		return addFile(tw, p, rel)
	})
	for _, p := range last {
		if err == nil {
			err = addFile(tw, p, filepath.Base(p))
		}
	}
	if err == nil {
		err = tw.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	return name
}

func addFile(tw *tar.Writer, p, name string) error {
	fi, err := os.Lstat(p)
	if err != nil {
		return err
	}
	link := ""
	if fi.Mode()&fs.ModeSymlink != 0 {
		if link, err = os.Readlink(p); err != nil {
			return err
		}
	}
	h, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return err
	}
	h.Name = filepath.ToSlash(name)
	if fi.IsDir() {
		h.Name += "/"
	}
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return nil
	}
	r, err := os.Open(p)
	if err != nil {
		return err
	}
	defer r.Close()
	_, err = io.Copy(tw, r)
	return err
}

// errorExit checks that r is a runtime error (exit 2) told in one line on
// stderr that contains names.
func errorExit(t *testing.T, what string, r result, names string) {
	t.Helper()
	if r.code != 2 {
		t.Errorf("%s: want exit 2, got %s", what, r)
		return
	}
	if s := strings.TrimRight(r.stderr, "\n"); s == "" || strings.Contains(s, "\n") || !strings.Contains(s, names) {
		t.Errorf("%s: want one line on stderr naming %q, got %q", what, names, r.stderr)
	}
}

// checkOCIBroken: a broken layout is one error line and exit 2, with no output
// file and nothing left in --tmpdir, read as a directory, with oci:, and as an
// archive.
func (d daemon) checkOCIBroken(t *testing.T, s ociSources) {
	manifest, config, layers := layoutImage(t, s.dir)
	hexOf := func(digest string) string { return strings.TrimPrefix(digest, "sha256:")[:12] }
	remove := func(digest string) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			if err := os.Remove(blobPath(dir, digest)); err != nil {
				t.Fatal(err)
			}
		}
	}
	edit := func(digest string, f func(t *testing.T, b []byte) []byte) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			b, err := os.ReadFile(blobPath(dir, digest))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(blobPath(dir, digest), f(t, b), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Which commands must fail: inspect reads no layer.
	const (
		inspect = 1 << iota
		extract
		squash
	)
	own := strings.TrimSpace(must(t, d.docker(t, "image", "inspect", "--format", "{{.Os}}/{{.Architecture}}", s.img)))
	other := "linux/s390x"
	for _, tc := range []struct {
		name    string
		breakIt func(t *testing.T, dir string)
		args    []string // more flags
		cmds    int
		names   string // what the error line says
		archive bool   // also as an OCI archive
	}{
		{name: "missing layer blob", breakIt: remove(layers[3]), cmds: extract | squash, names: hexOf(layers[3]), archive: true},
		{name: "missing config blob", breakIt: remove(config), cmds: inspect | extract | squash, names: hexOf(config), archive: true},
		{name: "missing manifest blob", breakIt: remove(manifest), cmds: inspect | extract | squash, names: hexOf(manifest), archive: true},
		// The blob's size is the manifest's, its digest is not: only a digest
		// check sees it.
		{name: "layer blob with another digest, same size", cmds: extract | squash, names: hexOf(layers[3]), archive: true,
			breakIt: edit(layers[3], func(t *testing.T, b []byte) []byte {
				// The gzip header's MTIME: the same layer, inflated, and the
				// same size.
				if len(b) < 8 || b[0] != 0x1f || b[1] != 0x8b {
					t.Fatalf("layer %s is not gzip", layers[3])
				}
				b[4] ^= 0xff
				return b
			})},
		{name: "config blob with another digest, same size", cmds: inspect | extract | squash, names: hexOf(config), archive: true,
			breakIt: edit(config, func(t *testing.T, b []byte) []byte {
				if !bytes.Contains(b, []byte("/bin/sh")) {
					t.Fatalf("config %s has no /bin/sh", config)
				}
				return bytes.Replace(b, []byte("/bin/sh"), []byte("/bin/SH"), 1)
			})},
		{name: "layer blob of another size", cmds: extract | squash, names: hexOf(layers[3]), archive: true,
			breakIt: edit(layers[3], func(t *testing.T, b []byte) []byte { return append(b, 0) })},
		{name: "truncated layer blob", cmds: extract | squash, names: hexOf(layers[0]), archive: true,
			breakIt: edit(layers[0], func(t *testing.T, b []byte) []byte { return b[:len(b)/2] })},
		// The right bytes, outside the layout: never read.
		{name: "layer blob a symlink out of the layout", cmds: extract | squash, names: hexOf(layers[3]),
			breakIt: func(t *testing.T, dir string) {
				p := blobPath(dir, layers[3])
				outside := filepath.Join(t.TempDir(), "blob")
				if err := os.Rename(p, outside); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(outside, p); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "config blob a relative symlink out of the layout", cmds: inspect | extract | squash, names: hexOf(config),
			breakIt: func(t *testing.T, dir string) {
				p := blobPath(dir, config)
				outside := filepath.Join(filepath.Dir(dir), "config-outside")
				if err := os.Rename(p, outside); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink("../../../config-outside", p); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "blobs/sha256 a symlink out of the layout", cmds: inspect | extract | squash,
			breakIt: func(t *testing.T, dir string) {
				p := filepath.Join(dir, "blobs", "sha256")
				outside := filepath.Join(t.TempDir(), "sha256")
				if err := os.Rename(p, outside); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(outside, p); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "not a layout", cmds: inspect | extract | squash, archive: true,
			breakIt: func(t *testing.T, dir string) {
				for _, name := range []string{"index.json", "oci-layout"} {
					if err := os.Remove(filepath.Join(dir, name)); err != nil {
						t.Fatal(err)
					}
				}
			}},
		{name: "absent platform", args: []string{"--platform", other}, cmds: inspect | extract | squash, archive: true,
			names: "has no " + other + ": its only platform is " + own, breakIt: func(*testing.T, string) {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyLayout(t, s.dir)
			tc.breakIt(t, dir)
			srcs := []ociSource{{"--input DIR", []string{"--input", dir}}, {"oci:DIR", []string{"oci:" + dir}}}
			if tc.archive {
				a := archiveLayout(t, dir)
				srcs = append(srcs, ociSource{"--input ARCHIVE", []string{"--input", a}}, ociSource{"oci-archive:FILE", []string{"oci-archive:" + a}})
			}
			for _, src := range srcs {
				outDir, tmp := t.TempDir(), t.TempDir()
				out := filepath.Join(outDir, "out.tar")
				var runs [][]string
				if tc.cmds&inspect != 0 {
					runs = append(runs, []string{"inspect", "--no-trunc"})
				}
				if tc.cmds&extract != 0 {
					runs = append(runs, []string{"extract", "-o", out, "--tmpdir", tmp})
				}
				if tc.cmds&squash != 0 {
					runs = append(runs, []string{"squash", "-t", "dl-oci-broken:never", "-o", out, "--tmpdir", tmp})
				}
				for _, cmd := range runs {
					args := append(append(slices.Clone(cmd), src.args...), tc.args...)
					errorExit(t, cmd[0]+" "+src.name, offline(t, args...), tc.names)
					assertEmpty(t, outDir, tmp)
				}
			}
		})
	}
}

// TestOCIMultiPlatformLayout reads the crafted two-platform image from skopeo's
// OCI layout and archive of it (skopeo copy --all of the archive ociArchive
// writes, as docker load reads it), with --platform; an absent platform is one
// line that lists the layout's. It needs no daemon.
func TestOCIMultiPlatformLayout(t *testing.T) {
	needSkopeo(t)
	imgs := multiPlatformImages(t)
	amd, arm := imgs[0], imgs[1]
	tmp := t.TempDir()
	crafted, layout, archive := filepath.Join(tmp, "crafted.tar"), filepath.Join(tmp, "layout"), filepath.Join(tmp, "oci.tar")
	if err := os.WriteFile(crafted, ociArchive(t, multiImage, imgs), 0o644); err != nil {
		t.Fatal(err)
	}
	skopeo(t, "--all", "oci-archive:"+crafted+":latest", "oci:"+layout+":latest")
	skopeo(t, "--all", "oci:"+layout+":latest", "oci-archive:"+archive+":latest")
	srcs := []ociSource{
		{"--input layout dir", []string{"--input", layout}},
		{"--input oci archive", []string{"--input", archive}},
		{"oci:DIR:REF", []string{"oci:" + layout + ":latest"}},
		{"oci-archive:FILE:REF", []string{"oci-archive:" + archive + ":latest"}},
	}
	for _, src := range srcs {
		t.Run(src.name, func(t *testing.T) {
			for _, tc := range []struct {
				flag string
				img  platformImage
			}{{"linux/arm64", arm}, {"linux/arm64/v8", arm}, {"linux/amd64", amd}} {
				r := offline(t, append([]string{"inspect", "-q", "--no-trunc", "--platform", tc.flag}, src.args...)...)
				if want := reversed(tc.img.diffIDs()); r.code != 0 || r.stdout != want {
					t.Errorf("inspect --platform %s: %s\nwant\n%s", tc.flag, r, want)
				}
				r = offline(t, append([]string{"extract", "-o", "-", "--platform", tc.flag}, src.args...)...)
				if r.code != 0 {
					t.Errorf("extract --platform %s: %s", tc.flag, r)
				} else if diff := diffTrees(readTree(t, strings.NewReader(r.stdout)), reference(t, tc.img.layers)); diff != "" {
					t.Errorf("extract --platform %s differs from its layers:\n%s", tc.flag, diff)
				}
			}
			if runtime.GOARCH == "amd64" {
				r := offline(t, append([]string{"inspect", "-q", "--no-trunc"}, src.args...)...)
				if want := reversed(amd.diffIDs()); r.code != 0 || r.stdout != want {
					t.Errorf("inspect without --platform on an amd64 host: %s\nwant linux/amd64's\n%s", r, want)
				}
			}
			outDir, spool := t.TempDir(), t.TempDir()
			out := filepath.Join(outDir, "out.tar")
			for _, cmd := range [][]string{
				{"inspect"},
				{"extract", "-o", out, "--tmpdir", spool},
				{"squash", "-t", "dl-oci-broken:never", "-o", out, "--tmpdir", spool},
			} {
				r := offline(t, append(append(cmd, "--platform", "linux/s390x"), src.args...)...)
				errorExit(t, cmd[0]+" --platform linux/s390x", r, "has no linux/s390x: available platforms are linux/amd64, linux/arm64")
			}
			assertEmpty(t, outDir, spool)
		})
	}
}
