package flatten

import (
	"errors"
	"fmt"
	"strconv"
)

// Sentinel errors, for errors.Is. Errors about a layer are *LayerError
// values that wrap one of these (or an archive/tar or I/O error).
var (
	// ErrUnsafePath: an entry name or hardlink target climbs out of the
	// root with "..".
	ErrUnsafePath = errors.New("name climbs out of the root")
	// ErrInvalidName: an entry name is empty, holds a NUL byte, or names
	// the root itself ("." or "/" or "x/..").
	ErrInvalidName = errors.New("invalid name")
	// ErrSymlinkParent: a path goes through a symlink of the merged tree.
	// Symlinks are never followed.
	ErrSymlinkParent = errors.New("path goes through a symlink")
	// ErrNotDir: a parent of an entry is not a directory.
	ErrNotDir = errors.New("parent is not a directory")
	// ErrLinkTarget: a hardlink target does not exist or is a directory.
	ErrLinkTarget = errors.New("bad hardlink target")
	// ErrUnsupportedType: a tar entry type that no layer may hold.
	ErrUnsupportedType = errors.New("unsupported entry type")
)

var (
	errWhiteoutDot    = fmt.Errorf("%w: whiteout of \".\"", ErrInvalidName)
	errWhiteoutDotDot = fmt.Errorf("whiteout of \"..\": %w", ErrUnsafePath)
)

// LayerError is an error about one layer, and if known one of its entries.
type LayerError struct {
	Layer string // Layer.ID, or "#N" (its index) when the ID is empty
	Entry string // the entry name as written in the tar; "" if none
	Err   error
}

func (e *LayerError) Error() string {
	if e.Entry == "" {
		return "layer " + e.Layer + ": " + e.Err.Error()
	}
	return "layer " + e.Layer + ": entry " + strconv.Quote(e.Entry) + ": " + e.Err.Error()
}

func (e *LayerError) Unwrap() error { return e.Err }

// layerName names layer i in messages.
func (f *flattener) layerName(i int) string {
	if id := f.layers[i].ID; id != "" {
		return id
	}
	return "#" + strconv.Itoa(i)
}

func (f *flattener) errorf(layer int, entry string, err error) error {
	return &LayerError{Layer: f.layerName(layer), Entry: entry, Err: err}
}
