package extract

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
)

// The legacy save layout (Docker ≤ 24) holds each layer in a directory
// named by a v1 ID: <v1 ID>/VERSION, <v1 ID>/json, <v1 ID>/layer.tar, in
// that order. Nothing in the directory names the layer's diff ID, but
// Docker derives the v1 ID from the layer's chain ID (moby's
// image/v1.CreateID, called by image/tarexport's save): it is the SHA-256
// of the directory's json as it was before save added three fields, with
// "layer_id" set to the chain ID and "parent" to the parent's v1 ID as a
// digest, keys sorted. The fields save adds are "id", "parent" (the
// parent's v1 ID in hex) and "os"; "os" was already there for the top
// layer, whose json is the image's own v1 config.
//
// So with the image's chain IDs in hand, a directory's json tells which
// layer its layer.tar holds before a byte of it is read. A match is an
// exact SHA-256 match, so it cannot mistake one layer for another; a json
// that matches nothing (another daemon's algorithm, a crafted archive)
// leaves the layer to be identified by hashing its content, as before.

// ChainIDs returns the chain ID of each layer of an image with diffIDs,
// bottom first (the OCI image spec's ChainID), leaving diffIDs as they are.
func ChainIDs(diffIDs []digest.Digest) []digest.Digest {
	return identity.ChainIDs(slices.Clone(diffIDs))
}

// layerIDPlaceholder stands for the chain ID while a json is marshalled
// once; every sha256 digest has its length.
var layerIDPlaceholder = "sha256:" + strings.Repeat("x", 64)

// LegacyLayerIndex returns the index in chains (an image's ChainIDs) of
// the layer that the legacy directory dir (a v1 ID in hex) holds, given
// the directory's json, or -1 when no chain ID gives dir.
func LegacyLayerIndex(dir string, b []byte, chains []digest.Digest) int {
	if len(dir) != 64 || !isLowerHex(dir) || len(chains) == 0 {
		return -1
	}
	var m map[string]*json.RawMessage
	if json.Unmarshal(b, &m) != nil {
		return -1
	}
	var id, parent string
	if raw := m["id"]; raw == nil || json.Unmarshal(*raw, &id) != nil || id != dir {
		return -1
	}
	delete(m, "id")
	// Save writes a parent v1 ID in hex. A bottom layer has none, unless
	// it is also the top layer and the image records the image it was
	// built from: then "parent" is that image's ID, hashed as it is.
	bottom := true
	if raw, ok := m["parent"]; ok {
		if raw == nil || json.Unmarshal(*raw, &parent) != nil {
			return -1
		}
		if len(parent) == 64 && isLowerHex(parent) {
			m["parent"] = rawString("sha256:" + parent)
			bottom = false
		}
	}
	want, err := hex.DecodeString(dir)
	if err != nil {
		return -1
	}
	m["layer_id"] = rawString(layerIDPlaceholder)
	// An intermediate layer's json was hashed without "os"; the top
	// layer's with it.
	variants := []bool{true}
	if _, ok := m["os"]; ok {
		variants = []bool{false, true}
	}
	var sum [sha256.Size]byte
	for _, withOS := range variants {
		v := m
		if !withOS {
			v = make(map[string]*json.RawMessage, len(m))
			for k, r := range m {
				if k != "os" {
					v[k] = r
				}
			}
		}
		doc, err := json.Marshal(v)
		if err != nil {
			return -1
		}
		quoted := []byte(`"` + layerIDPlaceholder + `"`)
		at := bytes.Index(doc, quoted)
		if at < 0 || bytes.Contains(doc[at+len(quoted):], quoted) {
			return -1
		}
		prefix, suffix := doc[:at+1], doc[at+len(quoted)-1:]
		for i, c := range chains {
			if bottom != (i == 0) {
				continue
			}
			h := sha256.New()
			h.Write(prefix)
			h.Write([]byte(c))
			h.Write(suffix)
			if bytes.Equal(h.Sum(sum[:0]), want) {
				return i
			}
		}
	}
	return -1
}

func rawString(s string) *json.RawMessage {
	b, _ := json.Marshal(s)
	r := json.RawMessage(b)
	return &r
}
