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
	raw := &tailReader{r: r}
	tr := tar.NewReader(raw)
	var (
		buf      bytes.Buffer
		kept     int64
		last     string
		entryEnd int64
	)
	tw := tar.NewWriter(&buf)
	// daemonError finds a JSON error message the daemon appended to the
	// stream, in what was read and in up to tailSize more bytes.
	daemonError := func() *DaemonError {
		extra, _ := io.ReadAll(io.LimitReader(raw.r, tailSize+1))
		if len(extra) > tailSize {
			return nil
		}
		return trailingDaemonError(append(raw.tail(), extra...))
	}
	fail := func(err error) error {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		if de := daemonError(); de != nil {
			return de
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return errorf(ErrTruncated, "save stream truncated: %w", err)
		}
		return err
	}
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			where := "its start"
			if last != "" {
				where = fmt.Sprintf("entry %q", truncate(last, 200))
			}
			return nil, fail(fmt.Errorf("reading save stream after %s: %w", where, err))
		}
		last, entryEnd = hdr.Name, raw.n+dataSize(hdr)
		if isSparse(hdr) {
			return nil, errorf(ErrInvalid, "entry %q is a sparse file", truncate(hdr.Name, 200))
		}
		name := cleanEntryName(hdr.Name)
		if name == "" {
			continue
		}
		out := &tar.Header{Typeflag: hdr.Typeflag, Name: name, Linkname: hdr.Linkname, Mode: 0o644, Format: tar.FormatPAX}
		var data []byte
		switch hdr.Typeflag {
		case tar.TypeSymlink, tar.TypeLink:
			// Kept: documents may be reached through links.
		case tar.TypeReg:
			if !metadataEntry(name) || hdr.Size > maxJSONSize {
				// A layer, or not a document: skipped unread.
				if err := skipEntry(ctx, tr, hdr); err != nil {
					return nil, fail(fmt.Errorf("reading entry %q: %w", truncate(name, 200), err))
				}
				continue
			}
			head, r, err := peek(tr)
			if err != nil {
				return nil, fail(fmt.Errorf("reading entry %q: %w", truncate(name, 200), err))
			}
			if trimmed := bytes.TrimLeft(head, " \t\r\n"); len(trimmed) == 0 || trimmed[0] != '{' && trimmed[0] != '[' {
				continue // not JSON: a layer blob
			}
			if data, err = readCapped(r, maxJSONSize); err != nil {
				return nil, fail(fmt.Errorf("reading entry %q: %w", truncate(name, 200), err))
			}
			if kept += int64(len(data)); kept > maxMetadataSize {
				return nil, errorf(ErrInvalid, "save stream holds more than %d MiB of JSON documents", maxMetadataSize>>20)
			}
			out.Size = int64(len(data))
		default:
			continue
		}
		if err := tw.WriteHeader(out); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	end := (entryEnd + blockSize - 1) / blockSize * blockSize
	if raw.n < end+2*blockSize {
		if de := daemonError(); de != nil {
			return nil, de
		}
		if raw.n == 0 {
			return nil, errorf(ErrTruncated, "save stream is empty")
		}
		return nil, errorf(ErrTruncated, "save stream truncated: it ends after entry %q without the end-of-archive marker", truncate(last, 200))
	}
	extra, _ := io.ReadAll(io.LimitReader(raw.r, tailSize))
	if de := leadingDaemonError(extra); de != nil {
		return nil, de
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return newArchive(ctx, bytes.NewReader(buf.Bytes()), int64(buf.Len()), newSpool(opts), opts)
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
