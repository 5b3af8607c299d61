package extract

import (
	"archive/tar"
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/containerd/log"
	"github.com/docker-layers/docker-layers/flatten"
	"github.com/dustin/go-humanize"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Archive is an image archive or layout: a `docker save` archive, an OCI
// archive, or an OCI layout directory (OpenLayout). On a seekable,
// uncompressed file, or in a layout, the layers are sections of files and
// nothing is copied; a stream (such as stdin) or a compressed archive is
// spooled first, and compressed layer blobs are decompressed into the
// spool when requested.
//
// The caller must Close an Archive; the layers it returned are invalid
// afterwards. Its methods are safe for concurrent use.
type Archive struct {
	mu       sync.Mutex
	opts     Options
	ra       io.ReaderAt
	size     int64
	file     *os.File   // opened by OpenArchive, closed by Close
	layout   *layoutDir // an OCI image layout directory (OpenLayout); ra is nil then
	inMemory bool       // entries hold their data (ReadMetadata); ra is nil then
	spool    *spool
	entries  map[string]*entry
	images   []*archiveImage
	layers   map[string]flatten.Layer // verified layers, by entry name and diff ID
	json     map[digest.Digest][]byte
}

// ImageRef is what an archive says about one image it holds.
type ImageRef struct {
	// ID is the config digest: docker's image ID with the graphdriver
	// image store. It is empty when the image has no manifest for the
	// selected platform.
	ID digest.Digest
	// Manifest is the digest of the image manifest (of the selected
	// platform), when the archive has the OCI layout.
	Manifest digest.Digest
	// Index is the digest of the image's top-level index, for a
	// multi-platform image: docker's image ID with the containerd image
	// store.
	Index digest.Digest
	// RepoTags are familiar names, like "busybox:latest".
	RepoTags []string
	// Names are the names index.json gives the image that are not tags,
	// such as the "latest" of an OCI layout written by `skopeo copy …
	// oci:DIR:latest` (org.opencontainers.image.ref.name).
	Names []string
}

// name is the image's first name, or its ID when it has none.
func (r ImageRef) name() string {
	if names := r.shown(); len(names) > 0 {
		return names[0]
	}
	return r.String()
}

// shown are the names the image is shown by: its tags, else its other
// names (a tag's OCI ref name is its tag again).
func (r ImageRef) shown() []string {
	if len(r.RepoTags) > 0 {
		return r.RepoTags
	}
	return r.Names
}

func (r ImageRef) String() string {
	name := "<untagged>"
	if names := r.shown(); len(names) > 0 {
		name = strings.Join(names, ", ")
	}
	var ids []string
	if r.ID != "" {
		ids = append(ids, shortID(r.ID))
	}
	// The containerd image store's image ID is the digest of the index or
	// manifest: show it too.
	switch {
	case r.Index != "":
		ids = append(ids, "index "+shortID(r.Index))
	case r.Manifest != "":
		ids = append(ids, "manifest "+shortID(r.Manifest))
	}
	if len(ids) == 0 {
		return name
	}
	return name + " (" + strings.Join(ids, ", ") + ")"
}

// Image is one image of an archive, resolved for the selected platform.
type Image struct {
	ID       digest.Digest // config digest, i.e. docker's image ID (graphdriver store)
	RepoTags []string
	Names    []string      // see ImageRef
	Config   ocispec.Image // full config: History, RootFS.DiffIDs, Created, Config...
	Manifest digest.Digest // see ImageRef
	Index    digest.Digest // see ImageRef
	// RawConfig is the config as stored, byte for byte.
	RawConfig []byte
	// ManifestMediaType is the media type of the image's manifest (OCI's
	// or Docker's), "" for an image that only manifest.json describes.
	ManifestMediaType string

	archive *Archive
	layers  []layerSource // parallel to Config.RootFS.DiffIDs
}

// layerSource is where an image's layer lives in the archive.
type layerSource struct {
	path string
	desc *ocispec.Descriptor // the manifest's descriptor; nil for manifest.json layers
}

// archiveImage is an image as listed, with the reason it is unusable, if
// it is.
type archiveImage struct {
	ref     ImageRef
	img     *Image
	err     error
	configs map[digest.Digest]bool // configs of every platform, to match manifest.json records
}

// OpenArchive opens a `docker save` archive file. An uncompressed file is
// indexed in place; a compressed one (gzip, zstd, bzip2, xz, as `docker
// load` accepts) is decompressed into the spool first.
//
// The caller must Close the Archive. On error nothing is left in
// opts.TmpDir.
func OpenArchive(ctx context.Context, path string, opts Options) (*Archive, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening archive: %w", err)
	}
	a, err := openFile(ctx, f, opts)
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	if a.file == nil {
		// Spooled: the file is no longer needed.
		_ = f.Close()
	}
	return a, nil
}

// ReadArchive reads a `docker save` archive from r, such as stdin. The
// archive is spooled (decompressed, if it is compressed), unless r is an
// uncompressed regular *os.File: then it is used in place from its current
// offset, and must stay open until the Archive is closed. ReadArchive does
// not close r.
//
// The caller must Close the Archive. On error nothing is left in
// opts.TmpDir.
func ReadArchive(ctx context.Context, r io.Reader, opts Options) (*Archive, error) {
	if f, ok := r.(*os.File); ok {
		a, err := openFile(ctx, f, opts)
		if err != nil {
			return nil, err
		}
		a.file = nil // not ours to close
		return a, nil
	}
	return readStream(ctx, r, opts)
}

// openFile indexes f in place when it is a seekable, uncompressed regular
// file, and spools it otherwise. The Archive's file is f when f is used
// in place.
func openFile(ctx context.Context, f *os.File, opts Options) (*Archive, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading archive: %w", err)
	}
	if fi.Mode().IsRegular() {
		if off, err := f.Seek(0, io.SeekCurrent); err == nil && off <= fi.Size() {
			ra := io.NewSectionReader(f, off, fi.Size()-off)
			head := make([]byte, magicLen)
			n, _ := ra.ReadAt(head, 0)
			if detectArchiveCompression(head[:n]) == uncompressed {
				log.G(ctx).Debugf("archive: uncompressed file, read in place (%s)", humanBytes(ra.Size()))
				a, err := newArchive(ctx, ra, ra.Size(), newSpool(opts), opts)
				if err != nil {
					return nil, err
				}
				a.file = f
				return a, nil
			}
		}
	}
	return readStream(ctx, f, opts)
}

// readStream spools r, decompressing it, and indexes the spool.
func readStream(ctx context.Context, r io.Reader, opts Options) (_ *Archive, retErr error) {
	sp := newSpool(opts)
	defer func() {
		if retErr != nil {
			_ = sp.Close()
		}
	}()
	head, r, err := peek(r)
	if err != nil {
		return nil, fmt.Errorf("reading archive: %w", err)
	}
	c := detectArchiveCompression(head)
	if c != uncompressed {
		log.G(ctx).Debugf("archive: %s, decompressed with %s into the spool", c, inflater(c, opts.GzipProgram))
	} else {
		log.G(ctx).Debugf("archive: a stream, spooled")
	}
	dr, err := decompress(c, r, opts)
	if err != nil {
		return nil, fmt.Errorf("reading archive: %w", err)
	}
	defer dr.Close()
	f, err := sp.create()
	if err != nil {
		return nil, err
	}
	m := newMeter(ctx, opts.Progress, Progress{Size: -1})
	n, err := copyBuffered(sp.writer(f), m.reader(dr))
	if err != nil {
		sp.discard(f)
		if c != uncompressed {
			return nil, fmt.Errorf("spooling %s archive: %w", c, err)
		}
		return nil, fmt.Errorf("spooling archive: %w", err)
	}
	m.finish()
	sp.keep(f)
	return newArchive(ctx, f, n, sp, opts)
}

// newArchive indexes the tar in ra and reads its images.
func newArchive(ctx context.Context, ra io.ReaderAt, size int64, sp *spool, opts Options) (*Archive, error) {
	a := &Archive{opts: opts, ra: ra, size: size, spool: sp}
	return a.open(ctx, a.index)
}

// open lists the archive's entries with index, then reads its images. On
// error it closes a.
func (a *Archive) open(ctx context.Context, index func(context.Context) error) (*Archive, error) {
	a.entries = make(map[string]*entry)
	a.layers = make(map[string]flatten.Layer)
	a.json = make(map[digest.Digest][]byte)
	err := index(ctx)
	if err == nil {
		err = a.loadImages()
	}
	if err != nil {
		_ = a.Close()
		return nil, err
	}
	if log.G(ctx).Logger.IsLevelEnabled(log.DebugLevel) {
		_, hasIndex := a.entries["index.json"]
		_, hasManifest := a.entries["manifest.json"]
		what := archiveLayout(hasIndex, hasManifest)
		if a.layout != nil {
			what = "a directory"
		}
		log.G(ctx).Debugf("%s: %s, %s entries, %d images", a.what(), what, humanize.Comma(int64(len(a.entries))), len(a.images))
	}
	a.json = nil
	return a, nil
}

// dataSize is the size of an entry's data section in the archive.
func dataSize(hdr *tar.Header) int64 {
	switch hdr.Typeflag {
	case tar.TypeLink, tar.TypeSymlink, tar.TypeChar, tar.TypeBlock, tar.TypeDir, tar.TypeFifo:
		return 0
	}
	return hdr.Size
}

// index reads the tar headers, seeking past the data.
func (a *Archive) index(ctx context.Context) error {
	sr := io.NewSectionReader(a.ra, 0, a.size)
	tr := tar.NewReader(sr)
	var last string
	var end int64
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if de := a.daemonError(); de != nil {
				return de
			}
			where := "its start"
			if last != "" {
				where = fmt.Sprintf("entry %q", truncate(last, 200))
			}
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return errorf(ErrTruncated, "archive truncated: it ends inside %s", where)
			}
			return errorf(ErrInvalid, "reading archive after %s: %w", where, err)
		}
		pos, err := sr.Seek(0, io.SeekCurrent)
		if err != nil {
			return err
		}
		last, end = hdr.Name, pos+dataSize(hdr)
		if flatten.IsSparse(hdr) {
			return errorf(ErrInvalid, "entry %q is a sparse file", truncate(hdr.Name, 200))
		}
		name, err := entryName(hdr.Name)
		if err != nil {
			return err
		}
		if name == "" {
			continue // the root directory
		}
		if len(a.entries) >= maxEntries {
			return errorf(ErrInvalid, "more than %d entries", maxEntries)
		}
		a.entries[name] = &entry{name: name, typeflag: hdr.Typeflag, linkname: hdr.Linkname, offset: pos, size: hdr.Size}
	}
	pos, err := sr.Seek(0, io.SeekCurrent)
	if err != nil {
		return err
	}
	if pos < (end+blockSize-1)/blockSize*blockSize+2*blockSize {
		if de := a.daemonError(); de != nil {
			return de
		}
		if last == "" {
			return errorf(ErrInvalid, "empty archive")
		}
		return errorf(ErrTruncated, "archive truncated: it ends after entry %q without the end-of-archive marker", truncate(last, 200))
	}
	if pos < a.size {
		trailing := make([]byte, min(a.size-pos, tailSize))
		n, _ := a.ra.ReadAt(trailing, pos)
		if de := leadingDaemonError(trailing[:n]); de != nil {
			return de
		}
	}
	return nil
}

// what the archive is, in messages.
func (a *Archive) what() string {
	if a.layout != nil {
		return "OCI layout"
	}
	return "archive"
}

// content is an entry's data as stored.
func (a *Archive) content(e *entry) (*io.SectionReader, error) {
	switch {
	case a.layout != nil:
		return a.layout.open(e)
	case a.inMemory:
		return io.NewSectionReader(bytes.NewReader(e.data), 0, e.size), nil
	}
	return io.NewSectionReader(a.ra, e.offset, e.size), nil
}

// daemonError looks for a JSON error message that ends the archive.
func (a *Archive) daemonError() *DaemonError {
	n := min(a.size, tailSize)
	b := make([]byte, n)
	k, _ := a.ra.ReadAt(b, a.size-n)
	return trailingDaemonError(b[:k])
}

// readEntry reads a small JSON entry (following links), up to maxJSONSize.
func (a *Archive) readEntry(name string) ([]byte, error) {
	e, err := resolve(a.entries, name, a.what())
	if err != nil {
		return nil, err
	}
	if e.size > maxJSONSize {
		return nil, errorf(ErrInvalid, "%s is %d bytes, more than the %d MiB limit", name, e.size, maxJSONSize>>20)
	}
	sr, err := a.content(e)
	if err != nil {
		return nil, err
	}
	b := make([]byte, e.size)
	if _, err := sr.ReadAt(b, 0); err != nil && !(errors.Is(err, io.EOF) && e.size == 0) {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	return b, nil
}

// readBlob reads a small JSON blob and verifies its digest.
func (a *Archive) readBlob(d digest.Digest) ([]byte, error) {
	if err := validDigest(d); err != nil {
		return nil, err
	}
	if b, ok := a.json[d]; ok {
		return b, nil
	}
	b, err := a.readEntry(blobPath(d))
	if err != nil {
		return nil, err
	}
	if got := digest.FromBytes(b); got != d {
		return nil, errorf(ErrDigestMismatch, "blob %s has digest %s", d, got)
	}
	if a.json != nil {
		a.json[d] = b
	}
	return b, nil
}

func (a *Archive) hasBlob(d digest.Digest) bool {
	if validDigest(d) != nil {
		return false
	}
	_, err := resolve(a.entries, blobPath(d), a.what())
	return err == nil
}

// loadImages reads index.json and manifest.json.
func (a *Archive) loadImages() error {
	_, hasIndex := a.entries["index.json"]
	_, hasManifest := a.entries["manifest.json"]
	if !hasIndex && !hasManifest {
		return errorf(ErrInvalid, "not an image archive: neither manifest.json (docker save) nor index.json (OCI)")
	}
	if hasIndex {
		b, err := a.readEntry("index.json")
		if err != nil {
			return err
		}
		var idx ocispec.Index
		if err := json.Unmarshal(b, &idx); err != nil {
			return errorf(ErrInvalid, "index.json: %w", err)
		}
		byDigest := make(map[digest.Digest]*archiveImage)
		for _, desc := range idx.Manifests {
			if err := validDigest(desc.Digest); err != nil {
				return fmt.Errorf("index.json: %w", err)
			}
			ai, ok := byDigest[desc.Digest]
			if !ok {
				ai = a.resolveTop(desc)
				byDigest[desc.Digest] = ai
				a.images = append(a.images, ai)
			}
			// Docker and containerd name an image twice: its whole
			// reference, and its tag alone as the OCI ref name. Either
			// selects it; a ref name that is a reference is a tag too.
			for _, name := range []string{desc.Annotations[annotationImageName], desc.Annotations[ocispec.AnnotationRefName]} {
				if f := familiarRef(name); f != "" {
					if !slices.Contains(ai.ref.RepoTags, f) {
						ai.ref.RepoTags = append(ai.ref.RepoTags, f)
					}
				} else if name != "" && !slices.Contains(ai.ref.Names, name) {
					ai.ref.Names = append(ai.ref.Names, name)
				}
			}
		}
	}
	if hasManifest {
		if err := a.loadManifestJSON(); err != nil {
			return err
		}
	}
	for _, ai := range a.images {
		if ai.img != nil {
			ai.img.RepoTags, ai.img.Names = ai.ref.RepoTags, ai.ref.Names
		}
	}
	return nil
}

// loadManifestJSON adds manifest.json's records: RepoTags to the images
// index.json already listed, and the images it did not (legacy archives,
// untagged images).
func (a *Archive) loadManifestJSON() error {
	b, err := a.readEntry("manifest.json")
	if err != nil {
		return err
	}
	var items []manifestItem
	if err := json.Unmarshal(b, &items); err != nil {
		return errorf(ErrInvalid, "manifest.json: %w", err)
	}
	var fromIndex []*archiveImage
	fromIndex = append(fromIndex, a.images...)
	for i, it := range items {
		cfgPath, err := cleanManifestPath(it.Config)
		if err != nil {
			return fmt.Errorf("manifest.json record %d: %w", i, err)
		}
		cfg, err := a.readEntry(cfgPath)
		if err != nil {
			return fmt.Errorf("manifest.json record %d: config: %w", i, err)
		}
		cfgDigest := digest.FromBytes(cfg)
		if named := digestFromConfigPath(cfgPath); named != "" && named != cfgDigest {
			return errorf(ErrDigestMismatch, "config %q has digest %s", cfgPath, cfgDigest)
		}
		var tags []string
		for _, t := range it.RepoTags {
			if f := familiarRef(t); f != "" {
				t = f
			}
			tags = append(tags, t)
		}
		var match *archiveImage
		for _, ai := range fromIndex {
			if ai.configs[cfgDigest] {
				match = ai
				break
			}
		}
		if match != nil {
			for _, t := range tags {
				if !slices.Contains(match.ref.RepoTags, t) {
					match.ref.RepoTags = append(match.ref.RepoTags, t)
				}
			}
			if !errors.Is(match.err, ErrNotExist) {
				continue
			}
			// index.json's image is unusable (no manifest for the
			// platform, say): use the record, if it is usable.
			if img, err := a.imageFromRecord(it, cfg, cfgDigest); err == nil {
				img.Index = match.ref.Index
				match.img, match.err = img, nil
				match.ref.ID, match.ref.Manifest = cfgDigest, ""
			}
			continue
		}
		ai := &archiveImage{ref: ImageRef{ID: cfgDigest, RepoTags: tags}}
		ai.img, ai.err = a.imageFromRecord(it, cfg, cfgDigest)
		if ai.err != nil {
			ai.ref.ID = ""
		}
		// An unusable index.json image that this record names is
		// replaced by it.
		a.images = slices.DeleteFunc(a.images, func(o *archiveImage) bool {
			if !errors.Is(o.err, ErrNotExist) || !slices.Contains(fromIndex, o) {
				return false
			}
			for _, t := range o.ref.RepoTags {
				if slices.Contains(tags, t) {
					return true
				}
			}
			return false
		})
		a.images = append(a.images, ai)
	}
	return nil
}

// imageFromRecord builds an image from a manifest.json record.
func (a *Archive) imageFromRecord(it manifestItem, cfgBytes []byte, cfgDigest digest.Digest) (*Image, error) {
	var cfg ocispec.Image
	if err := json.Unmarshal(cfgBytes, &cfg); err != nil {
		return nil, errorf(ErrInvalid, "config %s: %w", cfgDigest, err)
	}
	if err := validDiffIDs(cfg); err != nil {
		return nil, fmt.Errorf("config %s: %w", cfgDigest, err)
	}
	if len(it.Layers) != len(cfg.RootFS.DiffIDs) {
		return nil, errorf(ErrInvalid, "manifest.json lists %d layers but config %s has %d diff IDs", len(it.Layers), shortID(cfgDigest), len(cfg.RootFS.DiffIDs))
	}
	if err := a.checkPlatform(cfg); err != nil {
		return nil, err
	}
	img := &Image{ID: cfgDigest, Config: cfg, RawConfig: cfgBytes, archive: a}
	for _, p := range it.Layers {
		c, err := cleanManifestPath(p)
		if err != nil {
			return nil, err
		}
		img.layers = append(img.layers, layerSource{path: c})
	}
	return img, nil
}

func validDiffIDs(cfg ocispec.Image) error {
	for _, d := range cfg.RootFS.DiffIDs {
		if err := validDigest(d); err != nil {
			return fmt.Errorf("diff ID: %w", err)
		}
	}
	return nil
}

// checkPlatform refuses a single-platform image of another platform than
// the one Options.Platform asks for.
func (a *Archive) checkPlatform(cfg ocispec.Image) error {
	if a.opts.Platform == nil {
		return nil
	}
	p := configPlatform(cfg)
	if !a.matcher().Match(p) {
		return &PlatformError{Want: *a.opts.Platform, Available: []ocispec.Platform{p}}
	}
	return nil
}

// Images lists the images the archive holds.
func (a *Archive) Images() []ImageRef {
	a.mu.Lock()
	defer a.mu.Unlock()
	refs := make([]ImageRef, 0, len(a.images))
	for _, ai := range a.images {
		r := ai.ref
		r.RepoTags = slices.Clone(r.RepoTags)
		r.Names = slices.Clone(r.Names)
		refs = append(refs, r)
	}
	return refs
}

// Image selects one image. ref is "" when the archive holds one image;
// otherwise a RepoTag ("busybox" matches "busybox:latest" and
// "docker.io/library/busybox:latest") or an image-ID prefix (of the
// config, manifest or index digest, with or without "sha256:"). Errors
// wrap ErrNotExist, or are an ErrAmbiguousPrefix, and list what the
// archive holds.
func (a *Archive) Image(ref string) (*Image, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ai, err := a.lookup(ref)
	if err != nil {
		return nil, err
	}
	if ai.err != nil {
		var pe *PlatformError
		if errors.As(ai.err, &pe) {
			// The whole message: which image lacks what.
			named := *pe
			if named.Ref = ref; ref == "" {
				named.Ref = ai.ref.name()
			}
			return nil, &named
		}
		return nil, fmt.Errorf("image %s: %w", ai.ref, ai.err)
	}
	return ai.img, nil
}

func (a *Archive) lookup(ref string) (*archiveImage, error) {
	if ref == "" {
		switch len(a.images) {
		case 0:
			return nil, errorf(ErrNotExist, "no image in the %s", a.what())
		case 1:
			return a.images[0], nil
		}
		return nil, fmt.Errorf("the %s holds %d images, name one: %s", a.what(), len(a.images), a.holds())
	}
	for _, ai := range a.images {
		if slices.Contains(ai.ref.Names, ref) {
			return ai, nil
		}
	}
	if n := normalizeRef(ref); n != "" {
		for _, ai := range a.images {
			for _, t := range ai.ref.RepoTags {
				if normalizeRef(t) == n {
					return ai, nil
				}
			}
		}
	}
	if hex := idPrefix(ref); hex != "" {
		var matches []*archiveImage
		for _, ai := range a.images {
			for _, d := range []digest.Digest{ai.ref.ID, ai.ref.Manifest, ai.ref.Index} {
				if d != "" && strings.HasPrefix(d.Encoded(), hex) {
					matches = append(matches, ai)
					break
				}
			}
		}
		switch len(matches) {
		case 0:
		case 1:
			return matches[0], nil
		default:
			e := ErrAmbiguousPrefix{Prefix: ref}
			for _, m := range matches {
				e.Matches = append(e.Matches, m.ref.String())
			}
			return nil, e
		}
	}
	return nil, errorf(ErrNotExist, "no image %q in the %s, which holds %s", ref, a.what(), a.holds())
}

func (a *Archive) holds() string {
	if len(a.images) == 0 {
		return "no image"
	}
	var s []string
	for _, ai := range a.images {
		s = append(s, ai.ref.String())
	}
	return strings.Join(s, "; ")
}

// Layers returns the layers of img whose diff IDs are in want, in the
// order of want, each verified against its diff ID (uncompressed sections
// are hashed once, the first time they are requested). The layers stay
// valid until the Archive is closed.
//
// ready, when not nil, is called with each layer as soon as its content
// can be read, before Layers returns: k
// is the layer's index in want. An uncompressed layer is a section of the
// archive and is handed over at once, before it is verified; a compressed
// one once it is decompressed and verified. So a caller can read layers
// while the others are verified, but must not trust or write anything it
// read from them unless Layers then succeeds. ready may be called
// from several goroutines at once.
func (a *Archive) Layers(ctx context.Context, img *Image, want []digest.Digest, ready func(k int, l flatten.Layer)) ([]flatten.Layer, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if img == nil || img.archive != a {
		return nil, errors.New("image is not from this archive")
	}
	if a.entries == nil {
		return nil, errors.New("archive is closed")
	}
	if err := validateWant(want); err != nil {
		return nil, err
	}
	if ready == nil {
		ready = func(int, flatten.Layer) {}
	}
	// Find every layer first, so that a layer that is missing or badly
	// stored fails before any work starts (and no goroutine outlives a
	// failed call).
	out := make([]flatten.Layer, len(want))
	keys := make([]string, len(want))   // cache keys, path@diffID
	locs := make([]*located, len(want)) // nil: cached already
	for k, w := range want {
		i := slices.Index(img.Config.RootFS.DiffIDs, w)
		if i < 0 {
			return nil, errorf(ErrLayerNotFound, "layer %s is not in image %s", w, shortID(img.ID))
		}
		src := img.layers[i]
		keys[k] = src.path + "@" + string(w)
		if l, ok := a.layers[keys[k]]; ok {
			out[k] = l
			continue
		}
		loc, err := a.locate(src, w)
		if err != nil {
			return nil, err
		}
		locs[k] = &loc
	}
	for k, loc := range locs {
		switch {
		case loc == nil:
			ready(k, out[k])
		case loc.c == uncompressed:
			ready(k, loc.layer(want[k]))
		}
	}
	// Verify (and decompress) the layers in parallel, one per core: each
	// is a hash over a section of the archive, or a decompression into the
	// spool. The largest go first, so that the last one to finish is a
	// small one, not the largest started last on an otherwise idle
	// machine.
	var todo []int
	for k, loc := range locs {
		if loc != nil {
			todo = append(todo, k)
		}
	}
	slices.SortStableFunc(todo, func(i, j int) int { return cmp.Compare(locs[j].e.size, locs[i].e.size) })
	errs := make([]error, len(want))
	var (
		next atomic.Int64
		wg   sync.WaitGroup
	)
	for range min(runtime.GOMAXPROCS(0), len(todo)) {
		wg.Go(func() {
			for {
				t := int(next.Add(1) - 1)
				if t >= len(todo) {
					return
				}
				k, loc := todo[t], locs[todo[t]]
				if errs[k] = ctx.Err(); errs[k] == nil {
					out[k], errs[k] = a.layer(ctx, *loc, want[k], Progress{Layers: k, Wanted: len(want)})
				}
				if errs[k] == nil && loc.c != uncompressed {
					ready(k, out[k])
				}
			}
		})
	}
	wg.Wait()
	for k := range want {
		if errs[k] != nil {
			return nil, errs[k]
		}
		a.layers[keys[k]] = out[k]
	}
	return out, nil
}

// StoredLayer returns layer i of img (bottom first) as the archive stores
// it, unverified: its descriptor and its bytes. The descriptor is the
// manifest's; for an image that only manifest.json describes, its media
// type comes from the bytes' compression and its digest from the entry's
// name, or is "" when the name does not give it (a legacy
// <v1id>/layer.tar, which holds the uncompressed layer). The reader stays
// valid until the Archive is closed.
func (a *Archive) StoredLayer(img *Image, i int) (ocispec.Descriptor, *io.SectionReader, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if img == nil || img.archive != a || i < 0 || i >= len(img.layers) {
		return ocispec.Descriptor{}, nil, errors.New("no such layer in this archive")
	}
	if a.entries == nil {
		return ocispec.Descriptor{}, nil, errors.New("archive is closed")
	}
	w := img.Config.RootFS.DiffIDs[i]
	loc, err := a.locate(img.layers[i], w)
	if err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	if src := img.layers[i]; src.desc != nil {
		return *src.desc, loc.sr, nil
	}
	desc := ocispec.Descriptor{MediaType: loc.c.mediaType(), Digest: loc.expectRaw, Size: loc.e.size}
	if loc.c == uncompressed && desc.Digest == "" {
		desc.Digest = w
	}
	return desc, loc.sr, nil
}

// located is a layer's entry in the archive and how it is stored.
type located struct {
	e         *entry
	sr        *io.SectionReader // the entry's content, as stored
	c         compression
	expectRaw digest.Digest // the digest the stored blob must have, when known
}

// layer is the layer's content when it is stored uncompressed.
func (loc located) layer(w digest.Digest) flatten.Layer {
	return flatten.Layer{ID: w.String(), R: loc.sr, Size: loc.e.size}
}

// locate finds the entry of layer w and its compression.
func (a *Archive) locate(src layerSource, w digest.Digest) (located, error) {
	e, err := resolve(a.entries, src.path, a.what())
	if err != nil {
		return located{}, fmt.Errorf("layer %s: %w", w, err)
	}
	expectRaw := digestFromBlobPath(e.name)
	if src.desc != nil {
		expectRaw = src.desc.Digest
		if src.desc.Size != e.size {
			return located{}, errorf(ErrInvalid, "layer %s (entry %q) is %d bytes, its manifest says %d", w, e.name, e.size, src.desc.Size)
		}
	}
	sr, err := a.content(e)
	if err != nil {
		return located{}, fmt.Errorf("layer %s: %w", w, err)
	}
	head := make([]byte, magicLen)
	n, _ := sr.ReadAt(head, 0)
	return located{e: e, sr: sr, c: detectLayerCompression(head[:n]), expectRaw: expectRaw}, nil
}

// layer verifies one layer and returns it: a section of the archive when
// it is stored uncompressed, a spool file (or with Options.Record its
// recording) otherwise. It runs concurrently
// for different layers: it only reads the archive's index.
func (a *Archive) layer(ctx context.Context, loc located, w digest.Digest, p Progress) (flatten.Layer, error) {
	e, c, expectRaw := loc.e, loc.c, loc.expectRaw
	p.Entry, p.DiffID, p.Size = e.name, w, e.size
	m := newMeter(ctx, a.opts.Progress, p)
	raw := sha256.New()
	src := m.reader(io.NewSectionReader(loc.sr, 0, e.size))
	var l flatten.Layer
	if c == uncompressed {
		log.G(ctx).Debugf("layer %s (entry %q, %s): uncompressed, read in place", w, e.name, humanBytes(e.size))
		// Straight into the hash, in copyBuffered's 1 MiB reads (io.Discard
		// as the destination would read in 8 KiB ones).
		if _, err := copyBuffered(raw, src); err != nil {
			return flatten.Layer{}, fmt.Errorf("reading layer %s (entry %q): %w", w, e.name, err)
		}
		if got := digest.NewDigest(digest.SHA256, raw); got != w {
			return flatten.Layer{}, errorf(ErrDigestMismatch, "layer %s (entry %q): content has digest %s", w, e.name, got)
		}
		l = loc.layer(w)
	} else {
		var err error
		if l, err = readLayer(ctx, a.spool, a.opts, src, raw, c, expectRaw, w, fmt.Sprintf("entry %q", e.name)); err != nil {
			return flatten.Layer{}, err
		}
	}
	if c == uncompressed && expectRaw != "" && expectRaw != w {
		return flatten.Layer{}, errorf(ErrDigestMismatch, "layer %s (entry %q): stored uncompressed but named %s", w, e.name, expectRaw)
	}
	m.finish()
	return l, nil
}

// Close closes the archive file (if OpenArchive opened it) and removes the
// spool.
func (a *Archive) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	var errs []error
	if a.file != nil {
		errs = append(errs, a.file.Close())
		a.file = nil
	}
	if a.layout != nil {
		errs = append(errs, a.layout.close())
		a.layout = nil
	}
	if a.spool != nil {
		errs = append(errs, a.spool.Close())
	}
	a.entries = nil
	a.layers = nil
	return errors.Join(errs...)
}
