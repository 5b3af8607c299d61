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
	"sub":     func(a, b int) int { return a - b },
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
			if len(g.Files) > MaxDupPaths {
				g.Files = g.Files[:MaxDupPaths]
			}
			g.Copies = max(g.Copies, len(g.Files))
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
	return capLargest(cs, MaxChanges, func(c Change) (int64, string) { return c.Size, c.Path }, omitted, omittedBytes)
}

// capWasted returns the largest MaxWasted of ws, and omitted and
// omittedBytes grown by what it leaves out.
func capWasted(ws []Wasted, omitted int, omittedBytes int64) ([]Wasted, int, int64) {
	return capLargest(ws, MaxWasted, func(w Wasted) (int64, string) { return w.Size, w.Path }, omitted, omittedBytes)
}

// capLargest returns a copy of xs, largest first (by key's size, then
// path), cut to n, and omitted and omittedBytes grown by what it leaves
// out.
func capLargest[T any](xs []T, n int, key func(T) (int64, string), omitted int, omittedBytes int64) ([]T, int, int64) {
	xs = append([]T{}, xs...)
	sort.SliceStable(xs, func(i, j int) bool {
		si, pi := key(xs[i])
		sj, pj := key(xs[j])
		if si != sj {
			return si > sj
		}
		return pi < pj
	})
	if len(xs) > n {
		for _, x := range xs[n:] {
			size, _ := key(x)
			omittedBytes += size
		}
		omitted += len(xs) - n
		xs = xs[:n]
	}
	return xs, omitted, omittedBytes
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
