package inspect

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
)

// TagLookup returns the diff IDs of the image that ref (a name, a name:tag
// or a short image ID, as the user wrote it) names. Resolve uses it for
// references that are not on the image's own history; it may be nil.
type TagLookup func(ctx context.Context, ref string) ([]digest.Digest, error)

// minDigitPrefix is the shortest all-digit spec that is also read as an ID
// prefix. Shorter numbers are only indexes: otherwise "2" would collide with
// some ID of most images. "sha256:2" is always a prefix.
const minDigitPrefix = 3

var (
	indexPattern = regexp.MustCompile(`^-?[0-9]+$`)
	hexPattern   = regexp.MustCompile(`^[0-9a-f]{1,64}$`)
)

// Resolve returns the indexes of the layers that specs select, in stack
// order (bottom first) and without duplicates. With no specs it selects
// every layer.
//
// A spec is an element or a range "A:B" of two elements, inclusive and in
// either direction, where an empty A means the bottom layer and an empty B
// the top one. An element is
//   - an index: 0 is the bottom layer, -1 the top one;
//   - a hex prefix of a diff ID or of an image ID on the history, with or
//     without "sha256:" (a number of one or two digits is only an index);
//   - a tag of an image whose layers are the bottom of this image's.
//
// Errors are *SpecError.
func (a *Ancestry) Resolve(ctx context.Context, specs []string, lookup TagLookup) ([]int, error) {
	selected := make([]bool, len(a.Layers))
	if len(specs) == 0 {
		for i := range selected {
			selected[i] = true
		}
	}
	r := resolver{a: a, ctx: ctx, lookup: lookup}
	for _, spec := range specs {
		lo, hi, err := r.spec(spec)
		if err != nil {
			return nil, &SpecError{Spec: spec, Err: err}
		}
		if lo > hi {
			lo, hi = hi, lo
		}
		for i := lo; i <= hi; i++ {
			selected[i] = true
		}
	}
	var out []int
	for i, ok := range selected {
		if ok {
			out = append(out, i)
		}
	}
	return out, nil
}

type resolver struct {
	a      *Ancestry
	ctx    context.Context
	lookup TagLookup
}

// reading is one way of reading a spec, and where it leads.
type reading struct {
	what   string
	lo, hi int
	err    error
	// numeric is true for a range whose ends are indexes, hex or empty: the
	// most likely reading of a spec, whose error is the one to report.
	numeric bool
}

// spec resolves one spec to an (unordered) range. A spec with colons may be
// a range, a "sha256:" ID or a "name:tag"; every reading is tried, and the
// spec must resolve in exactly one way.
func (r resolver) spec(s string) (lo, hi int, err error) {
	if s == "" {
		return 0, 0, fmt.Errorf("%w: empty", ErrInvalidSpec)
	}
	var readings []reading
	if !strings.Contains(s, ":") || isDigestLike(s) {
		i, _, err := r.element(s)
		return i, i, err
	}
	// The whole spec as one element: a "name:tag".
	i, what, wholeErr := r.element(s)
	if wholeErr == nil || !errors.Is(wholeErr, ErrInvalidSpec) {
		readings = append(readings, reading{what: what, lo: i, hi: i, err: wholeErr})
	}
	// Every colon as the range separator.
	for p := strings.IndexByte(s, ':'); p >= 0; {
		left, right := s[:p], s[p+1:]
		if left != "sha256" && !strings.HasSuffix(left, ":sha256") {
			readings = append(readings, r.rangeReading(left, right))
		}
		next := strings.IndexByte(s[p+1:], ':')
		if next < 0 {
			break
		}
		p += next + 1
	}
	var ok []reading
	for _, rd := range readings {
		if rd.err == nil && !containsRange(ok, rd) {
			ok = append(ok, rd)
		}
	}
	switch len(ok) {
	case 1:
		return ok[0].lo, ok[0].hi, nil
	case 0:
		if len(readings) == 0 {
			// Not a name:tag, and every colon is part of "sha256:".
			return 0, 0, wholeErr
		}
		return 0, 0, bestError(readings)
	}
	amb := &AmbiguousReadingError{Hint: `write an image tag with an explicit ":tag" and use indexes or "sha256:" IDs for range ends`}
	for _, rd := range ok {
		amb.Readings = append(amb.Readings, rd.what)
	}
	return 0, 0, amb
}

func (r resolver) rangeReading(left, right string) reading {
	rd := reading{what: fmt.Sprintf("the range %q to %q", left, right), lo: 0, hi: len(r.a.Layers) - 1,
		numeric: isNumeric(left) && isNumeric(right)}
	if len(r.a.Layers) == 0 {
		rd.err = ErrNotExist
		return rd
	}
	if left != "" {
		i, _, err := r.element(left)
		if err != nil {
			rd.err = fmt.Errorf("range start %q: %w", left, err)
			return rd
		}
		rd.lo = i
	}
	if right != "" {
		i, _, err := r.element(right)
		if err != nil {
			rd.err = fmt.Errorf("range end %q: %w", right, err)
			return rd
		}
		rd.hi = i
	}
	rd.what = fmt.Sprintf("the range %d:%d", rd.lo, rd.hi)
	return rd
}

// element resolves a spec with no range to one layer index. what describes
// the reading that succeeded, or the one that failed.
func (r resolver) element(s string) (int, string, error) {
	n := len(r.a.Layers)
	var readings []reading
	if indexPattern.MatchString(s) {
		rd := reading{what: "index " + s}
		i, err := strconv.Atoi(s)
		switch {
		case err != nil:
			rd.err = fmt.Errorf("index %s is out of range", s)
		case i < 0 && i >= -n:
			rd.lo = n + i
		case i >= 0 && i < n:
			rd.lo = i
		default:
			rd.err = fmt.Errorf("%w: index %d is out of range (the image has %d layers: 0 to %d, or -%d to -1)", ErrNotExist, i, n, n-1, n)
		}
		readings = append(readings, rd)
		if i < 0 { // a negative number is never an ID
			return rd.lo, rd.what, rd.err
		}
	}
	hex := strings.TrimPrefix(s, "sha256:")
	if hexPattern.MatchString(hex) && (hex != s || !indexPattern.MatchString(s) || len(s) >= minDigitPrefix) {
		readings = append(readings, r.prefix(hex))
	}
	var ok []reading
	for _, rd := range readings {
		if rd.err == nil {
			ok = append(ok, rd)
		}
	}
	if len(ok) == 2 {
		return 0, "", &AmbiguousReadingError{
			Readings: []string{ok[0].what, ok[1].what},
			Hint:     fmt.Sprintf("write %d for the index or %q for the ID", ok[0].lo-n, "sha256:"+hex),
		}
	}
	if len(ok) == 1 {
		return ok[0].lo, ok[0].what, nil
	}
	// No index or ID matched: last, a tag.
	if !strings.HasPrefix(s, "sha256:") && !indexPattern.MatchString(s) {
		if rd := r.tag(s); rd.err == nil || len(readings) == 0 || !errors.Is(rd.err, ErrNotExist) {
			return rd.lo, rd.what, rd.err
		}
	}
	if len(readings) == 0 {
		return 0, "", fmt.Errorf("%w: %q is not an index, an ID prefix or an image tag", ErrInvalidSpec, s)
	}
	if errors.Is(readings[0].err, ErrNotExist) && len(readings) > 1 && !errors.Is(readings[1].err, ErrNotExist) {
		return 0, readings[1].what, readings[1].err
	}
	if len(readings) > 1 {
		return 0, "", fmt.Errorf("%w: %s is neither a layer index nor a prefix of a diff ID or image ID", ErrNotExist, s)
	}
	return 0, readings[0].what, readings[0].err
}

// prefix resolves a hex prefix against the diff IDs and image IDs of the
// layers. IDs of one layer never conflict with each other.
func (r resolver) prefix(hex string) reading {
	rd := reading{what: "a prefix of " + hex}
	layer := -1
	var candidates []string
	add := func(kind, id string, i int) {
		if !strings.HasPrefix(strings.TrimPrefix(id, "sha256:"), hex) {
			return
		}
		candidates = append(candidates, fmt.Sprintf("%s %s (layer %d)", kind, id, i))
		if layer == -1 {
			layer = i
		} else if layer != i {
			layer = -2
		}
	}
	for i, l := range r.a.Layers {
		add("diff ID", l.DiffID.String(), i)
		for _, id := range l.ImageIDs {
			add("image", id, i)
		}
	}
	switch layer {
	case -1:
		rd.err = fmt.Errorf("%w: no diff ID or image ID starts with %s", ErrNotExist, hex)
	case -2:
		rd.err = &AmbiguousPrefixError{Prefix: hex, Candidates: candidates}
	default:
		rd.lo = layer
		rd.what = candidates[0]
	}
	return rd
}

// tag resolves an image reference to the top layer of that image, which must
// be an ancestor of this one.
func (r resolver) tag(s string) reading {
	rd := reading{what: "the image " + s}
	named, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		rd.err = fmt.Errorf("%w: %q is not an index, an ID prefix or an image reference", ErrInvalidSpec, s)
		return rd
	}
	familiar := reference.FamiliarString(reference.TagNameOnly(named))
	for i, l := range r.a.Layers {
		for _, t := range l.Tags {
			if t == familiar {
				rd.lo, rd.what = i, "the image "+familiar
				return rd
			}
		}
	}
	if r.lookup == nil {
		rd.err = fmt.Errorf("%w: no image on the history is tagged %s", ErrNotExist, familiar)
		return rd
	}
	ids, err := r.lookup(r.ctx, s)
	if err != nil {
		rd.err = fmt.Errorf("%w: %s: %v", ErrNotExist, familiar, err)
		return rd
	}
	if len(ids) == 0 || len(ids) > len(r.a.Layers) {
		rd.err = fmt.Errorf("%w: %s is not an ancestor of this image", ErrNotExist, familiar)
		return rd
	}
	for i, id := range ids {
		if r.a.Layers[i].DiffID != id {
			rd.err = fmt.Errorf("%w: %s is not an ancestor of this image (their layer %d differs)", ErrNotExist, familiar, i)
			return rd
		}
	}
	rd.lo, rd.what = len(ids)-1, "the image "+familiar
	return rd
}

func isDigestLike(s string) bool {
	rest, ok := strings.CutPrefix(s, "sha256:")
	return ok && !strings.Contains(rest, ":")
}

func containsRange(rs []reading, rd reading) bool {
	for _, r := range rs {
		if min(r.lo, r.hi) == min(rd.lo, rd.hi) && max(r.lo, r.hi) == max(rd.lo, rd.hi) {
			return true
		}
	}
	return false
}

func isNumeric(s string) bool {
	return s == "" || indexPattern.MatchString(s) || hexPattern.MatchString(strings.TrimPrefix(s, "sha256:"))
}

// bestError picks the most telling error among failed readings: an
// ambiguity first, then a numeric range's error, then the whole spec's.
func bestError(rs []reading) error {
	var amb1 *AmbiguousPrefixError
	var amb2 *AmbiguousReadingError
	for _, rd := range rs {
		if errors.As(rd.err, &amb1) || errors.As(rd.err, &amb2) {
			return rd.err
		}
	}
	for _, rd := range rs {
		if rd.numeric {
			return rd.err
		}
	}
	return rs[0].err
}
