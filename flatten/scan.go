package flatten

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
)

const blockSize = 512

// maxDevice is the largest device number a USTAR header holds (seven
// octal digits); PAX has no record for device numbers.
const maxDevice = 1<<21 - 1

// entry is one entry of the layer being applied, as pass 1 saw it.
type entry struct {
	name string // canonical; for markers, the hidden path or the opaque dir
	off  int64  // offset of the entry's first header block in the layer
	link int32  // hardlinks: index into layerScan.links, else -1
	kind markerKind
	typ  byte // normalised type flag (plain entries)
}

// layerScan holds the headers of the layer being applied. Its slices are
// reused from layer to layer.
type layerScan struct {
	entries []entry
	links   []linkRef
	plnk    map[string]int64    // aufs hardlink files: name -> header offset
	defined map[string]struct{} // names of the plain entries, built on demand
}

// scanPart is how many new entries a scan holds before it hands them to
// its part function, which may take them. A variable for the tests.
var scanPart = 4096

// linkRef is a hardlink target and, filled in before the layer is applied,
// what the target was in the merged lower layers.
type linkRef struct {
	target string
	lower  linkResult
}

type linkStatus uint8

const (
	linkMissing linkStatus = iota
	linkFound
	linkIsDir
	linkViaSymlink
)

type linkResult struct {
	status linkStatus
	id     ident  // linkFound: the file the link names
	at     string // linkViaSymlink: the symlink
}

// posReader tracks the position of archive/tar's reads, to learn the offset
// of each entry's first header block: archive/tar reads a header block with
// one 512-byte Read, and skips file data and padding by seeking and reading
// single bytes, so the first 512-byte read after Next starts is the header.
// Pass 2 checks every offset by re-reading the header there.
//
// Reads go through a small window buffer: skipping a file's data seeks
// (free), then archive/tar reads the data's last byte, the padding and the
// next header, which one ReadAt of the window serves; a run of small
// entries is served without any system call.
type posReader struct {
	r     io.ReaderAt
	size  int64
	pos   int64
	armed bool
	mark  int64

	win    []byte // buffered bytes of the layer, starting at winOff
	winOff int64
	buf    []byte
}

// posWindow is the size of posReader's buffer.
const posWindow = 16 << 10

func newPosReader(r io.ReaderAt, size int64) *posReader {
	return &posReader{r: r, size: size, buf: make([]byte, posWindow)}
}

func (p *posReader) Read(b []byte) (int, error) {
	if p.armed && len(b) == blockSize {
		p.mark, p.armed = p.pos, false
	}
	if p.pos >= p.size {
		return 0, io.EOF
	}
	if p.pos < p.winOff || p.pos >= p.winOff+int64(len(p.win)) {
		if len(b) >= len(p.buf) { // large read: straight from the layer
			n, err := p.r.ReadAt(b[:min(int64(len(b)), p.size-p.pos)], p.pos)
			p.pos += int64(n)
			if err == io.EOF && n > 0 {
				err = nil
			}
			return n, err
		}
		n, err := p.r.ReadAt(p.buf[:min(int64(len(p.buf)), p.size-p.pos)], p.pos)
		if n == 0 {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return 0, err
		}
		p.win, p.winOff = p.buf[:n], p.pos
	}
	n := copy(b, p.win[p.pos-p.winOff:])
	p.pos += int64(n)
	return n, nil
}

func (p *posReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += p.pos
	case io.SeekEnd:
		offset += p.size
	default:
		return 0, errors.New("seek: invalid whence")
	}
	if offset < 0 {
		return 0, errors.New("seek: negative position")
	}
	p.pos = offset
	return offset, nil
}

// normType maps a tar type flag to the type written, or reports false for
// types a layer may not hold. Sparse and contiguous files are regular files.
func normType(t byte) (byte, bool) {
	switch t {
	case tar.TypeReg, '\x00', tar.TypeCont, tar.TypeGNUSparse:
		return tar.TypeReg, true
	case tar.TypeDir, tar.TypeSymlink, tar.TypeLink, tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		return t, true
	}
	return 0, false
}

// TypeName names a normalised tar type flag as this project's outputs
// do: file, dir, symlink, hardlink, char, block, fifo ("" for others).
func TypeName(t byte) string {
	switch t {
	case tar.TypeReg:
		return "file"
	case tar.TypeDir:
		return "dir"
	case tar.TypeSymlink:
		return "symlink"
	case tar.TypeLink:
		return "hardlink"
	case tar.TypeChar:
		return "char"
	case tar.TypeBlock:
		return "block"
	case tar.TypeFifo:
		return "fifo"
	}
	return ""
}

// nextHeader reads the next header of tr, ignoring archive/tar's own
// insecure-path check (GODEBUG tarinsecurepath=0): names are checked here.
func nextHeader(tr *tar.Reader) (*tar.Header, error) {
	hdr, err := tr.Next()
	if errors.Is(err, tar.ErrInsecurePath) && hdr != nil {
		err = nil
	}
	return hdr, err
}

// scanLayer reads the headers of layer li into s (f.scan, or a scan kept
// until the layers below li are applied). If part is not nil, it is
// called with s every scanPart new entries; it may take the entries, and
// empty s.entries and s.links. s then holds the entries after the last
// part (s.plnk holds the whole layer's).
func (f *flattener) scanLayer(li int, s *layerScan, part func(*layerScan) error) error {
	l := f.layers[li]
	if l.Recording != nil {
		return f.scanRecording(li, s, part)
	}
	if l.R == nil || l.Size < 0 {
		return f.errorf(li, "", errors.New("no reader or negative size"))
	}
	s.entries, s.links = s.entries[:0], s.links[:0]
	clear(s.plnk)
	s.defined = nil
	handed := 0 // len(s.entries) after the last part
	pr := newPosReader(l.R, l.Size)
	// Plain headers are read by quickHeader, and the data after them
	// skipped by offset; any other by archive/tar, which also reports
	// every error, as if it had read the whole layer.
	var (
		tr    *tar.Reader // archive/tar's reader, after an entry it read
		pos   int64       // where the next header is, when tr is nil or done; -1 unknown
		blk   [blockSize]byte
		qh    tar.Header
		names nameCache
	)
	prev := "" // raw name of the previous entry, for errors
	for {
		if err := f.ctx.Err(); err != nil {
			return err
		}
		var hdr *tar.Header
		off, at := pos, pr.pos
		if pos >= 0 {
			pr.pos, pr.armed = pos, false
			if _, err := io.ReadFull(pr, blk[:]); err == nil && quickHeader(blk[:], &qh, &names) {
				if next := pos + blockSize + dataBlocks(&qh); next <= l.Size {
					// The whole entry is in the layer: archive/tar would
					// have nothing to report.
					qh.Name = quickName(blk[:])
					hdr, tr, pos = &qh, nil, next
				}
			}
		}
		if hdr == nil {
			if tr == nil {
				pr.pos = pos
				tr = tar.NewReader(pr)
			} else {
				pr.pos = at // where archive/tar left off
			}
			pr.armed = true
			var err error
			hdr, err = nextHeader(tr)
			if err == io.EOF {
				return nil
			}
			if err != nil {
				if pr.armed && prev != "" {
					// Next failed while skipping the previous entry's data.
					return f.errorf(li, prev, fmt.Errorf("reading data: %w", err))
				}
				if prev != "" {
					return f.errorf(li, "", fmt.Errorf("reading header at offset %d after entry %q: %w", pr.mark, prev, err))
				}
				return f.errorf(li, "", fmt.Errorf("reading header at offset %d: %w", pr.mark, err))
			}
			off, pos = pr.mark, -1
			if hdr.Typeflag != tar.TypeXGlobalHeader && !IsSparse(hdr) {
				pos = pr.pos + dataBlocks(hdr) // archive/tar stopped at the data
			}
		}
		prev = hdr.Name
		if hdr.Typeflag == tar.TypeXGlobalHeader {
			continue // PAX global headers are not copied
		}
		if err := f.scanEntry(li, hdr, off, s); err != nil {
			return err
		}
		if part != nil && len(s.entries)-handed >= scanPart {
			if err := part(s); err != nil {
				return err
			}
			handed = len(s.entries)
		}
	}
}

func (f *flattener) scanEntry(li int, hdr *tar.Header, off int64, s *layerScan) error {
	name, err := CleanName(hdr.Name)
	if errors.Is(err, ErrRootName) && hdr.Typeflag == tar.TypeDir {
		// "./" or "/": the root directory itself, as `tar -C dir .` writes
		// it (imported images, other builders). The root is not an entry
		// of the output; skip it as containerd does.
		return nil
	}
	if err != nil {
		return f.errorf(li, hdr.Name, err)
	}
	kind, target, err := classifyName(name)
	if err != nil {
		return f.errorf(li, hdr.Name, err)
	}
	switch kind {
	case metaEntry:
		if isPlnk(name) && (hdr.Typeflag == tar.TypeReg || hdr.Typeflag == '\x00') {
			if s.plnk == nil {
				s.plnk = make(map[string]int64)
			}
			s.plnk[name] = off
		}
		return nil
	case emptyWhiteout:
		f.warnf("layer %s: entry %q: whiteout without a name, ignored", f.layerName(li), hdr.Name)
		return nil
	case opaqueMarker, whiteoutMarker:
		s.entries = append(s.entries, entry{name: target, off: off, link: -1, kind: kind})
		return nil
	}
	typ, ok := normType(hdr.Typeflag)
	if !ok {
		return f.errorf(li, hdr.Name, fmt.Errorf("%w %q", ErrUnsupportedType, hdr.Typeflag))
	}
	e := entry{name: name, off: off, link: -1, typ: typ}
	switch typ {
	case tar.TypeChar, tar.TypeBlock:
		if hdr.Devmajor < 0 || hdr.Devmajor > maxDevice || hdr.Devminor < 0 || hdr.Devminor > maxDevice {
			return f.errorf(li, hdr.Name, fmt.Errorf("device number %d,%d out of range", hdr.Devmajor, hdr.Devminor))
		}
	case tar.TypeLink:
		t, err := CleanName(hdr.Linkname)
		if err != nil {
			return f.errorf(li, hdr.Name, fmt.Errorf("hardlink target %q: %w", hdr.Linkname, err))
		}
		e.link = int32(len(s.links))
		s.links = append(s.links, linkRef{target: t})
	}
	s.entries = append(s.entries, e)
	return nil
}
