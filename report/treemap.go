package report

import (
	"container/heap"
	"sort"
)

// The treemap is laid out in a frame of frameW by frameH units and drawn
// in percent of it, so that it scales with the page; a unit is about a
// pixel on a wide screen.
const (
	frameW, frameH = 1200.0, 560.0
	// labelH is the strip at the top of a directory's box that shows its
	// name; pad the margin around its children.
	labelH, pad = 16.0, 2.0
	// A box smaller than minSide on a side is not drawn, nor are the
	// children of a directory smaller than minParent.
	minSide, minParent = 3.0, 36.0
)

type rect struct{ x, y, w, h float64 }

// box is one drawn box of the treemap.
type box struct {
	n     *Node
	r     rect
	depth int
	label bool // the box is big enough to show its name
	sized bool // and its size
}

// layout places root's descendants in the frame, parents before their
// children (which are drawn over them). It also returns the files and
// bytes of the boxes too small to draw.
func layout(root *Node) (out []box, hiddenFiles int, hiddenBytes int64) {
	var place func(n *Node, r rect, depth int)
	place = func(n *Node, r rect, depth int) {
		kids := make([]*Node, 0, len(n.Children))
		for _, c := range n.Children {
			if c.Size > 0 {
				kids = append(kids, c)
			}
		}
		sortNodes(kids)
		sizes := make([]float64, len(kids))
		for i, c := range kids {
			sizes[i] = float64(c.Size)
		}
		for i, cr := range squarify(sizes, r) {
			if cr.w < minSide || cr.h < minSide {
				hiddenFiles += kids[i].Files
				hiddenBytes += kids[i].Size
				continue
			}
			c := kids[i]
			b := box{n: c, r: cr, depth: depth, label: cr.w >= 40 && cr.h >= 14, sized: cr.w >= 90 && cr.h >= 14}
			out = append(out, b)
			if len(c.Children) > 0 && cr.w >= minParent && cr.h >= minParent {
				place(c, rect{cr.x + pad, cr.y + labelH, cr.w - 2*pad, cr.h - labelH - pad}, depth+1)
			}
		}
	}
	if root != nil {
		place(root, rect{0, 0, frameW, frameH}, 0)
	}
	return out, hiddenFiles, hiddenBytes
}

// squarify lays out areas proportional to sizes (largest first, all > 0)
// in r, in rows whose boxes are as square as possible (Bruls, Huizing and
// van Wijk, "Squarified Treemaps", 2000).
func squarify(sizes []float64, r rect) []rect {
	out := make([]rect, len(sizes))
	var total float64
	for _, s := range sizes {
		total += s
	}
	if total <= 0 || r.w <= 0 || r.h <= 0 {
		return out
	}
	areas := make([]float64, len(sizes))
	for i, s := range sizes {
		areas[i] = s * r.w * r.h / total
	}
	for i := 0; i < len(areas); {
		short := min(r.w, r.h)
		j, sum := i+1, areas[i]
		best := worst(areas[i], areas[i], sum, short)
		for j < len(areas) {
			w := worst(areas[i], areas[j], sum+areas[j], short)
			if w > best {
				break
			}
			best, sum = w, sum+areas[j]
			j++
		}
		thick := sum / short
		if r.w >= r.h { // a column at the left
			thick = min(thick, r.w)
			y := r.y
			for k := i; k < j; k++ {
				h := areas[k] / thick
				out[k] = rect{r.x, y, thick, h}
				y += h
			}
			r.x, r.w = r.x+thick, max(r.w-thick, 0)
		} else { // a row at the top
			thick = min(thick, r.h)
			x := r.x
			for k := i; k < j; k++ {
				w := areas[k] / thick
				out[k] = rect{x, r.y, w, thick}
				x += w
			}
			r.y, r.h = r.y+thick, max(r.h-thick, 0)
		}
		i = j
	}
	return out
}

// worst is the largest aspect ratio in a row of areas from largest to
// smallest, adding up to sum, along a side of length short.
func worst(largest, smallest, sum, short float64) float64 {
	s2, w2 := sum*sum, short*short
	return max(w2*largest/s2, s2/(w2*smallest))
}

// sortNodes sorts ns largest first, then by path.
func sortNodes(ns []*Node) {
	sort.SliceStable(ns, func(i, j int) bool {
		if ns[i].Size != ns[j].Size {
			return ns[i].Size > ns[j].Size
		}
		return ns[i].Path < ns[j].Path
	})
}

// capTree returns a copy of root with at most about limit nodes: the
// largest, found from the root down (a node is kept only with its parent).
// The children a kept directory loses become one "other" node.
func capTree(root *Node, limit int) *Node {
	if root == nil {
		return nil
	}
	keep := map[*Node]bool{root: true}
	q := &nodeHeap{}
	for _, c := range root.Children {
		heap.Push(q, c)
	}
	for n := 0; q.Len() > 0 && n < limit; n++ {
		c := heap.Pop(q).(*Node)
		keep[c] = true
		for _, gc := range c.Children {
			heap.Push(q, gc)
		}
	}
	var cp func(n *Node) *Node
	cp = func(n *Node) *Node {
		c := *n
		c.Children = nil
		var rest *Node
		var restLayer = map[int]int64{}
		for _, k := range n.Children {
			if keep[k] {
				c.Children = append(c.Children, cp(k))
				continue
			}
			if rest == nil {
				rest = &Node{Name: "other", Path: n.Path, Other: true, Layer: k.Layer}
			}
			rest.Size += k.Size
			rest.Files += k.Files
			addLayers(restLayer, k)
		}
		if rest != nil {
			rest.Layers, rest.Layer = layerList(restLayer, rest.Layer)
			c.Children = append(c.Children, rest)
		}
		return &c
	}
	return cp(root)
}

// addLayers adds the bytes per layer of n to m.
func addLayers(m map[int]int64, n *Node) {
	if len(n.Layers) == 0 {
		m[n.Layer] += n.Size
		return
	}
	for _, lb := range n.Layers {
		m[lb.Layer] += lb.Bytes
	}
}

// layerList returns m's entries, by layer, and the layer with the most
// bytes (def when m is empty).
func layerList(m map[int]int64, def int) ([]LayerBytes, int) {
	out := make([]LayerBytes, 0, len(m))
	for l, b := range m {
		out = append(out, LayerBytes{Layer: l, Bytes: b})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Layer < out[j].Layer })
	best, bestBytes := def, int64(-1)
	for _, lb := range out {
		if lb.Bytes > bestBytes {
			best, bestBytes = lb.Layer, lb.Bytes
		}
	}
	return out, best
}

// nodeHeap pops the largest node first.
type nodeHeap []*Node

func (h nodeHeap) Len() int { return len(h) }
func (h nodeHeap) Less(i, j int) bool {
	if h[i].Size != h[j].Size {
		return h[i].Size > h[j].Size
	}
	return h[i].Path < h[j].Path
}
func (h nodeHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *nodeHeap) Push(x any)   { *h = append(*h, x.(*Node)) }
func (h *nodeHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
