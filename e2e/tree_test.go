package e2e

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"path"
	"slices"
	"strings"
	"testing"
)

// node is what the differential tests compare of one file system entry.
// Hardlinks are compared as the file they link to.
type node struct {
	Type   byte
	Mode   int64
	UID    int
	GID    int
	Size   int64
	SHA    string
	Link   string // symlink target
	Mtime  int64  // seconds; not compared for directories
	Xattrs string
	Major  int64
	Minor  int64
}

// tree is a file system as a map of clean relative paths.
type tree map[string]node

func cleanName(name string) string {
	return strings.TrimPrefix(path.Clean("/"+name), "/")
}

// readTree reads a tar stream into a tree; hardlinks take their target's
// attributes and content.
func readTree(t *testing.T, r io.Reader) tree {
	t.Helper()
	out, _ := readTreeLinks(t, r, false)
	return out
}

// readTreeLinks is readTree that also returns the stream's hardlinks, each
// link's path mapped to the path it names; with lowerLinks, a hardlink whose
// target is not in the stream stays a TypeLink node naming its target, for
// the reference to resolve against lower layers.
func readTreeLinks(t *testing.T, r io.Reader, lowerLinks bool) (tree, map[string]string) {
	t.Helper()
	out := tree{}
	links := map[string]string{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("reading tar: %v", err)
		}
		name := cleanName(h.Name)
		if name == "" {
			continue
		}
		n := node{Type: h.Typeflag, Mode: h.Mode & 0o7777, UID: h.Uid, GID: h.Gid, Link: h.Linkname, Mtime: h.ModTime.Unix(), Major: h.Devmajor, Minor: h.Devminor}
		var xs []string
		for k, v := range h.PAXRecords {
			if strings.HasPrefix(k, "SCHILY.xattr.") {
				xs = append(xs, k[len("SCHILY.xattr."):]+"="+v)
			}
		}
		slices.Sort(xs)
		n.Xattrs = strings.Join(xs, ",")
		switch n.Type {
		case tar.TypeReg:
			sum := sha256.New()
			size, err := io.Copy(sum, tr)
			if err != nil {
				t.Fatalf("reading %s: %v", name, err)
			}
			n.Size, n.SHA = size, hex.EncodeToString(sum.Sum(nil))
		case tar.TypeLink:
			links[name] = cleanName(h.Linkname)
			n.Link = ""
		case tar.TypeDir:
			n.Mtime = 0
		}
		out[name] = n
	}
	for name, target := range links {
		tn, ok := out[target]
		if !ok && lowerLinks {
			out[name] = node{Type: tar.TypeLink, Link: target}
			continue
		}
		if !ok {
			t.Fatalf("hardlink %s to missing %s", name, target)
		}
		out[name] = tn
	}
	return out, links
}

// diffTrees reports every difference between got and want, one per line.
func diffTrees(got, want tree) string {
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(want)) {
		g, ok := got[name]
		switch {
		case !ok:
			fmt.Fprintf(&b, "missing %s %+v\n", name, want[name])
		case g != want[name]:
			fmt.Fprintf(&b, "differs %s:\n   got %+v\n  want %+v\n", name, g, want[name])
		}
	}
	for _, name := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[name]; !ok {
			fmt.Fprintf(&b, "extra %s %+v\n", name, got[name])
		}
	}
	return b.String()
}

// exportAdds are the paths docker create + docker export add to an image's
// file system: files always, directories only where the image has none.
var exportAddsFiles = []string{".dockerenv", "etc/hosts", "etc/hostname", "etc/resolv.conf", "etc/mtab", "dev/console"}
var exportAddsDirs = []string{"dev", "dev/pts", "dev/shm", "proc", "sys", "etc"}

// dropExportAdds removes from export (and from got, for the files, whose
// content the container replaced) what docker export adds itself.
func dropExportAdds(got, export tree) {
	for _, p := range exportAddsFiles {
		delete(got, p)
		delete(export, p)
	}
	for _, p := range exportAddsDirs {
		if _, ok := got[p]; !ok {
			delete(export, p)
		}
	}
}

// reference applies layer tars, bottom first, to an in-memory tree under
// the OCI image-spec rules. It is deliberately naive: it exists to judge
// docker-layers where Docker departs from the spec, and on sub-ranges.
func reference(t *testing.T, layers [][]byte) tree {
	t.Helper()
	fs := tree{}
	removeTree := func(p string) {
		for k := range fs {
			if k == p || strings.HasPrefix(k, p+"/") {
				delete(fs, k)
			}
		}
	}
	for _, l := range layers {
		own := map[string]bool{}
		var entries []struct {
			name string
			n    node
		}
		layerTree, _ := readTreeLinks(t, bytes.NewReader(l), true)
		// readTree loses order; order does not matter for the rules below.
		for name, n := range layerTree {
			entries = append(entries, struct {
				name string
				n    node
			}{name, n})
		}
		// Opaque markers, then whiteouts: they hide only lower entries.
		for _, e := range entries {
			dir, base := path.Split(e.name)
			dir = strings.TrimSuffix(dir, "/")
			if base == ".wh..wh..opq" {
				for k := range fs {
					if (dir == "" || strings.HasPrefix(k, dir+"/")) && k != dir {
						delete(fs, k)
					}
				}
			}
		}
		for _, e := range entries {
			dir, base := path.Split(e.name)
			if strings.HasPrefix(base, ".wh.") && !strings.HasPrefix(base, ".wh..wh.") {
				removeTree(path.Join(dir, base[len(".wh."):]))
			}
		}
		slices.SortFunc(entries, func(a, b struct {
			name string
			n    node
		}) int {
			return strings.Compare(a.name, b.name)
		})
		for _, e := range entries {
			if strings.HasPrefix(path.Base(e.name), ".wh.") {
				continue
			}
			// A lower layer's symlink on the way becomes a directory, as
			// Docker's overlay applies the layer.
			for p := path.Dir(e.name); p != "."; p = path.Dir(p) {
				if n, ok := fs[p]; ok && n.Type == tar.TypeSymlink && !own[p] {
					fs[p] = node{Type: tar.TypeDir, Mode: 0o755}
				}
			}
			if old, ok := fs[e.name]; ok && !own[e.name] && (old.Type == tar.TypeDir) != (e.n.Type == tar.TypeDir) {
				removeTree(e.name)
			}
			if e.n.Type == tar.TypeLink { // to a lower layer's file
				target, ok := fs[e.n.Link]
				if !ok {
					t.Fatalf("reference: hardlink %s to missing %s", e.name, e.n.Link)
				}
				e.n = target
			}
			fs[e.name] = e.n
			own[e.name] = true
		}
	}
	// Parents that no layer names are made as plain directories.
	for name := range fs {
		for p := path.Dir(name); p != "."; p = path.Dir(p) {
			if _, ok := fs[p]; !ok {
				fs[p] = node{Type: tar.TypeDir, Mode: 0o755}
			}
		}
	}
	return fs
}
