package flatten

import "strings"

// Whiteout names, from the OCI image-spec layer rules. They are defined
// here and nowhere else in the package.
const (
	// WhiteoutPrefix starts the base name of a file that hides the path
	// without the prefix in lower layers.
	WhiteoutPrefix = ".wh."
	// WhiteoutMetaPrefix starts aufs metadata names, which are never real
	// files. They are dropped.
	WhiteoutMetaPrefix = WhiteoutPrefix + WhiteoutPrefix
	// WhiteoutLinkDir is the aufs directory that holds the hardlink
	// targets of a layer.
	WhiteoutLinkDir = WhiteoutMetaPrefix + "plnk"
	// WhiteoutOpaqueDir is the base name of the marker that hides every
	// lower child of its directory.
	WhiteoutOpaqueDir = WhiteoutMetaPrefix + ".opq"
)

// markerKind says what a canonical entry name means for the layer rules.
type markerKind uint8

const (
	plainEntry     markerKind = iota // a file system entry
	opaqueMarker                     // DIR/.wh..wh..opq
	whiteoutMarker                   // DIR/.wh.NAME
	metaEntry                        // .wh..wh.* aufs metadata: dropped
	emptyWhiteout                    // a bare ".wh.": hides nothing
)

// classifyName tells what the canonical name means. Opaque markers are
// recognised first, then metadata, then whiteouts. For an opaqueMarker
// target is the directory ("" for the root); for a whiteoutMarker it is the
// hidden path. Only the last path element can be a marker: ".wh.etc/file"
// is a plain entry. A metadata element anywhere in the path makes the whole
// entry metadata.
func classifyName(name string) (kind markerKind, target string, err error) {
	if !strings.Contains(name, WhiteoutPrefix) {
		return plainEntry, "", nil
	}
	dir, base := splitName(name)
	for rest := dir; rest != ""; {
		comp := rest
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			comp, rest = rest[:i], rest[i+1:]
		} else {
			rest = ""
		}
		if strings.HasPrefix(comp, WhiteoutMetaPrefix) {
			return metaEntry, "", nil
		}
	}
	switch {
	case base == WhiteoutOpaqueDir:
		return opaqueMarker, dir, nil
	case strings.HasPrefix(base, WhiteoutMetaPrefix):
		return metaEntry, "", nil
	case strings.HasPrefix(base, WhiteoutPrefix):
		hidden := base[len(WhiteoutPrefix):]
		switch hidden {
		case "":
			return emptyWhiteout, "", nil
		case ".":
			return 0, "", errWhiteoutDot
		case "..":
			return 0, "", errWhiteoutDotDot
		}
		return whiteoutMarker, joinName(dir, hidden), nil
	}
	return plainEntry, "", nil
}

// isPlnk reports whether the canonical name is inside the aufs hardlink
// directory.
func isPlnk(name string) bool {
	return len(name) > len(WhiteoutLinkDir) && name[len(WhiteoutLinkDir)] == '/' &&
		strings.HasPrefix(name, WhiteoutLinkDir)
}

// whiteoutName is the tar name of the whiteout that hides base in dir.
func whiteoutName(dir, base string) string {
	return joinName(dir, WhiteoutPrefix+base)
}

// opaqueName is the tar name of the opaque marker of dir.
func opaqueName(dir string) string {
	return joinName(dir, WhiteoutOpaqueDir)
}
