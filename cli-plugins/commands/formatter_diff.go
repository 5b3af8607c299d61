package commands

import (
	"strconv"
	"strings"

	"github.com/docker-layers/docker-layers/flatten"
	"github.com/docker/cli/cli/command/formatter"
	"github.com/docker/go-units"
)

const (
	defaultDiffTableFormat        = "table {{.Layer}}\t{{.Change}}\t{{.Type}}\t{{.Size}}\t{{.What}}\t{{.Path}}"
	defaultDiffSummaryTableFormat = "table {{.Layer}}\t{{.DiffID}}\t{{.Added}}\t{{.AddedSize}}\t{{.Changed}}\t{{.ChangedSize}}\t{{.Deleted}}\t{{.DeletedSize}}\t{{.Wasted}}"

	layerHeader       = "LAYER"
	changeHeader      = "CHANGE"
	typeHeader        = "TYPE"
	whatHeader        = "WHAT"
	pathHeader        = "PATH"
	addedHeader       = "ADDED"
	addedSizeHeader   = "ADDED SIZE"
	changedHeader     = "CHANGED"
	changedSizeHeader = "CHANGED SIZE"
	deletedHeader     = "DELETED"
	deletedSizeHeader = "DELETED SIZE"
	wastedHeader      = "WASTED"
)

// formatSize prints n as docker does: human units, or bytes.
func formatSize(n int64, human bool) string {
	if human {
		return units.HumanSizeWithPrecision(float64(n), 3)
	}
	return strconv.FormatInt(n, 10)
}

// diffRow is one row of "docker layers diff": a change of one layer.
type diffRow struct {
	diffID string
	c      flatten.Change
}

func newDiffFormat(source string) formatter.Format {
	if source == formatter.TableFormatKey {
		return defaultDiffTableFormat
	}
	return formatter.Format(source)
}

func diffWrite(fmtCtx formatter.Context, human bool, rows []diffRow) error {
	render := func(format func(subContext formatter.SubContext) error) error {
		for _, r := range rows {
			if err := format(&diffContext{trunc: fmtCtx.Trunc, human: human, r: r}); err != nil {
				return err
			}
		}
		return nil
	}
	ctx := &diffContext{}
	ctx.Header = formatter.SubHeaderContext{
		"Layer":  layerHeader,
		"DiffID": diffIDHeader,
		"Change": changeHeader,
		"Type":   typeHeader,
		"Size":   formatter.SizeHeader,
		"What":   whatHeader,
		"Path":   pathHeader,
	}
	return fmtCtx.Write(ctx, render)
}

type diffContext struct {
	formatter.HeaderContext
	trunc bool
	human bool
	r     diffRow
}

func (c *diffContext) MarshalJSON() ([]byte, error) {
	return formatter.MarshalJSON(c)
}

// Layer is the index of the layer that made the change.
func (c *diffContext) Layer() string { return strconv.Itoa(c.r.c.Layer) }

func (c *diffContext) DiffID() string {
	if c.trunc {
		return formatter.TruncateID(c.r.diffID)
	}
	return c.r.diffID
}

// Change is A, C or D.
func (c *diffContext) Change() string { return c.r.c.Kind.String() }

// Type is the path's type after the change (before it, for D).
func (c *diffContext) Type() string { return flatten.TypeName(c.r.c.Type) }

// Size is the bytes the layer stores for the path; for D, the bytes it
// removes.
func (c *diffContext) Size() string { return formatSize(c.r.c.Size, c.human) }

// What lists what a C changed: content, mode, owner, type.
func (c *diffContext) What() string { return strings.Join(c.r.c.What.Strings(), ",") }

// Path is the path from the image's root.
func (c *diffContext) Path() string { return "/" + c.r.c.Path }

// diffSummaryRow is one row of "docker layers diff --summary".
type diffSummaryRow struct {
	layer  int
	diffID string
	sum    flatten.LayerSummary
}

func newDiffSummaryFormat(source string) formatter.Format {
	if source == formatter.TableFormatKey {
		return defaultDiffSummaryTableFormat
	}
	return formatter.Format(source)
}

func diffSummaryWrite(fmtCtx formatter.Context, human bool, rows []diffSummaryRow) error {
	render := func(format func(subContext formatter.SubContext) error) error {
		for _, r := range rows {
			if err := format(&diffSummaryContext{countCells: countCells{human: human, sum: r.sum}, trunc: fmtCtx.Trunc, r: r}); err != nil {
				return err
			}
		}
		return nil
	}
	ctx := &diffSummaryContext{}
	ctx.Header = formatter.SubHeaderContext{
		"Layer":       layerHeader,
		"DiffID":      diffIDHeader,
		"Added":       addedHeader,
		"AddedSize":   addedSizeHeader,
		"Changed":     changedHeader,
		"ChangedSize": changedSizeHeader,
		"Deleted":     deletedHeader,
		"DeletedSize": deletedSizeHeader,
		"Wasted":      wastedHeader,
	}
	return fmtCtx.Write(ctx, render)
}

type diffSummaryContext struct {
	formatter.HeaderContext
	countCells
	trunc bool
	r     diffSummaryRow
}

func (c *diffSummaryContext) MarshalJSON() ([]byte, error) {
	return formatter.MarshalJSON(c)
}

func (c *diffSummaryContext) Layer() string { return strconv.Itoa(c.r.layer) }

func (c *diffSummaryContext) DiffID() string {
	if c.trunc {
		return formatter.TruncateID(c.r.diffID)
	}
	return c.r.diffID
}

// countCells are the count and size columns of a summary of A, C and D
// rows: diff's per layer, compare's.
type countCells struct {
	human bool
	sum   flatten.LayerSummary
}

func (c countCells) Added() string   { return strconv.Itoa(c.sum.Added) }
func (c countCells) Changed() string { return strconv.Itoa(c.sum.Changed) }
func (c countCells) Deleted() string { return strconv.Itoa(c.sum.Deleted) }

func (c countCells) AddedSize() string   { return formatSize(c.sum.AddedBytes, c.human) }
func (c countCells) ChangedSize() string { return formatSize(c.sum.ChangedBytes, c.human) }
func (c countCells) DeletedSize() string { return formatSize(c.sum.DeletedBytes, c.human) }

// Wasted is the bytes of the layer's files that a higher layer replaced or
// deleted.
func (c *diffSummaryContext) Wasted() string { return formatSize(c.r.sum.Wasted, c.human) }
