package inspect

import (
	"fmt"
	"strings"
)

// mapSteps decides which steps made a layer and numbers those layers.
//
// The Engine API's history does not say which steps made a layer. A step
// with a non-zero size certainly did. For the rest, the layer counts of the
// images the steps produced (intermediate images of a classic build) split
// the history into segments whose number of layers is known; a segment
// whose steps all made layers, or none did, needs no guess. Only a segment
// with some zero-size layers and no intermediate images in it is decided
// from the steps' commands, and its steps are marked Inferred.
//
// count returns the number of layers of an image; it is called only when
// sizes alone cannot decide.
func mapSteps(steps []Step, nLayers int, count func(imageID string) (int, error)) error {
	if len(steps) == 0 {
		return nil
	}
	known := 0
	for _, s := range steps {
		if s.Size > 0 {
			known++
		}
	}
	if known > nLayers {
		return fmt.Errorf("the history has %d steps with content but the image has %d layers", known, nLayers)
	}
	// Checkpoints: after step i the image has layers[i] layers (-1: unknown).
	layers := make([]int, len(steps))
	for i := range layers {
		layers[i] = -1
	}
	layers[len(steps)-1] = nLayers
	if unknown := len(steps) - known; nLayers-known != 0 && nLayers-known != unknown {
		for i, s := range steps[:len(steps)-1] {
			if s.ImageID == "" {
				continue
			}
			n, err := count(s.ImageID)
			if err != nil {
				return err
			}
			layers[i] = n
		}
	}
	prev, prevCount := -1, 0
	for i := range steps {
		if layers[i] < 0 {
			continue
		}
		decideSegment(steps[prev+1:i+1], layers[i]-prevCount)
		prev, prevCount = i, layers[i]
	}
	n := 0
	for i := range steps {
		if steps[i].Layer >= 0 {
			steps[i].Layer = n
			n++
		}
	}
	if n != nLayers {
		return fmt.Errorf("the history names %d layers but the image has %d", n, nLayers)
	}
	return nil
}

// decideSegment marks which of seg's steps made a layer, given that they made
// want layers together. It sets Layer to 0 for a step that made a layer
// (mapSteps numbers them afterwards) and -1 for one that did not.
func decideSegment(seg []Step, want int) {
	var unknown []int
	for i := range seg {
		if seg[i].Size > 0 {
			seg[i].Layer = 0
			want--
		} else {
			seg[i].Layer = -1
			unknown = append(unknown, i)
		}
	}
	switch {
	case want <= 0:
		return
	case want >= len(unknown):
		for _, i := range unknown {
			seg[i].Layer = 0
		}
		return
	}
	// Guess from the commands: first the steps whose command makes a layer,
	// then, if still short, the others from the newest down.
	for _, i := range unknown {
		seg[i].Inferred = true
	}
	for _, i := range unknown {
		if want > 0 && commandMakesLayer(seg[i].CreatedBy) {
			seg[i].Layer = 0
			want--
		}
	}
	for k := len(unknown) - 1; k >= 0 && want > 0; k-- {
		if i := unknown[k]; seg[i].Layer < 0 {
			seg[i].Layer = 0
			want--
		}
	}
}

// metadataInstructions are Dockerfile instructions that change only the
// image config.
var metadataInstructions = map[string]bool{
	"ARG": true, "CMD": true, "ENTRYPOINT": true, "ENV": true, "EXPOSE": true,
	"HEALTHCHECK": true, "LABEL": true, "MAINTAINER": true, "ONBUILD": true,
	"SHELL": true, "STOPSIGNAL": true, "USER": true, "VOLUME": true,
}

// commandMakesLayer guesses from a history step's command whether the step
// made a layer. The classic builder writes metadata steps as
// "/bin/sh -c #(nop)  ENV …"; BuildKit writes "ENV …".
func commandMakesLayer(createdBy string) bool {
	s := strings.TrimSpace(createdBy)
	if rest, ok := strings.CutPrefix(s, "/bin/sh -c #(nop)"); ok {
		s = strings.TrimSpace(rest)
	}
	word, _, _ := strings.Cut(s, " ")
	return !metadataInstructions[strings.ToUpper(word)]
}
