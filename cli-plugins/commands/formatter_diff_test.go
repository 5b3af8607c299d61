package commands

import (
	"archive/tar"
	"bytes"
	"strings"
	"testing"

	"github.com/docker-layers/docker-layers/flatten"
	"github.com/docker/cli/cli/command/formatter"
	"gotest.tools/v3/assert"
	"gotest.tools/v3/golden"
)

func goldenDiffRows() []diffRow {
	id := func(c string) string { return "sha256:" + strings.Repeat(c, 64) }
	return []diffRow{
		{diffID: id("1"), c: flatten.Change{Layer: 1, Kind: flatten.Added, Path: "app", Type: tar.TypeDir}},
		{diffID: id("1"), c: flatten.Change{Layer: 1, Kind: flatten.Added, Path: "app/bin/server", Type: tar.TypeReg, Size: 12345678}},
		{diffID: id("1"), c: flatten.Change{Layer: 1, Kind: flatten.Changed, Path: "etc/passwd", Type: tar.TypeReg, Size: 1024, What: flatten.ChangedContent | flatten.ChangedMode}},
		{diffID: id("2"), c: flatten.Change{Layer: 2, Kind: flatten.Changed, Path: "etc/os-release", Type: tar.TypeSymlink, What: flatten.ChangedType}},
		{diffID: id("2"), c: flatten.Change{Layer: 2, Kind: flatten.Changed, Path: "srv", Type: tar.TypeDir, What: flatten.ChangedOwner}},
		{diffID: id("2"), c: flatten.Change{Layer: 2, Kind: flatten.Deleted, Path: "var/cache", Type: tar.TypeDir, Size: 2500000}},
	}
}

func goldenDiffSummary() []diffSummaryRow {
	id := func(c string) string { return "sha256:" + strings.Repeat(c, 64) }
	return []diffSummaryRow{
		{layer: 0, diffID: id("0"), sum: flatten.LayerSummary{Added: 1200, AddedBytes: 5800000, Wasted: 2501024}},
		{layer: 1, diffID: id("1"), sum: flatten.LayerSummary{Added: 2, AddedBytes: 12345678, Changed: 1, ChangedBytes: 1024}},
		{layer: 2, diffID: id("2"), sum: flatten.LayerSummary{Changed: 2, Deleted: 1, DeletedBytes: 2500000}},
	}
}

func TestDiffWriteGolden(t *testing.T) {
	for _, tc := range []struct {
		name    string
		format  string
		human   bool
		noTrunc bool
	}{
		{name: "table", format: "table", human: true},
		{name: "table-bytes", format: "table"},
		{name: "json", format: "json", human: true},
		{name: "template", format: "{{.Layer}} {{.DiffID}} {{.Change}} {{.Path}} {{.What}}", noTrunc: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := diffWrite(formatter.Context{Output: &buf, Format: newDiffFormat(tc.format), Trunc: !tc.noTrunc}, tc.human, goldenDiffRows())
			assert.NilError(t, err)
			golden.Assert(t, buf.String(), "diff-"+tc.name+".golden")
		})
		t.Run("summary-"+tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			format := tc.format
			if strings.Contains(format, "{{") {
				format = "{{.Layer}} {{.DiffID}} {{.Added}}/{{.Changed}}/{{.Deleted}} {{.Wasted}}"
			}
			err := diffSummaryWrite(formatter.Context{Output: &buf, Format: newDiffSummaryFormat(format), Trunc: !tc.noTrunc}, tc.human, goldenDiffSummary())
			assert.NilError(t, err)
			golden.Assert(t, buf.String(), "diff-summary-"+tc.name+".golden")
		})
	}
}
