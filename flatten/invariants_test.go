package flatten

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"strings"
)

// checkOutput checks what every output must satisfy: it parses, names are
// local and canonical (directories with a trailing "/"), no name twice,
// every directory comes before its contents, hardlinks point to an earlier
// non-directory entry, and (default mode) no whiteout or opaque marker.
func checkOutput(out []byte, keep bool) error {
	tr := tar.NewReader(bytes.NewReader(out))
	seen := map[string]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("output does not parse: %w", err)
		}
		if _, err := io.Copy(io.Discard, tr); err != nil {
			return fmt.Errorf("output does not parse: %w", err)
		}
		name := strings.TrimSuffix(h.Name, "/")
		if (h.Typeflag == tar.TypeDir) != strings.HasSuffix(h.Name, "/") {
			return fmt.Errorf("%q: trailing slash does not match type %q", h.Name, h.Typeflag)
		}
		if !filepath.IsLocal(name) || path.Clean(name) != name || strings.HasPrefix(name, "/") {
			return fmt.Errorf("%q: not a local canonical name", h.Name)
		}
		if _, dup := seen[name]; dup {
			return fmt.Errorf("%q: written twice", h.Name)
		}
		base := path.Base(name)
		if strings.HasPrefix(base, WhiteoutPrefix) && !keep {
			return fmt.Errorf("%q: whiteout in the output", h.Name)
		}
		if d := path.Dir(name); d != "." && !keep && !strings.HasPrefix(path.Base(d), WhiteoutPrefix) {
			if t, ok := seen[d]; !ok || t != tar.TypeDir {
				return fmt.Errorf("%q: its directory is not written before it", h.Name)
			}
		}
		if h.Typeflag == tar.TypeLink {
			if t, ok := seen[h.Linkname]; !ok || t == tar.TypeDir {
				return fmt.Errorf("%q: hardlink to %q, which is not an earlier file", h.Name, h.Linkname)
			}
		}
		seen[name] = h.Typeflag
	}
	if !bytes.HasSuffix(out, endMarker) {
		return fmt.Errorf("no end marker")
	}
	return nil
}
