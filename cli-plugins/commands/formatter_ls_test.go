package commands

import (
	"archive/tar"
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/docker-layers/docker-layers/analyze"
	"github.com/docker-layers/docker-layers/inspect"
	"github.com/docker-layers/docker-layers/source"
	"github.com/docker/cli/cli/command/formatter"
	"github.com/opencontainers/go-digest"
	"gotest.tools/v3/assert"
	"gotest.tools/v3/golden"
)

// goldenSelection: an image of three layers, the top two selected.
func goldenSelection() *source.Selection {
	id := func(c string) digest.Digest { return digest.Digest("sha256:" + strings.Repeat(c, 64)) }
	return &source.Selection{
		Ancestry: &inspect.Ancestry{
			Layers: []inspect.Layer{{Index: 0, DiffID: id("0"), Step: 0}, {Index: 1, DiffID: id("1"), Step: 1}, {Index: 2, DiffID: id("2"), Step: 2}},
			Steps:  []inspect.Step{{CreatedBy: "/bin/sh -c #(nop) ADD file:abc in / "}, {CreatedBy: "RUN /bin/sh -c apt-get update && apt-get install -y curl ca-certificates # buildkit"}, {CreatedBy: "COPY app /app # buildkit"}},
		},
		Selected: []int{1, 2},
	}
}

func goldenFiles() []analyze.File {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return []analyze.File{
		{Path: "app", Type: tar.TypeDir, Mode: 0o755, Layer: 1, Depth: 1, ModTime: t0},
		{Path: "app/bin", Type: tar.TypeDir, Mode: 0o755, Layer: -1, Depth: 2},
		{Path: "app/bin/server", Type: tar.TypeReg, Mode: 0o4755, Size: 12345678, Layer: 1, Depth: 3, ModTime: t0},
		{Path: "app/bin/srv", Type: tar.TypeLink, Mode: 0o4755, Link: "app/bin/server", Layer: 1, Depth: 3, ModTime: t0},
		{Path: "app/data", Type: tar.TypeDir, Mode: 0o1777, UID: 1000, GID: 1000, Layer: 0, Depth: 2, ModTime: t0},
		{Path: "app/data/x", Type: tar.TypeReg, Mode: 0o640, Size: 3, UID: 1000, GID: 1000, Layer: 0, Depth: 3, ModTime: t0},
		{Path: "app/run", Type: tar.TypeSymlink, Mode: 0o777, Link: "bin/server", Layer: 0, Depth: 2, ModTime: t0},
		{Path: "dev", Type: tar.TypeDir, Mode: 0o2755, Layer: 0, Depth: 1, ModTime: t0},
		{Path: "dev/null", Type: tar.TypeChar, Mode: 0o666, Layer: 0, Depth: 2, ModTime: t0},
	}
}

func TestLsWriteGolden(t *testing.T) {
	for _, tc := range []struct {
		name, format         string
		human, noTrunc, tree bool
	}{
		{name: "table", human: true},
		{name: "tree", human: true, tree: true},
		{name: "json", format: "json"},
		{name: "template", format: "{{.Layer}} {{.DiffID}} {{.Mode}} {{.Path}} {{.Link}}", noTrunc: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			w, err := newLsWriter(formatter.Context{Output: &buf, Format: newLsFormat(tc.format), Trunc: !tc.noTrunc}, tc.human, tc.tree, goldenSelection())
			assert.NilError(t, err)
			for _, f := range goldenFiles() {
				assert.NilError(t, w.file(&f))
			}
			assert.NilError(t, w.close())
			golden.Assert(t, buf.String(), "ls-"+tc.name+".golden")
		})
	}
	t.Run("history", func(t *testing.T) {
		var buf bytes.Buffer
		steps := []analyze.Step{{Layer: 0, Kind: 'A', Type: tar.TypeReg, Size: 10}, {Layer: 1, Kind: 'C', Type: tar.TypeReg, Size: 12}}
		steps[1].What = 1 // content
		assert.NilError(t, lsHistoryWrite(formatter.Context{Output: &buf, Format: newLsHistoryFormat(""), Trunc: true}, true, goldenSelection(), steps))
		golden.Assert(t, buf.String(), "ls-history.golden")
	})
}

func TestDuWriteGolden(t *testing.T) {
	sel := goldenSelection()
	usage := &analyze.Usage{
		Dirs: []analyze.Dir{
			{Path: "", Bytes: 12345681, Files: 4, Dirs: 3, ByLayer: []int64{3, 12345678}},
			{Path: "app", Depth: 1, Bytes: 12345681, Files: 3, Dirs: 2, ByLayer: []int64{3, 12345678}},
			{Path: "dev", Depth: 1, Files: 1, ByLayer: []int64{0, 0}},
		},
		Top: []analyze.File{{Path: "app/bin/server", Type: tar.TypeReg, Size: 12345678, Layer: 1, DataLayer: 1}, {Path: "app/data/x", Type: tar.TypeReg, Size: 3, Layer: 0, DataLayer: 0}},
	}
	for _, tc := range []struct {
		name, format  string
		perLayer, top bool
	}{
		{name: "table"},
		{name: "json", format: "json"},
		{name: "per-layer", perLayer: true},
		{name: "top", top: true},
		{name: "top-json", format: "json", top: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			usages := []*analyze.Usage{usage}
			if tc.perLayer {
				usages = append(usages, &analyze.Usage{Dirs: []analyze.Dir{{Path: "", Bytes: 7, Files: 1, ByLayer: []int64{0, 7}}}})
			}
			rows := newDuRows(sel, usages, tc.perLayer, tc.top)
			assert.NilError(t, duWrite(formatter.Context{Output: &buf, Format: newDuFormat(tc.format, tc.perLayer, tc.top), Trunc: true}, true, rows))
			golden.Assert(t, buf.String(), "du-"+tc.name+".golden")
		})
	}
}

func TestTreeNames(t *testing.T) {
	got := treeNames(goldenFiles())
	want := []string{
		"├── app",
		"│   ├── bin",
		"│   │   ├── server",
		"│   │   └── srv",
		"│   ├── data",
		"│   │   └── x",
		"│   └── run",
		"└── dev",
		"    └── null",
	}
	assert.DeepEqual(t, got, want)
}

func TestLsMode(t *testing.T) {
	for _, c := range []struct {
		typ  byte
		mode int64
		want string
	}{
		{tar.TypeReg, 0o644, "-rw-r--r--"},
		{tar.TypeDir, 0o1777, "drwxrwxrwt"},
		{tar.TypeDir, 0o1770, "drwxrwx--T"},
		{tar.TypeReg, 0o4755, "-rwsr-xr-x"},
		{tar.TypeReg, 0o6644, "-rwSr-Sr--"},
		{tar.TypeSymlink, 0o777, "lrwxrwxrwx"},
		{tar.TypeLink, 0o600, "hrw-------"},
		{tar.TypeChar, 0o666, "crw-rw-rw-"},
		{tar.TypeBlock, 0o660, "brw-rw----"},
		{tar.TypeFifo, 0o600, "prw-------"},
	} {
		if got := lsMode(c.typ, c.mode); got != c.want {
			t.Errorf("lsMode(%c, %o) = %s, want %s", c.typ, c.mode, got, c.want)
		}
	}
}

// TestRowStreamBlocks: a long table streams in aligned blocks, its header
// once; JSON and templates write a row a line.
func TestRowStreamBlocks(t *testing.T) {
	var buf bytes.Buffer
	s, err := newRowStream(formatter.Context{Output: &buf, Format: newLsFormat("table {{.Path}}\t{{.Size}}")}, lsHeader())
	assert.NilError(t, err)
	f := analyze.File{Path: "x", Type: tar.TypeReg, Size: 1}
	for i := 0; i < streamBlock+1; i++ {
		if i == streamBlock {
			f.Path = strings.Repeat("y", 30)
		}
		assert.NilError(t, s.row(&lsContext{f: f}))
		if i == streamBlock-1 {
			// The first block is out before the last row comes.
			assert.Equal(t, strings.Count(buf.String(), "\n"), 0) // still in the bufio.Writer
		}
	}
	assert.NilError(t, s.close())
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	assert.Equal(t, len(lines), streamBlock+2)
	assert.Equal(t, lines[0], "PATH      SIZE")
	assert.Equal(t, lines[1], "/x        1")
	assert.Equal(t, lines[len(lines)-1], "/"+strings.Repeat("y", 30)+"   1")
}
