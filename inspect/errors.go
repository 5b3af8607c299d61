package inspect

import (
	"errors"
	"fmt"
	"strings"
)

// ErrNotExist is returned (wrapped in a *SpecError) when a layer spec
// matches no layer.
var ErrNotExist = errors.New("no such layer")

// ErrInvalidSpec is returned (wrapped in a *SpecError) when a layer spec is
// not of any form the spec language knows.
var ErrInvalidSpec = errors.New("invalid layer spec")

// SpecError reports a layer spec that does not resolve to exactly one
// layer, or to one range of layers.
type SpecError struct {
	Spec string
	Err  error
}

func (e *SpecError) Error() string {
	return fmt.Sprintf("layer spec %q: %v", e.Spec, e.Err)
}

func (e *SpecError) Unwrap() error { return e.Err }

// AmbiguousPrefixError is returned (wrapped in a *SpecError) when an ID
// prefix matches IDs of more than one layer, as moby's truncindex reports an
// ambiguous short ID.
type AmbiguousPrefixError struct {
	Prefix string
	// Candidates are the matching IDs, each with the index of its layer.
	Candidates []string
}

func (e *AmbiguousPrefixError) Error() string {
	return fmt.Sprintf("ambiguous prefix %q matches %s", e.Prefix, strings.Join(e.Candidates, ", "))
}

// AmbiguousReadingError is returned (wrapped in a *SpecError) when a spec
// reads validly in more than one way, such as "12" being both index 12 and
// the prefix of an ID.
type AmbiguousReadingError struct {
	// Readings describe each way the spec resolves.
	Readings []string
	// Hint says how to write each reading unambiguously.
	Hint string
}

func (e *AmbiguousReadingError) Error() string {
	return fmt.Sprintf("ambiguous: it is %s; %s", strings.Join(e.Readings, " and also "), e.Hint)
}
