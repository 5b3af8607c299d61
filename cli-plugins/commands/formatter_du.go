package commands

import (
	"cmp"
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	"github.com/docker-layers/docker-layers/analyze"
	"github.com/docker-layers/docker-layers/source"
	"github.com/docker/cli/cli/command/formatter"
)

const (
	defaultDuTableFormat         = "table {{.Size}}\t{{.Files}}\t{{.Dirs}}\t{{.Path}}"
	defaultDuPerLayerTableFormat = "table {{.Layer}}\t{{.DiffID}}\t{{.Size}}\t{{.Files}}\t{{.Dirs}}\t{{.Path}}"
	defaultDuTopTableFormat      = "table {{.Size}}\t{{.Layer}}\t{{.DiffID}}\t{{.Path}}"

	filesHeader = "FILES"
	dirsHeader  = "DIRS"
)

func newDuFormat(source string, perLayer, top bool) formatter.Format {
	if source != "" && source != formatter.TableFormatKey {
		return formatter.Format(source)
	}
	switch {
	case top:
		return defaultDuTopTableFormat
	case perLayer:
		return defaultDuPerLayerTableFormat
	}
	return defaultDuTableFormat
}

// duRow is one row of "docker layers du": a directory, or with --top a
// file. layer is the image's layer index: the layer summed alone
// (--per-layer), the layer that stores a file's bytes (--top), else -1.
type duRow struct {
	layer   int
	diffID  string
	dir     analyze.Dir
	file    *analyze.File
	byLayer map[string]int64 // JSON: bytes by layer index, image indexes
}

// newDuRows orders what DiskUsage gave: directories largest first (by
// layer with --per-layer), or the largest files; indexes are the
// image's.
func newDuRows(sel *source.Selection, usages []*analyze.Usage, perLayer, top bool) []duRow {
	var rows []duRow
	diffID := func(i int) string { return sel.Ancestry.Layers[i].DiffID.String() }
	for k, u := range usages {
		layer := -1
		if perLayer {
			layer = sel.Selected[k]
		}
		if top {
			for _, f := range u.Top {
				f := f
				// The layer that stores the file's bytes.
				l := sel.Selected[f.DataLayer]
				rows = append(rows, duRow{layer: l, diffID: diffID(l), file: &f})
			}
			continue
		}
		dirs := slices.Clone(u.Dirs)
		slices.SortStableFunc(dirs, func(a, b analyze.Dir) int {
			if c := cmp.Compare(b.Bytes, a.Bytes); c != 0 {
				return c
			}
			return strings.Compare(a.Path, b.Path)
		})
		for _, d := range dirs {
			r := duRow{layer: layer, dir: d, byLayer: map[string]int64{}}
			if layer >= 0 {
				r.diffID = diffID(layer)
			}
			for i, b := range d.ByLayer {
				if b != 0 {
					r.byLayer[strconv.Itoa(sel.Selected[i])] = b
				}
			}
			rows = append(rows, r)
		}
	}
	if top && perLayer {
		slices.SortStableFunc(rows, func(a, b duRow) int { return cmp.Compare(b.file.Size, a.file.Size) })
	}
	return rows
}

func duWrite(fmtCtx formatter.Context, human bool, rows []duRow) error {
	render := func(format func(subContext formatter.SubContext) error) error {
		for _, r := range rows {
			if err := format(&duContext{r: r, human: human, trunc: fmtCtx.Trunc}); err != nil {
				return err
			}
		}
		return nil
	}
	ctx := &duContext{}
	ctx.Header = formatter.SubHeaderContext{
		"Size":   formatter.SizeHeader,
		"Files":  filesHeader,
		"Dirs":   dirsHeader,
		"Layer":  layerHeader,
		"DiffID": diffIDHeader,
		"Path":   pathHeader,
	}
	return fmtCtx.Write(ctx, render)
}

type duContext struct {
	formatter.HeaderContext
	r     duRow
	human bool
	trunc bool
}

// MarshalJSON gives sizes and counts as numbers; a directory's bytes by
// the layer that wrote them.
func (c *duContext) MarshalJSON() ([]byte, error) {
	if f := c.r.file; f != nil {
		return json.Marshal(struct {
			Path   string
			Size   int64
			Layer  int
			DiffID string
		}{"/" + f.Path, f.Size, c.r.layer, c.r.diffID})
	}
	d := c.r.dir
	v := struct {
		Path    string
		Size    int64
		Files   int64
		Dirs    int64
		Layer   *int             `json:",omitempty"`
		DiffID  string           `json:",omitempty"`
		ByLayer map[string]int64 `json:",omitempty"`
	}{Path: "/" + d.Path, Size: d.Bytes, Files: d.Files, Dirs: d.Dirs, DiffID: c.r.diffID, ByLayer: c.r.byLayer}
	if c.r.layer >= 0 {
		v.Layer = &c.r.layer
	}
	return json.Marshal(v)
}

func (c *duContext) Size() string {
	if c.r.file != nil {
		return formatSize(c.r.file.Size, c.human)
	}
	return formatSize(c.r.dir.Bytes, c.human)
}

func (c *duContext) Files() string { return strconv.FormatInt(c.r.dir.Files, 10) }

func (c *duContext) Dirs() string { return strconv.FormatInt(c.r.dir.Dirs, 10) }

// Layer is the layer summed (--per-layer) or the file's (--top).
func (c *duContext) Layer() string {
	if c.r.layer < 0 {
		return "-"
	}
	return strconv.Itoa(c.r.layer)
}

func (c *duContext) DiffID() string {
	switch {
	case c.r.diffID == "":
		return "-"
	case c.trunc:
		return formatter.TruncateID(c.r.diffID)
	}
	return c.r.diffID
}

// Path is the directory's (or file's) path from the root.
func (c *duContext) Path() string {
	if c.r.file != nil {
		return "/" + c.r.file.Path
	}
	return "/" + c.r.dir.Path
}
