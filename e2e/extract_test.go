package e2e

import (
	"archive/tar"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// exportTree is the daemon's own flatten of img: docker create + export.
func (d daemon) exportTree(t *testing.T, img string) tree {
	t.Helper()
	// Docker 26.1's containerd image store sometimes answers "Unable to
	// find image" for an image that docker load has just re-tagged (seen
	// once in dozens of runs; the image is there a moment later). Retry
	// that answer, and say so.
	var r result
	for attempt := 1; ; attempt++ {
		r = d.docker(t, "create", "--network", "none", img)
		if r.code == 0 || attempt == 3 || !strings.Contains(r.stderr, "Unable to find image") {
			break
		}
		t.Logf("docker create %s, attempt %d: the daemon did not find the image; retrying: %s", img, attempt, r.stderr)
		time.Sleep(time.Second)
	}
	id := strings.TrimSpace(must(t, r))
	defer d.docker(t, "rm", "-f", id)
	r = runCmd(t, []string{"DOCKER_HOST=" + d.host, "DOCKER_CONTEXT="}, nil, "docker", "export", id)
	if r.code != 0 {
		t.Fatalf("docker export: %s", r)
	}
	return readTree(t, strings.NewReader(r.stdout))
}

// extractTree runs docker layers extract to stdout and reads the result.
func (d daemon) extractTree(t *testing.T, args ...string) tree {
	t.Helper()
	r := d.plugin(t, append([]string{"extract", "-o", "-"}, args...)...)
	if r.code != 0 {
		t.Fatalf("extract %v: %s", args, r)
	}
	return readTree(t, strings.NewReader(r.stdout))
}

// checkSpilledIndex checks that extract gives the same bytes (plain, with
// --keep-whiteouts, and filtered) when its index spills to disk from the first
// layer on and is merged in buckets of a few records
// (the hidden --index-entries flag), as for an image of many files.
func (d daemon) checkSpilledIndex(t *testing.T, img string) {
	t.Helper()
	env := []string{"DOCKER_HOST=" + d.host, "DOCKER_CONFIG=" + pluginConfig, "DOCKER_CONTEXT="}
	for _, args := range [][]string{{img}, {"--keep-whiteouts", img}, {"--include", "*/*", "--exclude", "*/[a-l]*", img}} {
		args = append([]string{"layers", "extract", "-o", "-"}, args...)
		inMemory := runCmd(t, env, nil, "docker", args...)
		spilled := runCmd(t, env, nil, "docker", append([]string{"layers", "extract", "--index-entries", "3"}, args[2:]...)...)
		if inMemory.code != 0 || spilled.code != 0 {
			t.Fatalf("extract %v: in memory: %s\nspilled: %s", args, inMemory, spilled)
		}
		if inMemory.stdout != spilled.stdout {
			if diff := diffTrees(readTree(t, strings.NewReader(spilled.stdout)), readTree(t, strings.NewReader(inMemory.stdout))); diff != "" {
				t.Errorf("extract %v with the index spilled differs from the index in memory:\n%s", args, diff)
			} else {
				t.Errorf("extract %v with the index spilled gives other bytes than the index in memory", args)
			}
		}
	}
}

// crafted is an image written by the test and loaded with docker load, for
// cases a Dockerfile cannot make easily.
type crafted struct {
	tag    string
	layers func(t *testing.T) [][]entry
	// departs says why Docker's own flatten departs from the OCI rules for
	// this image; the test then judges against the in-test reference.
	departs string
}

func wh(name string) entry { return file(name, "") }

func craftedImages() []crafted {
	return []crafted{
		{tag: "opaque", layers: func(*testing.T) [][]entry {
			return [][]entry{
				{dir("d"), file("d/a", "a"), dir("d/sub"), file("d/sub/b", "b")},
				{dir("d"), wh("d/.wh..wh..opq"), file("d/c", "c")},
			}
		}},
		{tag: "recreate", layers: func(*testing.T) [][]entry {
			return [][]entry{
				{dir("x"), file("x/1", "one"), file("keep", "k")},
				{wh(".wh.x")},
				{dir("x"), file("x/2", "two")},
			}
		}},
		{tag: "hardlink-deleted", layers: func(*testing.T) [][]entry {
			return [][]entry{
				{file("f", "original bytes"), hardlink("l", "f")},
				{wh(".wh.f")},
			}
		}},
		{tag: "long-names", layers: func(*testing.T) [][]entry {
			long := strings.Repeat("d", 120) + "/" + strings.Repeat("n", 250)
			return [][]entry{{dir(strings.Repeat("d", 120)), file(long, "long"), symlink("ln", long)}}
		}},
		{tag: "ids-and-modes", layers: func(*testing.T) [][]entry {
			big := file("big", "owned")
			big.hdr.Uid, big.hdr.Gid, big.hdr.Uname, big.hdr.Gname = 2000000000, 2000000001, "", ""
			suid := file("suid", "x")
			suid.hdr.Mode = 0o4755
			sticky := dir("tmp")
			sticky.hdr.Mode = 0o1777
			return [][]entry{{big, suid, sticky}}
		}},
		{tag: "devices", layers: func(*testing.T) [][]entry {
			return [][]entry{{dir("dev2"),
				{hdr: tar.Header{Typeflag: tar.TypeChar, Name: "dev2/null", Mode: 0o666, Devmajor: 1, Devminor: 3}},
				{hdr: tar.Header{Typeflag: tar.TypeBlock, Name: "dev2/loop9", Mode: 0o660, Devmajor: 7, Devminor: 9}},
				{hdr: tar.Header{Typeflag: tar.TypeFifo, Name: "dev2/fifo", Mode: 0o644}},
			}}
		}},
		{tag: "many-files", layers: func(*testing.T) [][]entry {
			es := []entry{dir("many")}
			for i := range 20000 {
				if i%1000 == 0 {
					es = append(es, dir(fmt.Sprintf("many/%02d", i/1000)))
				}
				es = append(es, file(fmt.Sprintf("many/%02d/f%05d", i/1000, i), fmt.Sprint(i)))
			}
			return [][]entry{es, {wh("many/00/.wh.f00000"), file("many/01/f01001", "changed")}}
		}},
		{tag: "big-file", layers: func(*testing.T) [][]entry {
			b := make([]byte, 64<<20)
			for i := range b {
				b[i] = byte(i*7 + i>>13)
			}
			return [][]entry{{file("big.bin", string(b))}, {file("small", "s")}}
		}},
		{tag: "xattrs", departs: "docker export writes only security.capability, not user.* xattrs", layers: func(*testing.T) [][]entry {
			f := file("tagged", "x")
			f.hdr.PAXRecords = map[string]string{"SCHILY.xattr.user.origin": "docker-layers"}
			return [][]entry{{f}}
		}},
		{tag: "whiteout-and-recreate-one-layer", departs: "Docker lets the lower d's children show through", layers: func(*testing.T) [][]entry {
			return [][]entry{
				{dir("d"), file("d/x", "lower"), file("d/y", "lower")},
				{wh(".wh.d"), dir("d"), file("d/z", "upper")},
			}
		}},
		{tag: "whiteout-missing-parent", departs: "Docker creates an empty nodir", layers: func(*testing.T) [][]entry {
			return [][]entry{{file("a", "a")}, {wh("nodir/.wh.ghost")}}
		}},
		{tag: "implicit-parent", departs: "overlay2 exports ip as 0755 root", layers: func(*testing.T) [][]entry {
			ip := dir("ip")
			ip.hdr.Mode, ip.hdr.Uid, ip.hdr.Gid = 0o700, 1000, 1000
			return [][]entry{{ip, file("ip/a", "a")}, {file("ip/b", "b")}}
		}},
		{tag: "lower-symlink", layers: func(*testing.T) [][]entry {
			// An upper layer writes below a lower layer's symlink: Docker
			// applies the layer into an empty directory, so sp/lnk becomes
			// a directory holding f, and the link's target is untouched.
			return [][]entry{
				{dir("usr"), dir("usr/lib"), file("usr/lib/y", "y"), dir("sp"), symlink("sp/lnk", "../usr/lib")},
				{file("sp/lnk/f", "upper")},
			}
		}},
		{tag: "lower-symlink-to-root", layers: func(*testing.T) [][]entry {
			// The hostile variant: nothing escapes, evil becomes a
			// directory and /etc/passwd is the lower one.
			return [][]entry{
				{dir("etc"), file("etc/passwd", "root:x:0:0::/root:/bin/sh\n"), symlink("evil", "/")},
				{file("evil/etc/passwd", "evil")},
			}
		}},
		{tag: "opaque-root", departs: "Docker hides nothing for an opaque marker at the root", layers: func(*testing.T) [][]entry {
			return [][]entry{{file("a", "a"), dir("b"), file("b/c", "c")}, {wh(".wh..wh..opq"), file("new", "n")}}
		}},
	}
}

var (
	craftOnce   sync.Once
	craftLayers map[string][][]byte
)

// craftedLayers builds every crafted image's layer tars once.
func craftedLayers(t *testing.T) map[string][][]byte {
	craftOnce.Do(func() {
		craftLayers = map[string][][]byte{}
		for _, c := range craftedImages() {
			for _, es := range c.layers(t) {
				craftLayers[c.tag] = append(craftLayers[c.tag], layerTar(t, es))
			}
		}
	})
	return craftLayers
}

// ensureCrafted loads the crafted image tag into the daemon unless it is
// there already, and returns its name.
func (d daemon) ensureCrafted(t *testing.T, tag string) string {
	t.Helper()
	img := "docker-layers-crafted:" + tag
	if d.docker(t, "image", "inspect", img).code != 0 {
		d.load(t, loadArchive(t, img, craftedLayers(t)[tag]))
	}
	return img
}

// TestExtractMatchesDockerExport is the differential test: extracting every
// layer must give what the daemon's own docker create + docker export
// gives, entry by entry, on every daemon; where Docker departs from the OCI
// rules (listed in craftedImages), the in-test reference judges.
func TestExtractMatchesDockerExport(t *testing.T) {
	forEachDaemon(t, func(t *testing.T, d daemon) {
		for _, img := range fixtures {
			t.Run(img, func(t *testing.T) {
				d.checkSpilledIndex(t, img)
				got, export := d.extractTree(t, img), d.exportTree(t, img)
				dropExportAdds(got, export)
				if diff := diffTrees(got, export); diff != "" {
					t.Errorf("extract differs from docker export:\n%s", diff)
				}
			})
		}
		layers := craftedLayers(t)
		for _, c := range craftedImages() {
			t.Run(c.tag, func(t *testing.T) {
				img := "docker-layers-crafted:" + c.tag
				d.load(t, loadArchive(t, img, layers[c.tag]))
				d.checkSpilledIndex(t, img)
				got := d.extractTree(t, img)
				want := reference(t, layers[c.tag])
				if c.departs == "" {
					export := d.exportTree(t, img)
					dropExportAdds(got, export)
					if diff := diffTrees(got, export); diff != "" {
						t.Errorf("extract differs from docker export:\n%s", diff)
					}
				} else {
					export := d.exportTree(t, img)
					dropExportAdds(tree{}, export)
					t.Logf("Docker departs from the OCI rules here (%s); judged by the reference. docker export vs reference:\n%s", c.departs, diffTrees(export, want))
				}
				if diff := diffTrees(got, want); diff != "" {
					t.Errorf("extract differs from the OCI reference:\n%s", diff)
				}
			})
		}
	})
}

// TestExtractSubRanges checks layer ranges against the reference.
func TestExtractSubRanges(t *testing.T) {
	forEachDaemon(t, func(t *testing.T, d daemon) {
		layers := [][]byte{
			layerTar(t, []entry{dir("etc"), file("etc/base", "base"), dir("lib"), file("lib/a", "a"), file("lib/b", "b")}),
			layerTar(t, []entry{dir("etc"), file("etc/one", "1"), wh("lib/.wh.a")}),
			layerTar(t, []entry{dir("lib"), wh("lib/.wh..wh..opq"), file("lib/c", "c"), file("etc/base", "changed")}),
			layerTar(t, []entry{wh("etc/.wh.one"), file("top", "t")}),
		}
		img := "docker-layers-crafted:ranges"
		d.load(t, loadArchive(t, img, layers))
		for _, tc := range []struct {
			spec   string
			lo, hi int
		}{{"0", 0, 0}, {"1:2", 1, 2}, {"-2:", 2, 3}, {"3", 3, 3}, {"2:0", 0, 2}} {
			got := d.extractTree(t, "-l", tc.spec, img)
			if diff := diffTrees(got, reference(t, layers[tc.lo:tc.hi+1])); diff != "" {
				t.Errorf("-l %s differs from the reference:\n%s", tc.spec, diff)
			}
		}
		// --keep-whiteouts writes a layer that, applied on layer 0, gives
		// layers 0 to 2.
		r := d.plugin(t, "extract", "-o", "-", "--keep-whiteouts", "-l", "1:2", img)
		if r.code != 0 {
			t.Fatal(r)
		}
		got := reference(t, [][]byte{layers[0], []byte(r.stdout)})
		if diff := diffTrees(got, reference(t, layers[:3])); diff != "" {
			t.Errorf("--keep-whiteouts layer does not squash layers 1:2:\n%s", diff)
		}
	})
}

// TestExtractCompressions checks every compression with the system tools.
func TestExtractCompressions(t *testing.T) {
	forEachDaemon(t, func(t *testing.T, d daemon) {
		dir := t.TempDir()
		img := "docker-layers-fixture:latest"
		plain := filepath.Join(dir, "plain.tar")
		must(t, d.plugin(t, "extract", img, "-o", plain))
		want, err := os.ReadFile(plain)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			args []string
			file string
			tool string
		}{
			{[]string{"-o"}, "out.tar.gz", "gzip"},
			{[]string{"-o"}, "out.tgz", "gzip"},
			{[]string{"-z", "--level", "9", "-o"}, "out.gzip-flag", "gzip"},
			{[]string{"-o"}, "out.tar.bz2", "bzip2"},
			{[]string{"-j", "-o"}, "out.bz2-flag", "bzip2"},
			{[]string{"-o"}, "out.tar.xz", "xz"},
			{[]string{"-J", "--level", "1", "-o"}, "out.xz-flag", "xz"},
			{[]string{"-o"}, "out.tar.zst", "zstd"},
			{[]string{"--zstd", "--level", "19", "-o"}, "out.zstd-flag", "zstd"},
			{[]string{"--compression", "gzip", "-o"}, "out.gz-by-name", "gzip"},
		} {
			out := filepath.Join(dir, tc.file)
			must(t, d.plugin(t, append(append([]string{"extract", img}, tc.args...), out)...))
			if b, err := exec.Command(tc.tool, "-t", out).CombinedOutput(); err != nil {
				t.Errorf("%s -t %s: %v: %s", tc.tool, tc.file, err, b)
				continue
			}
			dec, err := exec.Command(tc.tool, "-dc", out).Output()
			if err != nil || !bytes.Equal(dec, want) {
				t.Errorf("%s: decompressed output differs from the uncompressed extract (err %v)", tc.file, err)
			}
			if b, err := exec.Command("tar", "-tf", out).CombinedOutput(); err != nil {
				t.Errorf("tar -tf %s: %v: %s", tc.file, err, b)
			}
		}
		// A flag that disagrees with the extension warns and wins.
		r := d.plugin(t, "extract", img, "-z", "-o", filepath.Join(dir, "mismatch.tar.xz"))
		if r.code != 0 || !strings.Contains(r.stderr, "warning: writing gzip compression to") {
			t.Errorf("mismatch warning: %s", r)
		}
		if b, err := exec.Command("gzip", "-t", filepath.Join(dir, "mismatch.tar.xz")).CombinedOutput(); err != nil {
			t.Errorf("the flag did not win: %v %s", err, b)
		}
	})
}

// TestExtractInputMatchesDaemon checks that --input on a docker save
// archive, as a file and on stdin, gives the daemon path's bytes, for each
// daemon's save layout; and that inspect --input agrees too.
//
// The containerd store's layers are gzip: they are inflated by igzip (in
// PATH here: e2e/daemons/install.sh installs it) and, with
// DOCKER_LAYERS_IGZIP=0, by the built-in inflater, which must agree.
func TestExtractInputMatchesDaemon(t *testing.T) {
	if _, err := exec.LookPath("igzip"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("igzip is missing (e2e/daemons/install.sh installs it): %v", err)
		}
		t.Log("igzip is missing: both runs use the built-in inflater")
	}
	forEachDaemon(t, func(t *testing.T, d daemon) {
		dir := t.TempDir()
		img := "docker-layers-fixture:latest"
		saved := filepath.Join(dir, "saved.tar")
		must(t, d.docker(t, "save", "-o", saved, img))
		for _, spec := range []string{":", "2:-1", "-1"} {
			daemonOut := must(t, d.plugin(t, "extract", img, "-l", spec, "-o", "-"))
			builtin := must(t, runCmd(t, []string{"DOCKER_HOST=" + d.host, "DOCKER_CONFIG=" + pluginConfig, "DOCKER_CONTEXT=", "DOCKER_LAYERS_IGZIP=0"},
				nil, binary, "extract", img, "-l", spec, "-o", "-"))
			if builtin != daemonOut {
				t.Errorf("-l %s: the built-in inflater (%d bytes) and igzip (%d) differ", spec, len(builtin), len(daemonOut))
			}
			fileOut := must(t, d.standalone(t, "extract", "--input", saved, "-l", spec, "-o", "-"))
			data, err := os.ReadFile(saved)
			if err != nil {
				t.Fatal(err)
			}
			stdinOut := runCmd(t, nil, data, binary, "extract", "--input", "-", img, "-l", spec)
			if daemonOut != fileOut || daemonOut != stdinOut.stdout || stdinOut.code != 0 {
				t.Errorf("-l %s: daemon (%d bytes), --input file (%d), --input - (%d, %s) differ", spec, len(daemonOut), len(fileOut), len(stdinOut.stdout), stdinOut)
			}
		}
		q := must(t, d.standalone(t, "inspect", "-q", "--no-trunc", "--input", saved, img))
		if want := must(t, d.plugin(t, "inspect", "-q", "--no-trunc", img)); q != want {
			t.Errorf("inspect --input shows\n%s\nthe daemon\n%s", q, want)
		}
	})
}

// TestExtractOutputSafety: nothing partial and nothing temporary is ever
// left behind.
func TestExtractOutputSafety(t *testing.T) {
	forEachDaemon(t, func(t *testing.T, d daemon) {
		dir, tmp := t.TempDir(), t.TempDir()
		img := "docker-layers-fixture:latest"
		existing := filepath.Join(dir, "existing.tar")
		if err := os.WriteFile(existing, []byte("keep me"), 0o644); err != nil {
			t.Fatal(err)
		}
		r := d.plugin(t, "extract", img, "-o", existing, "--tmpdir", tmp)
		if r.code != 2 || !strings.Contains(r.stderr, "already exists; use --force") {
			t.Errorf("existing output: %s", r)
		}
		if b, _ := os.ReadFile(existing); string(b) != "keep me" {
			t.Errorf("existing output was changed")
		}
		must(t, d.plugin(t, "extract", img, "-o", existing, "--force", "--tmpdir", tmp))
		if tr := readTree(t, mustOpen(t, existing)); len(tr) < 100 {
			t.Errorf("--force wrote %d entries", len(tr))
		}
		r = d.plugin(t, "extract", "docker-layers-nope:latest", "-o", filepath.Join(dir, "never.tar"), "--tmpdir", tmp)
		if r.code != 2 {
			t.Errorf("missing image: %s", r)
		}
		r = d.plugin(t, "extract", img, "-l", "99", "-o", filepath.Join(dir, "never.tar"), "--tmpdir", tmp)
		if r.code != 3 {
			t.Errorf("bad spec: %s", r)
		}
		// A reader that goes away early ends the tool quietly.
		sh := runCmd(t, []string{"DOCKER_HOST=" + d.host, "DOCKER_CONFIG=" + pluginConfig, "DOCKER_CONTEXT="}, nil, "bash", "-c",
			`set -o pipefail; docker layers extract docker-layers-fixture:latest --tmpdir `+tmp+` | head -c 1000 > /dev/null; echo "status ${PIPESTATUS[0]}"`)
		if !strings.Contains(sh.stdout, "status 141") || sh.stderr != "" {
			t.Errorf("| head: want a quiet exit 141: %s", sh)
		}
		for _, dd := range []string{dir, tmp} {
			entries, _ := os.ReadDir(dd)
			for _, e := range entries {
				if e.Name() != "existing.tar" {
					t.Errorf("left behind: %s", filepath.Join(dd, e.Name()))
				}
			}
		}
	})
}

func mustOpen(t *testing.T, name string) *os.File {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TestExtractTerminalAndProgress: a terminal on stdout is refused, as docker
// save does; progress goes to stderr.
func TestExtractTerminalAndProgress(t *testing.T) {
	forEachDaemon(t, func(t *testing.T, d daemon) {
		env := []string{"DOCKER_HOST=" + d.host, "DOCKER_CONFIG=" + pluginConfig, "DOCKER_CONTEXT="}
		// script(1) gives the command a pseudo-terminal.
		r := runCmd(t, env, nil, "script", "-qec", binary+" extract docker-layers-fixture:latest", "/dev/null")
		if r.code != 1 || !strings.Contains(r.stdout, "refusing to write a tarball to a terminal") {
			t.Errorf("stdout on a terminal: %s", r)
		}
		r = d.plugin(t, "extract", "--progress", "plain", "-o", "/dev/null", "docker-layers-fixture:latest")
		if r.code != 0 || !strings.Contains(r.stderr, "reading layer sha256:") || !strings.Contains(r.stderr, "flattening 7 layers") {
			t.Errorf("--progress plain: %s", r)
		}
		r = d.plugin(t, "extract", "--progress", "plain", "-q", "-o", "/dev/null", "docker-layers-fixture:latest")
		if r.code != 0 || r.stderr != "" {
			t.Errorf("-q: %s", r)
		}
		r = d.plugin(t, "extract", "--progress", "fancy", "docker-layers-fixture:latest")
		if r.code != 1 || !strings.Contains(r.stderr, `invalid --progress "fancy"`) {
			t.Errorf("bad --progress: %s", r)
		}
	})
}

// TestExtractInputBeyondDockerLoad: two layer stacks that docker load
// refuses on every daemon, but that --input must still handle.
func TestExtractInputBeyondDockerLoad(t *testing.T) {
	tmp := t.TempDir()
	for _, tc := range []struct {
		name   string
		layers [][]entry
		check  func(t *testing.T, got tree)
	}{
		{
			name: "hardlink to a lower layer's file",
			layers: [][]entry{
				{file("f", "lower bytes")},
				{{hdr: tar.Header{Typeflag: tar.TypeLink, Name: "l", Linkname: "f", Mode: 0o644}}},
			},
			check: func(t *testing.T, got tree) {
				if got["l"].SHA == "" || got["l"].SHA != got["f"].SHA {
					t.Errorf("l does not have f's bytes: %+v %+v", got["l"], got["f"])
				}
			},
		},
		{
			name:   "a file then its whiteout in one layer",
			layers: [][]entry{{dir("w")}, {dir("w"), file("w/x", "stays"), wh("w/.wh.x")}},
			check: func(t *testing.T, got tree) {
				if got["w/x"].Size != int64(len("stays")) {
					t.Errorf("w/x is gone: %v", got)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var layers [][]byte
			for _, es := range tc.layers {
				layers = append(layers, layerTar(t, es))
			}
			archive := filepath.Join(tmp, "a.tar")
			if err := os.WriteFile(archive, loadArchive(t, "docker-layers-crafted:input-only", layers), 0o644); err != nil {
				t.Fatal(err)
			}
			r := runCmd(t, nil, nil, binary, "extract", "--input", archive, "-o", "-")
			if r.code != 0 {
				t.Fatalf("extract --input: %s", r)
			}
			got := readTree(t, strings.NewReader(r.stdout))
			tc.check(t, got)
			if diff := diffTrees(got, reference(t, layers)); diff != "" {
				t.Errorf("differs from the reference:\n%s", diff)
			}
		})
	}
}

// TestExtractInputTampered: a layer whose bytes do not hash to its diff ID
// is refused with exit 2 and nothing written, even though extract indexes
// an archive's layers while it verifies them. When the tampering also
// breaks the layer's tar, the digest mismatch is still the error shown.
func TestExtractInputTampered(t *testing.T) {
	layers := [][]byte{
		layerTar(t, []entry{dir("d"), file("d/base", "bottom layer")}),
		layerTar(t, []entry{file("d/upper-file", "ORIGINAL-BYTES"), file("d/other", "more")}),
	}
	clean := loadArchive(t, "docker-layers-crafted:tampered", layers)
	for _, tc := range []struct{ name, from, to string }{
		{"file data", "ORIGINAL-BYTES", "TAMPERED-BYTES"},
		{"tar header", "d/upper-file", "d/upper-filX"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if bytes.Count(clean, []byte(tc.from)) != 1 {
				t.Fatalf("%q is not once in the archive", tc.from)
			}
			dir := t.TempDir()
			archive := filepath.Join(dir, "a.tar")
			if err := os.WriteFile(archive, bytes.Replace(clean, []byte(tc.from), []byte(tc.to), 1), 0o644); err != nil {
				t.Fatal(err)
			}
			r := runCmd(t, nil, nil, binary, "extract", "--input", archive, "-o", "-")
			if r.code != 2 || r.stdout != "" || !strings.Contains(r.stderr, "content has digest") || strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("extract --input -o - of a tampered archive: %s", r)
			}
			out := filepath.Join(dir, "out.tar")
			r = runCmd(t, nil, nil, binary, "extract", "--input", archive, "-o", out)
			if r.code != 2 || !strings.Contains(r.stderr, "content has digest") {
				t.Errorf("extract --input -o FILE of a tampered archive: %s", r)
			}
			if left, _ := os.ReadDir(dir); len(left) != 1 {
				t.Errorf("left beside the archive: %v", left)
			}
		})
	}
}
