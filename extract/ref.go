package extract

import (
	"strings"

	"github.com/opencontainers/go-digest"
)

// normalizeRef turns a tag reference into its fully qualified form, the
// way docker's reference.ParseNormalizedNamed does: "busybox" becomes
// "docker.io/library/busybox:latest". It returns "" for references that
// are not a name with an optional tag (digest references, empty strings).
func normalizeRef(s string) string {
	if s == "" || strings.ContainsAny(s, "@ \t\r\n") {
		return ""
	}
	name, tag := s, "latest"
	if i := strings.LastIndexByte(s, ':'); i > strings.LastIndexByte(s, '/') {
		name, tag = s[:i], s[i+1:]
		if tag == "" || name == "" {
			return ""
		}
	}
	domain, rest := "docker.io", name
	if i := strings.IndexByte(name, '/'); i >= 0 {
		first := name[:i]
		if strings.ContainsAny(first, ".:") || first == "localhost" || strings.ToLower(first) != first {
			domain, rest = first, name[i+1:]
		}
	}
	if domain == "index.docker.io" {
		domain = "docker.io"
	}
	if domain == "docker.io" && !strings.Contains(rest, "/") {
		rest = "library/" + rest
	}
	if rest == "" {
		return ""
	}
	return domain + "/" + rest + ":" + tag
}

// familiarRef turns a fully qualified tag reference into the short form
// docker shows: "docker.io/library/busybox:latest" becomes
// "busybox:latest". It returns "" for references without a tag.
func familiarRef(s string) string {
	n := normalizeRef(s)
	if n == "" {
		return ""
	}
	if i := strings.LastIndexByte(s, ':'); i <= strings.LastIndexByte(s, '/') {
		return "" // no explicit tag: not a tag reference
	}
	n = strings.TrimPrefix(n, "docker.io/")
	if rest, ok := strings.CutPrefix(n, "library/"); ok && !strings.Contains(rest, "/") {
		return rest
	}
	return n
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
