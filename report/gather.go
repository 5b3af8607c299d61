package report

import (
	"context"
	"path"
	"strings"

	"github.com/docker-layers/docker-layers/analyze"
	"github.com/docker-layers/docker-layers/flatten"
	"github.com/docker-layers/docker-layers/source"
)

// Options tune Gather.
type Options struct {
	// List are the indexes of the layers whose changes are listed; nil
	// lists every layer's. Every layer is read all the same.
	List []int
	// Depth is how deep directories get a box of their own in the
	// treemap; deeper ones are rolled up. 0 means DefaultDepth.
	Depth int
	// Top is how many of the largest files get a box of their own. 0
	// means DefaultTop.
	Top int
	// TmpDir is where the index of a large image spills to disk.
	TmpDir string
}

// The defaults of Options.
const (
	DefaultDepth = 4
	DefaultTop   = 500
)

// Gather reads every layer of the image sel selected and returns its
// report: the image, each layer with its history step and changes
// (flatten.Changes), the merged file system by directory to opts.Depth
// with the opts.Top largest files (analyze.DiskUsage), and the files that
// a higher layer replaced or deleted and those stored more than once
// (analyze.EfficiencyOf, from the same changes). Each layer's changes and the wasted
// files are kept to the largest MaxChanges and MaxWasted.
func Gather(ctx context.Context, sel *source.Selection, opts Options) (*Data, error) {
	if opts.Depth <= 0 {
		opts.Depth = DefaultDepth
	}
	if opts.Top <= 0 {
		opts.Top = DefaultTop
	}
	anc := sel.Ancestry
	d := &Data{
		Image:  Image{Ref: anc.Ref, ID: anc.ID, Tags: anc.RepoTags},
		Layers: make([]Layer, len(anc.Layers)),
	}
	cfg, err := sel.Config(ctx)
	if err != nil {
		return nil, err
	}
	if cfg.OS != "" {
		d.Image.Platform = path.Join(cfg.OS, cfg.Architecture, cfg.Variant)
	}
	if cfg.Created != nil {
		d.Image.Created = *cfg.Created
	}
	layers, err := sel.Layers(ctx, anc.DiffIDs(), nil)
	if err != nil {
		return nil, err
	}
	// Every layer's changes, also those not listed: the wasted files need
	// them.
	cs, err := flatten.Changes(ctx, layers, flatten.ChangesOptions{Stored: true})
	if err != nil {
		return nil, err
	}
	u, err := analyze.DiskUsage(ctx, layers, analyze.UsageOptions{Depth: opts.Depth, Top: opts.Top, TmpDir: opts.TmpDir})
	if err != nil {
		return nil, err
	}

	listed := make([]bool, len(anc.Layers))
	for i := range listed {
		listed[i] = opts.List == nil
	}
	for _, i := range opts.List {
		if i >= 0 && i < len(listed) {
			listed[i] = true
		}
	}
	for i, al := range anc.Layers {
		s := cs.Summaries[i]
		l := Layer{
			Index: i, DiffID: al.DiffID.String(), Size: al.Size,
			Added: s.Added, Changed: s.Changed, Deleted: s.Deleted,
			AddedBytes: s.AddedBytes, ChangedBytes: s.ChangedBytes, DeletedBytes: s.DeletedBytes,
			Wasted: s.Wasted,
		}
		if l.Size < 0 { // not known to the source: the bytes it stores
			l.Size = s.AddedBytes + s.ChangedBytes
		}
		if al.Step >= 0 && al.Step < len(anc.Steps) {
			st := anc.Steps[al.Step]
			l.CreatedBy, l.Created, l.Comment = st.CreatedBy, st.Created, st.Comment
		}
		if listed[i] {
			l.Changes = []Change{}
		}
		d.Layers[i] = l
		d.Image.Size += l.Size
	}
	for _, c := range cs.Changes {
		if l := &d.Layers[c.Layer]; l.Changes != nil {
			l.Changes = append(l.Changes, Change{
				Kind: c.Kind.String(), Path: "/" + c.Path, Type: flatten.TypeName(c.Type), Size: c.Size, What: c.What.Strings(),
			})
			// Keep the list bounded as it grows.
			if len(l.Changes) >= 4*MaxChanges {
				l.Changes, l.Omitted, l.OmittedBytes = capChanges(l.Changes, l.Omitted, l.OmittedBytes)
			}
		}
	}
	for i := range d.Layers {
		l := &d.Layers[i]
		l.Changes, l.Omitted, l.OmittedBytes = capChanges(l.Changes, l.Omitted, l.OmittedBytes)
	}
	e, err := analyze.EfficiencyOf(ctx, cs, 0)
	if err != nil {
		return nil, err
	}
	d.Wasted, d.WastedOmitted, d.WastedOmittedBytes = capWasted(wastedFiles(e), 0, 0)
	d.Duplicates = duplicateFiles(e)
	d.Tree = treeOf(u)
	if d.Tree != nil {
		d.Image.Files = d.Tree.Files
	}
	return d, nil
}

// wastedFiles gives the report's wasted files of an efficiency report.
func wastedFiles(e *analyze.EfficiencyReport) []Wasted {
	out := make([]Wasted, 0, len(e.Wasted))
	for _, w := range e.Wasted {
		out = append(out, Wasted{Path: "/" + w.Path, Size: w.Bytes, Layers: w.Layers, Kind: w.State()})
	}
	return out
}

// duplicateFiles gives the report's duplicated files of an efficiency
// report, at most MaxDuplicates groups (largest first, as there).
func duplicateFiles(e *analyze.EfficiencyReport) []Duplicate {
	out := []Duplicate{}
	for _, d := range e.Duplicates {
		if len(out) == MaxDuplicates {
			break
		}
		g := Duplicate{Size: d.Size, Copies: len(d.Copies)}
		for _, c := range d.Copies {
			g.Files = append(g.Files, Copy{Path: "/" + c.Path, Layer: c.Layer, Hidden: c.Hidden})
		}
		out = append(out, g)
	}
	return out
}

// treeOf builds the treemap's tree from the usage of the merged file
// system: its directories, with the largest files in the deepest
// directory that holds them, and in each directory that has children an
// "other" node for the bytes they do not show.
func treeOf(u *analyze.Usage) *Node {
	if u == nil || len(u.Dirs) == 0 {
		return nil
	}
	dirs := make(map[string]*Node, len(u.Dirs))
	var root *Node
	for _, ud := range u.Dirs {
		n := &Node{Name: path.Base(ud.Path), Path: "/" + ud.Path, Size: ud.Bytes, Files: int(ud.Files), Dir: true}
		by := map[int]int64{}
		for l, b := range ud.ByLayer {
			if b > 0 {
				by[l] = b
			}
		}
		n.Layers, n.Layer = layerList(by, 0)
		dirs[ud.Path] = n
		if root == nil {
			n.Name = "/"
			root = n
			continue
		}
		p := parentOf(dirs, ud.Path, root)
		p.Children = append(p.Children, n)
	}
	for _, f := range u.Top {
		if f.Size <= 0 {
			continue
		}
		p := parentOf(dirs, f.Path, root)
		p.Children = append(p.Children, &Node{Name: path.Base(f.Path), Path: "/" + f.Path, Size: f.Size, Files: 1, Layer: f.DataLayer})
	}
	var rest func(n *Node)
	rest = func(n *Node) {
		if len(n.Children) == 0 {
			return
		}
		size, files := n.Size, n.Files
		by := map[int]int64{}
		for _, lb := range n.Layers {
			by[lb.Layer] = lb.Bytes
		}
		for _, c := range n.Children {
			rest(c)
			size -= c.Size
			files -= c.Files
			if len(c.Layers) == 0 {
				by[c.Layer] -= c.Size
			}
			for _, lb := range c.Layers {
				by[lb.Layer] -= lb.Bytes
			}
		}
		for l, b := range by {
			if b <= 0 {
				delete(by, l)
			}
		}
		if size > 0 {
			o := &Node{Name: "other", Path: n.Path, Size: size, Files: max(files, 0), Other: true}
			o.Layers, o.Layer = layerList(by, n.Layer)
			n.Children = append(n.Children, o)
		}
		sortNodes(n.Children)
	}
	rest(root)
	return root
}

// parentOf returns the deepest directory of dirs above p (without a
// leading slash), else root.
func parentOf(dirs map[string]*Node, p string, root *Node) *Node {
	for {
		i := strings.LastIndexByte(p, '/')
		if i < 0 {
			return root
		}
		p = p[:i]
		if n, ok := dirs[p]; ok {
			return n
		}
	}
}
