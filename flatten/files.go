package flatten

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"slices"
	"strings"
)

// fileMeta is what Changes and Compare compare of a file: its header,
// normalised.
type fileMeta struct {
	typ      byte
	mode     int64
	uid, gid int
	size     int64
	link     string // symlink target
	major    int64
	minor    int64
	xattrs   string // the SCHILY.xattr.* PAX records: sorted, each name and value lenPrefixed
	mtime    int64  // nanoseconds since the epoch
}

// files reads the headers and data of the files of one merged tree
// through a layerReader per layer, which reads on from where the last
// entry ended. newFiles keeps each header once read; the zero cache of
// files{f: f} keeps none (Compare, which reads each path once, in output
// order).
type files struct {
	f       *flattener
	meta    map[ident]fileMeta // nil: no cache
	readers []*layerReader     // per layer, made on first use
	buf     []byte             // sum's read buffer, made on first use
}

func newFiles(f *flattener) files {
	return files{f: f, meta: make(map[ident]fileMeta)}
}

// header re-reads the header of file id, and returns a reader of its
// data, valid until the next call.
func (c *files) header(id ident) (*tar.Header, io.Reader, error) {
	li := int(id.layer)
	lr := layerReaderOf(&c.readers, c.f.layers, li)
	hdr, data, err := lr.header(id.off)
	if err != nil {
		return nil, nil, c.f.errorf(li, "", fmt.Errorf("re-reading header at offset %d: %w", id.off, err))
	}
	if hdr == &lr.hdr {
		hdr.Name = quickName(lr.blk[:]) // for errors: quickHeader leaves it out
	}
	if _, ok := normType(hdr.Typeflag); !ok {
		return nil, nil, c.f.errorf(li, hdr.Name, fmt.Errorf("re-reading header at offset %d: type changed", id.off))
	}
	return hdr, data, nil
}

// metaOf returns the header of the file node n names (for a hardlink, the
// file it links to). An implicit directory is 0755 and owned by root.
func (c *files) metaOf(n *node) (fileMeta, error) {
	id := n.ident()
	if id.layer < 0 {
		return fileMeta{typ: tar.TypeDir, mode: 0o755}, nil
	}
	if m, ok := c.meta[id]; ok {
		return m, nil
	}
	if rec := c.f.layers[id.layer].Recording; rec != nil {
		m, err := rec.meta(id.off)
		if err != nil {
			return m, c.f.errorf(int(id.layer), "", err)
		}
		return m, nil
	}
	hdr, _, err := c.header(id)
	if err != nil {
		return fileMeta{}, err
	}
	m := metaFromHeader(hdr)
	if c.meta != nil {
		c.meta[id] = m
	}
	return m, nil
}

// metaFromHeader is what is compared of a header.
func metaFromHeader(hdr *tar.Header) fileMeta {
	typ, _ := normType(hdr.Typeflag)
	m := fileMeta{typ: typ, mode: hdr.Mode & 0o7777, uid: hdr.Uid, gid: hdr.Gid, major: hdr.Devmajor, minor: hdr.Devminor, mtime: hdr.ModTime.UnixNano()}
	switch typ {
	case tar.TypeReg:
		m.size = hdr.Size
	case tar.TypeSymlink:
		m.link = hdr.Linkname
	}
	m.xattrs = xattrsOf(hdr)
	return m
}

// xattrsOf returns the extended attributes of hdr in one comparable
// string: SCHILY.xattr.NAME records by their NAME, and bsdtar's
// LIBARCHIVE.xattr.NAME records (a URL-encoded NAME, a base64 value), which
// the flattened output keeps too, as "LIBARCHIVE.xattr.NAME".
func xattrsOf(hdr *tar.Header) string {
	var kv []string
	for k, v := range hdr.PAXRecords {
		name, ok := strings.CutPrefix(k, paxXattr)
		if !ok && strings.HasPrefix(k, "LIBARCHIVE.xattr.") {
			name, ok = k, true
		}
		if ok {
			kv = append(kv, lenPrefixed(name)+lenPrefixed(v))
		}
	}
	slices.Sort(kv)
	return strings.Join(kv, "")
}

// paxXattr prefixes the PAX records of extended attributes.
const paxXattr = "SCHILY.xattr."

// sum returns the sha256 of the data of file id.
func (c *files) sum(id ident) ([sha256.Size]byte, error) {
	var out [sha256.Size]byte
	if rec := c.f.layers[id.layer].Recording; rec != nil {
		out, err := rec.sum(id.off)
		if err != nil {
			return out, c.f.errorf(int(id.layer), "", err)
		}
		return out, nil
	}
	hdr, tr, err := c.header(id)
	if err != nil {
		return out, err
	}
	if c.buf == nil {
		c.buf = make([]byte, 32<<10)
	}
	if out, err = hashData(c.f.ctx, tr, c.buf); err != nil {
		return out, c.f.errorf(int(id.layer), hdr.Name, fmt.Errorf("reading data: %w", err))
	}
	return out, nil
}

// hashData returns the sha256 of what r reads, watching ctx between
// buffers: a sparse file may read as terabytes of zeros. buf, if not nil,
// is the buffer to read into.
func hashData(ctx context.Context, r io.Reader, buf []byte) ([sha256.Size]byte, error) {
	var out [sha256.Size]byte
	if buf == nil {
		buf = make([]byte, 32<<10)
	}
	h := sha256.New()
	for {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		n, err := r.Read(buf)
		h.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			return out, err
		}
	}
	copy(out[:], h.Sum(nil))
	return out, nil
}

// readHeader re-reads the header of file id, and returns a reader of its
// data.
func (f *flattener) readHeader(id ident) (*tar.Header, *tar.Reader, error) {
	li := int(id.layer)
	l := f.layers[li]
	tr := tar.NewReader(io.NewSectionReader(l.R, id.off, l.Size-id.off))
	hdr, err := nextHeader(tr)
	if err != nil {
		return nil, nil, f.errorf(li, "", fmt.Errorf("re-reading header at offset %d: %w", id.off, err))
	}
	if _, ok := normType(hdr.Typeflag); !ok {
		return nil, nil, f.errorf(li, hdr.Name, fmt.Errorf("re-reading header at offset %d: type changed", id.off))
	}
	return hdr, tr, nil
}

// storedSize is the bytes a layer stores for node n, whose header is m.
func storedSize(n *node, m fileMeta) int64 {
	if n.typ == tar.TypeReg {
		return m.size
	}
	return 0
}

// differs returns the attributes in which two headers differ, without
// reading data: for two regular files of the same size, the caller
// compares their sha256. Modification times count only with mtime. Two
// types differ in their type alone: their other attributes do not
// compare.
func differs(a, b fileMeta, mtime bool) ChangeWhat {
	if a.typ != b.typ {
		return ChangedType
	}
	var w ChangeWhat
	if a.mode != b.mode {
		w |= ChangedMode
	}
	if a.uid != b.uid || a.gid != b.gid {
		w |= ChangedOwner
	}
	if a.xattrs != b.xattrs {
		w |= ChangedXattrs
	}
	if mtime && a.mtime != b.mtime {
		w |= ChangedTime
	}
	switch a.typ {
	case tar.TypeReg:
		if a.size != b.size {
			w |= ChangedContent
		}
	case tar.TypeSymlink:
		if a.link != b.link {
			w |= ChangedContent
		}
	case tar.TypeChar, tar.TypeBlock:
		if a.major != b.major || a.minor != b.minor {
			w |= ChangedContent
		}
	}
	return w
}
