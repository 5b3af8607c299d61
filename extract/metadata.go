package extract

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// maxMetadataSize caps the JSON documents ReadMetadata keeps in memory in
// all.
const maxMetadataSize = 64 << 20

// ReadMetadata reads a save stream (the output of `docker save` in any of
// the layouts Docker writes) for its JSON documents only: index.json,
// manifest.json, and the image indexes, manifests and configs among the
// blobs. Layer data is skipped, never spooled or kept. It reads r to its
// end (exporters write index.json and manifest.json last) and does not
// close it.
//
// The returned Archive lists and selects images as one opened on the whole
// stream does, with the same platform selection (opts.Platform) and the same
// errors, including a [PlatformError] when the image has no manifest for the
// platform; its Layers method fails with ErrLayerNotFound. It is meant to
// learn what a daemon's multi-platform image holds: which platforms, and
// each one's config, whose diff IDs then select the layers from a save
// stream with [FromSaveStream].
//
// The caller must Close the Archive.
func ReadMetadata(ctx context.Context, r io.Reader, opts Options) (*Archive, error) {
	a := &Archive{opts: opts, spool: newSpool(opts), inMemory: true}
	return a.open(ctx, func(ctx context.Context) error { return a.readMetadata(ctx, r) })
}

// readMetadata keeps the JSON documents of the save stream r, and the
// links that may lead to them, as the archive's entries.
func (a *Archive) readMetadata(ctx context.Context, r io.Reader) error {
	st := newSaveTar(r)
	var kept int64
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := st.next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name, err := entryName(hdr.Name)
		if err != nil {
			return err
		}
		if name == "" {
			continue // the root directory
		}
		e := &entry{name: name, typeflag: hdr.Typeflag, linkname: hdr.Linkname}
		switch hdr.Typeflag {
		case tar.TypeSymlink, tar.TypeLink:
			// Kept: documents may be reached through links.
		case tar.TypeReg:
			if !metadataEntry(name) || hdr.Size > maxJSONSize {
				// A layer, or not a document: skipped unread.
				if err := skipEntry(ctx, st.tr, hdr); err != nil {
					return st.fail(fmt.Errorf("reading entry %q: %w", truncate(name, 200), err))
				}
				continue
			}
			head, r, err := peek(st.tr)
			if err != nil {
				return st.fail(fmt.Errorf("reading entry %q: %w", truncate(name, 200), err))
			}
			if trimmed := bytes.TrimLeft(head, " \t\r\n"); len(trimmed) == 0 || trimmed[0] != '{' && trimmed[0] != '[' {
				continue // not JSON: a layer blob
			}
			if e.data, err = readCapped(r, maxJSONSize); err != nil {
				return st.fail(fmt.Errorf("reading entry %q: %w", truncate(name, 200), err))
			}
			if kept += int64(len(e.data)); kept > maxMetadataSize {
				return errorf(ErrInvalid, "save stream holds more than %d MiB of JSON documents", maxMetadataSize>>20)
			}
			e.size = int64(len(e.data))
		default:
			continue
		}
		if len(a.entries) >= maxEntries {
			return errorf(ErrInvalid, "more than %d entries", maxEntries)
		}
		a.entries[name] = e
	}
}

// metadataEntry reports whether a regular entry may be a JSON document an
// archive's images are read from.
func metadataEntry(name string) bool {
	switch {
	case name == "index.json" || name == "manifest.json":
		return true
	case strings.HasPrefix(name, "blobs/"):
		return true
	case !strings.Contains(name, "/") && path.Ext(name) == ".json":
		return true // a legacy image config, <hex>.json
	}
	return false
}

// skipEntry reads what is left of a large entry, watching the context; the
// tar reader skips small ones itself.
func skipEntry(ctx context.Context, tr *tar.Reader, hdr *tar.Header) error {
	if dataSize(hdr) < progressEvery {
		return nil
	}
	bp := copyBufPool.Get().(*[]byte)
	defer copyBufPool.Put(bp)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, err := tr.Read(*bp); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
	}
}
