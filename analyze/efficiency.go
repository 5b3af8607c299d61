package analyze

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/docker-layers/docker-layers/flatten"
	"github.com/opencontainers/go-digest"
)

// EfficiencyOptions tune Efficiency.
type EfficiencyOptions struct {
	// Base is the number of layers of the base image: layers [0,Base) are
	// the base, and the user figures count the layers from Base up. 0
	// means 1, as dive counts every layer but the bottom one as the
	// user's.
	Base int
	// Filter keeps only the paths it selects (nil keeps all): the
	// figures are then those of these paths.
	Filter *flatten.PathFilter
}

// EfficiencyReport is how well an image's layers use the bytes they
// store. (It cannot be named Efficiency, the function that makes it.)
type EfficiencyReport struct {
	// Score is the share of the stored bytes that the final image shows:
	// (StoredBytes - WastedBytes) / StoredBytes, 1 when nothing is stored.
	Score float64
	// StoredBytes is the bytes of the regular files that all the layers
	// store (the sum of their tar header sizes, dive's image size).
	StoredBytes int64
	// UserBytes is StoredBytes over the layers from Base up.
	UserBytes int64
	// WastedBytes is the bytes of the stored files that the final image
	// no longer shows under any name: a higher layer replaced them (even
	// with identical bytes, as chmod does) or deleted them (a whiteout, an
	// opaque directory).
	WastedBytes int64
	// UserWastedBytes is WastedBytes over the layers from Base up.
	UserWastedBytes int64
	// UserWastedPercent is UserWastedBytes / UserBytes, a ratio from 0 to
	// 1 (0 when UserBytes is 0).
	UserWastedPercent float64
	// DuplicateBytes is what storing the same content more than once
	// costs: the sum over Duplicates of Size × (copies − 1).
	DuplicateBytes int64
	// Base is the number of base layers the user figures leave out.
	Base int
	// Layers has the figures of each layer, bottom first.
	Layers []LayerEfficiency
	// Wasted lists the paths whose stored files the final image hides,
	// most wasted bytes first (then by path).
	Wasted []WastedPath
	// Duplicates lists the contents stored more than once, most bytes
	// wasted by duplication first (then by digest).
	Duplicates []DuplicateSet
}

// LayerEfficiency is one layer's share of an EfficiencyReport.
type LayerEfficiency struct {
	StoredBytes int64 // the bytes of the regular files the layer stores
	WastedBytes int64 // the part of them that the final image hides
}

// WastedPath is a path at which the layers store bytes that the final
// image hides.
type WastedPath struct {
	Path string // canonical: relative to the root, without "./"
	// Bytes is the bytes stored at Path that the final image hides.
	Bytes int64
	// Layers lists every layer that stored a file at Path, bottom first.
	Layers []int
	// Shown says that the final image still shows one of the files
	// stored at Path (the top one, at Path or, rarely, only through a
	// hardlink of it): the others were replaced. When false, every file
	// stored at Path is gone (deleted).
	Shown bool
}

// State says what became of the bytes stored at the path: "replaced"
// when the final image shows the top file stored there (the lower ones
// were replaced), "hidden" when it shows none of them (deleted, or the
// path is now a directory or the name of another file).
func (w WastedPath) State() string {
	if w.Shown {
		return "replaced"
	}
	return "hidden"
}

// DuplicateSet is one content (regular file data) that the layers store
// more than once, at several paths or in several layers, shown in the
// final image or not. Hardlinks are not copies: a hardlink stores no data
// of its own.
type DuplicateSet struct {
	Digest digest.Digest
	Size   int64
	// Copies are where the content is stored, by layer, then by path.
	Copies []FileRef
}

// Wasted is what the copies beyond the first cost: Size × (copies − 1).
func (d DuplicateSet) Wasted() int64 { return d.Size * int64(len(d.Copies)-1) }

// FileRef is one stored file.
type FileRef struct {
	Layer int
	Path  string
	// Hidden says that the final image no longer shows this copy.
	Hidden bool
}

// Efficiency reads the headers of layers (layers[0] is the bottom) and
// returns how well they use the bytes they store, under the layer rules
// of flatten.Changes. It reads file data only to hash the regular files
// whose size another non-empty stored file has, to find duplicates.
// Memory grows with the number of entries, as Changes'.
func Efficiency(ctx context.Context, layers []flatten.Layer, opts EfficiencyOptions) (*EfficiencyReport, error) {
	// An empty Report lists no changes: only the stored files are needed.
	cs, err := flatten.Changes(ctx, layers, flatten.ChangesOptions{Report: []int{}, Filter: opts.Filter, Stored: true})
	if err != nil {
		return nil, err
	}
	return EfficiencyOf(ctx, cs, opts.Base)
}

// EfficiencyOf is Efficiency from the ChangeSet of a caller that needs
// the changes too: cs must come from flatten.Changes with Stored set
// (and the filter of the figures wanted), over every layer of the image.
// base is EfficiencyOptions.Base.
func EfficiencyOf(ctx context.Context, cs *flatten.ChangeSet, base int) (*EfficiencyReport, error) {
	if base <= 0 {
		base = 1
	}
	nlayers := len(cs.Summaries)
	e := &EfficiencyReport{Base: min(base, nlayers), Layers: make([]LayerEfficiency, nlayers)}
	// The paths where a hidden file is stored, in the order first met:
	// only they get a WastedPath (most paths have none).
	byPath := make(map[string]int) // index in e.Wasted
	for _, f := range cs.Stored {
		if _, ok := byPath[f.Path]; f.Hidden && !ok {
			byPath[f.Path] = len(e.Wasted)
			e.Wasted = append(e.Wasted, WastedPath{Path: f.Path})
		}
	}
	for _, f := range cs.Stored {
		l := &e.Layers[f.Layer]
		l.StoredBytes += f.Size
		e.StoredBytes += f.Size
		user := f.Layer >= base
		if user {
			e.UserBytes += f.Size
		}
		i, ok := byPath[f.Path]
		if !ok {
			continue
		}
		w := &e.Wasted[i]
		// Stored lists the files by layer: w.Layers comes sorted.
		w.Layers = append(w.Layers, f.Layer)
		if !f.Hidden {
			w.Shown = true
			continue
		}
		w.Bytes += f.Size
		l.WastedBytes += f.Size
		e.WastedBytes += f.Size
		if user {
			e.UserWastedBytes += f.Size
		}
	}
	// Empty hidden files waste nothing.
	e.Wasted = slices.DeleteFunc(e.Wasted, func(w WastedPath) bool { return w.Bytes == 0 })
	e.Score = 1
	if e.StoredBytes > 0 {
		e.Score = float64(e.StoredBytes-e.WastedBytes) / float64(e.StoredBytes)
	}
	if e.UserBytes > 0 {
		e.UserWastedPercent = float64(e.UserWastedBytes) / float64(e.UserBytes)
	}
	slices.SortFunc(e.Wasted, func(a, b WastedPath) int {
		return cmp.Or(cmp.Compare(b.Bytes, a.Bytes), cmp.Compare(a.Path, b.Path))
	})
	var err error
	if e.Duplicates, err = duplicates(ctx, cs); err != nil {
		return nil, err
	}
	for _, d := range e.Duplicates {
		e.DuplicateBytes += d.Wasted()
	}
	return e, nil
}

// duplicates finds the contents stored more than once. Only files whose
// size another file has are hashed; empty files are no duplicates.
func duplicates(ctx context.Context, cs *flatten.ChangeSet) ([]DuplicateSet, error) {
	// The stored files by size (indexes into cs.Stored): each run of
	// equal sizes is a group of candidates.
	var idx []int32
	for i, f := range cs.Stored {
		if f.Size > 0 {
			idx = append(idx, int32(i))
		}
	}
	slices.SortFunc(idx, func(a, b int32) int { return cmp.Compare(cs.Stored[a].Size, cs.Stored[b].Size) })
	sets := make(map[digest.Digest]*DuplicateSet)
	for len(idx) > 0 {
		size := cs.Stored[idx[0]].Size
		n := 1
		for n < len(idx) && cs.Stored[idx[n]].Size == size {
			n++
		}
		run := idx[:n]
		idx = idx[n:]
		if len(run) < 2 {
			continue
		}
		for _, i := range run {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			f := cs.Stored[i]
			d, err := cs.Digest(f)
			if err != nil {
				return nil, fmt.Errorf("hashing /%s of layer %d: %w", f.Path, f.Layer, err)
			}
			s := sets[d]
			if s == nil {
				s = &DuplicateSet{Digest: d, Size: size}
				sets[d] = s
			}
			s.Copies = append(s.Copies, FileRef{Layer: f.Layer, Path: f.Path, Hidden: f.Hidden})
		}
	}
	var out []DuplicateSet
	for _, s := range sets {
		if len(s.Copies) < 2 {
			continue
		}
		slices.SortFunc(s.Copies, func(a, b FileRef) int {
			return cmp.Or(cmp.Compare(a.Layer, b.Layer), cmp.Compare(a.Path, b.Path))
		})
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b DuplicateSet) int {
		return cmp.Or(cmp.Compare(b.Wasted(), a.Wasted()), cmp.Compare(a.Digest, b.Digest))
	})
	return out, nil
}
