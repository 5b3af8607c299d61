package inspect

import (
	"strconv"
	"strings"
)

// Candidate is one layer spec a shell may offer, with a description.
type Candidate struct {
	Spec        string
	Description string
}

// shortIDLen is the length of a diff ID prefix offered, as docker shows
// short IDs.
const shortIDLen = 12

// Complete lists the layer specs that complete toComplete for this image:
// the layer indexes (bottom first, then -1 for the top layer), the tags
// of the images on its history (its ancestors, and its own), and the
// 12-digit prefix of each layer's diff ID. After "A:", the same
// candidates are offered for the other end of a range, when A is an index
// or a candidate itself.
func (a *Ancestry) Complete(toComplete string) []Candidate {
	all := a.candidates()
	var out []Candidate
	for _, c := range all {
		if strings.HasPrefix(c.Spec, toComplete) {
			out = append(out, c)
		}
	}
	// A range: toComplete is "LEFT:right", LEFT a whole spec (tags hold
	// colons, so every colon is tried).
	for i := 0; i < len(toComplete); i++ {
		if toComplete[i] != ':' {
			continue
		}
		left, right := toComplete[:i], toComplete[i+1:]
		if left != "" && !a.isElement(left, all) {
			continue
		}
		for _, c := range all {
			if strings.HasPrefix(c.Spec, right) {
				out = append(out, Candidate{Spec: left + ":" + c.Spec, Description: c.Description})
			}
		}
	}
	return out
}

// isElement reports whether s is one end of a range: an index of the
// image, or one of its candidates.
func (a *Ancestry) isElement(s string, all []Candidate) bool {
	if n, err := strconv.Atoi(s); err == nil {
		return n < len(a.Layers) && n >= -len(a.Layers)
	}
	for _, c := range all {
		if c.Spec == s {
			return true
		}
	}
	return false
}

func (a *Ancestry) candidates() []Candidate {
	n := len(a.Layers)
	out := make([]Candidate, 0, 2*n+1)
	for i := range a.Layers {
		out = append(out, Candidate{Spec: strconv.Itoa(i), Description: a.describe(i)})
	}
	if n > 0 {
		out = append(out, Candidate{Spec: "-1", Description: a.describe(n - 1)})
	}
	seen := map[string]bool{}
	for i, l := range a.Layers {
		for _, t := range l.Tags {
			if !seen[t] && t != "<none>:<none>" {
				seen[t] = true
				out = append(out, Candidate{Spec: t, Description: "top layer " + strconv.Itoa(i) + " of this image"})
			}
		}
	}
	for i, l := range a.Layers {
		if hex := l.DiffID.Encoded(); len(hex) >= shortIDLen {
			out = append(out, Candidate{Spec: hex[:shortIDLen], Description: "layer " + strconv.Itoa(i)})
		}
	}
	return out
}

// describe says what layer i is: its short diff ID and the step that
// made it, shortened.
func (a *Ancestry) describe(i int) string {
	l := a.Layers[i]
	d := "layer " + strconv.Itoa(i)
	if hex := l.DiffID.Encoded(); len(hex) >= shortIDLen {
		d += " " + hex[:shortIDLen]
	}
	if l.Step >= 0 && l.Step < len(a.Steps) {
		by := strings.Join(strings.Fields(a.Steps[l.Step].CreatedBy), " ")
		by = strings.TrimPrefix(by, "/bin/sh -c ")
		by = strings.TrimPrefix(by, "#(nop) ")
		if r := []rune(by); len(r) > 50 {
			by = string(r[:49]) + "…"
		}
		if by != "" {
			d += ": " + by
		}
	}
	return d
}
