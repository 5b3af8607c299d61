package report

import (
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/docker/go-units"
)

// The page lists at most these many rows, the largest first, however
// large the image; it says how many it left out.
const (
	MaxChanges    = 200 // changes per layer
	MaxWasted     = 200 // wasted files
	MaxDuplicates = 100 // groups of duplicated files
	MaxDupPaths   = 10  // paths per group
	MaxBoxes      = 400 // treemap boxes (and one "other" box per directory)
)

//go:embed assets
var assets embed.FS

var page = template.Must(template.New("report.html").Funcs(template.FuncMap{
	"size":    humanSize,
	"bytes":   func(n int64) string { return strconv.FormatInt(n, 10) },
	"pct":     func(f float64) string { return strconv.FormatFloat(f, 'f', 3, 64) },
	"shortID": shortID,
	"join":    strings.Join,
	"add":     func(a, b int) int { return a + b },
}).ParseFS(assets, "assets/report.html"))

// view is what the template renders.
type view struct {
	*Data
	Style, Colors template.CSS
	Script        template.JS
	Boxes         []viewBox
	Bars          []float64 // each layer's size, in percent of the largest
	Legend        []Layer   // the layers that have a box
	ScriptHash    string    // the script's, for the Content-Security-Policy
	WastedTotal   int64
	DupsOmitted   int
	HiddenFiles   int   // in treemap boxes too small to draw
	HiddenBytes   int64 // and their bytes
}

// viewBox is one drawn treemap box.
type viewBox struct {
	X, Y, W, H float64 // percent of the frame
	Node       *Node
	Depth      int
	Label      bool
	Sized      bool
	Tip        string // the bytes per layer of a directory
}

// Write writes the report of d to w as one self-contained HTML page. It
// does not change d; what it lists is capped (see the package doc).
func Write(w io.Writer, d *Data) error {
	v, err := newView(d)
	if err != nil {
		return err
	}
	if err := page.Execute(w, v); err != nil {
		return fmt.Errorf("writing the report: %w", err)
	}
	return nil
}

func newView(d *Data) (*view, error) {
	style, err := assets.ReadFile("assets/report.css")
	if err != nil {
		return nil, err
	}
	script, err := assets.ReadFile("assets/report.js")
	if err != nil {
		return nil, err
	}
	c := *d
	sum := sha256.Sum256(script)
	v := &view{
		Data:       &c,
		Style:      template.CSS(style),
		Script:     template.JS(script),
		ScriptHash: "sha256-" + base64.StdEncoding.EncodeToString(sum[:]),
	}

	c.Layers = make([]Layer, len(d.Layers))
	var largest int64
	for i, l := range d.Layers {
		l.Changes, l.Omitted, l.OmittedBytes = capChanges(l.Changes, l.Omitted, l.OmittedBytes)
		c.Layers[i] = l
		largest = max(largest, l.Size)
		v.WastedTotal += l.Wasted
	}
	v.Bars = make([]float64, len(c.Layers))
	for i, l := range c.Layers {
		if largest > 0 && l.Size > 0 {
			v.Bars[i] = max(100*float64(l.Size)/float64(largest), 0.5)
		}
	}

	c.Wasted, c.WastedOmitted, c.WastedOmittedBytes = capWasted(d.Wasted, d.WastedOmitted, d.WastedOmittedBytes)
	if d.Duplicates != nil {
		c.Duplicates = make([]Duplicate, 0, min(len(d.Duplicates), MaxDuplicates))
		for i, g := range d.Duplicates {
			if i == MaxDuplicates {
				v.DupsOmitted = len(d.Duplicates) - MaxDuplicates
				break
			}
			if len(g.Paths) > MaxDupPaths {
				g.Paths = append(g.Paths[:MaxDupPaths:MaxDupPaths], fmt.Sprintf("… and %d more", len(g.Paths)-MaxDupPaths))
			}
			c.Duplicates = append(c.Duplicates, g)
		}
	}

	c.Tree = capTree(d.Tree, MaxBoxes)
	inLegend := map[int]bool{}
	boxes, hiddenFiles, hiddenBytes := layout(c.Tree)
	v.HiddenFiles, v.HiddenBytes = hiddenFiles, hiddenBytes
	for _, b := range boxes {
		vb := viewBox{
			X: 100 * b.r.x / frameW, Y: 100 * b.r.y / frameH,
			W: 100 * b.r.w / frameW, H: 100 * b.r.h / frameH,
			Node: b.n, Depth: b.depth, Label: b.label, Sized: b.sized,
		}
		if len(b.n.Layers) > 1 {
			var parts []string
			for _, lb := range b.n.Layers {
				parts = append(parts, fmt.Sprintf("layer %d: %s", lb.Layer, humanSize(lb.Bytes)))
			}
			vb.Tip = strings.Join(parts, ", ")
		}
		v.Boxes = append(v.Boxes, vb)
		inLegend[b.n.Layer] = true
	}
	for i := range c.Layers {
		if inLegend[c.Layers[i].Index] {
			v.Legend = append(v.Legend, c.Layers[i])
		}
	}
	v.Colors = template.CSS(layerColors(len(c.Layers)))
	return v, nil
}

// capChanges returns the largest MaxChanges of cs, and omitted and
// omittedBytes grown by what it leaves out.
func capChanges(cs []Change, omitted int, omittedBytes int64) ([]Change, int, int64) {
	if cs == nil {
		return nil, omitted, omittedBytes
	}
	cs = append([]Change{}, cs...)
	sort.SliceStable(cs, func(i, j int) bool {
		if cs[i].Size != cs[j].Size {
			return cs[i].Size > cs[j].Size
		}
		return cs[i].Path < cs[j].Path
	})
	if len(cs) > MaxChanges {
		for _, c := range cs[MaxChanges:] {
			omittedBytes += c.Size
		}
		omitted += len(cs) - MaxChanges
		cs = cs[:MaxChanges]
	}
	return cs, omitted, omittedBytes
}

// capWasted returns the largest MaxWasted of ws, and omitted and
// omittedBytes grown by what it leaves out.
func capWasted(ws []Wasted, omitted int, omittedBytes int64) ([]Wasted, int, int64) {
	ws = append([]Wasted{}, ws...)
	sort.SliceStable(ws, func(i, j int) bool {
		if ws[i].Size != ws[j].Size {
			return ws[i].Size > ws[j].Size
		}
		return ws[i].Path < ws[j].Path
	})
	if len(ws) > MaxWasted {
		for _, w := range ws[MaxWasted:] {
			omittedBytes += w.Size
		}
		omitted += len(ws) - MaxWasted
		ws = ws[:MaxWasted]
	}
	return ws, omitted, omittedBytes
}

// palette holds the colours of the first layers: distinct, light enough
// for dark text.
var palette = []string{
	"#7aa6d6", "#f2a65a", "#8fcb81", "#e88388", "#b59ad8", "#d8b48c",
	"#f0a6d0", "#a8b0b8", "#d9d36a", "#6cc7c6", "#9bb5f0", "#f5c26b",
}

// layerColors is the style sheet that gives the class cN of layer N its
// colour: the palette, then hues a golden angle apart.
func layerColors(n int) string {
	var b strings.Builder
	for i := range n {
		var c string
		if i < len(palette) {
			c = palette[i]
		} else {
			h := math.Mod(float64(i)*137.508, 360)
			c = fmt.Sprintf("hsl(%.0f,55%%,70%%)", h)
		}
		fmt.Fprintf(&b, ".c%d{--c:%s}\n", i, c)
	}
	return b.String()
}

// humanSize prints n as docker does.
func humanSize(n int64) string {
	return units.HumanSizeWithPrecision(float64(n), 3)
}

// shortID is a digest's first 12 hex digits.
func shortID(id string) string {
	if i := strings.IndexByte(id, ':'); i >= 0 {
		id = id[i+1:]
	}
	if len(id) > 12 {
		id = id[:12]
	}
	return id
}
