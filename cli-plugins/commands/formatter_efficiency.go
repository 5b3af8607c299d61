package commands

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/docker-layers/docker-layers/analyze"
	"github.com/docker/cli/cli/command/formatter"
)

const (
	defaultEfficiencyWastedTableFormat    = "table {{.Wasted}}\t{{.State}}\t{{.Layers}}\t{{.Path}}"
	defaultEfficiencyDuplicateTableFormat = "table {{.Wasted}}\t{{.Size}}\t{{.Copies}}\t{{.Digest}}\t{{.Paths}}"

	stateHeader  = "STATE"
	layersHeader = "LAYERS"
	copiesHeader = "COPIES"
	digestHeader = "DIGEST"
	pathsHeader  = "PATHS (LAYER:PATH)"
	dupHeader    = "DUPLICATED"
)

// efficiencyView is what "docker layers efficiency" prints.
type efficiencyView struct {
	ref     string
	report  *analyze.EfficiencyReport
	checked bool // the rules were checked
	rules   []analyze.RuleResult
	top     int // rows of each table; 0 is all
	human   bool
	trunc   bool
}

// efficiencyWrite writes v as format: the default table, "json", or a Go
// template executed once on the figures (an efficiencyContext).
func efficiencyWrite(w io.Writer, format string, v efficiencyView) error {
	switch {
	case format == "" || format == formatter.TableFormatKey:
		return efficiencyTable(w, v)
	case format == formatter.JSONFormatKey:
		return json.NewEncoder(w).Encode(efficiencyJSONOf(v))
	}
	ctx := formatter.Context{Output: w, Format: efficiencyFormat(format), Trunc: v.trunc}
	hdr := &efficiencyContext{}
	hdr.Header = formatter.SubHeaderContext{
		"Image": "IMAGE", "Efficiency": "EFFICIENCY", "Score": "SCORE", "StoredBytes": "STORED",
		"UserBytes": "USER STORED", "WastedBytes": wastedHeader, "UserWastedBytes": "USER WASTED",
		"UserWastedPercent": "USER WASTED %", "DuplicatedBytes": dupHeader, "Base": "BASE", "Result": "RESULT",
	}
	return ctx.Write(hdr, func(f func(formatter.SubContext) error) error {
		return f(&efficiencyContext{v: v})
	})
}

// efficiencyTable writes the figures, then the WASTED and DUPLICATED
// tables, then the rules, as dive's CI mode prints them.
func efficiencyTable(w io.Writer, v efficiencyView) error {
	c := &efficiencyContext{v: v}
	e := v.report
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	base := "none"
	if e.Base > 0 {
		base = fmt.Sprintf("layers 0 to %d", e.Base-1)
	}
	fmt.Fprintf(tw, "IMAGE\t%s\n", v.ref)
	fmt.Fprintf(tw, "LAYERS\t%d (base image: %s)\n", len(e.Layers), base)
	fmt.Fprintf(tw, "EFFICIENCY\t%s\n", c.Efficiency())
	fmt.Fprintf(tw, "STORED\t%s\n", c.StoredBytes())
	fmt.Fprintf(tw, "WASTED\t%s\n", c.WastedBytes())
	fmt.Fprintf(tw, "USER STORED\t%s\n", c.UserBytes())
	fmt.Fprintf(tw, "USER WASTED\t%s\n", c.UserWastedBytes())
	fmt.Fprintf(tw, "USER WASTED %%\t%s\n", c.UserWastedPercent())
	fmt.Fprintf(tw, "DUPLICATED\t%s\n", c.DuplicatedBytes())
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(w)
	wasted := e.Wasted
	if v.top > 0 && len(wasted) > v.top {
		wasted = wasted[:v.top]
	}
	if len(wasted) == 0 {
		fmt.Fprintln(w, "No wasted bytes.")
	} else {
		ctx := formatter.Context{Output: w, Format: defaultEfficiencyWastedTableFormat, Trunc: v.trunc}
		hdr := &wastedPathContext{}
		hdr.Header = formatter.SubHeaderContext{"Wasted": wastedHeader, "State": stateHeader, "Layers": layersHeader, "Path": pathHeader}
		err := ctx.Write(hdr, func(f func(formatter.SubContext) error) error {
			for _, p := range wasted {
				if err := f(&wastedPathContext{human: v.human, p: p}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		more(w, len(e.Wasted)-len(wasted), "path")
	}

	fmt.Fprintln(w)
	dups := e.Duplicates
	if v.top > 0 && len(dups) > v.top {
		dups = dups[:v.top]
	}
	if len(dups) == 0 {
		fmt.Fprintln(w, "No duplicated files.")
	} else {
		ctx := formatter.Context{Output: w, Format: defaultEfficiencyDuplicateTableFormat, Trunc: v.trunc}
		hdr := &duplicateContext{}
		hdr.Header = formatter.SubHeaderContext{"Wasted": dupHeader, "Size": formatter.SizeHeader, "Copies": copiesHeader, "Digest": digestHeader, "Paths": pathsHeader}
		err := ctx.Write(hdr, func(f func(formatter.SubContext) error) error {
			for _, d := range dups {
				if err := f(&duplicateContext{human: v.human, trunc: v.trunc, d: d}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		more(w, len(e.Duplicates)-len(dups), "content")
	}

	if !v.checked {
		return nil
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Rules:")
	var pass, fail, skip int
	for _, r := range v.rules {
		switch r.Status {
		case analyze.RulePass:
			pass++
		case analyze.RuleFail:
			fail++
		case analyze.RuleSkip:
			skip++
		}
		fmt.Fprintf(w, "  %s: %s\n", r.Status, ruleLine(r, v.human))
	}
	_, err := fmt.Fprintf(w, "Result: %s [Total:%d] [Passed:%d] [Failed:%d] [Skipped:%d]\n", c.Result(), len(v.rules), pass, fail, skip)
	return err
}

// more says how many rows --top left out.
func more(w io.Writer, n int, noun string) {
	if n > 0 {
		fmt.Fprintf(w, "… %d more %ss (--top 0 lists all)\n", n, noun)
	}
}

// ruleLine says what a rule compared.
func ruleLine(r analyze.RuleResult, human bool) string {
	if r.Limit.Disabled {
		return r.Name + ": disabled"
	}
	switch r.Name {
	case analyze.RuleLowestEfficiency:
		return fmt.Sprintf("%s: efficiency %s, lowest allowed %s", r.Name, ratio(r.Actual), ratio(r.Limit.Value))
	case analyze.RuleHighestWastedBytes:
		return fmt.Sprintf("%s: wasted %s, highest allowed %s", r.Name, formatSize(int64(r.Actual), human), formatSize(int64(r.Limit.Value), human))
	default:
		return fmt.Sprintf("%s: user wasted %s, highest allowed %s", r.Name, ratio(r.Actual), ratio(r.Limit.Value))
	}
}

// ratio prints a ratio as dive's CI config writes one, and as the
// percentage dive prints.
func ratio(f float64) string {
	return fmt.Sprintf("%.6f (%.4f %%)", f, f*100)
}

// efficiencyContext is the figures, for a --format template.
type efficiencyContext struct {
	formatter.HeaderContext
	v efficiencyView
}

func (c *efficiencyContext) MarshalJSON() ([]byte, error) {
	return json.Marshal(efficiencyJSONOf(c.v))
}

func (c *efficiencyContext) Image() string      { return c.v.ref }
func (c *efficiencyContext) Efficiency() string { return ratio(c.v.report.Score) }
func (c *efficiencyContext) Score() string      { return strconv.FormatFloat(c.v.report.Score, 'f', -1, 64) }
func (c *efficiencyContext) StoredBytes() string {
	return formatSize(c.v.report.StoredBytes, c.v.human)
}
func (c *efficiencyContext) UserBytes() string { return formatSize(c.v.report.UserBytes, c.v.human) }
func (c *efficiencyContext) WastedBytes() string {
	return formatSize(c.v.report.WastedBytes, c.v.human)
}
func (c *efficiencyContext) UserWastedBytes() string {
	return formatSize(c.v.report.UserWastedBytes, c.v.human)
}
func (c *efficiencyContext) UserWastedPercent() string { return ratio(c.v.report.UserWastedPercent) }
func (c *efficiencyContext) DuplicatedBytes() string {
	return formatSize(c.v.report.DuplicateBytes, c.v.human)
}
func (c *efficiencyContext) Base() string { return strconv.Itoa(c.v.report.Base) }

// Result is PASS or FAIL when the rules were checked, else "".
func (c *efficiencyContext) Result() string {
	if !c.v.checked {
		return ""
	}
	for _, r := range c.v.rules {
		if r.Status == analyze.RuleFail {
			return string(analyze.RuleFail)
		}
	}
	return string(analyze.RulePass)
}

// wastedPathContext is a row of the WASTED table.
type wastedPathContext struct {
	formatter.HeaderContext
	human bool
	p     analyze.WastedPath
}

func (c *wastedPathContext) MarshalJSON() ([]byte, error) { return formatter.MarshalJSON(c) }
func (c *wastedPathContext) Wasted() string               { return formatSize(c.p.Bytes, c.human) }
func (c *wastedPathContext) Path() string                 { return "/" + c.p.Path }
func (c *wastedPathContext) Layers() string               { return joinInts(c.p.Layers) }

// State is "replaced" or "hidden" (analyze.WastedPath.State).
func (c *wastedPathContext) State() string { return c.p.State() }

func joinInts(is []int) string {
	s := make([]string, len(is))
	for i, n := range is {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

// duplicateContext is a row of the DUPLICATED table.
type duplicateContext struct {
	formatter.HeaderContext
	human bool
	trunc bool
	d     analyze.DuplicateSet
}

func (c *duplicateContext) MarshalJSON() ([]byte, error) { return formatter.MarshalJSON(c) }
func (c *duplicateContext) Wasted() string               { return formatSize(c.d.Wasted(), c.human) }
func (c *duplicateContext) Size() string                 { return formatSize(c.d.Size, c.human) }
func (c *duplicateContext) Copies() string               { return strconv.Itoa(len(c.d.Copies)) }

func (c *duplicateContext) Digest() string {
	if c.trunc {
		return formatter.TruncateID(c.d.Digest.String())
	}
	return c.d.Digest.String()
}

// maxCopiesShown is how many copies a truncated PATHS cell lists.
const maxCopiesShown = 5

// Paths lists the copies as LAYER:PATH; a hidden copy is marked
// "(hidden)". Truncated, it lists the first few and how many more.
func (c *duplicateContext) Paths() string {
	copies := c.d.Copies
	if c.trunc && len(copies) > maxCopiesShown {
		copies = copies[:maxCopiesShown]
	}
	s := make([]string, len(copies))
	for i, f := range copies {
		s[i] = fmt.Sprintf("%d:/%s", f.Layer, f.Path)
		if f.Hidden {
			s[i] += " (hidden)"
		}
	}
	if n := len(c.d.Copies) - len(copies); n > 0 {
		s = append(s, fmt.Sprintf("… and %d more", n))
	}
	return strings.Join(s, ", ")
}

// efficiencyJSON is --format json: every figure, in bytes and ratios.
type efficiencyJSON struct {
	Image             string
	Efficiency        float64
	StoredBytes       int64
	UserBytes         int64
	WastedBytes       int64
	UserWastedBytes   int64
	UserWastedPercent float64
	DuplicatedBytes   int64
	Base              int
	Layers            []efficiencyLayerJSON
	Wasted            []wastedPathJSON
	Duplicates        []duplicateJSON
	Rules             []ruleJSON `json:",omitempty"`
	Result            string     `json:",omitempty"`
}

type efficiencyLayerJSON struct {
	Index       int
	StoredBytes int64
	WastedBytes int64
}

type wastedPathJSON struct {
	Path   string
	Bytes  int64
	Layers []int
	Shown  bool
}

type duplicateJSON struct {
	Digest      string
	Size        int64
	WastedBytes int64
	Copies      []fileRefJSON
}

type fileRefJSON struct {
	Layer  int
	Path   string
	Hidden bool
}

type ruleJSON struct {
	Name     string
	Status   string
	Limit    any // a number, or "disabled"
	Actual   float64
	Disabled bool `json:",omitempty"`
}

func efficiencyJSONOf(v efficiencyView) efficiencyJSON {
	e := v.report
	out := efficiencyJSON{
		Image: v.ref, Efficiency: e.Score,
		StoredBytes: e.StoredBytes, UserBytes: e.UserBytes,
		WastedBytes: e.WastedBytes, UserWastedBytes: e.UserWastedBytes, UserWastedPercent: e.UserWastedPercent,
		DuplicatedBytes: e.DuplicateBytes, Base: e.Base,
		Layers: make([]efficiencyLayerJSON, len(e.Layers)), Wasted: []wastedPathJSON{}, Duplicates: []duplicateJSON{},
		Result: (&efficiencyContext{v: v}).Result(),
	}
	for i, l := range e.Layers {
		out.Layers[i] = efficiencyLayerJSON{Index: i, StoredBytes: l.StoredBytes, WastedBytes: l.WastedBytes}
	}
	for _, p := range e.Wasted {
		out.Wasted = append(out.Wasted, wastedPathJSON{Path: "/" + p.Path, Bytes: p.Bytes, Layers: p.Layers, Shown: p.Shown})
	}
	for _, d := range e.Duplicates {
		dj := duplicateJSON{Digest: d.Digest.String(), Size: d.Size, WastedBytes: d.Wasted()}
		for _, f := range d.Copies {
			dj.Copies = append(dj.Copies, fileRefJSON{Layer: f.Layer, Path: "/" + f.Path, Hidden: f.Hidden})
		}
		out.Duplicates = append(out.Duplicates, dj)
	}
	for _, r := range v.rules {
		rj := ruleJSON{Name: r.Name, Status: string(r.Status), Limit: r.Limit.Value, Actual: r.Actual}
		if r.Limit.Disabled {
			rj.Limit, rj.Disabled = "disabled", true
		}
		out.Rules = append(out.Rules, rj)
	}
	return out
}
