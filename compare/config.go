package compare

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/containerd/platforms"
	"github.com/docker-layers/docker-layers/flatten"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ImageConfig is what ConfigDiff compares of one image.
type ImageConfig struct {
	// Platform is the image's platform. ConfigDiff compares it normalized
	// (platforms.Normalize), so "aarch64" and "arm64/v8" are both "arm64".
	Platform ocispec.Platform
	// Config is what a container of the image starts with.
	Config dockerspec.DockerOCIImageConfig
	// DiffIDs are the image's layers, bottom first.
	DiffIDs []digest.Digest
	// History is the image's history, oldest first.
	History []ocispec.History
}

// NewImageConfig returns what ConfigDiff compares of the image img, as
// source.Image's Config returns it.
func NewImageConfig(img *dockerspec.DockerOCIImage) ImageConfig {
	return ImageConfig{
		Platform: platforms.Normalize(img.Platform),
		Config:   img.Config,
		DiffIDs:  img.RootFS.DiffIDs,
		History:  img.History,
	}
}

// ConfigChange is one difference between two image configs.
type ConfigChange struct {
	// Field names what differs: "Cmd", or a key of a keyed field,
	// "Env[PATH]", or a position, "Layers[2]"; see ConfigDiff.
	Field string
	// Change is flatten.Added when the field or key is only in B,
	// flatten.Deleted when it is only in A, else flatten.Changed.
	Change flatten.ChangeKind
	// A and B are the value on each side as a user reads it; "" when
	// absent.
	A, B string
}

// ConfigDiff returns the differences between the image configs a and b, nil
// when there are none. They come in this order, keys sorted by byte
// order and positions by number within a field:
//
//   - Env[NAME]: by variable name. An entry without "=" is a name with an
//     empty value; when a name appears twice the last one wins, as in the
//     container docker starts. A and B are the values after "=".
//   - Labels[KEY]: by key; A and B are the values.
//   - Cmd, Entrypoint: as JSON arrays, `["sh","-c","x"]`.
//   - WorkingDir, User: as strings.
//   - ExposedPorts[PORT], Volumes[PATH]: by key; only presence is
//     compared, so A and B are "".
//   - StopSignal: as a string.
//   - Healthcheck: as compact JSON, durations in nanoseconds as docker
//     inspect shows them.
//   - Shell, OnBuild: as JSON arrays.
//   - Platform: one Changed row, the normalized platforms formatted as
//     "linux/arm/v7", with the OS version in parentheses after the OS
//     when there is one: "windows(10.0.20348.2113)/amd64".
//   - Layers: one Changed row with the two layer counts when they differ;
//     then Layers[i], i from 0 at the bottom: Changed where both images
//     have an i-th layer with different diff IDs, Added or Deleted where
//     only one has it. A and B are the diff IDs.
//   - History[i], i from 0 for the oldest entry: Changed where both
//     images have an i-th entry whose CreatedBy, Comment or EmptyLayer
//     differ, Added or Deleted where only one has it. A and B are the
//     CreatedBy, followed by `(comment "…")` when the comments differ and
//     by "(no layer)" for an empty-layer entry when EmptyLayer differs.
//     An entry's Created and Author are not compared: every build changes
//     Created, and the Engine API's history gives it to the second only
//     and has no Author, so an image read from the daemon would always
//     differ from the same image saved.
//
// A keyed field's key only in B is Added, only in A Deleted, in both with
// different values Changed. Any other field is Added when it is absent in
// A and present in B, Deleted the other way round, else Changed; a nil
// and an empty list, or a nil and a zero Healthcheck, are both absent.
// The image's own Created and Author, the config's ArgsEscaped and the
// platform's OSFeatures are not compared either.
func ConfigDiff(a, b ImageConfig) []ConfigChange {
	var out []ConfigChange
	ca, cb := a.Config, b.Config
	out = keyed(out, "Env", envMap(ca.Env), envMap(cb.Env))
	out = keyed(out, "Labels", ca.Labels, cb.Labels)
	out = scalar(out, "Cmd", jsonList(ca.Cmd), jsonList(cb.Cmd))
	out = scalar(out, "Entrypoint", jsonList(ca.Entrypoint), jsonList(cb.Entrypoint))
	out = scalar(out, "WorkingDir", ca.WorkingDir, cb.WorkingDir)
	out = scalar(out, "User", ca.User, cb.User)
	out = keyed(out, "ExposedPorts", presence(ca.ExposedPorts), presence(cb.ExposedPorts))
	out = keyed(out, "Volumes", presence(ca.Volumes), presence(cb.Volumes))
	out = scalar(out, "StopSignal", ca.StopSignal, cb.StopSignal)
	out = scalar(out, "Healthcheck", healthcheck(ca.Healthcheck), healthcheck(cb.Healthcheck))
	out = scalar(out, "Shell", jsonList(ca.Shell), jsonList(cb.Shell))
	out = scalar(out, "OnBuild", jsonList(ca.OnBuild), jsonList(cb.OnBuild))
	if pa, pb := platformString(a.Platform), platformString(b.Platform); pa != pb {
		out = append(out, ConfigChange{Field: "Platform", Change: flatten.Changed, A: pa, B: pb})
	}
	out = layers(out, a.DiffIDs, b.DiffIDs)
	out = history(out, a.History, b.History)
	return out
}

// keyed appends a row for each key of field whose value differs between
// a and b, keys sorted.
func keyed(out []ConfigChange, field string, a, b map[string]string) []ConfigChange {
	all := maps.Clone(a)
	if all == nil {
		all = map[string]string{}
	}
	maps.Copy(all, b)
	for _, k := range slices.Sorted(maps.Keys(all)) {
		va, inA := a[k]
		vb, inB := b[k]
		row := ConfigChange{Field: field + "[" + k + "]", A: va, B: vb}
		switch {
		case !inA:
			row.Change = flatten.Added
		case !inB:
			row.Change = flatten.Deleted
		case va != vb:
			row.Change = flatten.Changed
		default:
			continue
		}
		out = append(out, row)
	}
	return out
}

// scalar appends a row for field when a and b differ; "" is absent.
func scalar(out []ConfigChange, field, a, b string) []ConfigChange {
	if a == b {
		return out
	}
	row := ConfigChange{Field: field, Change: flatten.Changed, A: a, B: b}
	switch {
	case a == "":
		row.Change = flatten.Added
	case b == "":
		row.Change = flatten.Deleted
	}
	return append(out, row)
}

// envMap maps each variable of env to its value, the last one winning.
func envMap(env []string) map[string]string {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// presence maps each key of set to "".
func presence(set map[string]struct{}) map[string]string {
	m := make(map[string]string, len(set))
	for k := range set {
		m[k] = ""
	}
	return m
}

// jsonList is l as a JSON array, "" when it is empty.
func jsonList(l []string) string {
	if len(l) == 0 {
		return ""
	}
	return compactJSON(l)
}

// healthcheck is h as compact JSON, "" when it is nil or zero.
func healthcheck(h *dockerspec.HealthcheckConfig) string {
	if h == nil {
		return ""
	}
	if s := compactJSON(h); s != "{}" {
		return s
	}
	return ""
}

// compactJSON is v as one line of JSON, without the HTML escaping of
// json.Marshal, so "a > b" stays as it is written in a Dockerfile.
func compactJSON(v any) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // a []string or a HealthcheckConfig always encodes
	return strings.TrimSuffix(buf.String(), "\n")
}

// platformString is the normalized platform p as a user writes it, with
// its OS version, if any, as platforms.FormatAll writes it.
func platformString(p ocispec.Platform) string {
	return platforms.FormatAll(platforms.Normalize(p))
}

// layers appends the Layers rows: the counts, then each position.
func layers(out []ConfigChange, a, b []digest.Digest) []ConfigChange {
	if len(a) != len(b) {
		out = append(out, ConfigChange{Field: "Layers", Change: flatten.Changed, A: strconv.Itoa(len(a)), B: strconv.Itoa(len(b))})
	}
	for i := range max(len(a), len(b)) {
		row := ConfigChange{Field: "Layers[" + strconv.Itoa(i) + "]"}
		switch {
		case i >= len(a):
			row.Change, row.B = flatten.Added, b[i].String()
		case i >= len(b):
			row.Change, row.A = flatten.Deleted, a[i].String()
		case a[i] != b[i]:
			row.Change, row.A, row.B = flatten.Changed, a[i].String(), b[i].String()
		default:
			continue
		}
		out = append(out, row)
	}
	return out
}

// history appends the History rows, one per position that differs.
func history(out []ConfigChange, a, b []ocispec.History) []ConfigChange {
	for i := range max(len(a), len(b)) {
		row := ConfigChange{Field: "History[" + strconv.Itoa(i) + "]"}
		switch {
		case i >= len(a):
			row.Change, row.B = flatten.Added, b[i].CreatedBy
		case i >= len(b):
			row.Change, row.A = flatten.Deleted, a[i].CreatedBy
		default:
			ha, hb := a[i], b[i]
			if ha.CreatedBy == hb.CreatedBy && ha.Comment == hb.Comment && ha.EmptyLayer == hb.EmptyLayer {
				continue
			}
			row.Change = flatten.Changed
			row.A = historyString(ha, ha.Comment != hb.Comment, ha.EmptyLayer != hb.EmptyLayer)
			row.B = historyString(hb, ha.Comment != hb.Comment, ha.EmptyLayer != hb.EmptyLayer)
		}
		out = append(out, row)
	}
	return out
}

// historyString is h's CreatedBy, with its comment and whether it made
// no layer when they tell it apart from the entry it is compared with.
func historyString(h ocispec.History, comment, empty bool) string {
	s := h.CreatedBy
	if comment && h.Comment != "" {
		s += " (comment " + strconv.Quote(h.Comment) + ")"
	}
	if empty && h.EmptyLayer {
		s += " (no layer)"
	}
	return strings.TrimPrefix(s, " ")
}
