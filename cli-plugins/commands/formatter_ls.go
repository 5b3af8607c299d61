package commands

import (
	"archive/tar"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/docker-layers/docker-layers/analyze"
	"github.com/docker-layers/docker-layers/flatten"
	"github.com/docker-layers/docker-layers/source"
	"github.com/docker/cli/cli/command/formatter"
)

const (
	defaultLsTableFormat        = "table {{.Mode}}\t{{.Owner}}\t{{.Size}}\t{{.Layer}}\t{{.DiffID}}\t{{.Entry}}"
	defaultLsHistoryTableFormat = "table {{.Layer}}\t{{.DiffID}}\t{{.Change}}\t{{.Type}}\t{{.Size}}\t{{.What}}\t{{.CreatedBy}}"

	modeHeader  = "MODE"
	ownerHeader = "OWNER"
)

func newLsFormat(source string) formatter.Format {
	if source == "" || source == formatter.TableFormatKey {
		return defaultLsTableFormat
	}
	return formatter.Format(source)
}

// lsWriter writes the rows of "docker layers ls" as List gives them; with
// --tree it holds them to draw the tree.
type lsWriter struct {
	s      *rowStream
	human  bool
	trunc  bool
	sel    *source.Selection
	tree   []analyze.File // --tree: the rows held
	isTree bool
}

func newLsWriter(fmtCtx formatter.Context, human, tree bool, sel *source.Selection) (*lsWriter, error) {
	s, err := newRowStream(fmtCtx, lsHeader())
	if err != nil {
		return nil, err
	}
	return &lsWriter{s: s, human: human, trunc: fmtCtx.Trunc, sel: sel, isTree: tree}, nil
}

func lsHeader() formatter.SubContext {
	ctx := &lsContext{}
	ctx.Header = formatter.SubHeaderContext{
		"Mode":    modeHeader,
		"Owner":   ownerHeader,
		"Size":    formatter.SizeHeader,
		"Layer":   layerHeader,
		"DiffID":  diffIDHeader,
		"Entry":   pathHeader,
		"Path":    pathHeader,
		"Type":    typeHeader,
		"Link":    "LINK",
		"UID":     "UID",
		"GID":     "GID",
		"ModTime": "MODIFIED",
	}
	return ctx
}

// file takes one row from List.
func (w *lsWriter) file(f *analyze.File) error {
	if w.isTree {
		w.tree = append(w.tree, *f)
		return nil
	}
	return w.s.row(w.context(*f, ""))
}

func (w *lsWriter) context(f analyze.File, name string) *lsContext {
	diffID := ""
	if f.Layer >= 0 {
		f.Layer = w.sel.Selected[f.Layer]
		diffID = w.sel.Ancestry.Layers[f.Layer].DiffID.String()
	}
	return &lsContext{f: f, diffID: diffID, human: w.human, trunc: w.trunc, name: name}
}

// close draws the tree, if any, and flushes the output.
func (w *lsWriter) close() error {
	if w.isTree {
		names := treeNames(w.tree)
		for i, f := range w.tree {
			if err := w.s.row(w.context(f, names[i])); err != nil {
				return err
			}
		}
	}
	return w.s.close()
}

// treeNames draws rows (in walk order, Depth 1 for the listed root's
// children) as a tree: each name after the branches of its ancestors.
// One pass from the end: later[d] tells whether a row at depth d comes
// later with no shallower row in between, that is, whether the row's
// ancestor at depth d (or the row itself) has a later sibling.
func treeNames(rows []analyze.File) []string {
	names := make([]string, len(rows))
	var later []bool
	var b strings.Builder
	for i := len(rows) - 1; i >= 0; i-- {
		f := rows[i]
		for len(later) <= f.Depth {
			later = append(later, false)
		}
		b.Reset()
		for d := 1; d < f.Depth; d++ {
			if later[d] {
				b.WriteString("│   ")
			} else {
				b.WriteString("    ")
			}
		}
		if later[f.Depth] {
			b.WriteString("├── ")
		} else {
			b.WriteString("└── ")
		}
		b.WriteString(f.Path[strings.LastIndexByte(f.Path, '/')+1:])
		names[i] = b.String()
		later[f.Depth] = true
		clear(later[f.Depth+1:])
	}
	return names
}

type lsContext struct {
	formatter.HeaderContext
	f      analyze.File
	diffID string
	human  bool
	trunc  bool
	name   string // --tree: the drawn name
}

// MarshalJSON gives every field, with sizes in bytes and the layer as a
// number (-1: no layer).
func (c *lsContext) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Path    string
		Type    string
		Mode    string
		UID     int
		GID     int
		Size    int64
		Link    string `json:",omitempty"`
		ModTime time.Time
		Layer   int
		DiffID  string `json:",omitempty"`
	}{"/" + c.f.Path, c.Type(), c.Mode(), c.f.UID, c.f.GID, c.f.Size, c.Link(), c.f.ModTime.UTC(), c.f.Layer, c.diffID})
}

// Mode is the type and permissions as "ls -l" and "tar -tv" show them:
// d directory, l symlink, h second name of a file, c/b devices, p fifo.
func (c *lsContext) Mode() string { return lsMode(c.f.Type, c.f.Mode) }

func (c *lsContext) Owner() string { return strconv.Itoa(c.f.UID) + ":" + strconv.Itoa(c.f.GID) }

func (c *lsContext) UID() string { return strconv.Itoa(c.f.UID) }

func (c *lsContext) GID() string { return strconv.Itoa(c.f.GID) }

func (c *lsContext) Size() string { return formatSize(c.f.Size, c.human) }

func (c *lsContext) Type() string { return flatten.TypeName(c.f.Type) }

// Layer is the index of the layer that last wrote the path.
func (c *lsContext) Layer() string {
	if c.f.Layer < 0 {
		return "-"
	}
	return strconv.Itoa(c.f.Layer)
}

func (c *lsContext) DiffID() string {
	switch {
	case c.diffID == "":
		return "-"
	case c.trunc:
		return formatter.TruncateID(c.diffID)
	}
	return c.diffID
}

// Path is the path from the root.
func (c *lsContext) Path() string { return "/" + c.f.Path }

// Link is a symlink's target, or the path that holds a hardlink's file.
func (c *lsContext) Link() string {
	if c.f.Type == tar.TypeLink {
		return "/" + c.f.Link
	}
	return c.f.Link
}

func (c *lsContext) ModTime() string { return c.f.ModTime.UTC().Format(time.RFC3339) }

// Entry is the path (with --tree, its name in the tree) and where it
// links to.
func (c *lsContext) Entry() string {
	s := c.name
	if s == "" {
		s = c.Path()
	}
	switch c.f.Type {
	case tar.TypeSymlink:
		s += " -> " + c.f.Link
	case tar.TypeLink:
		s += " link to " + c.Link()
	}
	return s
}

// lsMode renders a type and permission bits as "ls -l" does.
func lsMode(typ byte, mode int64) string {
	b := []byte("-rwxrwxrwx")
	switch typ {
	case tar.TypeDir:
		b[0] = 'd'
	case tar.TypeSymlink:
		b[0] = 'l'
	case tar.TypeLink:
		b[0] = 'h'
	case tar.TypeChar:
		b[0] = 'c'
	case tar.TypeBlock:
		b[0] = 'b'
	case tar.TypeFifo:
		b[0] = 'p'
	}
	for i := 0; i < 9; i++ {
		if mode&(1<<(8-i)) == 0 {
			b[1+i] = '-'
		}
	}
	special := func(bit int64, at int, set, unset byte) {
		if mode&bit != 0 {
			if b[at] == '-' {
				b[at] = unset
			} else {
				b[at] = set
			}
		}
	}
	special(0o4000, 3, 's', 'S')
	special(0o2000, 6, 's', 'S')
	special(0o1000, 9, 't', 'T')
	return string(b)
}

func newLsHistoryFormat(source string) formatter.Format {
	if source == "" || source == formatter.TableFormatKey {
		return defaultLsHistoryTableFormat
	}
	return formatter.Format(source)
}

// lsHistoryWrite writes the steps of ls --history.
func lsHistoryWrite(fmtCtx formatter.Context, human bool, sel *source.Selection, steps []analyze.Step) error {
	render := func(format func(subContext formatter.SubContext) error) error {
		for _, s := range steps {
			s.Layer = sel.Selected[s.Layer]
			l := sel.Ancestry.Layers[s.Layer]
			createdBy := ""
			if l.Step >= 0 {
				createdBy = sel.Ancestry.Steps[l.Step].CreatedBy
			}
			if err := format(&lsHistoryContext{s: s, diffID: l.DiffID.String(), createdBy: createdBy, human: human, trunc: fmtCtx.Trunc}); err != nil {
				return err
			}
		}
		return nil
	}
	ctx := &lsHistoryContext{}
	ctx.Header = formatter.SubHeaderContext{
		"Layer":     layerHeader,
		"DiffID":    diffIDHeader,
		"Change":    changeHeader,
		"Type":      typeHeader,
		"Size":      formatter.SizeHeader,
		"What":      whatHeader,
		"CreatedBy": createdByHeader,
	}
	return fmtCtx.Write(ctx, render)
}

type lsHistoryContext struct {
	formatter.HeaderContext
	s         analyze.Step
	diffID    string
	createdBy string
	human     bool
	trunc     bool
}

func (c *lsHistoryContext) MarshalJSON() ([]byte, error) {
	return formatter.MarshalJSON(c)
}

func (c *lsHistoryContext) Layer() string { return strconv.Itoa(c.s.Layer) }

func (c *lsHistoryContext) DiffID() string {
	if c.trunc {
		return formatter.TruncateID(c.diffID)
	}
	return c.diffID
}

// Change is A, C or D.
func (c *lsHistoryContext) Change() string { return c.s.Kind.String() }

func (c *lsHistoryContext) Type() string { return flatten.TypeName(c.s.Type) }

func (c *lsHistoryContext) Size() string { return formatSize(c.s.Size, c.human) }

func (c *lsHistoryContext) What() string { return strings.Join(c.s.What.Strings(), ",") }

// CreatedBy is the history step that made the layer, shortened as
// "docker history" shortens it unless --no-trunc.
func (c *lsHistoryContext) CreatedBy() string {
	createdBy := strings.ReplaceAll(c.createdBy, "\t", " ")
	if c.trunc {
		return formatter.Ellipsis(createdBy, 45)
	}
	return createdBy
}
