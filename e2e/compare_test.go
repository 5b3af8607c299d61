package e2e

import (
	"archive/tar"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// compareRow is one line of `docker layers compare --format json`.
type compareRow struct {
	Change string
	Path   string
	What   []string
	A, B   *compareSide
}

// compareSide is one side of a compareRow, nil where the side does not have
// the path. Its ModTime is left out: whether it differs is in the row's
// What with --mtime, and the tests judge that against extract's output.
type compareSide struct {
	Type     string
	Mode     string
	UID, GID int
	Size     int64
	Linkname string
	Device   string
	Xattrs   map[string]string
	Digest   string
}

func (s *compareSide) String() string {
	if s == nil {
		return "-"
	}
	var xs []string
	for _, k := range slices.Sorted(maps.Keys(s.Xattrs)) {
		xs = append(xs, k+"="+s.Xattrs[k])
	}
	return fmt.Sprintf("{%s %s %d:%d %d link=%q dev=%s xattrs=%s}", s.Type, s.Mode, s.UID, s.GID, s.Size, s.Linkname, s.Device, strings.Join(xs, ","))
}

// short is the row as the tests write what they expect: "C /y hardlink".
func (r compareRow) short() string {
	return strings.TrimSpace(r.Change + " " + r.Path + " " + strings.Join(r.What, ","))
}

// String is the row with both sides, but for digests (see checkRows).
func (r compareRow) String() string {
	return fmt.Sprintf("%s A=%v B=%v", r.short(), r.A, r.B)
}

// compareRows parses the output of compare --format json.
func compareRows(t *testing.T, out string) []compareRow {
	t.Helper()
	var rows []compareRow
	for _, line := range lines(out) {
		if line == "" {
			continue
		}
		var r compareRow
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("bad JSON line %q: %v", line, err)
		}
		rows = append(rows, r)
	}
	return rows
}

// compareJSON runs compare --format json with args and returns its rows.
func (d daemon) compareJSON(t *testing.T, args ...string) []compareRow {
	t.Helper()
	return compareRows(t, must(t, d.standalone(t, append([]string{"compare", "--format", "json"}, args...)...)))
}

// flatImage is a file system as extract writes it: its tree, the paths it
// writes as hardlinks, each mapped to the path the hardlink names, and the
// modification time of every path (the tree has none for directories).
type flatImage struct {
	tree   tree
	links  map[string]string
	mtimes map[string]int64 // nanoseconds
}

// flatten extracts with run the layers args select into a file, and reads
// it.
func flatten(t *testing.T, run func(t *testing.T, args ...string) result, args ...string) flatImage {
	t.Helper()
	out := filepath.Join(t.TempDir(), "flat.tar")
	if r := run(t, append(append([]string{"extract"}, args...), "-o", out)...); r.code != 0 {
		t.Fatalf("extract %v: %s", args, r)
	}
	f := flatImage{mtimes: map[string]int64{}}
	f.tree, f.links = readTreeLinks(t, mustOpen(t, out), false)
	hdrs, _ := archiveEntries(t, out)
	for name, h := range hdrs {
		f.mtimes[cleanName(name)] = h.ModTime.UnixNano()
	}
	return f
}

// side is path p of f as compare --format json shows it.
func (f flatImage) side(p string) *compareSide {
	n := f.tree[p]
	s := &compareSide{Type: compareTypes[n.Type], Mode: fmt.Sprintf("%04o", n.Mode), UID: n.UID, GID: n.GID, Size: n.Size, Linkname: n.Link}
	if n.Type == tar.TypeChar || n.Type == tar.TypeBlock {
		s.Device = fmt.Sprintf("%d,%d", n.Major, n.Minor)
	}
	if n.Xattrs != "" {
		s.Xattrs = map[string]string{}
		for _, kv := range strings.Split(n.Xattrs, ",") {
			k, v, _ := strings.Cut(kv, "=")
			s.Xattrs[k] = v
		}
	}
	if l, ok := f.links[p]; ok {
		s.Type, s.Linkname = "hardlink", "/"+l // a path of the image, as Path
	}
	return s
}

var compareTypes = map[byte]string{
	tar.TypeReg: "file", tar.TypeDir: "dir", tar.TypeSymlink: "symlink",
	tar.TypeChar: "char", tar.TypeBlock: "block", tar.TypeFifo: "fifo",
}

// expectedRows are the rows compare must print for the file systems a and
// b: A for a path only b has, D for one only a has, C with what differs for
// one both have, in byte order of path. What differs is judged on the
// resolved attributes of each path (a hardlink's are its file's): the
// type alone when it differs; else the content (a file's size and sha256,
// a symlink's target, a device's numbers), mode, owner, xattrs, with
// mtime the modification time, and hardlink: whether the path is written
// as a hardlink, and to which path.
func expectedRows(a, b flatImage, mtime bool) []string {
	var out []string
	for _, p := range slices.Sorted(maps.Keys(joinTrees(a.tree, b.tree))) {
		na, inA := a.tree[p]
		nb, inB := b.tree[p]
		r := compareRow{Path: "/" + p}
		switch {
		case !inA:
			r.Change, r.B = "A", b.side(p)
		case !inB:
			r.Change, r.A = "D", a.side(p)
		default:
			r.Change, r.A, r.B = "C", a.side(p), b.side(p)
			r.What = whatDiffers(na, nb, a.links[p], b.links[p], mtime && a.mtimes[p] != b.mtimes[p])
			if len(r.What) == 0 {
				continue
			}
		}
		out = append(out, r.String())
	}
	return out
}

func joinTrees(a, b tree) tree {
	all := maps.Clone(a)
	maps.Copy(all, b)
	return all
}

func whatDiffers(a, b node, linkA, linkB string, mtime bool) []string {
	if a.Type != b.Type {
		return []string{"type"}
	}
	var content bool
	switch a.Type {
	case tar.TypeReg:
		content = a.Size != b.Size || a.SHA != b.SHA
	case tar.TypeSymlink:
		content = a.Link != b.Link
	case tar.TypeChar, tar.TypeBlock:
		content = a.Major != b.Major || a.Minor != b.Minor
	}
	var what []string
	for _, w := range []struct {
		differs bool
		name    string
	}{
		{content, "content"}, {a.Mode != b.Mode, "mode"}, {a.UID != b.UID || a.GID != b.GID, "owner"},
		{a.Xattrs != b.Xattrs, "xattrs"}, {mtime, "mtime"}, {linkA != linkB, "hardlink"},
	} {
		if w.differs {
			what = append(what, w.name)
		}
	}
	return what
}

// checkRows checks compare's rows against the reference, side by side, and
// the digests it shows against the files' sha256.
func checkRows(t *testing.T, what string, got []compareRow, a, b flatImage, mtime bool) {
	t.Helper()
	var g []string
	for _, r := range got {
		g = append(g, r.String())
		for _, s := range []struct {
			side *compareSide
			f    flatImage
		}{{r.A, a}, {r.B, b}} {
			if s.side != nil && s.side.Digest != "" && s.side.Digest != "sha256:"+s.f.tree[strings.TrimPrefix(r.Path, "/")].SHA {
				t.Errorf("%s: %s: digest %s is not the file's sha256", what, r.Path, s.side.Digest)
			}
		}
	}
	checkLines(t, what, strings.Join(g, "\n"), expectedRows(a, b, mtime))
}

// checkShort checks the rows' change, path and what.
func checkShort(t *testing.T, what string, got []compareRow, want []string) {
	t.Helper()
	var g []string
	for _, r := range got {
		g = append(g, r.short())
	}
	checkLines(t, what, strings.Join(g, "\n"), want)
}

// compareCrafted are two crafted images that share no layer: a path for
// each kind of difference, and paths the two make alike with other layers.
func compareCrafted(t *testing.T) (a, b [][]byte) {
	dev := func(name string, major, minor int64) entry {
		return entry{hdr: tar.Header{Typeflag: tar.TypeChar, Name: name, Mode: 0o666, Devmajor: major, Devminor: minor}}
	}
	fifo := entry{hdr: tar.Header{Typeflag: tar.TypeFifo, Name: "fifo", Mode: 0o644}}
	a = [][]byte{
		layerTar(t, []entry{
			dir("etc"), file("etc/same", "same\n"), file("etc/content", "aaaa"), file("etc/size", "a"), file("etc/mode", "m"),
			file("etc/owner", "o"), withXattr(file("etc/xattr", "x"), "1"), symlink("etc/sym", "same"), symlink("etc/samelink", "same"),
			dev("null", 1, 3), dev("zero", 1, 5), fifo,
			dir("onlyA"), file("onlyA/f", "f"), file("onlyA/removed", "r"), dir("onlyA/sub"), file("onlyA/sub/g", "g"),
			file("typed", "t"),
			file("h1", "h"), hardlink("h2", "h1"), // split in B
			file("hx", "hx"), hardlink("hy", "hx"), // the other way round in B
			file("k1", "k"), file("k2", "k"), hardlink("k3", "k1"), // k3 names k2 in B
			file("gone", "g"),
		}),
		layerTar(t, []entry{wh(".wh.gone"), wh("onlyA/.wh.removed"), file("late", "late")}),
	}
	b = [][]byte{
		layerTar(t, []entry{
			dir("etc"), file("etc/same", "same\n"), file("etc/content", "bbbb"), file("etc/size", "bb"), withMode(file("etc/mode", "m"), 0o755),
			withOwner(file("etc/owner", "o"), 1, 2), withXattr(file("etc/xattr", "x"), "2"), symlink("etc/sym", "content"), symlink("etc/samelink", "same"),
			dev("null", 1, 3), dev("zero", 1, 7), fifo,
			dir("onlyB"), file("onlyB/f", "f"),
			dir("typed"), file("typed/child", "c"),
			file("h1", "h"), file("h2", "h"),
			file("hy", "hx"), hardlink("hx", "hy"),
			file("k1", "k"), file("k2", "k"), hardlink("k3", "k2"),
			file("late", "late"),
		}),
	}
	return a, b
}

func withMode(e entry, m int64) entry { e.hdr.Mode = m; return e }

func withOwner(e entry, uid, gid int) entry { e.hdr.Uid, e.hdr.Gid = uid, gid; return e }

// withXattr gives e the xattr user.dl=v.
func withXattr(e entry, v string) entry {
	e.hdr.PAXRecords = map[string]string{"SCHILY.xattr.user.dl": v}
	return e
}

const (
	fixtureBase   = "docker-layers-fixture:base"
	fixtureMid    = "docker-layers-fixture:mid"
	fixtureLatest = "docker-layers-fixture:latest"
)

// TestCompareMatchesReference checks compare's rows against a reference
// made from extract's output of each side: images that share a base, images
// that share nothing, an image of a docker save archive against one of the
// daemon, and two layer ranges of one image.
func TestCompareMatchesReference(t *testing.T) {
	forEachDaemon(t, func(t *testing.T, d daemon) {
		t.Parallel()
		a, b := compareCrafted(t)
		d.load(t, loadArchive(t, "dl-compare:a", a))
		d.load(t, loadArchive(t, "dl-compare:b", b))
		tmp := t.TempDir()
		savedMid, savedLatest, savedBoth := filepath.Join(tmp, "mid.tar"), filepath.Join(tmp, "latest.tar"), filepath.Join(tmp, "both.tar")
		must(t, d.docker(t, "save", "-o", savedMid, fixtureMid))
		must(t, d.docker(t, "save", "-o", savedLatest, fixtureLatest))
		must(t, d.docker(t, "save", "-o", savedBoth, fixtureBase, fixtureLatest))
		spool := t.TempDir()

		flats := map[string]flatImage{}
		flat := func(t *testing.T, args ...string) flatImage {
			k := strings.Join(args, " ")
			if _, ok := flats[k]; !ok {
				flats[k] = flatten(t, d.standalone, args...)
			}
			return flats[k]
		}
		check := func(t *testing.T, args, extractA, extractB []string) []compareRow {
			a, b := flat(t, extractA...), flat(t, extractB...)
			got := d.compareJSON(t, args...)
			checkRows(t, "compare "+strings.Join(args, " "), got, a, b, false)
			if len(got) == 0 {
				t.Error("no rows: the case tests nothing")
			}
			checkRows(t, "compare --mtime "+strings.Join(args, " "), d.compareJSON(t, append(args, "--mtime")...), a, b, true)
			return got
		}
		for _, tc := range []struct {
			name string
			args []string // compare's
			a, b []string // extract's
			want []string // the rows in short, where the test says them
		}{
			{"base to latest", []string{fixtureBase, fixtureLatest}, []string{fixtureBase}, []string{fixtureLatest}, nil},
			{"mid to latest", []string{fixtureMid, fixtureLatest}, []string{fixtureMid}, []string{fixtureLatest}, nil},
			{"latest to base", []string{fixtureLatest, fixtureBase}, []string{fixtureLatest}, []string{fixtureBase}, nil},
			{"nothing shared", []string{"dl-compare:a", "dl-compare:b"}, []string{"dl-compare:a"}, []string{"dl-compare:b"}, []string{
				"C /etc/content content", "C /etc/mode mode", "C /etc/owner owner", "C /etc/size content", "C /etc/sym content", "C /etc/xattr xattrs",
				"C /h2 hardlink", "C /k3 hardlink",
				"D /onlyA", "D /onlyA/f", "D /onlyA/sub", "D /onlyA/sub/g", "A /onlyB", "A /onlyB/f",
				"C /typed type", "A /typed/child", "C /zero content",
			}},
			{"nothing shared, reversed", []string{"dl-compare:b", "dl-compare:a"}, []string{"dl-compare:b"}, []string{"dl-compare:a"}, nil},
			{"nothing shared, fixture", []string{"dl-compare:a", fixtureMid}, []string{"dl-compare:a"}, []string{fixtureMid}, nil},
			{"archive to daemon", []string{"--tmpdir", spool, "docker-archive:" + savedMid, fixtureLatest}, []string{fixtureMid}, []string{fixtureLatest}, nil},
			{"daemon to archive", []string{"--tmpdir", spool, fixtureBase, "docker-archive:" + savedLatest + ":" + fixtureLatest}, []string{fixtureBase}, []string{fixtureLatest}, nil},
			{"two images of one archive", []string{"--tmpdir", spool, "docker-archive:" + savedBoth + ":" + fixtureLatest, "docker-archive:" + savedBoth + ":" + fixtureBase}, []string{fixtureLatest}, []string{fixtureBase}, nil},
			{"layer ranges", []string{fixtureLatest, "-l", ":2", "--layers-b", ":4"}, []string{"-l", ":2", fixtureLatest}, []string{"-l", ":4", fixtureLatest}, nil},
			{"layer ranges sharing nothing", []string{fixtureLatest, "-l", "1:3", "--layers-b", "2:"}, []string{"-l", "1:3", fixtureLatest}, []string{"-l", "2:", fixtureLatest}, nil},
			{"layer ranges of two images", []string{fixtureMid, fixtureLatest, "-l", "-1", "--layers-b", "-1"}, []string{"-l", "-1", fixtureMid}, []string{"-l", "-1", fixtureLatest}, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got := check(t, tc.args, tc.a, tc.b)
				if tc.want != nil {
					checkShort(t, "compare "+strings.Join(tc.args, " "), got, tc.want)
				}
			})
		}
		t.Run("OCI layout to daemon", func(t *testing.T) {
			needSkopeo(t)
			layout := filepath.Join(t.TempDir(), "layout")
			skopeo(t, "docker-archive:"+savedLatest, "oci:"+layout+":latest")
			check(t, []string{fixtureMid, "oci:" + layout + ":latest"}, []string{fixtureMid}, []string{fixtureLatest})
		})
		assertEmpty(t, spool)
	})
}

// compareEdge is a pair of crafted images, A and B, and the rows compare
// must print for them. B often holds A's layers at the bottom, so that
// compare reads them as shared.
type compareEdge struct {
	name string
	a, b [][]entry
	want []string
	// mtime, when set, are the rows with --mtime.
	mtime []string
}

func compareEdges() []compareEdge {
	later := time.Unix(1700003600, 0)
	laterFile, laterDir := file("d/f", "f"), dir("d")
	laterFile.hdr.ModTime, laterDir.hdr.ModTime = later, later
	fileDir := []entry{file("x", "same"), file("y", "old")}
	link := []entry{file("x", "same"), hardlink("y", "x")}
	opaque := []entry{dir("d"), file("d/a", "a"), dir("d/sub"), file("d/sub/b", "b"), file("d/keep", "k")}
	opaqued := []entry{dir("d"), wh("d/.wh..wh..opq"), file("d/keep", "k")}
	sym := []entry{file("a", "a"), file("b", "b"), symlink("l", "a")}
	long := strings.Repeat("d", 120)
	big := make([]byte, 1<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	return []compareEdge{
		{
			name: "file to dir and back",
			a:    [][]entry{fileDir},
			b:    [][]entry{fileDir, {dir("x"), file("x/child", "c"), dir("y"), file("y/child", "c")}, {file("x", "same"), file("y", "new")}},
			want: []string{"C /y content"},
		},
		{
			name: "hardlink split",
			a:    [][]entry{link},
			b:    [][]entry{{file("x", "same"), file("y", "same")}},
			want: []string{"C /y hardlink"},
		},
		{
			name: "hardlink split by a layer",
			a:    [][]entry{link},
			b:    [][]entry{link, {file("y", "same")}},
			want: []string{"C /y hardlink"},
		},
		{
			name: "opaque directory",
			a:    [][]entry{opaque},
			b:    [][]entry{opaque, append(opaqued, file("d/c", "c"))},
			want: []string{"D /d/a", "A /d/c", "D /d/sub", "D /d/sub/b"},
		},
		{
			name: "symlink retargeted",
			a:    [][]entry{sym},
			b:    [][]entry{sym, {symlink("l", "b")}},
			want: []string{"C /l content"},
		},
		{
			name: "xattr only",
			a:    [][]entry{{withXattr(file("f", "f"), "1")}},
			b:    [][]entry{{withXattr(file("f", "f"), "1")}, {withXattr(file("f", "f"), "2")}},
			want: []string{"C /f xattrs"},
		},
		{
			name: "hardlink target replaced",
			a:    [][]entry{link},
			b:    [][]entry{link, {file("x", "new")}},
			want: []string{"C /x content", "C /y hardlink"},
		},
		{
			name: "hardlink leader deleted",
			a:    [][]entry{link},
			b:    [][]entry{link, {wh(".wh.x")}},
			want: []string{"D /x", "C /y hardlink"},
		},
		{
			// x is copied up, as overlayfs does to link to it: y stays
			// the lower file.
			name: "new hardlink named first",
			a:    [][]entry{link},
			b:    [][]entry{link, {file("x", "same"), hardlink("a", "x")}},
			want: []string{"A /a", "C /x hardlink", "C /y hardlink"},
		},
		{
			name: "hardlink leader hidden by an opaque directory",
			a:    [][]entry{{dir("d"), file("d/x", "same"), hardlink("z", "d/x")}},
			b:    [][]entry{{dir("d"), file("d/x", "same"), hardlink("z", "d/x")}, {dir("d"), wh("d/.wh..wh..opq")}},
			want: []string{"D /d/x", "C /z hardlink"},
		},
		{
			name: "names with ./",
			a:    [][]entry{{dir("d"), file("d/f", "a")}},
			b:    [][]entry{{dir("d"), file("d/f", "a")}, {dir("./d"), file("./d/f", "b"), file("./d/new", "n")}},
			want: []string{"C /d/f content", "A /d/new"},
		},
		{
			name: "children before their directory",
			a:    [][]entry{{dir("d"), file("d/f", "a")}},
			b:    [][]entry{{dir("d"), file("d/f", "a")}, {file("d/f", "b"), withMode(dir("d"), 0o700)}},
			want: []string{"C /d mode", "C /d/f content"},
		},
		{
			// The whiteout hides only the lower d, as the OCI rules say
			// (Docker's own export departs here: see craftedImages).
			name: "whiteout and recreate in one layer",
			a:    [][]entry{{dir("d"), file("d/x", "x"), file("d/y", "y")}},
			b:    [][]entry{{dir("d"), file("d/x", "x"), file("d/y", "y")}, {wh(".wh.d"), dir("d"), file("d/z", "z")}},
			want: []string{"D /d/x", "D /d/y", "A /d/z"},
		},
		{
			name: "directory xattr",
			a:    [][]entry{{dir("d"), file("d/x", "x")}},
			b:    [][]entry{{dir("d"), file("d/x", "x")}, {withXattr(dir("d"), "1")}},
			want: []string{"C /d xattrs"},
		},
		{
			name: "a layer twice",
			a:    [][]entry{{file("f", "a")}},
			b:    [][]entry{{file("f", "a")}, {file("f", "b"), file("extra", "e")}, {file("f", "a")}},
			want: []string{"A /extra"},
		},
		{
			name: "hardlink deleted",
			a:    [][]entry{link},
			b:    [][]entry{link, {wh(".wh.y")}},
			want: []string{"D /y"},
		},
		{
			name: "new hardlink named last",
			a:    [][]entry{link},
			b:    [][]entry{link, {file("x", "same"), hardlink("z", "x")}},
			want: []string{"C /y hardlink", "A /z"},
		},
		{
			// Output order puts x/1 before x-1, byte order after it.
			name: "hardlinks in output order",
			a:    [][]entry{{dir("x"), file("x/1", "h"), hardlink("x-1", "x/1")}},
			b:    [][]entry{{dir("x"), file("x-1", "H"), hardlink("x/1", "x-1")}},
			want: []string{"C /x-1 content", "C /x/1 content"},
		},
		{
			name: "opaque directory in the shared layers",
			a:    [][]entry{opaque, opaqued},
			b:    [][]entry{opaque, opaqued, {file("d/a", "a"), file("d/keep", "K")}},
			want: []string{"A /d/a", "C /d/keep content"},
		},
		{
			name: "directory deleted in the shared layers",
			a:    [][]entry{opaque, {wh(".wh.d")}},
			b:    [][]entry{opaque, {wh(".wh.d")}, {file("d/a", "a")}},
			want: []string{"A /d", "A /d/a"},
		},
		{
			name: "directory deleted",
			a:    [][]entry{opaque},
			b:    [][]entry{opaque, {wh(".wh.d")}},
			want: []string{"D /d", "D /d/a", "D /d/keep", "D /d/sub", "D /d/sub/b"},
		},
		{
			name: "directory replaced by a file",
			a:    [][]entry{opaque},
			b:    [][]entry{opaque, {file("d", "d")}},
			want: []string{"C /d type", "D /d/a", "D /d/keep", "D /d/sub", "D /d/sub/b"},
		},
		{
			name: "directory mode",
			a:    [][]entry{opaque},
			b:    [][]entry{opaque, {withMode(dir("d"), 0o700)}},
			want: []string{"C /d mode"},
		},
		{
			name: "deleted and recreated alike",
			a:    [][]entry{sym},
			b:    [][]entry{sym, {wh(".wh.a"), wh(".wh.l")}, {file("a", "a"), symlink("l", "a")}},
		},
		{
			name: "both sides above a shared layer",
			a:    [][]entry{sym, {file("a", "A")}},
			b:    [][]entry{sym, {withMode(file("a", "a"), 0o600)}, {withOwner(file("b", "b"), 0, 5)}},
			want: []string{"C /a content,mode", "C /b owner"},
		},
		{
			name: "implicit parents",
			a:    [][]entry{sym},
			b:    [][]entry{sym, {file("new/deep/f", "f")}},
			want: []string{"A /new", "A /new/deep", "A /new/deep/f"},
		},
		{
			name: "long names",
			a:    [][]entry{{dir(long), file(long+"/"+strings.Repeat("n", 200), "a")}},
			b:    [][]entry{{dir(long), file(long+"/"+strings.Repeat("n", 200), "a")}, {file(long+"/"+strings.Repeat("n", 200), "b")}},
			want: []string{"C /" + long + "/" + strings.Repeat("n", 200) + " content"},
		},
		{
			name: "one byte of a large file",
			a:    [][]entry{{file("big", string(big))}},
			b:    [][]entry{{file("big", string(big))}, {file("big", string(big[:len(big)-1])+"!")}},
			want: []string{"C /big content"},
		},
		{
			name:  "mtime only",
			a:     [][]entry{{dir("d"), file("d/f", "f")}},
			b:     [][]entry{{dir("d"), file("d/f", "f")}, {dir("d"), laterFile}},
			mtime: []string{"C /d/f mtime"},
		},
		{
			name:  "directory mtime only",
			a:     [][]entry{{dir("d"), file("d/f", "f")}},
			b:     [][]entry{{dir("d"), file("d/f", "f")}, {laterDir}},
			mtime: []string{"C /d mtime"},
		},
		{
			name:  "identical file systems",
			a:     [][]entry{{dir("d"), file("d/a", "a"), file("f", "f")}},
			b:     [][]entry{{dir("d"), file("d/a", "a")}, {dir("d"), file("f", "f")}},
			mtime: []string{},
		},
	}
}

// TestCompareEdgeCases checks crafted pairs against the rows they must give
// and against the reference, with --exit-code; --mtime; --summary of file
// systems that do not differ; and an image against itself, and against
// itself read from a docker save archive.
func TestCompareEdgeCases(t *testing.T) {
	// Each side is written as a docker load archive, and extracted from it
	// without a daemon for the reference, once: sides with the same layers
	// are one image, tagged by its layers' digests, so that a daemon that
	// has the tag has the image.
	edges := compareEdges()
	type image struct {
		tag     string
		archive []byte
		flat    flatImage
	}
	var images []*image
	byLayers := map[string]*image{}
	sides := make([][2]*image, len(edges))
	dir := t.TempDir()
	for i, e := range edges {
		for s, layers := range [][][]entry{e.a, e.b} {
			var tars [][]byte
			var key string
			for _, es := range layers {
				tars = append(tars, layerTar(t, es))
				key += sha256Digest(tars[len(tars)-1])
			}
			if byLayers[key] == nil {
				tag := "dl-compare-edge:" + sha256Digest([]byte(key))[len("sha256:"):][:12]
				img := &image{tag: tag, archive: loadArchive(t, tag, tars)}
				file := filepath.Join(dir, fmt.Sprintf("%d.tar", len(images)))
				if err := os.WriteFile(file, img.archive, 0o644); err != nil {
					t.Fatal(err)
				}
				img.flat = flatten(t, offline, "docker-archive:"+file)
				images, byLayers[key] = append(images, img), img
			}
			sides[i][s] = byLayers[key]
		}
	}
	forEachDaemon(t, func(t *testing.T, d daemon) {
		t.Parallel()
		args := []string{"image", "inspect", "--format", "{{.RepoTags}}"}
		for _, img := range images {
			args = append(args, img.tag)
		}
		have := d.docker(t, args...).stdout
		for _, img := range images {
			if !strings.Contains(have, img.tag) {
				d.load(t, img.archive)
			}
		}
		for i, e := range edges {
			t.Run(e.name, func(t *testing.T) {
				a, b := sides[i][0].tag, sides[i][1].tag
				flatA, flatB := sides[i][0].flat, sides[i][1].flat
				wantCode := 0
				if len(e.want) > 0 {
					wantCode = 4
				}
				r := d.standalone(t, "compare", "--exit-code", "--format", "json", a, b)
				if r.code != wantCode {
					t.Fatalf("compare --exit-code: want exit %d: %s", wantCode, r)
				}
				got := compareRows(t, r.stdout)
				checkShort(t, "compare", got, e.want)
				checkRows(t, "compare against the reference", got, flatA, flatB, false)
				if len(e.want) == 0 {
					r := d.standalone(t, "compare", "--summary", "--exit-code", "--format", "json", a, b)
					if r.code != 0 || r.stdout != zeroSummary {
						t.Errorf("compare --summary --exit-code: want exit 0 and %s: %s", zeroSummary, r)
					}
				}
				if e.mtime != nil {
					got := d.compareJSON(t, "--mtime", a, b)
					checkShort(t, "compare --mtime", got, e.mtime)
					checkRows(t, "compare --mtime against the reference", got, flatA, flatB, true)
				}
			})
		}

		t.Run("the same image", func(t *testing.T) {
			for _, args := range [][]string{{fixtureLatest, fixtureLatest}, {fixtureLatest}, {fixtureLatest, "-l", "1:3", "--layers-b", "1:3"}} {
				r := d.plugin(t, append([]string{"compare", "--exit-code"}, args...)...)
				if r.code != 0 || r.stdout != "CHANGE    TYPE      SIZE      WHAT      PATH\n" {
					t.Errorf("compare --exit-code %v: want exit 0 and only the header: %s", args, r)
				}
				r = d.plugin(t, append([]string{"compare", "--summary", "--exit-code", "--format", "json"}, args...)...)
				if r.code != 0 || r.stdout != zeroSummary {
					t.Errorf("compare --summary --exit-code %v: want exit 0 and %s: %s", args, zeroSummary, r)
				}
			}
		})

		t.Run("two sources of one image", func(t *testing.T) {
			saved := filepath.Join(t.TempDir(), "saved.tar")
			must(t, d.docker(t, "save", "-o", saved, fixtureLatest))
			own := strings.TrimSpace(must(t, d.docker(t, "image", "inspect", "--format", "{{.Os}}/{{.Architecture}}", fixtureLatest)))
			for _, args := range [][]string{
				{fixtureLatest, "docker-archive:" + saved},
				{"docker-archive:" + saved + ":" + fixtureLatest, fixtureLatest, "--platform", own},
				{fixtureLatest, "docker-archive:" + saved, "-l", ":2", "--layers-b", ":2"},
			} {
				if r := d.plugin(t, append([]string{"compare", "--exit-code", "--format", "json"}, args...)...); r.code != 0 || r.stdout != "" {
					t.Errorf("compare --exit-code %v: want exit 0 and no rows: %s", args, r)
				}
			}
			// stdin is a source too.
			data, err := os.ReadFile(saved)
			if err != nil {
				t.Fatal(err)
			}
			r := runCmd(t, []string{"DOCKER_HOST=" + d.host, "DOCKER_CONTEXT="}, data, binary, "compare", "--exit-code", "docker-archive:-", fixtureLatest)
			if r.code != 0 || r.stdout != "CHANGE    TYPE      SIZE      WHAT      PATH\n" {
				t.Errorf("compare --exit-code docker-archive:- %s: %s", fixtureLatest, r)
			}
		})
	})
}

const zeroSummary = `{"Added":0,"Changed":0,"Deleted":0,"AddedBytes":0,"ChangedBytes":0,"DeletedBytes":0}` + "\n"

// summaryJSON is the compare --summary --format json line that counts
// rows: rows and regular files' bytes, B's for A and C, A's for D.
func summaryJSON(t *testing.T, rows []compareRow) string {
	t.Helper()
	var s struct{ Added, Changed, Deleted, AddedBytes, ChangedBytes, DeletedBytes int64 }
	bytesOf := func(side *compareSide) int64 {
		if side.Type == "file" {
			return side.Size
		}
		return 0
	}
	for _, r := range rows {
		switch r.Change {
		case "A":
			s.Added++
			s.AddedBytes += bytesOf(r.B)
		case "C":
			s.Changed++
			s.ChangedBytes += bytesOf(r.B)
		case "D":
			s.Deleted++
			s.DeletedBytes += bytesOf(r.A)
		default:
			t.Errorf("row %s: unknown change %q", r.Path, r.Change)
		}
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b) + "\n"
}

// TestCompareConfig builds images that differ from a reference image in one
// config field each, and checks compare --config's rows: the field's, and
// the history entry of the instruction that set it, which the classic
// builder writes as `/bin/sh -c #(nop)  INSTRUCTION` on every daemon here.
// Their file systems do not differ: the instructions make no layer.
func TestCompareConfig(t *testing.T) {
	forEachDaemon(t, func(t *testing.T, d daemon) {
		t.Parallel()
		build := func(tag, env, label, cmd string) string {
			ctx := t.TempDir()
			dockerfile := fmt.Sprintf("FROM %s\nENV %s\nLABEL %s\nCMD %s\n", fixtureBase, env, label, cmd)
			if err := os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
				t.Fatal(err)
			}
			img := "dl-compare-config:" + tag
			must(t, runCmd(t, []string{"DOCKER_HOST=" + d.host, "DOCKER_CONTEXT=", "DOCKER_BUILDKIT=0"}, nil,
				"docker", "build", "-q", "--network", "none", "--pull=false", "-t", img, ctx))
			return img
		}
		ref := build("ref", "DL_COMPARE=ref", "dl.compare=ref", `["ref"]`)
		// The base image has history entries 0 to 3: the ENV is entry 4,
		// the LABEL 5, the CMD 6.
		for _, tc := range []struct {
			img  string
			want []string
		}{
			{build("env", "DL_COMPARE=env DL_ADDED=1", "dl.compare=ref", `["ref"]`), []string{
				`A Env[DL_ADDED] "" "1"`,
				`C Env[DL_COMPARE] "ref" "env"`,
				`C History[4] "/bin/sh -c #(nop)  ENV DL_COMPARE=ref" "/bin/sh -c #(nop)  ENV DL_COMPARE=env DL_ADDED=1"`,
			}},
			{build("label", "DL_COMPARE=ref", "dl.compare=label", `["ref"]`), []string{
				`C Labels[dl.compare] "ref" "label"`,
				`C History[5] "/bin/sh -c #(nop)  LABEL dl.compare=ref" "/bin/sh -c #(nop)  LABEL dl.compare=label"`,
			}},
			{build("cmd", "DL_COMPARE=ref", "dl.compare=ref", `["cmd", "x"]`), []string{
				`C Cmd "[\"ref\"]" "[\"cmd\",\"x\"]"`,
				`C History[6] "/bin/sh -c #(nop)  CMD [\"ref\"]" "/bin/sh -c #(nop)  CMD [\"cmd\" \"x\"]"`,
			}},
		} {
			r := d.plugin(t, "compare", "--config", "--exit-code", "--format", "json", ref, tc.img)
			if r.code != 4 {
				t.Errorf("compare --config --exit-code %s %s: want exit 4: %s", ref, tc.img, r)
			}
			var got []string
			for _, line := range lines(r.stdout) {
				var row struct{ Change, Field, A, B string }
				if err := json.Unmarshal([]byte(line), &row); err != nil {
					t.Fatalf("bad JSON line %q: %v", line, err)
				}
				got = append(got, fmt.Sprintf("%s %s %q %q", row.Change, row.Field, row.A, row.B))
			}
			checkLines(t, "compare --config "+tc.img, strings.Join(got, "\n"), tc.want)
			if r := d.standalone(t, "compare", "--exit-code", ref, tc.img); r.code != 0 || len(lines(r.stdout)) != 1 {
				t.Errorf("compare --exit-code %s %s: want exit 0 and no rows: %s", ref, tc.img, r)
			}
		}
		if r := d.standalone(t, "compare", "--config", "--exit-code", ref, ref); r.code != 0 || r.stdout != "CHANGE    FIELD     A         B\n" {
			t.Errorf("compare --config --exit-code of an image with itself: %s", r)
		}
		// Layer rows show diff IDs, truncated unless --no-trunc.
		ids := diffIDs(t, d, fixtureMid)
		format := "{{.Change}} {{.Field}} {{.A}} {{.B}}"
		out := must(t, d.standalone(t, "compare", "--config", "--format", format, fixtureBase, fixtureMid))
		if !strings.Contains(out, "C Layers 2 4\nA Layers[2]  "+strings.TrimPrefix(ids[2], "sha256:")[:12]+"\n") {
			t.Errorf("compare --config %s %s: no Layers rows with truncated IDs:\n%s", fixtureBase, fixtureMid, out)
		}
		out = must(t, d.standalone(t, "compare", "--config", "--no-trunc", "--format", format, fixtureBase, fixtureMid))
		if !strings.Contains(out, "A Layers[3]  "+ids[3]+"\n") {
			t.Errorf("compare --config --no-trunc %s %s: no Layers rows with full IDs:\n%s", fixtureBase, fixtureMid, out)
		}
	})
}

// TestCompareErrors: what cannot be compared is one line on stderr and exit
// 2; a bad command line is exit 1, a layer spec that does not resolve 3.
func TestCompareErrors(t *testing.T) {
	forEachDaemon(t, func(t *testing.T, d daemon) {
		t.Parallel()
		one := [][]byte{layerTar(t, []entry{file("f", "f")})}
		d.load(t, loadArchive(t, "dl-compare:amd64", one))
		armArchive := loadArchivePlatform(t, "dl-compare:arm64", "arm64", one, []step{{createdBy: "crafted layer 0"}})
		d.load(t, armArchive)
		arm := filepath.Join(t.TempDir(), "arm64.tar")
		if err := os.WriteFile(arm, armArchive, 0o644); err != nil {
			t.Fatal(err)
		}
		saved := filepath.Join(t.TempDir(), "saved.tar")
		must(t, d.docker(t, "save", "-o", saved, "dl-compare:amd64"))
		data, err := os.ReadFile(saved)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name     string
			args     []string
			stdin    []byte
			code     int
			contains []string
		}{
			{"A missing", []string{"dl-compare-nope:missing", "dl-compare:amd64"}, nil, 2, []string{"dl-compare-nope:missing"}},
			{"B missing", []string{"dl-compare:amd64", "dl-compare-nope:missing"}, nil, 2, []string{"dl-compare-nope:missing"}},
			{"two platforms", []string{"dl-compare:arm64", "dl-compare:amd64"}, nil, 2, []string{"different platforms", "linux/arm64", "linux/amd64"}},
			{"two platforms, one archived", []string{"dl-compare:amd64", "docker-archive:" + arm}, nil, 2, []string{"different platforms", "linux/amd64", "linux/arm64"}},
			{"stdin twice", []string{"docker-archive:-", "docker-archive:-"}, data, 2, []string{"only one image can be read from stdin"}},
			{"stdin twice, two transports", []string{"docker-archive:-", "oci-archive:-"}, data, 2, []string{"only one image can be read from stdin"}},
			{"stdin as both sides", []string{"docker-archive:-"}, data, 1, []string{"only one image can be read from stdin: give IMAGE_B"}},
			{"three arguments", []string{"dl-compare:amd64", "dl-compare:amd64", "dl-compare:amd64"}, nil, 1, []string{"requires 1 or 2 arguments, got 3"}},
			{"no argument", nil, nil, 1, []string{"requires 1 or 2 arguments, got 0"}},
			{"--config with --layers", []string{"--config", "-l", ":1", "dl-compare:amd64", "dl-compare:amd64"}, nil, 1, []string{"--config compares whole images"}},
			{"bad --path", []string{"--path", "[", "dl-compare:amd64"}, nil, 1, []string{"invalid --path"}},
			{"--layers-b out of range", []string{"--layers-b", "5", "dl-compare:amd64", "dl-compare:amd64"}, nil, 3, []string{"out of range"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				for _, name := range []string{"docker", binary} {
					args := append([]string{"compare"}, tc.args...)
					if name == "docker" {
						args = append([]string{"layers"}, args...)
					}
					r := runCmd(t, []string{"DOCKER_HOST=" + d.host, "DOCKER_CONFIG=" + pluginConfig, "DOCKER_CONTEXT="}, tc.stdin, name, args...)
					if r.code != tc.code || r.stdout != "" || strings.Count(strings.TrimRight(r.stderr, "\n"), "\n") != 0 {
						t.Errorf("%s %v: want exit %d, one line on stderr and nothing on stdout: %s", name, args, tc.code, r)
					}
					for _, s := range tc.contains {
						if !strings.Contains(r.stderr, s) {
							t.Errorf("%s %v: stderr does not say %q: %s", name, args, s, r.stderr)
						}
					}
				}
			})
		}
		// Only with one argument is IMAGE_B missing.
		r := runCmd(t, []string{"DOCKER_HOST=" + d.host, "DOCKER_CONTEXT="}, data, binary, "compare", "docker-archive:-", "docker-archive:-")
		if strings.Contains(r.stderr, "give IMAGE_B") {
			t.Errorf("compare docker-archive:- docker-archive:- asks for the IMAGE_B it was given: %s", r.stderr)
		}
	})
}

// TestComparePathAndSummary: --path keeps the rows of the paths its globs
// select or are under, and --summary counts the rows it would print, with
// and without --path.
func TestComparePathAndSummary(t *testing.T) {
	forEachDaemon(t, func(t *testing.T, d daemon) {
		t.Parallel()
		all := d.compareJSON(t, fixtureBase, fixtureLatest)
		if len(all) < 10 {
			t.Fatalf("compare %s %s: only %d rows", fixtureBase, fixtureLatest, len(all))
		}
		for _, globs := range [][]string{nil, {"/app/conf"}, {"etc/*", "app/old", "/app/*link*"}, {"/nope"}} {
			var args, want []string
			for _, g := range globs {
				args = append(args, "--path", g)
			}
			var kept []compareRow
			for _, r := range all {
				if globs == nil || globsMatch(t, globs, strings.TrimPrefix(r.Path, "/")) {
					kept = append(kept, r)
					want = append(want, r.String())
				}
			}
			args = append(args, fixtureBase, fixtureLatest)
			got := d.compareJSON(t, args...)
			checkLines(t, fmt.Sprintf("compare %v", args), strings.Join(rowStrings(got), "\n"), want)
			r := d.plugin(t, append([]string{"compare", "--summary", "--exit-code", "--format", "json"}, args...)...)
			if want, code := summaryJSON(t, kept), min(len(kept), 1)*4; r.code != code || r.stdout != want {
				t.Errorf("compare --summary --exit-code %v: want exit %d and %s: %s", args, code, want, r)
			}
		}
		// The tables, in bytes.
		out := must(t, d.plugin(t, "compare", "-H=false", "--path", "/etc", "--path", "/app/hello.txt", fixtureBase, fixtureLatest))
		checkLines(t, "compare table", out, []string{
			"CHANGE    TYPE       SIZE      WHAT      PATH",
			"A         hardlink   6                   /app/hello.txt",
			"C         file       116       content   /etc/passwd",
		})
		out = must(t, d.plugin(t, "compare", "--summary", "-H=false", "--path", "/etc", "--path", "/app/hello.txt", fixtureBase, fixtureLatest))
		checkLines(t, "compare --summary table", out, []string{
			"ADDED     ADDED SIZE   CHANGED   CHANGED SIZE   DELETED   DELETED SIZE",
			"1         0            1         116            0         0",
		})
	})
}

func rowStrings(rows []compareRow) []string {
	var out []string
	for _, r := range rows {
		out = append(out, r.String())
	}
	return out
}
