package e2e

import (
	"archive/tar"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

// diffLayers is a crafted image with every kind of change: layer 1 changes
// content, mode, owner and type, deletes a file and a directory, and makes
// a directory opaque; layer 2 deletes what layer 1 changed.
func diffLayers(t *testing.T) [][]byte {
	mode := func(e entry, m int64) entry { e.hdr.Mode = m; return e }
	owner := func(e entry, uid, gid int) entry { e.hdr.Uid, e.hdr.Gid = uid, gid; return e }
	return [][]byte{
		layerTar(t, []entry{
			dir("etc"), file("etc/a", "aaa"), file("etc/b", "bbb"), file("etc/m", "m"), file("etc/o", "o"), file("etc/t", "t"),
			dir("d"), file("d/x", "xx"), dir("d/y"), file("d/y/z", "zzz"),
			dir("op"), file("op/keep", "k"), file("op/gone", "gg"),
			symlink("abs", "/etc/a"), symlink("etc/rel", "../etc/a"),
		}),
		layerTar(t, []entry{
			dir("etc"), file("etc/a", "AAA"), wh("etc/.wh.b"), mode(file("etc/m", "m"), 0o755), owner(file("etc/o", "o"), 1000, 1000), symlink("etc/t", "a"),
			wh(".wh.d"),
			dir("op"), wh("op/.wh..wh..opq"), file("op/keep", "k"),
			file("new", "n"),
		}),
		layerTar(t, []entry{wh("etc/.wh.a")}),
	}
}

const diffRowFormat = "{{.Layer}} {{.Change}} {{.Type}} {{.Size}} {{.What}} {{.Path}}"

func lines(s string) []string {
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

func checkLines(t *testing.T, what string, got string, want []string) {
	t.Helper()
	if g := lines(got); strings.Join(g, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\ngot:\n\t%s\nwant:\n\t%s", what, strings.Join(g, "\n\t"), strings.Join(want, "\n\t"))
	}
}

// TestDiff checks the rows, the summary and --path on a crafted image,
// through the daemon and from a saved archive.
func TestDiff(t *testing.T) {
	layer0 := []string{
		"0 A symlink 0  /abs", "0 A dir 0  /d", "0 A file 2  /d/x", "0 A dir 0  /d/y", "0 A file 3  /d/y/z",
		"0 A dir 0  /etc", "0 A file 3  /etc/a", "0 A file 3  /etc/b", "0 A file 1  /etc/m", "0 A file 1  /etc/o",
		"0 A symlink 0  /etc/rel", "0 A file 1  /etc/t", "0 A dir 0  /op", "0 A file 2  /op/gone", "0 A file 1  /op/keep",
	}
	layer1 := []string{
		"1 D dir 5  /d", "1 C file 3 content /etc/a", "1 D file 3  /etc/b", "1 C file 1 mode /etc/m", "1 C file 1 owner /etc/o",
		"1 C symlink 0 type /etc/t", "1 A file 1  /new", "1 D file 2  /op/gone",
	}
	layer2 := []string{"2 D file 3  /etc/a"}
	forEachDaemon(t, func(t *testing.T, d daemon) {
		img := "dl-diff-crafted:mix"
		d.load(t, loadArchive(t, img, diffLayers(t)))
		all := append(append(append([]string{}, layer0...), layer1...), layer2...)
		checkLines(t, "diff", must(t, d.plugin(t, "diff", "-H=false", "--format", diffRowFormat, img)), all)
		checkLines(t, "diff -l 1", must(t, d.plugin(t, "diff", "-l", "1", "-H=false", "--format", diffRowFormat, img)), layer1)
		checkLines(t, "diff -l -1", must(t, d.standalone(t, "diff", "-l", "-1", "-H=false", "--format", diffRowFormat, img)), layer2)
		checkLines(t, "diff --path", must(t, d.plugin(t, "diff", "-H=false", "--format", diffRowFormat, "--path", "/etc/[ab]", "--path", "op", img)), []string{
			"0 A file 3  /etc/a", "0 A file 3  /etc/b", "0 A dir 0  /op", "0 A file 2  /op/gone", "0 A file 1  /op/keep",
			"1 C file 3 content /etc/a", "1 D file 3  /etc/b", "1 D file 2  /op/gone", "2 D file 3  /etc/a",
		})
		summary := "{{.Layer}} {{.Added}} {{.AddedSize}} {{.Changed}} {{.ChangedSize}} {{.Deleted}} {{.DeletedSize}} {{.Wasted}}"
		checkLines(t, "diff --summary", must(t, d.plugin(t, "diff", "--summary", "-H=false", "--format", summary, img)), []string{
			"0 15 17 0 0 0 0 17", "1 1 1 4 5 3 10 3", "2 0 0 0 0 1 3 0",
		})
		// One layer's summary still counts what the layers above waste.
		checkLines(t, "diff --summary -l 1", must(t, d.plugin(t, "diff", "--summary", "-l", "1", "-H=false", "--format", summary, img)), []string{"1 1 1 4 5 3 10 3"})
		table := must(t, d.plugin(t, "diff", "--summary", img))
		if !strings.HasPrefix(table, "LAYER     DIFF ID        ADDED     ADDED SIZE   CHANGED   CHANGED SIZE   DELETED   DELETED SIZE   WASTED\n") || len(lines(table)) != 4 {
			t.Errorf("summary table:\n%s", table)
		}
		table = must(t, d.plugin(t, "diff", "-l", "2", img))
		if !strings.HasPrefix(table, "LAYER     CHANGE    TYPE      SIZE      WHAT      PATH\n2         D         file      3B                  /etc/a\n") {
			t.Errorf("table:\n%s", table)
		}
		ids := lines(must(t, d.plugin(t, "inspect", "-q", img))) // newest first
		js := must(t, d.plugin(t, "diff", "-l", "1", "--path", "etc/m", "--format", "json", img))
		if want := `{"Change":"C","DiffID":"` + ids[1] + `","Layer":"1","Path":"/etc/m","Size":"1B","Type":"file","What":"mode"}` + "\n"; js != want {
			t.Errorf("json: got %s want %s", js, want)
		}

		// --input: a docker save archive of the image gives the same rows.
		saved := filepath.Join(t.TempDir(), "saved.tar")
		must(t, d.docker(t, "save", "-o", saved, img))
		checkLines(t, "diff --input", must(t, d.standalone(t, "diff", "--input", saved, "-H=false", "--format", diffRowFormat)), all)

		// Errors.
		if r := d.plugin(t, "diff", "--path", "[", img); r.code != 1 || !strings.Contains(r.stderr, "invalid --path") {
			t.Errorf("bad glob: %s", r)
		}
		if r := d.plugin(t, "diff", "-l", "7", img); r.code != 3 {
			t.Errorf("bad spec: %s", r)
		}
	})
}

// TestDiffFixtureInputMatchesDaemon: on the fixture image, built by
// Docker, the daemon and each daemon's save layout give the same rows.
func TestDiffFixtureInputMatchesDaemon(t *testing.T) {
	forEachDaemon(t, func(t *testing.T, d daemon) {
		img := "docker-layers-fixture:latest"
		saved := filepath.Join(t.TempDir(), "saved.tar")
		must(t, d.docker(t, "save", "-o", saved, img))
		for _, args := range [][]string{{"-l", "2:"}, {"--summary"}} {
			want := must(t, d.plugin(t, append([]string{"diff", "-H=false", img}, args...)...))
			got := must(t, d.standalone(t, append([]string{"diff", "-H=false", "--input", saved}, args...)...))
			if got != want {
				t.Errorf("diff %v: --input gives\n%s\nthe daemon\n%s", args, got, want)
			}
		}
		// The fixture's layer 4 is "rm -rf /app/old".
		out := must(t, d.plugin(t, "diff", "-l", "4", "--format", "{{.Change}} {{.Type}} {{.Path}}", img))
		if out != "D dir /app/old\n" {
			t.Errorf("layer 4: %q", out)
		}
	})
}

// TestCat prints files through symlinks, from sub-ranges, and fails on
// deleted files naming the layer.
func TestCat(t *testing.T) {
	forEachDaemon(t, func(t *testing.T, d daemon) {
		img := "dl-diff-crafted:cat"
		d.load(t, loadArchive(t, img, diffLayers(t)))
		ids := lines(must(t, d.plugin(t, "inspect", "-q", img))) // newest first
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"/etc/o"}, "o"},
			{[]string{"etc/m"}, "m"},
			{[]string{"-l", ":1", "/abs"}, "AAA"},        // absolute symlink
			{[]string{"-l", "0", "/etc/rel"}, "aaa"},     // relative symlink with ..
			{[]string{"-l", "0:1", "/etc/t"}, "AAA"},     // a symlink that replaced a file
			{[]string{"-l", "0", "/d/y/../x"}, "xx"},     // .. in the path
			{[]string{"-l", "1", "/etc/a"}, "AAA"},       // only layer 1
			{[]string{"-l", "1:", "/op/keep"}, "k"},      // layers 1 and 2
			{[]string{"-l", "0", "/../../op/keep"}, "k"}, // .. stops at the root
		} {
			r := d.plugin(t, append([]string{"cat", img}, tc.args...)...)
			if r.code != 0 || r.stdout != tc.want {
				t.Errorf("cat %v: want %q, got %s", tc.args, tc.want, r)
			}
		}
		for _, tc := range []struct {
			args   []string
			code   int
			stderr string
		}{
			{[]string{"/abs"}, 2, "/abs: deleted by layer 2 (" + ids[0] + ")"},
			{[]string{"/etc/a"}, 2, "/etc/a: deleted by layer 2 (" + ids[0] + ")"},
			{[]string{"/d/y/z"}, 2, "/d/y/z: deleted by layer 1 (" + ids[1] + ")"},
			{[]string{"-l", "1", "/d/x"}, 2, "/d/x: no such file or directory"}, // layer 1's whiteout hides nothing of its own
			{[]string{"/etc"}, 2, "/etc: is a directory"},
			{[]string{"/nope"}, 2, "/nope: no such file or directory"},
			{[]string{"-l", "9", "/etc/o"}, 3, ""},
		} {
			r := d.plugin(t, append([]string{"cat", img}, tc.args...)...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.stderr) || r.stdout != "" || strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("cat %v: want exit %d and %q, got %s", tc.args, tc.code, tc.stderr, r)
			}
		}
		// -o writes a file; --input reads a saved archive.
		dir := t.TempDir()
		must(t, d.plugin(t, "cat", img, "/etc/o", "-o", filepath.Join(dir, "o")))
		if b, err := os.ReadFile(filepath.Join(dir, "o")); err != nil || string(b) != "o" {
			t.Errorf("cat -o: %q %v", b, err)
		}
		if r := d.plugin(t, "cat", img, "/d/x", "-o", filepath.Join(dir, "never")); r.code != 2 {
			t.Errorf("cat -o of a deleted file: %s", r)
		}
		if r := d.plugin(t, "cat", img, "/etc/m", "-o", filepath.Join(dir, "o")); r.code != 2 || !strings.Contains(r.stderr, "already exists") {
			t.Errorf("cat -o over a file: %s", r)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 1 {
			t.Errorf("cat -o left files behind: %v", entries)
		}
		saved := filepath.Join(dir, "saved.tar")
		must(t, d.docker(t, "save", "-o", saved, img))
		if out := must(t, d.standalone(t, "cat", "--input", saved, "-l", ":1", "/abs")); out != "AAA" {
			t.Errorf("cat --input: %q", out)
		}
		if r := d.standalone(t, "cat", "--input", saved, "/etc/a"); r.code != 2 || !strings.Contains(r.stderr, "deleted by layer 2") {
			t.Errorf("cat --input of a deleted file: %s", r)
		}
		// A reader that goes away early ends cat quietly, as extract.
		big := d.ensureCrafted(t, "big-file")
		sh := runCmd(t, []string{"DOCKER_HOST=" + d.host, "DOCKER_CONFIG=" + pluginConfig, "DOCKER_CONTEXT="}, nil, "bash", "-c",
			`set -o pipefail; docker layers cat `+big+` /big.bin | head -c 1000 | wc -c; echo "status ${PIPESTATUS[0]}"`)
		if sh.stdout != "1000\nstatus 141\n" || sh.stderr != "" {
			t.Errorf("cat | head: want 1000 bytes and a quiet exit 141: %s", sh)
		}
	})
}

// filterTree keeps what extract --include/--exclude should: the paths
// that an include glob (or none) selects, with a selected or no parent,
// minus those an exclude glob selects; and the parents of what is kept.
func filterTree(t *testing.T, in tree, include, exclude []string) tree {
	out := tree{}
	for p, n := range in {
		if (len(include) == 0 || globsMatch(t, include, p)) && !globsMatch(t, exclude, p) {
			out[p] = n
			for q := path.Dir(p); q != "."; q = path.Dir(q) {
				out[q] = in[q]
			}
		}
	}
	return out
}

// globsMatch reports whether a glob of globs selects the relative path p or
// a directory above it, as --include, --exclude and --path select.
func globsMatch(t *testing.T, globs []string, p string) bool {
	t.Helper()
	for _, g := range globs {
		g = strings.Trim(path.Clean("/"+g), "/")
		for q := p; q != "."; q = path.Dir(q) {
			if ok, err := path.Match(g, q); err != nil {
				t.Fatal(err)
			} else if ok {
				return true
			}
		}
	}
	return false
}

// TestExtractIncludeExclude compares extract --include/--exclude with the
// same selection of docker export's tree, and extracts it with tar -x.
func TestExtractIncludeExclude(t *testing.T) {
	forEachDaemon(t, func(t *testing.T, d daemon) {
		img := "docker-layers-fixture:latest"
		export := d.exportTree(t, img)
		for _, tc := range []struct{ include, exclude []string }{
			{include: []string{"/app/conf", "etc/passwd", "bin/b*"}, exclude: []string{"app/conf/numbers-link"}},
			{exclude: []string{"bin", "/app/*", "etc/*"}},
			{include: []string{"app/old/*.txt", "app/*/README"}},
		} {
			var args []string
			for _, g := range tc.include {
				args = append(args, "--include", g)
			}
			for _, g := range tc.exclude {
				args = append(args, "--exclude", g)
			}
			got := d.extractTree(t, append(args, img)...)
			want := filterTree(t, export, tc.include, tc.exclude)
			dropExportAdds(got, want)
			if len(got) == 0 {
				t.Errorf("%v: nothing extracted", args)
			}
			if diff := diffTrees(got, want); diff != "" {
				t.Errorf("extract %v differs from the filtered docker export:\n%s", args, diff)
			}
			// tar -x of the output works and gives the files.
			out := filepath.Join(t.TempDir(), "x.tar")
			must(t, d.plugin(t, append(append([]string{"extract", "-o", out}, args...), img)...))
			root := t.TempDir()
			if b, err := exec.Command("tar", "-xf", out, "-C", root).CombinedOutput(); err != nil {
				t.Fatalf("tar -x: %v: %s", err, b)
			}
			for p, n := range got {
				if fi, err := os.Lstat(filepath.Join(root, p)); err != nil {
					t.Errorf("tar -x: %s: %v", p, err)
				} else if n.Type == tar.TypeReg && fi.Size() != n.Size {
					t.Errorf("tar -x: %s has %d bytes, want %d", p, fi.Size(), n.Size)
				}
			}
		}
		// --input, and a bad glob.
		saved := filepath.Join(t.TempDir(), "saved.tar")
		must(t, d.docker(t, "save", "-o", saved, img))
		a := must(t, d.plugin(t, "extract", "-o", "-", "--include", "app", "--exclude", "app/data", img))
		b := must(t, d.standalone(t, "extract", "-o", "-", "--input", saved, "--include", "app", "--exclude", "app/data"))
		if a != b || len(a) == 0 {
			t.Errorf("extract --include --input differs from the daemon's (%d and %d bytes)", len(b), len(a))
		}
		if r := d.plugin(t, "extract", "-o", "-", "--include", "a[", img); r.code != 1 || !strings.Contains(r.stderr, "invalid --include or --exclude") {
			t.Errorf("bad glob: %s", r)
		}
	})
}
