package flatten

import (
	"fmt"
	"path"
	"strings"
)

// ErrRootName is the ErrInvalidName of a name that is the root itself
// (".", "./", "/"): a tar of a directory starts with one.
var ErrRootName = fmt.Errorf("%w: names the root", ErrInvalidName)

// CleanName returns the canonical form of a tar entry name or hardlink
// target, the one form of tar names in this project (layers, and the
// entries of save archives in extract): relative, without "./", a leading or trailing "/", "//" or "."
// elements. Names that climb out of the root are ErrUnsafePath; names that
// are empty, hold a NUL byte, or name the root itself are ErrInvalidName.
// Bytes that are not UTF-8 are kept.
func CleanName(name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("%w: empty", ErrInvalidName)
	}
	if strings.IndexByte(name, 0) >= 0 {
		return "", fmt.Errorf("%w: NUL byte", ErrInvalidName)
	}
	// Strip the leading slashes before cleaning, so "/../x" climbs out
	// instead of being clamped to "/x".
	s := strings.TrimLeft(name, "/")
	if s == "" {
		return "", ErrRootName
	}
	c := path.Clean(s)
	switch {
	case c == ".":
		return "", ErrRootName
	case c == ".." || strings.HasPrefix(c, "../"):
		return "", ErrUnsafePath
	}
	return c, nil
}

// splitName splits a canonical name into its parent ("" for the root) and
// its last element.
func splitName(name string) (dir, base string) {
	i := strings.LastIndexByte(name, '/')
	if i < 0 {
		return "", name
	}
	return name[:i], name[i+1:]
}

// joinName joins a canonical directory ("" for the root) and a base name.
func joinName(dir, base string) string {
	if dir == "" {
		return base
	}
	return dir + "/" + base
}
