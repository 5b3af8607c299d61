package commands

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/docker-layers/docker-layers/inspect"
	"github.com/docker/cli/cli/command/formatter"
	"github.com/opencontainers/go-digest"
	"gotest.tools/v3/assert"
	"gotest.tools/v3/golden"
)

// goldenAncestry: three layers, a step that made none, one inferred step.
func goldenAncestry() *inspect.Ancestry {
	t0 := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	id := func(c string) string { return "sha256:" + strings.Repeat(c, 64) }
	a := &inspect.Ancestry{ID: id("f")}
	a.Steps = []inspect.Step{
		{ImageID: id("a"), Created: t0, CreatedBy: "/bin/sh -c #(nop) ADD file:123 in / ", Size: 1000, Layer: 0},
		{ImageID: id("b"), Created: t0, CreatedBy: "/bin/sh -c #(nop)  ENV PATH=/bin", Layer: -1, Tags: []string{"app:base"}},
		{Created: t0, CreatedBy: "RUN /bin/sh -c rm -rf /var/cache/a-very-long-directory-name # buildkit", Layer: 1, Inferred: true},
		{ImageID: id("f"), Created: t0, CreatedBy: "COPY app /app", Size: 2048, Layer: 2, Tags: []string{"app:latest"}},
	}
	for i, s := range []int{0, 2, 3} {
		l := inspect.Layer{Index: i, DiffID: digest.Digest(id(string("123"[i]))), Step: s, Size: a.Steps[s].Size}
		l.ImageIDs = []string{a.Steps[s].ImageID}
		a.Layers = append(a.Layers, l)
	}
	a.Layers[0].ImageIDs, a.Layers[0].Tags = []string{id("a"), id("b")}, []string{"app:base"}
	a.Layers[2].Tags = []string{"app:latest"}
	return a
}

func TestLayersWriteGolden(t *testing.T) {
	t.Setenv("TZ", "UTC")
	a := goldenAncestry()
	for _, tc := range []struct {
		name    string
		format  string
		quiet   bool
		human   bool
		noTrunc bool
		all     bool
	}{
		{name: "table", format: "table"},
		{name: "table-all-notrunc", format: "table", all: true, noTrunc: true},
		{name: "quiet", format: "table", quiet: true},
		{name: "json", format: "json"},
		{name: "template", format: "{{.Index}} {{.DiffID}} {{.Size}} {{.CumulativeSize}} {{.Tags}}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			rows := inspectRows(a, []int{0, 1, 2}, tc.all)
			err := layersWrite(formatter.Context{Output: &buf, Format: newLayersFormat(tc.format, tc.quiet, tc.human), Trunc: !tc.noTrunc}, tc.human, rows)
			assert.NilError(t, err)
			golden.Assert(t, buf.String(), "inspect-"+tc.name+".golden")
		})
	}
}
