package flatten

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
)

// Entries calls fn with each entry that layer l stores, in the layer's
// own order, as Walk gives the entries of a merge (with Layer and
// DataLayer 0): its files, directories, links and devices, under their
// canonical names, each hardlink with its target as the layer names it
// (which may be in a lower layer). Whiteouts, opaque markers and aufs
// metadata, which store nothing, are left out, and no layer rule is
// applied: an entry given twice is given twice. It reads headers only.
// Names and types that the merge refuses are errors here too.
func Entries(ctx context.Context, l Layer, fn func(*Entry) error) error {
	f := &flattener{ctx: ctx, layers: []Layer{l}}
	if l.R == nil || l.Size < 0 {
		return f.errorf(0, "", errors.New("no reader or negative size"))
	}
	// archive/tar skips file data with Seek on a SectionReader.
	tr := tar.NewReader(io.NewSectionReader(l.R, 0, l.Size))
	var e Entry
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := nextHeader(tr)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return f.errorf(0, "", fmt.Errorf("reading header: %w", err))
		}
		if hdr.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		name, err := CleanName(hdr.Name)
		if errors.Is(err, ErrRootName) && hdr.Typeflag == tar.TypeDir {
			continue // the root itself, as scanEntry skips it
		}
		if err != nil {
			return f.errorf(0, hdr.Name, err)
		}
		if kind, _, err := classifyName(name); err != nil {
			return f.errorf(0, hdr.Name, err)
		} else if kind != plainEntry {
			continue
		}
		typ, ok := normType(hdr.Typeflag)
		if !ok {
			return f.errorf(0, hdr.Name, fmt.Errorf("%w %q", ErrUnsupportedType, hdr.Typeflag))
		}
		hdr.Typeflag = typ
		if typ == tar.TypeLink {
			if hdr.Linkname, err = CleanName(hdr.Linkname); err != nil {
				return f.errorf(0, hdr.Name, fmt.Errorf("hardlink target: %w", err))
			}
		}
		if typ != tar.TypeReg {
			hdr.Size = 0
		}
		e = Entry{Path: name, Header: hdr}
		if err := fn(&e); err != nil {
			return err
		}
	}
}
