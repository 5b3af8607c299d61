package extract

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

var (
	// ErrNotExist is returned (wrapped) by [Archive.Image] when no image in
	// the archive matches the reference.
	ErrNotExist = errors.New("no such image in archive")

	// ErrLayerNotFound is returned (wrapped) when a wanted layer is not in
	// the save stream or the image.
	ErrLayerNotFound = errors.New("layer not found")

	// ErrDigestMismatch is returned (wrapped) when content does not hash to
	// the digest that names it.
	ErrDigestMismatch = errors.New("digest mismatch")

	// ErrTruncated is returned (wrapped) when a save stream or archive ends
	// early: mid-entry, or on an entry boundary without the end-of-archive
	// marker.
	ErrTruncated = errors.New("truncated")

	// ErrInvalid is returned (wrapped) for malformed archives: bad JSON,
	// invalid digests, unsafe paths, symlink loops, oversized documents.
	ErrInvalid = errors.New("invalid archive")
)

// ErrAmbiguousPrefix is returned by [Archive.Image] when an image-ID prefix
// matches more than one image.
type ErrAmbiguousPrefix struct {
	Prefix  string
	Matches []string // the matching image IDs
}

func (e ErrAmbiguousPrefix) Error() string {
	return fmt.Sprintf("multiple images match ID prefix %q: %s", e.Prefix, strings.Join(e.Matches, ", "))
}

// DaemonError is an error the daemon reported by appending a JSON message to
// the save stream after it had started sending it (the HTTP status was
// already 200 by then).
type DaemonError struct {
	Message string
}

func (e *DaemonError) Error() string {
	return "daemon error in save stream: " + e.Message
}

// kindError is an error of one of the sentinel kinds above; its message
// does not repeat the kind.
type kindError struct {
	kind error
	err  error
}

func (e *kindError) Error() string   { return e.err.Error() }
func (e *kindError) Unwrap() []error { return []error{e.kind, e.err} }

// errorf formats an error (%w works) of the given kind.
func errorf(kind error, format string, args ...any) error {
	return &kindError{kind: kind, err: fmt.Errorf(format, args...)}
}

// jsonMessage is the part of docker's jsonmessage.JSONMessage that the API
// server writes with streamformatter.FormatError.
type jsonMessage struct {
	ErrorDetail *struct {
		Message string `json:"message"`
	} `json:"errorDetail"`
	Error string `json:"error"`
}

// trailingDaemonError finds a JSON error message that ends b (only
// whitespace may follow it). It returns nil when there is none.
func trailingDaemonError(b []byte) *DaemonError {
	marker := []byte(`{"error`)
	for end := len(b); end > 0; {
		i := bytes.LastIndex(b[:end], marker)
		if i < 0 {
			return nil
		}
		end = i
		dec := json.NewDecoder(bytes.NewReader(b[i:]))
		var m jsonMessage
		if err := dec.Decode(&m); err != nil {
			continue
		}
		if len(bytes.TrimSpace(b[i+int(dec.InputOffset()):])) != 0 {
			continue
		}
		msg := m.Error
		if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
			msg = m.ErrorDetail.Message
		}
		if msg == "" {
			continue
		}
		return &DaemonError{Message: msg}
	}
	return nil
}

// leadingDaemonError parses trailing data found after the end-of-archive
// marker: NUL padding, then possibly a JSON error message.
func leadingDaemonError(b []byte) *DaemonError {
	b = bytes.TrimLeft(b, "\x00")
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return nil
	}
	return trailingDaemonError(b)
}

// PlatformError is returned (wrapped) when an image has no manifest for
// the platform asked for ([Options.Platform]; the running platform when it
// is nil). It matches ErrNotExist.
type PlatformError struct {
	// Ref names the image as the user did; "" when unknown.
	Ref string
	// Want is the platform asked for.
	Want ocispec.Platform
	// Available are the platforms the image has: one for a
	// single-platform image.
	Available []ocispec.Platform
}

func (e *PlatformError) Error() string {
	img := "image"
	if e.Ref != "" {
		img = fmt.Sprintf("image %q", e.Ref)
	}
	var names []string
	for _, p := range e.Available {
		if n := formatPlatform(p); !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	want := formatPlatform(e.Want)
	switch len(names) {
	case 0:
		return fmt.Sprintf("%s has no %s, nor any other platform", img, want)
	case 1:
		return fmt.Sprintf("%s has no %s: its only platform is %s", img, want, names[0])
	}
	return fmt.Sprintf("%s has no %s: available platforms are %s", img, want, strings.Join(names, ", "))
}

// Is makes a PlatformError match ErrNotExist.
func (e *PlatformError) Is(target error) bool { return target == ErrNotExist }
