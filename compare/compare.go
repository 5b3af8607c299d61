package compare

import (
	"context"
	"errors"
	"fmt"

	"github.com/containerd/platforms"
	"github.com/docker-layers/docker-layers/flatten"
	"github.com/docker-layers/docker-layers/source"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
)

// Side is one image of a comparison, and the layers of it compared.
type Side struct {
	Ref source.Reference
	// Layers are layer specs, in the syntax of inspect's Resolve; none
	// selects every layer.
	Layers []string
}

// Options tune Files and Configs.
type Options struct {
	Source source.Options
	// Filter keeps only the paths it selects; nil keeps all.
	Filter *flatten.PathFilter
	// ModTime compares modification times too.
	ModTime bool
}

// Image is one side of a comparison, as it was read.
type Image struct {
	Ref    string // how the user named it
	ID     string
	Layers []int // the layers compared, bottom first
}

// FileResult is what Files returns.
type FileResult struct {
	A, B Image
	// Shared is how many of the compared layers, from the bottom, the two
	// sides share: those were not read as a whole.
	Shared int
	// Differences are the paths in which the sides' merged file systems
	// differ, in byte order of path.
	Differences []flatten.Difference
}

// ConfigResult is what Configs returns.
type ConfigResult struct {
	A, B    Image
	Changes []ConfigChange
}

// ErrPlatformMismatch is the error of Files for two images of different
// platforms.
var ErrPlatformMismatch = errors.New("the images are of different platforms")

// Files compares the merged file systems of the layers a and b select.
// The images must be of one platform.
func Files(ctx context.Context, c source.Client, a, b Side, opts Options) (_ *FileResult, retErr error) {
	// Layers not read in place are recorded as they stream by: only
	// their headers and digests are compared.
	opts.Source.Record = true
	sa, sb, ca, cb, err := open(ctx, c, a, b, opts.Source)
	defer closeBoth(sa, sb, &retErr)
	if err != nil {
		return nil, err
	}
	pa, pb := platforms.Normalize(ca.Platform), platforms.Normalize(cb.Platform)
	if platforms.FormatAll(pa) != platforms.FormatAll(pb) {
		return nil, fmt.Errorf("%w: %s is %s and %s is %s", ErrPlatformMismatch,
			sa.Ancestry.Ref, platforms.FormatAll(pa), sb.Ancestry.Ref, platforms.FormatAll(pb))
	}
	wantA, wantB := sa.DiffIDs(), sb.DiffIDs()
	shared := 0
	for shared < len(wantA) && shared < len(wantB) && wantA[shared] == wantB[shared] {
		shared++
	}
	res := &FileResult{A: described(sa), B: described(sb), Shared: shared}
	if shared == len(wantA) && shared == len(wantB) {
		return res, nil // the same layers: nothing to read
	}
	base, la, lb, err := source.SharedLayers(ctx, sa.Image, sb.Image, wantA, wantB, shared)
	if err != nil {
		return nil, err
	}
	res.Differences, err = flatten.Compare(ctx, base, la, lb, flatten.CompareOptions{Filter: opts.Filter, ModTime: opts.ModTime, TmpDir: opts.Source.TmpDir})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// Configs compares the configs of the images a and b (their layer specs
// are not used): their platforms, if they differ, are one of the
// differences.
func Configs(ctx context.Context, c source.Client, a, b Side, opts Options) (_ *ConfigResult, retErr error) {
	a.Layers, b.Layers = nil, nil
	sa, sb, ca, cb, err := open(ctx, c, a, b, opts.Source)
	defer closeBoth(sa, sb, &retErr)
	if err != nil {
		return nil, err
	}
	return &ConfigResult{A: described(sa), B: described(sb), Changes: ConfigDiff(NewImageConfig(ca), NewImageConfig(cb))}, nil
}

// open selects the layers of both sides and reads their configs. The
// caller must close the selections, also on error.
func open(ctx context.Context, c source.Client, a, b Side, opts source.Options) (sa, sb *source.Selection, ca, cb *dockerspec.DockerOCIImage, err error) {
	if a.Ref.Path == "-" && b.Ref.Path == "-" && a.Ref.Transport != source.Daemon && b.Ref.Transport != source.Daemon {
		return nil, nil, nil, nil, errors.New("only one image can be read from stdin")
	}
	if sa, err = source.Select(ctx, clientFor(c, a.Ref), a.Ref, a.Layers, opts); err != nil {
		return sa, nil, nil, nil, err
	}
	if sb, err = source.Select(ctx, clientFor(c, b.Ref), b.Ref, b.Layers, opts); err != nil {
		return sa, sb, nil, nil, err
	}
	if ca, err = sa.Config(ctx); err != nil {
		return sa, sb, nil, nil, err
	}
	cb, err = sb.Config(ctx)
	return sa, sb, ca, cb, err
}

// clientFor is c for an image of the daemon, else nil.
func clientFor(c source.Client, ref source.Reference) source.Client {
	if ref.Transport == source.Daemon {
		return c
	}
	return nil
}

// closeBoth closes both selections; it keeps the caller's first error.
func closeBoth(sa, sb *source.Selection, retErr *error) {
	err := errors.Join(sa.Close(), sb.Close())
	if err != nil && *retErr == nil {
		*retErr = err
	}
}

func described(s *source.Selection) Image {
	return Image{Ref: s.Ancestry.Ref, ID: s.Ancestry.ID, Layers: s.Selected}
}
