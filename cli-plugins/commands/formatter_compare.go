package commands

import (
	"archive/tar"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/docker-layers/docker-layers/compare"
	"github.com/docker-layers/docker-layers/flatten"
	"github.com/docker/cli/cli/command/formatter"
)

const (
	defaultCompareTableFormat        = "table {{.Change}}\t{{.Type}}\t{{.Size}}\t{{.What}}\t{{.Path}}"
	defaultCompareSummaryTableFormat = "table {{.Added}}\t{{.AddedSize}}\t{{.Changed}}\t{{.ChangedSize}}\t{{.Deleted}}\t{{.DeletedSize}}"
	defaultCompareConfigTableFormat  = "table {{.Change}}\t{{.Field}}\t{{.A}}\t{{.B}}"

	fieldHeader = "FIELD"
	aHeader     = "A"
	bHeader     = "B"
)

func newCompareFormat(source string) formatter.Format {
	if source == formatter.TableFormatKey {
		return defaultCompareTableFormat
	}
	return formatter.Format(source)
}

func compareWrite(fmtCtx formatter.Context, human bool, rows []flatten.Difference) error {
	render := func(format func(subContext formatter.SubContext) error) error {
		for _, d := range rows {
			if err := format(&compareContext{human: human, d: d}); err != nil {
				return err
			}
		}
		return nil
	}
	ctx := &compareContext{}
	ctx.Header = formatter.SubHeaderContext{
		"Change":  changeHeader,
		"Type":    typeHeader,
		"Size":    formatter.SizeHeader,
		"What":    whatHeader,
		"Path":    pathHeader,
		"TypeA":   "A TYPE",
		"TypeB":   "B TYPE",
		"SizeA":   "A SIZE",
		"SizeB":   "B SIZE",
		"ModeA":   "A MODE",
		"ModeB":   "B MODE",
		"DigestA": "A DIGEST",
		"DigestB": "B DIGEST",
	}
	return fmtCtx.Write(ctx, render)
}

// compareContext is one row of "docker layers compare": a path in which
// the two images differ.
type compareContext struct {
	formatter.HeaderContext
	human bool
	d     flatten.Difference
}

// pathJSON is one side of a row in JSON.
type pathJSON struct {
	Type     string            `json:"Type"`
	Mode     string            `json:"Mode"`
	UID      int               `json:"UID"`
	GID      int               `json:"GID"`
	Size     int64             `json:"Size"`
	Linkname string            `json:"Linkname,omitempty"`
	Device   string            `json:"Device,omitempty"`
	ModTime  time.Time         `json:"ModTime"`
	Xattrs   map[string]string `json:"Xattrs,omitempty"`
	Digest   string            `json:"Digest,omitempty"`
}

func sideJSON(p flatten.PathInfo) *pathJSON {
	j := &pathJSON{
		Type: flatten.TypeName(p.Type), Mode: fmt.Sprintf("%04o", p.Mode), UID: p.UID, GID: p.GID,
		Size: p.Size, Linkname: p.Linkname, ModTime: p.ModTime, Xattrs: p.Xattrs, Digest: p.Digest,
	}
	switch p.Type {
	case tar.TypeChar, tar.TypeBlock:
		j.Device = fmt.Sprintf("%d,%d", p.Devmajor, p.Devminor)
	case tar.TypeLink:
		j.Linkname = "/" + p.Linkname // a path of the image, as Path
	}
	return j
}

// MarshalJSON gives both sides in full: {"Change", "Path", "What", "A",
// "B"}, the absent side null.
func (c *compareContext) MarshalJSON() ([]byte, error) {
	v := struct {
		Change string
		Path   string
		What   []string
		A, B   *pathJSON
	}{Change: c.Change(), Path: c.Path(), What: c.d.What.Strings()}
	if c.d.What == 0 {
		v.What = []string{}
	}
	if c.d.Kind != flatten.Added {
		v.A = sideJSON(c.d.A)
	}
	if c.d.Kind != flatten.Deleted {
		v.B = sideJSON(c.d.B)
	}
	return json.Marshal(v)
}

// Change is A (only in IMAGE_B), C or D (only in IMAGE_A).
func (c *compareContext) Change() string { return c.d.Kind.String() }

// Path is the path from the image's root.
func (c *compareContext) Path() string { return "/" + c.d.Path }

// What lists what a C changed.
func (c *compareContext) What() string { return strings.Join(c.d.What.Strings(), ",") }

// shown is the side a single-valued column shows: IMAGE_A's for D, else
// IMAGE_B's.
func (c *compareContext) shown() flatten.PathInfo {
	if c.d.Kind == flatten.Deleted {
		return c.d.A
	}
	return c.d.B
}

// Type is the path's type; "file→dir" when it changed.
func (c *compareContext) Type() string {
	if c.d.What&flatten.ChangedType != 0 {
		return flatten.TypeName(c.d.A.Type) + "→" + flatten.TypeName(c.d.B.Type)
	}
	return flatten.TypeName(c.shown().Type)
}

// Size is the file's bytes: IMAGE_B's, or IMAGE_A's for D.
func (c *compareContext) Size() string { return formatSize(c.shown().Size, c.human) }

func (c *compareContext) TypeA() string {
	return c.side(c.d.A, flatten.Added, func(p flatten.PathInfo) string { return flatten.TypeName(p.Type) })
}
func (c *compareContext) TypeB() string {
	return c.side(c.d.B, flatten.Deleted, func(p flatten.PathInfo) string { return flatten.TypeName(p.Type) })
}
func (c *compareContext) SizeA() string {
	return c.side(c.d.A, flatten.Added, func(p flatten.PathInfo) string { return formatSize(p.Size, c.human) })
}
func (c *compareContext) SizeB() string {
	return c.side(c.d.B, flatten.Deleted, func(p flatten.PathInfo) string { return formatSize(p.Size, c.human) })
}
func (c *compareContext) ModeA() string   { return c.side(c.d.A, flatten.Added, modeString) }
func (c *compareContext) ModeB() string   { return c.side(c.d.B, flatten.Deleted, modeString) }
func (c *compareContext) DigestA() string { return c.side(c.d.A, flatten.Added, digestOf) }
func (c *compareContext) DigestB() string { return c.side(c.d.B, flatten.Deleted, digestOf) }

// side formats p with fn, or gives "" when the row's kind is absent (the
// side does not have the path).
func (c *compareContext) side(p flatten.PathInfo, absent flatten.ChangeKind, fn func(flatten.PathInfo) string) string {
	if c.d.Kind == absent {
		return ""
	}
	return fn(p)
}

func modeString(p flatten.PathInfo) string { return fmt.Sprintf("%04o", p.Mode) }
func digestOf(p flatten.PathInfo) string   { return p.Digest }

// summarize counts the rows and the bytes of their regular files: IMAGE_B's
// for A and C, IMAGE_A's for D.
func summarize(ds []flatten.Difference) flatten.LayerSummary {
	var s flatten.LayerSummary
	for _, d := range ds {
		switch d.Kind {
		case flatten.Added:
			s.Added++
			s.AddedBytes += regularBytes(d.B)
		case flatten.Changed:
			s.Changed++
			s.ChangedBytes += regularBytes(d.B)
		case flatten.Deleted:
			s.Deleted++
			s.DeletedBytes += regularBytes(d.A)
		}
	}
	return s
}

// regularBytes is the size of a regular file, 0 for anything else (a
// hardlink's bytes are its file's).
func regularBytes(p flatten.PathInfo) int64 {
	if p.Type == tar.TypeReg {
		return p.Size
	}
	return 0
}

func newCompareSummaryFormat(source string) formatter.Format {
	if source == formatter.TableFormatKey {
		return defaultCompareSummaryTableFormat
	}
	return formatter.Format(source)
}

func compareSummaryWrite(fmtCtx formatter.Context, human bool, s flatten.LayerSummary) error {
	render := func(format func(subContext formatter.SubContext) error) error {
		return format(&compareSummaryContext{countCells: countCells{human: human, sum: s}})
	}
	ctx := &compareSummaryContext{}
	ctx.Header = formatter.SubHeaderContext{
		"Added":       addedHeader,
		"AddedSize":   addedSizeHeader,
		"Changed":     changedHeader,
		"ChangedSize": changedSizeHeader,
		"Deleted":     deletedHeader,
		"DeletedSize": deletedSizeHeader,
	}
	return fmtCtx.Write(ctx, render)
}

type compareSummaryContext struct {
	formatter.HeaderContext
	countCells
}

// MarshalJSON gives the counts and the bytes as numbers.
func (c *compareSummaryContext) MarshalJSON() ([]byte, error) {
	s := c.sum
	return json.Marshal(struct {
		Added, Changed, Deleted                int
		AddedBytes, ChangedBytes, DeletedBytes int64
	}{s.Added, s.Changed, s.Deleted, s.AddedBytes, s.ChangedBytes, s.DeletedBytes})
}

func newCompareConfigFormat(source string) formatter.Format {
	if source == formatter.TableFormatKey {
		return defaultCompareConfigTableFormat
	}
	return formatter.Format(source)
}

func compareConfigWrite(fmtCtx formatter.Context, rows []compare.ConfigChange) error {
	render := func(format func(subContext formatter.SubContext) error) error {
		for _, r := range rows {
			if err := format(&compareConfigContext{trunc: fmtCtx.Trunc, r: r}); err != nil {
				return err
			}
		}
		return nil
	}
	ctx := &compareConfigContext{}
	ctx.Header = formatter.SubHeaderContext{
		"Change": changeHeader,
		"Field":  fieldHeader,
		"A":      aHeader,
		"B":      bHeader,
	}
	return fmtCtx.Write(ctx, render)
}

// compareConfigContext is one row of "docker layers compare --config".
type compareConfigContext struct {
	formatter.HeaderContext
	trunc bool
	r     compare.ConfigChange
}

func (c *compareConfigContext) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct{ Change, Field, A, B string }{c.Change(), c.r.Field, c.r.A, c.r.B})
}

func (c *compareConfigContext) Change() string { return c.r.Change.String() }
func (c *compareConfigContext) Field() string  { return c.r.Field }

// A is the value in IMAGE_A; a digest is truncated unless --no-trunc.
func (c *compareConfigContext) A() string { return c.value(c.r.A) }

// B is the value in IMAGE_B.
func (c *compareConfigContext) B() string { return c.value(c.r.B) }

func (c *compareConfigContext) value(v string) string {
	if c.trunc && strings.HasPrefix(v, "sha256:") {
		return formatter.TruncateID(v)
	}
	return v
}
