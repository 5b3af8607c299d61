package commands

import (
	"archive/tar"
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/docker-layers/docker-layers/compare"
	"github.com/docker-layers/docker-layers/flatten"
	"github.com/docker/cli/cli/command/formatter"
	"gotest.tools/v3/assert"
	"gotest.tools/v3/golden"
)

func goldenCompareRows() []flatten.Difference {
	t0 := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	file := func(size int64, mode int64, digest string) flatten.PathInfo {
		return flatten.PathInfo{Type: tar.TypeReg, Mode: mode, Size: size, ModTime: t0, Digest: digest}
	}
	dir := flatten.PathInfo{Type: tar.TypeDir, Mode: 0o755, ModTime: t0}
	sum := func(c string) string { return "sha256:" + strings.Repeat(c, 64) }
	return []flatten.Difference{
		{Kind: flatten.Added, Path: "app", B: dir},
		{Kind: flatten.Added, Path: "app/bin/server", B: file(12345678, 0o755, "")},
		{Kind: flatten.Changed, Path: "etc/passwd", What: flatten.ChangedContent | flatten.ChangedMode, A: file(1000, 0o644, sum("a")), B: file(1024, 0o600, sum("b"))},
		{Kind: flatten.Changed, Path: "etc/os-release", What: flatten.ChangedType, A: file(300, 0o644, ""), B: flatten.PathInfo{Type: tar.TypeSymlink, Mode: 0o777, Linkname: "../usr/lib/os-release", ModTime: t0}},
		{Kind: flatten.Changed, Path: "usr/bin/tool", What: flatten.ChangedXattrs, A: file(10, 0o755, sum("c")), B: flatten.PathInfo{Type: tar.TypeReg, Mode: 0o755, Size: 10, ModTime: t0, Digest: sum("c"), Xattrs: map[string]string{"security.capability": "\x01\x00\x00\x02"}}},
		{Kind: flatten.Changed, Path: "usr/bin/tool2", What: flatten.ChangedLink, A: file(10, 0o755, sum("c")), B: flatten.PathInfo{Type: tar.TypeLink, Mode: 0o755, Size: 10, Linkname: "usr/bin/tool", ModTime: t0, Digest: sum("c")}},
		{Kind: flatten.Deleted, Path: "var/cache/x", A: file(2500000, 0o644, "")},
		{Kind: flatten.Deleted, Path: "dev/null", A: flatten.PathInfo{Type: tar.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 3, ModTime: t0}},
	}
}

func TestCompareWriteGolden(t *testing.T) {
	for _, tc := range []struct {
		name   string
		format string
		human  bool
	}{
		{name: "table", format: "table", human: true},
		{name: "table-bytes", format: "table"},
		{name: "json", format: "json"},
		{name: "template", format: "{{.Change}} {{.Path}} {{.What}} {{.TypeA}}/{{.TypeB}} {{.SizeA}}/{{.SizeB}} {{.ModeA}}/{{.ModeB}} {{.DigestB}}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := compareWrite(formatter.Context{Output: &buf, Format: newCompareFormat(tc.format), Trunc: true}, tc.human, goldenCompareRows())
			assert.NilError(t, err)
			golden.Assert(t, buf.String(), "compare-"+tc.name+".golden")
		})
	}
	for _, format := range []string{"table", "json"} {
		t.Run("summary-"+format, func(t *testing.T) {
			var buf bytes.Buffer
			err := compareSummaryWrite(formatter.Context{Output: &buf, Format: newCompareSummaryFormat(format)}, true, summarize(goldenCompareRows()))
			assert.NilError(t, err)
			golden.Assert(t, buf.String(), "compare-summary-"+format+".golden")
		})
	}
	rows := []compare.ConfigChange{
		{Field: "Env[PATH]", Change: flatten.Changed, A: "/usr/bin", B: "/usr/local/bin:/usr/bin"},
		{Field: "Labels[version]", Change: flatten.Added, B: "2"},
		{Field: "Cmd", Change: flatten.Deleted, A: `["sh"]`},
		{Field: "Layers[3]", Change: flatten.Changed, A: "sha256:" + strings.Repeat("1", 64), B: "sha256:" + strings.Repeat("2", 64)},
	}
	for _, tc := range []struct {
		name, format string
		trunc        bool
	}{{"table", "table", true}, {"table-notrunc", "table", false}, {"json", "json", true}} {
		t.Run("config-"+tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := compareConfigWrite(formatter.Context{Output: &buf, Format: newCompareConfigFormat(tc.format), Trunc: tc.trunc}, rows)
			assert.NilError(t, err)
			golden.Assert(t, buf.String(), "compare-config-"+tc.name+".golden")
		})
	}
}
