package inspect

import (
	"context"
	"fmt"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Client holds the Engine API methods this package calls. The docker CLI's
// API client satisfies it.
type Client interface {
	ImageInspect(ctx context.Context, image string, opts ...client.ImageInspectOption) (image.InspectResponse, error)
	ImageHistory(ctx context.Context, image string, opts ...client.ImageHistoryOption) ([]image.HistoryResponseItem, error)
}

// Ancestry is the layer stack of one image, with the history that made it.
type Ancestry struct {
	// Ref is the reference the image was looked up by.
	Ref string
	// ID is the image ID ("sha256:…").
	ID string
	// RepoTags are the image's own tags.
	RepoTags []string
	// Layers are the image's layers, bottom (index 0) first.
	Layers []Layer
	// Steps are the image's history entries, oldest first. Steps that made
	// no layer (ENV, CMD…) are included.
	Steps []Step
}

// Layer is one layer of an image.
type Layer struct {
	Index  int
	DiffID digest.Digest
	// Size is the layer's size as the daemon reports it, or -1 when unknown.
	Size int64
	// Step is the index in Ancestry.Steps of the history step that made the
	// layer, or -1 when the history does not say.
	Step int
	// ImageIDs are the IDs of the images (the image itself and the
	// intermediate images of a classic build) whose top layer this is.
	ImageIDs []string
	// Tags are the tags of those images.
	Tags []string
}

// Step is one history entry of an image.
type Step struct {
	// ImageID is the ID of the image this step produced, or "" when the
	// daemon has none (docker history prints "<missing>").
	ImageID   string
	Created   time.Time
	CreatedBy string
	Comment   string
	Size      int64
	Tags      []string
	// Layer is the index of the layer this step made, or -1 for a step that
	// made no layer.
	Layer int
	// Inferred is true when the Engine API could not tell whether this step
	// made a layer and the answer was inferred from the step's command.
	Inferred bool
}

// CumulativeSize returns the total size of layers 0 through i, or -1 when a
// size is unknown.
func (a *Ancestry) CumulativeSize(i int) int64 {
	var total int64
	for _, l := range a.Layers[:i+1] {
		if l.Size < 0 {
			return -1
		}
		total += l.Size
	}
	return total
}

// DiffIDs returns the diff IDs of the layers, bottom first.
func (a *Ancestry) DiffIDs() []digest.Digest {
	ids := make([]digest.Digest, len(a.Layers))
	for i, l := range a.Layers {
		ids[i] = l.DiffID
	}
	return ids
}

// Load reads the ancestry of ref from the daemon.
func Load(ctx context.Context, c Client, ref string) (*Ancestry, error) {
	return load(ctx, c, ref, "", nil, nil)
}

// load is Load with options for the ImageInspect and ImageHistory calls of
// the image itself (not of intermediate images). The image is looked up as
// id when it is given, else as ref; its ID is id, else the one ImageInspect
// answers.
func load(ctx context.Context, c Client, ref, id string, inspectOpts []client.ImageInspectOption, historyOpts []client.ImageHistoryOption) (*Ancestry, error) {
	name := ref
	if id != "" {
		name = id
	}
	img, err := c.ImageInspect(ctx, name, inspectOpts...)
	if err != nil {
		return nil, err
	}
	if id != "" {
		img.ID = id
	}
	if img.RootFS.Type != "" && img.RootFS.Type != "layers" {
		return nil, fmt.Errorf("image %s: unsupported root filesystem type %q", ref, img.RootFS.Type)
	}
	diffIDs, err := parseDiffIDs(img.RootFS.Layers)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", ref, err)
	}
	hist, err := c.ImageHistory(ctx, img.ID, historyOpts...)
	if err != nil {
		return nil, fmt.Errorf("reading history of %s: %w", ref, err)
	}
	steps := stepsFromHistory(hist)
	counter := daemonLayerCounter{ctx: ctx, c: c, cache: map[string]int{img.ID: len(diffIDs)}}
	if err := mapSteps(steps, len(diffIDs), counter.count); err != nil {
		return nil, fmt.Errorf("image %s: %w", ref, err)
	}
	return newAncestry(ref, img.ID, img.RepoTags, diffIDs, steps), nil
}

// FromConfig builds the ancestry of an image from its config, as a saved
// archive holds it. The config says exactly which steps made layers. Layer
// sizes are unknown (-1) unless sizes gives them, bottom first.
func FromConfig(ref, id string, repoTags []string, cfg ocispec.Image, sizes []int64) (*Ancestry, error) {
	diffIDs := cfg.RootFS.DiffIDs
	steps := make([]Step, 0, len(cfg.History))
	n := 0
	for _, h := range cfg.History {
		s := Step{CreatedBy: h.CreatedBy, Comment: h.Comment, Layer: -1, Size: 0}
		if h.Created != nil {
			s.Created = *h.Created
		}
		if !h.EmptyLayer {
			s.Layer = n
			if n < len(sizes) {
				s.Size = sizes[n]
			}
			n++
		}
		steps = append(steps, s)
	}
	if len(steps) > 0 && n != len(diffIDs) {
		return nil, fmt.Errorf("image %s: the history names %d layers but the root filesystem has %d", ref, n, len(diffIDs))
	}
	if len(steps) > 0 {
		steps[len(steps)-1].ImageID = id
		steps[len(steps)-1].Tags = repoTags
	}
	a := newAncestry(ref, id, repoTags, diffIDs, steps)
	for i := range a.Layers {
		a.Layers[i].Size = -1
		if i < len(sizes) {
			a.Layers[i].Size = sizes[i]
		}
	}
	if len(a.Layers) > 0 && len(steps) == 0 {
		top := &a.Layers[len(a.Layers)-1]
		top.ImageIDs, top.Tags = []string{id}, repoTags
	}
	return a, nil
}

func parseDiffIDs(layers []string) ([]digest.Digest, error) {
	ids := make([]digest.Digest, len(layers))
	for i, s := range layers {
		d, err := digest.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("layer %d has an invalid diff ID %q: %w", i, s, err)
		}
		ids[i] = d
	}
	return ids, nil
}

// stepsFromHistory turns docker's newest-first history into steps, oldest
// first, with no layer mapping yet.
func stepsFromHistory(hist []image.HistoryResponseItem) []Step {
	steps := make([]Step, len(hist))
	for i, h := range hist {
		s := Step{
			Created:   time.Unix(h.Created, 0),
			CreatedBy: h.CreatedBy,
			Comment:   h.Comment,
			Size:      h.Size,
			Tags:      h.Tags,
			Layer:     -1,
		}
		if h.ID != "<missing>" {
			s.ImageID = h.ID
		}
		steps[len(hist)-1-i] = s
	}
	return steps
}

func newAncestry(ref, id string, repoTags []string, diffIDs []digest.Digest, steps []Step) *Ancestry {
	a := &Ancestry{Ref: ref, ID: id, RepoTags: repoTags, Steps: steps, Layers: make([]Layer, len(diffIDs))}
	for i, d := range diffIDs {
		a.Layers[i] = Layer{Index: i, DiffID: d, Size: -1, Step: -1}
	}
	top := -1
	for i, s := range steps {
		if s.Layer >= 0 {
			top = s.Layer
			a.Layers[top].Step = i
			a.Layers[top].Size = s.Size
		}
		if top >= 0 && s.ImageID != "" {
			l := &a.Layers[top]
			l.ImageIDs = append(l.ImageIDs, s.ImageID)
			l.Tags = append(l.Tags, s.Tags...)
		}
	}
	return a
}

// daemonLayerCounter tells how many layers an intermediate image has, asking
// the daemon once per image.
type daemonLayerCounter struct {
	ctx   context.Context
	c     Client
	cache map[string]int
}

func (d daemonLayerCounter) count(imageID string) (int, error) {
	if n, ok := d.cache[imageID]; ok {
		return n, nil
	}
	img, err := d.c.ImageInspect(d.ctx, imageID)
	if err != nil {
		return 0, fmt.Errorf("inspecting intermediate image %s: %w", imageID, err)
	}
	d.cache[imageID] = len(img.RootFS.Layers)
	return len(img.RootFS.Layers), nil
}
