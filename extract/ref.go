package extract

import (
	"strings"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
)

// normalizeRef turns a tag reference into its fully qualified form, as
// distribution/reference normalizes it: "busybox" becomes
// "docker.io/library/busybox:latest". It returns "" for references that
// are not a name with an optional tag (digest references, invalid names).
func normalizeRef(s string) string {
	named, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return ""
	}
	if _, ok := named.(reference.Digested); ok {
		return ""
	}
	return reference.TagNameOnly(named).String()
}

// familiarRef turns a tag reference into the short form docker shows:
// "docker.io/library/busybox:latest" becomes "busybox:latest". It returns
// "" for references without an explicit tag.
func familiarRef(s string) string {
	named, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return ""
	}
	if _, ok := named.(reference.Digested); ok {
		return ""
	}
	tagged, ok := named.(reference.NamedTagged)
	if !ok {
		return ""
	}
	return reference.FamiliarString(tagged)
}

// shortID is the 12-hex-digit form docker shows for an image ID.
func shortID(d digest.Digest) string {
	hex := d.Encoded()
	if len(hex) > 12 {
		hex = hex[:12]
	}
	return hex
}

// idPrefix returns the hex prefix an image-ID reference names ("3f57d9",
// "sha256:3f57d9"), or "" when ref is not one.
func idPrefix(ref string) string {
	hex := strings.TrimPrefix(ref, "sha256:")
	if hex == "" || len(hex) > 64 || !isLowerHex(hex) {
		return ""
	}
	return hex
}
