package extract

import (
	"archive/tar"
	"errors"
	"path"
	"strings"

	"github.com/docker-layers/docker-layers/flatten"
	"github.com/opencontainers/go-digest"
)

// validDigest checks that d is sha256 with 64 lowercase hex digits. Digests
// read from an archive are checked with it before they name a file or a
// lookup.
func validDigest(d digest.Digest) error {
	s := string(d)
	hex, ok := strings.CutPrefix(s, "sha256:")
	if !ok || !isLowerHex(hex) || len(hex) != 64 {
		return errorf(ErrInvalid, "invalid digest %q (want sha256 and 64 lowercase hex digits)", truncate(s, 80))
	}
	return nil
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// truncate shortens s for error messages.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// blobPath is the archive path of a validated digest's blob.
func blobPath(d digest.Digest) string {
	return "blobs/sha256/" + d.Encoded()
}

// digestFromBlobPath returns the digest that an OCI blob path names, or ""
// when name is not blobs/sha256/<64 lowercase hex>.
func digestFromBlobPath(name string) digest.Digest {
	hex, ok := strings.CutPrefix(name, "blobs/sha256/")
	if !ok || len(hex) != 64 || !isLowerHex(hex) {
		return ""
	}
	return digest.Digest("sha256:" + hex)
}

// digestFromConfigPath returns the digest that a config path names:
// <hex>.json (legacy) or blobs/sha256/<hex>; "" when it names none.
func digestFromConfigPath(name string) digest.Digest {
	if d := digestFromBlobPath(name); d != "" {
		return d
	}
	hex, ok := strings.CutSuffix(name, ".json")
	if !ok || len(hex) != 64 || !isLowerHex(hex) {
		return ""
	}
	return digest.Digest("sha256:" + hex)
}

// entryName is the canonical name of an archive entry, by the rules of
// flatten.CleanName: "./a//b/" is "a/b". It is "" for the root directory
// entry ("./"), which is never looked up; a name that climbs out of the
// archive, is empty or holds a NUL byte is an ErrInvalid error.
func entryName(name string) (string, error) {
	c, err := flatten.CleanName(name)
	switch {
	case err == nil:
		return c, nil
	case errors.Is(err, flatten.ErrRootName):
		return "", nil
	}
	return "", errorf(ErrInvalid, "entry %q: %w", truncate(name, 200), err)
}

// cleanManifestPath validates a path read from manifest.json before it is
// used for a lookup.
func cleanManifestPath(p string) (string, error) {
	c, err := entryName(p)
	if err != nil || c == "" || path.IsAbs(p) {
		return "", errorf(ErrInvalid, "unsafe path %q in manifest", truncate(p, 80))
	}
	return c, nil
}

// entry is one tar entry of an archive.
type entry struct {
	name     string
	typeflag byte
	linkname string
	offset   int64 // of the data, in the archive (indexed archives only)
	size     int64
	err      error  // why the entry cannot be read: an OCI layout's symlink that leads out of it
	data     []byte // the entry's content, for an archive kept in memory (ReadMetadata)
}

// maxLinkHops bounds symlink resolution.
const maxLinkHops = 16

// resolve follows symlinks and hard links from name to a regular file,
// inside the archive only.
func resolve(entries map[string]*entry, name, where string) (*entry, error) {
	cur := name
	for hop := 0; hop <= maxLinkHops; hop++ {
		e, ok := entries[cur]
		if !ok {
			if cur == name {
				return nil, errorf(ErrLayerNotFound, "entry %q is not in the %s", name, where)
			}
			return nil, errorf(ErrLayerNotFound, "%q links to %q, which is not in the %s", name, cur, where)
		}
		if e.err != nil {
			return nil, e.err
		}
		switch e.typeflag {
		case tar.TypeReg: // archive/tar reports the old TypeRegA as TypeReg
			return e, nil
		case tar.TypeSymlink:
			if path.IsAbs(e.linkname) {
				return nil, errorf(ErrInvalid, "symlink %q points outside the %s (%q)", cur, where, e.linkname)
			}
			next, err := entryName(path.Join(path.Dir(cur), e.linkname))
			if err != nil || next == "" {
				return nil, errorf(ErrInvalid, "symlink %q points outside the %s (%q)", cur, where, e.linkname)
			}
			cur = next
		case tar.TypeLink:
			next, err := entryName(e.linkname)
			if err != nil || next == "" {
				return nil, errorf(ErrInvalid, "hard link %q points outside the %s (%q)", cur, where, e.linkname)
			}
			cur = next
		default:
			return nil, errorf(ErrInvalid, "entry %q is not a regular file", cur)
		}
	}
	return nil, errorf(ErrInvalid, "too many links resolving %q (symlink loop?)", name)
}
