package commands

import (
	"strconv"
	"strings"
	"time"

	"github.com/docker-layers/docker-layers/inspect"
	"github.com/docker/cli/cli/command/formatter"
	"github.com/docker/go-units"
)

const (
	defaultLayersTableFormat  = "table {{.Index}}\t{{.DiffID}}\t{{.ImageID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.CumulativeSize}}\t{{.Tags}}"
	nonHumanLayersTableFormat = "table {{.Index}}\t{{.DiffID}}\t{{.ImageID}}\t{{.CreatedAt}}\t{{.CreatedBy}}\t{{.Size}}\t{{.CumulativeSize}}\t{{.Tags}}"
	quietLayersFormat         = "{{.DiffID}}"

	indexHeader      = "INDEX"
	diffIDHeader     = "DIFF ID"
	imageIDHeader    = "IMAGE"
	createdByHeader  = "CREATED BY"
	cumulativeHeader = "CUMULATIVE"
	tagsHeader       = "TAGS"
	commentHeader    = "COMMENT"
)

// layerRow is one row of "docker layers inspect": a layer with the step that
// made it, or (with --all) a step that made no layer.
type layerRow struct {
	layer      *inspect.Layer // nil for a step that made no layer
	step       *inspect.Step  // nil when the history does not name the layer
	cumulative int64
	tags       []string
}

// newLayerRow returns the row of a layer (step < 0: the history does not
// name it) or of a step (layer < 0: it made no layer). A step row shows the
// tags of the image the step produced; a layer row, with stepTags false,
// shows the tags of every image that ends at the layer.
func newLayerRow(a *inspect.Ancestry, layer, step int, stepTags bool) layerRow {
	var r layerRow
	if layer >= 0 {
		r.layer = &a.Layers[layer]
		r.cumulative = a.CumulativeSize(layer)
		r.tags = r.layer.Tags
	}
	if step >= 0 {
		r.step = &a.Steps[step]
		if stepTags || layer < 0 {
			r.tags = r.step.Tags
		}
	}
	return r
}

func newLayersFormat(source string, quiet, human bool) formatter.Format {
	if source == formatter.TableFormatKey {
		switch {
		case quiet:
			return quietLayersFormat
		case !human:
			return nonHumanLayersTableFormat
		default:
			return defaultLayersTableFormat
		}
	}
	return formatter.Format(source)
}

func layersWrite(fmtCtx formatter.Context, human bool, rows []layerRow) error {
	render := func(format func(subContext formatter.SubContext) error) error {
		for _, r := range rows {
			if err := format(&layerContext{trunc: fmtCtx.Trunc, human: human, r: r}); err != nil {
				return err
			}
		}
		return nil
	}
	ctx := &layerContext{}
	ctx.Header = formatter.SubHeaderContext{
		"Index":          indexHeader,
		"DiffID":         diffIDHeader,
		"ImageID":        imageIDHeader,
		"CreatedSince":   formatter.CreatedSinceHeader,
		"CreatedAt":      formatter.CreatedAtHeader,
		"CreatedBy":      createdByHeader,
		"Size":           formatter.SizeHeader,
		"CumulativeSize": cumulativeHeader,
		"Tags":           tagsHeader,
		"Comment":        commentHeader,
	}
	return fmtCtx.Write(ctx, render)
}

type layerContext struct {
	formatter.HeaderContext
	trunc bool
	human bool
	r     layerRow
}

func (c *layerContext) MarshalJSON() ([]byte, error) {
	return formatter.MarshalJSON(c)
}

// Index is the layer's index, with "*" when the step that made it is
// inferred; empty for a step that made no layer.
func (c *layerContext) Index() string {
	if c.r.layer == nil {
		return ""
	}
	s := strconv.Itoa(c.r.layer.Index)
	if c.r.step != nil && c.r.step.Inferred {
		s += "*"
	}
	return s
}

func (c *layerContext) DiffID() string {
	if c.r.layer == nil {
		return ""
	}
	if c.trunc {
		return formatter.TruncateID(c.r.layer.DiffID.String())
	}
	return c.r.layer.DiffID.String()
}

// ImageID is the image the step produced: for a layer, the intermediate image
// that ends at it.
func (c *layerContext) ImageID() string {
	id := ""
	switch {
	case c.r.step != nil:
		id = c.r.step.ImageID
	case c.r.layer != nil && len(c.r.layer.ImageIDs) > 0:
		id = c.r.layer.ImageIDs[0]
	}
	if id == "" {
		return "<missing>"
	}
	if c.trunc {
		return formatter.TruncateID(id)
	}
	return id
}

func (c *layerContext) created() time.Time {
	if c.r.step == nil {
		return time.Time{}
	}
	return c.r.step.Created
}

func (c *layerContext) CreatedAt() string {
	if c.created().IsZero() {
		return "N/A"
	}
	return c.created().Format(time.RFC3339)
}

// epoch is the time before which created dates are not shown in human units,
// as in docker history.
var epoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

func (c *layerContext) CreatedSince() string {
	if !c.human {
		return c.CreatedAt()
	}
	if !c.created().After(epoch) {
		return "N/A"
	}
	return units.HumanDuration(time.Now().UTC().Sub(c.created())) + " ago"
}

func (c *layerContext) CreatedBy() string {
	if c.r.step == nil {
		return ""
	}
	createdBy := strings.ReplaceAll(c.r.step.CreatedBy, "\t", " ")
	if c.trunc {
		return formatter.Ellipsis(createdBy, 45)
	}
	return createdBy
}

func (c *layerContext) Comment() string {
	if c.r.step == nil {
		return ""
	}
	return c.r.step.Comment
}

func (c *layerContext) size(n int64) string {
	if n < 0 {
		return "N/A"
	}
	if c.human {
		return units.HumanSizeWithPrecision(float64(n), 3)
	}
	return strconv.FormatInt(n, 10)
}

func (c *layerContext) Size() string {
	switch {
	case c.r.layer != nil:
		return c.size(c.r.layer.Size)
	case c.r.step != nil:
		return c.size(0)
	}
	return ""
}

func (c *layerContext) CumulativeSize() string {
	if c.r.layer == nil {
		return ""
	}
	return c.size(c.r.cumulative)
}

func (c *layerContext) Tags() string {
	return strings.Join(c.r.tags, ", ")
}
