package squash

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"
)

// ConfigChange says how [RewriteConfig] rewrites an image config.
type ConfigChange struct {
	// From and To are the first and the last squashed layer, bottom
	// first (0 is the base layer), inclusive.
	From, To int
	// DiffID is the diff ID of the squashed layer.
	DiffID digest.Digest
	// Created is the time of the collapsed history entry.
	Created time.Time
	// CreatedBy is the created_by of the collapsed history entry.
	CreatedBy string
	// Comment is the comment of the collapsed history entry.
	Comment string
	// ClampCreated, unless zero, is the latest time the config's own
	// created may be: a later one is written as ClampCreated, as
	// buildkit does with SOURCE_DATE_EPOCH.
	ClampCreated time.Time
}

// RewriteConfig returns the image config raw with layers From..To replaced
// by one layer: rootfs.diff_ids gets DiffID in their place, and the history
// entries that made those layers collapse into one entry (Created,
// CreatedBy, Comment). Every other field, known or not, is kept as it is,
// and so are the unknown fields of the history entries kept.
//
// History entries that made no layer (ENV, CMD, …) keep their place: those
// between the first and the last squashed step come before the collapsed
// entry, which takes the place of the last squashed step, since the
// squashed layer holds the file system as that step left it. A config
// without history keeps none. With ClampCreated, the config's created is
// clamped; the kept history entries are the image's own, as the kept
// layers are, and keep their times.
func RewriteConfig(raw []byte, c ConfigChange) ([]byte, error) {
	var cfg map[string]json.RawMessage
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("decoding image config: %w", err)
	}
	var rootfs map[string]json.RawMessage
	if err := json.Unmarshal(cfg["rootfs"], &rootfs); err != nil {
		return nil, fmt.Errorf("decoding image config rootfs: %w", err)
	}
	var diffIDs []digest.Digest
	if err := json.Unmarshal(rootfs["diff_ids"], &diffIDs); err != nil {
		return nil, fmt.Errorf("decoding image config rootfs.diff_ids: %w", err)
	}
	if c.From < 0 || c.To < c.From || c.To >= len(diffIDs) {
		return nil, fmt.Errorf("layers %d..%d are not in an image of %d layers", c.From, c.To, len(diffIDs))
	}
	newDiffs := append(append(append([]digest.Digest{}, diffIDs[:c.From]...), c.DiffID), diffIDs[c.To+1:]...)
	var err error
	if rootfs["diff_ids"], err = json.Marshal(newDiffs); err != nil {
		return nil, err
	}
	if cfg["rootfs"], err = json.Marshal(rootfs); err != nil {
		return nil, err
	}

	var history []map[string]json.RawMessage
	if h, ok := cfg["history"]; ok && string(h) != "null" {
		if err := json.Unmarshal(h, &history); err != nil {
			return nil, fmt.Errorf("decoding image config history: %w", err)
		}
	}
	if len(history) > 0 {
		if history, err = collapseHistory(history, len(diffIDs), c); err != nil {
			return nil, err
		}
		if cfg["history"], err = json.Marshal(history); err != nil {
			return nil, err
		}
	}
	if raw, ok := cfg["created"]; ok && !c.ClampCreated.IsZero() && string(raw) != "null" {
		var created time.Time
		if err := json.Unmarshal(raw, &created); err != nil {
			return nil, fmt.Errorf("decoding image config created: %w", err)
		}
		if created.After(c.ClampCreated) {
			if cfg["created"], err = json.Marshal(c.ClampCreated.UTC()); err != nil {
				return nil, err
			}
		}
	}
	return json.Marshal(cfg)
}

// collapseHistory replaces the entries that made layers From..To with one.
func collapseHistory(history []map[string]json.RawMessage, layers int, c ConfigChange) ([]map[string]json.RawMessage, error) {
	collapsed := map[string]json.RawMessage{}
	var err error
	if collapsed["created"], err = json.Marshal(c.Created.UTC()); err != nil {
		return nil, err
	}
	collapsed["created_by"], _ = json.Marshal(c.CreatedBy)
	if c.Comment != "" {
		collapsed["comment"], _ = json.Marshal(c.Comment)
	}

	out := make([]map[string]json.RawMessage, 0, len(history))
	layer := 0
	for i, h := range history {
		empty, err := emptyLayer(h)
		if err != nil {
			return nil, fmt.Errorf("decoding image config history entry %d: %w", i, err)
		}
		if empty {
			out = append(out, h)
			continue
		}
		switch {
		case layer < c.From || layer > c.To:
			out = append(out, h)
		case layer == c.To:
			out = append(out, collapsed)
		}
		layer++
	}
	if layer != layers {
		return nil, fmt.Errorf("image config history has %d steps that made layers, but the image has %d layers", layer, layers)
	}
	return out, nil
}

func emptyLayer(h map[string]json.RawMessage) (bool, error) {
	raw, ok := h["empty_layer"]
	if !ok || string(raw) == "null" {
		return false, nil
	}
	var b bool
	if err := json.Unmarshal(raw, &b); err != nil {
		return false, errors.New("empty_layer is not a boolean")
	}
	return b, nil
}
