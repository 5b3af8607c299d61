package flatten

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"time"
)

// A naive, independent reference flattener: a flat map of path -> entry,
// contents in memory, layers applied in order. It is slow (whiteouts scan
// the whole map) and only serves to cross-check Flatten.

type refNode struct {
	typ      byte // own type (TypeLink for hardlinks)
	id       int  // the file: the number of the entry that created it
	ihdr     *tar.Header
	idata    []byte
	layer    int
	implicit bool
}

type refEntry struct {
	name   string // canonical; for markers the hidden path or opaque dir
	kind   string // "", "wh", "opq"
	hdr    *tar.Header
	data   []byte
	typ    byte
	target string // hardlinks
	id     int
}

var errRef = errors.New("reference rejects the input")

func refClean(name string) (string, bool) {
	if name == "" || strings.Contains(name, "\x00") {
		return "", false
	}
	for strings.HasPrefix(name, "/") {
		name = name[1:]
	}
	c := path.Clean(name)
	if c == "." || c == ".." || strings.HasPrefix(c, "../") || name == "" {
		return "", false
	}
	return c, true
}

func refType(t byte) (byte, bool) {
	switch t {
	case tar.TypeReg, 0, tar.TypeCont, tar.TypeGNUSparse:
		return tar.TypeReg, true
	case tar.TypeDir, tar.TypeSymlink, tar.TypeLink, tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		return t, true
	}
	return 0, false
}

// refParse reads a layer sequentially.
func refParse(b []byte, nextID *int) (entries []refEntry, plnk map[string]refEntry, err error) {
	plnk = map[string]refEntry{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if errors.Is(err, tar.ErrInsecurePath) {
			err = nil
		}
		if err == io.EOF {
			return entries, plnk, nil
		}
		if err != nil {
			return nil, nil, err
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, nil, err
		}
		if h.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		name, ok := refClean(h.Name)
		if !ok {
			return nil, nil, fmt.Errorf("%w: name %q", errRef, h.Name)
		}
		*nextID++
		e := refEntry{name: name, hdr: h, data: data, id: *nextID}
		parts := strings.Split(name, "/")
		base := parts[len(parts)-1]
		meta := false
		for _, p := range parts[:len(parts)-1] {
			meta = meta || strings.HasPrefix(p, ".wh..wh.")
		}
		switch {
		case meta || strings.HasPrefix(base, ".wh..wh.") && base != ".wh..wh..opq":
			if strings.HasPrefix(name, ".wh..wh.plnk/") && (h.Typeflag == tar.TypeReg || h.Typeflag == 0) {
				plnk[name] = e
			}
			continue
		case base == ".wh..wh..opq":
			e.kind, e.name = "opq", strings.Join(parts[:len(parts)-1], "/")
		case base == ".wh.":
			continue
		case base == ".wh.." || base == ".wh...":
			return nil, nil, fmt.Errorf("%w: whiteout %q", errRef, name)
		case strings.HasPrefix(base, ".wh."):
			parts[len(parts)-1] = base[4:]
			e.kind, e.name = "wh", strings.Join(parts, "/")
		default:
			t, ok := refType(h.Typeflag)
			if !ok {
				return nil, nil, fmt.Errorf("%w: type %q", errRef, h.Typeflag)
			}
			e.typ = t
			if t == tar.TypeChar || t == tar.TypeBlock {
				if h.Devmajor < 0 || h.Devminor < 0 || h.Devmajor >= 1<<21 || h.Devminor >= 1<<21 {
					return nil, nil, fmt.Errorf("%w: device", errRef)
				}
			}
			if t == tar.TypeLink {
				if e.target, ok = refClean(h.Linkname); !ok {
					return nil, nil, fmt.Errorf("%w: link %q", errRef, h.Linkname)
				}
			}
		}
		entries = append(entries, e)
	}
}

// refPrefixes lists "a", "a/b", … "a/b/c" for "a/b/c"; nothing for "".
func refPrefixes(p string) []string {
	if p == "" {
		return nil
	}
	var out []string
	for i := range len(p) {
		if p[i] == '/' {
			out = append(out, p[:i])
		}
	}
	return append(out, p)
}

func refDir(p string) string {
	if i := strings.LastIndex(p, "/"); i >= 0 {
		return p[:i]
	}
	return ""
}

// refCheck walks the directories of dir: "" if all are directories, else
// "missing", "notdir" or "symlink:PREFIX".
func refCheck(fs map[string]*refNode, dir string) string {
	for _, p := range refPrefixes(dir) {
		n := fs[p]
		switch {
		case n == nil:
			return "missing"
		case n.typ == tar.TypeSymlink:
			return "symlink:" + p
		case n.typ != tar.TypeDir:
			return "notdir"
		}
	}
	return ""
}

func refDeleteTree(fs map[string]*refNode, p string, self bool) {
	for k := range fs {
		if (self && k == p) || p == "" || strings.HasPrefix(k, p+"/") {
			delete(fs, k)
		}
	}
}

// refFlatten returns the rendered output lines, as renderFull would show
// Flatten's output.
func refFlatten(tars [][]byte) ([]string, error) {
	out, _, err := refMerge(tars)
	return out, err
}

// refMerge is refFlatten that also gives, for each path, the layer whose
// entry last wrote it (-1 for a directory no layer defines).
func refMerge(tars [][]byte) ([]string, map[string]int, error) {
	fs := map[string]*refNode{}
	nextID := 0
	for k, b := range tars {
		entries, plnk, err := refParse(b, &nextID)
		if err != nil {
			return nil, nil, err
		}
		defines := func(p string) bool {
			for _, e := range entries {
				if e.kind == "" && e.name == p {
					return true
				}
			}
			return false
		}
		// What hardlink targets are before the layer applies.
		lower := map[int]*refNode{}
		lowerErr := map[int]string{}
		for i, e := range entries {
			if e.typ != tar.TypeLink {
				continue
			}
			if pe, ok := plnk[e.target]; ok {
				lower[i] = &refNode{typ: tar.TypeReg, id: pe.id, ihdr: pe.hdr, idata: pe.data}
				continue
			}
			st := refCheck(fs, refDir(e.target))
			n := fs[e.target]
			switch {
			case strings.HasPrefix(st, "symlink:"):
				lowerErr[i] = "symlink"
			case st != "" || n == nil:
				lowerErr[i] = "missing"
			case n.typ == tar.TypeDir:
				lowerErr[i] = "dir"
			default:
				lower[i] = n
			}
		}
		for _, kind := range []string{"opq", "wh"} {
			for _, e := range entries {
				if e.kind != kind {
					continue
				}
				dir := e.name
				if kind == "wh" {
					dir = refDir(e.name)
				}
				st := refCheck(fs, dir)
				if strings.HasPrefix(st, "symlink:") {
					if defines(strings.TrimPrefix(st, "symlink:")) {
						continue
					}
					return nil, nil, fmt.Errorf("%w: marker below a symlink", errRef)
				}
				if st != "" {
					continue
				}
				refDeleteTree(fs, e.name, kind == "wh")
			}
		}
		for i, e := range entries {
			if e.kind != "" {
				continue
			}
			for _, p := range refPrefixes(refDir(e.name)) {
				n := fs[p]
				switch {
				case n == nil:
					fs[p] = &refNode{typ: tar.TypeDir, implicit: true, layer: -1}
				case n.typ == tar.TypeSymlink && n.layer == k:
					return nil, nil, fmt.Errorf("%w: below a symlink of the same layer", errRef)
				case n.typ == tar.TypeSymlink:
					// A lower symlink becomes a directory.
					fs[p] = &refNode{typ: tar.TypeDir, implicit: true, layer: -1}
				case n.typ != tar.TypeDir:
					return nil, nil, fmt.Errorf("%w: not a directory", errRef)
				}
			}
			old := fs[e.name]
			nn := &refNode{typ: e.typ, id: e.id, ihdr: e.hdr, idata: e.data, layer: k}
			if e.typ == tar.TypeLink {
				var t *refNode
				if cur := fs[e.target]; cur != nil && cur.layer == k && !cur.implicit {
					if _, isPlnk := plnk[e.target]; !isPlnk {
						t = cur
					}
				}
				if t == nil {
					if lowerErr[i] != "" {
						return nil, nil, fmt.Errorf("%w: link %s", errRef, lowerErr[i])
					}
					t = lower[i]
				}
				if t.typ == tar.TypeDir {
					return nil, nil, fmt.Errorf("%w: link to a directory", errRef)
				}
				nn.id, nn.ihdr, nn.idata = t.id, t.ihdr, t.idata
			}
			if old != nil && old.typ == tar.TypeDir && e.typ == tar.TypeDir {
				old.ihdr, old.layer, old.implicit, old.id = e.hdr, k, false, e.id
				continue
			}
			if old != nil && old.typ == tar.TypeDir {
				refDeleteTree(fs, e.name, false)
			}
			fs[e.name] = nn
		}
	}

	names := make([]string, 0, len(fs))
	linked := map[int]bool{}
	for p, n := range fs {
		names = append(names, p)
		if n.typ == tar.TypeLink {
			linked[n.id] = true
		}
	}
	key := func(s string) string { return strings.ReplaceAll(s, "/", "\x00") }
	slices.SortFunc(names, func(a, b string) int { return strings.Compare(key(a), key(b)) })
	first := map[int]string{}
	var out []string
	for _, p := range names {
		n := fs[p]
		if n.implicit {
			if strings.HasPrefix(path.Base(p), ".wh.") {
				continue
			}
			out = append(out, renderFull(&tar.Header{Typeflag: tar.TypeDir, Name: p + "/", Mode: 0o755, ModTime: time.Unix(0, 0)}, nil))
			continue
		}
		ih := n.ihdr
		t, _ := refType(ih.Typeflag)
		h := &tar.Header{
			Typeflag: t, Name: p, Mode: ih.Mode & (1<<21 - 1), Uid: ih.Uid, Gid: ih.Gid,
			Uname: ih.Uname, Gname: ih.Gname, ModTime: ih.ModTime, PAXRecords: ih.PAXRecords,
		}
		data := n.idata
		switch t {
		case tar.TypeDir:
			h.Name += "/"
		case tar.TypeSymlink:
			h.Linkname = ih.Linkname
		case tar.TypeChar, tar.TypeBlock:
			h.Devmajor, h.Devminor = ih.Devmajor, ih.Devminor
		}
		if n.typ != tar.TypeDir && linked[n.id] {
			if f, ok := first[n.id]; ok {
				h.Typeflag, h.Linkname, data = tar.TypeLink, f, nil
			} else {
				first[n.id] = p
			}
		}
		if h.Typeflag != tar.TypeReg {
			data = nil
		}
		out = append(out, renderFull(h, data))
	}
	layerOf := make(map[string]int, len(fs))
	for p, n := range fs {
		layerOf[p] = n.layer
	}
	return out, layerOf, nil
}

// renderFull is render plus the mtime, uname and gname.
func renderFull(h *tar.Header, data []byte) string {
	return render(h, data) + fmt.Sprintf(" mtime=%s owner=%q:%q", h.ModTime.UTC().Format(time.RFC3339Nano), h.Uname, h.Gname)
}

// fullListing parses a tar and renders its entries with renderFull.
func fullListing(b []byte) ([]string, error) {
	var out []string
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, err
		}
		out = append(out, renderFull(h, data))
	}
}
