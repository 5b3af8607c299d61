package source

import (
	"context"
	"errors"
	"slices"

	"github.com/containerd/platforms"
	"github.com/docker-layers/docker-layers/extract"
	"github.com/docker-layers/docker-layers/flatten"
	"github.com/opencontainers/go-digest"
)

// SharedLayers returns the layers wantA of image a and wantB of image b,
// whose first shared diff IDs are the same layers: those once (base), and
// each image's own above them (la, lb), each verified against its diff ID.
// They stay valid until the images are closed.
//
// Two images of one daemon are read from one ImageSave stream of both,
// which holds their shared layers once. Otherwise the shared layers are
// read from the image whose source holds them in place (an archive or a
// layout) rather than from a daemon.
func SharedLayers(ctx context.Context, a, b Image, wantA, wantB []digest.Digest, shared int) (base, la, lb []flatten.Layer, err error) {
	if shared > len(wantA) || shared > len(wantB) {
		return nil, nil, nil, errors.New("more shared layers than wanted")
	}
	da, aDaemon := a.(*daemonImage)
	db, bDaemon := b.(*daemonImage)
	switch {
	case aDaemon && bDaemon && da.c == db.c && samePlatform(da.opts, db.opts):
		all, err := da.layersWith(ctx, db, append(wantA[:len(wantA):len(wantA)], wantB[shared:]...))
		if err != nil {
			return nil, nil, nil, err
		}
		return all[:shared], all[shared:len(wantA)], all[len(wantA):], nil
	case aDaemon && !bDaemon:
		// B holds the shared layers in place: read them from it.
		base, lb, la, err = SharedLayers(ctx, b, a, wantB, wantA, shared)
		return base, la, lb, err
	}
	all, err := a.Layers(ctx, wantA, nil)
	if err != nil {
		return nil, nil, nil, err
	}
	lb, err = b.Layers(ctx, wantB[shared:], nil)
	if err != nil {
		return nil, nil, nil, err
	}
	return all[:shared], all[shared:], lb, nil
}

// samePlatform reports whether two images opened with a and b are saved
// with the same ImageSave options.
func samePlatform(a, b Options) bool {
	if a.Platform == nil || b.Platform == nil {
		return a.Platform == b.Platform
	}
	return platforms.FormatAll(platforms.Normalize(*a.Platform)) == platforms.FormatAll(platforms.Normalize(*b.Platform))
}

// layersWith reads want from one ImageSave stream of d's image and
// other's. The stream holds the layers the two share once.
func (d *daemonImage) layersWith(ctx context.Context, other *daemonImage, want []digest.Digest) ([]flatten.Layer, error) {
	anc, err := d.Ancestry(ctx)
	if err != nil {
		return nil, err
	}
	oanc, err := other.Ancestry(ctx)
	if err != nil {
		return nil, err
	}
	// One image's stream is enough when it holds every layer wanted (the
	// other image's are all below its own): the daemon then sends the
	// shared layers without the work of a second image.
	var images []string
	switch {
	case holdsAll(anc.DiffIDs(), want):
		images = []string{anc.ID}
	case holdsAll(oanc.DiffIDs(), want):
		images = []string{oanc.ID}
	default:
		images = []string{anc.ID, oanc.ID}
	}
	xopts := d.opts.extract()
	xopts.ImageDiffIDs = [][]digest.Digest{anc.DiffIDs(), oanc.DiffIDs()}
	ls, err := extract.FromDaemon(ctx, d.c, images, want, xopts, d.saveOpts...)
	if err != nil {
		return nil, err
	}
	d.loaded = append(d.loaded, ls)
	return ls.List(), nil
}

// holdsAll reports whether every diff ID of want is in have.
func holdsAll(have, want []digest.Digest) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}
