package squash

import (
	"archive/tar"
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	"github.com/docker-layers/docker-layers/extract"
	"github.com/docker-layers/docker-layers/flatten"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

const (
	// maxJSONSize caps every JSON document read into memory.
	maxJSONSize = 4 << 20
	// maxDocBytes caps all the JSON documents remembered from a stream.
	maxDocBytes = 64 << 20
)

// errRangeInHand ends the stream fed to extract once it has every
// squashed layer.
var errRangeInHand = errors.New("squashed layers in hand")

// blobInfo is an entry written to the output archive.
type blobInfo struct {
	path string
	size int64
}

// manifestDoc is an image manifest seen in the stream.
type manifestDoc struct {
	digest    digest.Digest
	mediaType string
	config    ocispec.Descriptor
	layers    []ocispec.Descriptor
}

// rangeResult is what extract returned for the squashed range.
type rangeResult struct {
	layers *extract.Layers
	err    error
}

// squasher reads one save stream. Kept layers go to out as they arrive;
// candidates for the squashed range go to extract through a second tar
// stream (xtw), which spools and verifies them.
type squasher struct {
	ctx  context.Context
	img  Image
	opts Options

	out  *tar.Writer
	dirs map[string]bool

	kept, inRange map[digest.Digest]bool
	chainIDs      []digest.Digest
	v1            map[string]int // legacy <v1id> directory → layer index

	xpw   *io.PipeWriter
	xtw   *tar.Writer // nil once extract has every layer it wants
	xdone chan rangeResult
	xres  *rangeResult
	ix    *flatten.Indexer // indexes the range's layers as extract verifies them

	written   map[digest.Digest]blobInfo // raw digest → entry in out
	configs   map[digest.Digest][]byte
	manifests []manifestDoc
	docBytes  int64
	blobDiff  map[digest.Digest]digest.Digest // compressed blob → diff ID

	br   *bufio.Reader
	buf  []byte
	last string
}

// Write reads save, the save stream of img (the body of ImageSave, or a
// `docker save` archive, uncompressed), and writes to w a `docker load`
// archive of the squashed image: the blobs of the kept layers as they
// arrive, then the squashed layer, the config, the manifest, index.json,
// oci-layout and manifest.json. It does not close w; on error what was
// written is not a complete archive (no end-of-archive marker).
func Write(ctx context.Context, w io.Writer, save io.Reader, img Image, opts Options) (res *Result, retErr error) {
	n := len(img.DiffIDs)
	if opts.From < 0 || opts.To < opts.From || opts.To >= n {
		return nil, fmt.Errorf("layers %d..%d are not in an image of %d layers", opts.From, opts.To, n)
	}
	s := &squasher{
		ctx:      ctx,
		img:      img,
		opts:     opts,
		out:      tar.NewWriter(w),
		dirs:     map[string]bool{},
		kept:     map[digest.Digest]bool{},
		inRange:  map[digest.Digest]bool{},
		written:  map[digest.Digest]blobInfo{},
		configs:  map[digest.Digest][]byte{},
		blobDiff: map[digest.Digest]digest.Digest{},
		v1:       map[string]int{},
		br:       bufio.NewReaderSize(nil, 64<<10),
		buf:      make([]byte, 256<<10),
	}
	s.chainIDs = extract.ChainIDs(img.DiffIDs)
	for i, d := range img.DiffIDs {
		if i >= opts.From && i <= opts.To {
			s.inRange[d] = true
		} else {
			s.kept[d] = true
		}
	}
	s.startExtract()
	defer func() {
		r := s.finishExtract(retErr)
		s.ix.Close() // before the layers it reads are closed
		if r.layers != nil {
			if err := r.layers.Close(); err != nil && retErr == nil {
				retErr, res = err, nil
			}
		}
	}()

	tr := tar.NewReader(save)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if s.last == "" {
				return nil, fmt.Errorf("reading save stream: %w", err)
			}
			return nil, fmt.Errorf("reading save stream after entry %q: %w", s.last, err)
		}
		s.last = hdr.Name
		if err := s.entry(tr, hdr); err != nil {
			return nil, err
		}
	}
	r := s.finishExtract(nil)
	if r.err != nil {
		return nil, fmt.Errorf("reading the squashed layers: %w", r.err)
	}
	return s.finish(r.layers)
}

// startExtract runs extract on the second stream.
func (s *squasher) startExtract() {
	var want []digest.Digest
	for i := s.opts.From; i <= s.opts.To; i++ {
		want = append(want, s.img.DiffIDs[i])
	}
	pr, pw := io.Pipe()
	s.xpw, s.xtw = pw, tar.NewWriter(pw)
	s.xdone = make(chan rangeResult, 1)
	// Each layer of the range is indexed (flatten's first pass) as soon
	// as extract has verified it, while the stream goes on.
	s.ix = flatten.NewIndexer(s.ctx, len(want), flatten.Options{KeepWhiteouts: true, Warn: s.opts.Warn, TmpDir: s.opts.TmpDir})
	xopts := extract.Options{
		TmpDir:      s.opts.TmpDir,
		GzipProgram: s.opts.GzipProgram,
		Progress:    s.opts.Progress,
		Ready: func(k int, l extract.Layer) {
			s.ix.Add(k, flatten.Layer{ID: l.DiffID.String(), R: l.R, Size: l.Size})
		},
	}
	go func() {
		ls, err := extract.FromSaveStream(s.ctx, pr, want, xopts)
		if err != nil {
			pr.CloseWithError(err)
		} else {
			pr.CloseWithError(errRangeInHand)
		}
		s.xdone <- rangeResult{layers: ls, err: err}
	}()
}

// finishExtract ends the second stream (cleanly when cause is nil) and
// waits for extract.
func (s *squasher) finishExtract(cause error) rangeResult {
	if s.xres != nil {
		return *s.xres
	}
	if cause == nil && s.xtw != nil {
		if err := s.xtw.Close(); err != nil && !errors.Is(err, errRangeInHand) {
			cause = err
		}
	}
	if cause == nil {
		cause = io.EOF
	}
	s.xpw.CloseWithError(cause)
	r := <-s.xdone
	s.xres = &r
	return r
}

// extractFailed returns the error to report when a write to the second
// stream failed: extract's own error, if it ended with one.
func (s *squasher) extractFailed(err error) error {
	r := s.finishExtract(err)
	if r.err != nil {
		return fmt.Errorf("reading the squashed layers: %w", r.err)
	}
	return err
}

// entry handles one entry of the save stream.
func (s *squasher) entry(tr *tar.Reader, hdr *tar.Header) error {
	name := cleanName(hdr.Name)
	if name == "" {
		return nil
	}
	switch hdr.Typeflag {
	case tar.TypeSymlink:
		// A legacy <v1id>/layer.tar may link to a blob: extract follows it.
		return s.extHeader(&tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: hdr.Linkname, Mode: 0o777})
	case tar.TypeReg:
	default:
		return nil
	}
	s.br.Reset(tr)
	switch {
	case name == "manifest.json" || name == "index.json":
		_, err := s.doc(name, hdr, false)
		return err
	case strings.HasPrefix(name, "blobs/"):
		return s.blob(name, hdr)
	case path.Base(name) == "layer.tar":
		return s.legacyLayer(name, hdr)
	case path.Base(name) == "json" && strings.Count(name, "/") == 1 && hdr.Size <= maxJSONSize:
		b, err := io.ReadAll(s.br)
		if err != nil {
			return fmt.Errorf("reading entry %q: %w", name, err)
		}
		if i := extract.LegacyLayerIndex(path.Dir(name), b, s.chainIDs); i >= 0 {
			s.v1[path.Dir(name)] = i
		}
		return nil
	case !strings.Contains(name, "/") && strings.HasSuffix(name, ".json"):
		// A legacy image config, <hex>.json.
		_, err := s.doc(name, hdr, true)
		return err
	}
	return nil
}

// blob handles an entry under blobs/.
func (s *squasher) blob(name string, hdr *tar.Header) error {
	d, err := digest.Parse(strings.Replace(strings.TrimPrefix(name, "blobs/"), "/", ":", 1))
	if err != nil {
		return nil // not a blob of any image
	}
	diff := digest.Digest("")
	if s.kept[d] || s.inRange[d] {
		diff = d // an uncompressed layer, named by its diff ID
	} else if dd, ok := s.blobDiff[d]; ok {
		diff = dd
	}
	if diff != "" {
		_, done := s.written[d]
		toOut := s.kept[diff] && !done
		toExt := s.inRange[diff]
		if !toOut && !toExt {
			return nil
		}
		return s.verified(name, name, hdr, d, toOut, toExt)
	}
	head, _ := s.br.Peek(1)
	if hdr.Size <= maxJSONSize && len(head) == 1 && head[0] == '{' {
		b, err := s.doc(name, hdr, true)
		if err != nil {
			return err
		}
		if got := digest.FromBytes(b); got != d {
			return fmt.Errorf("entry %q: content has digest %s: %w", name, got, extract.ErrDigestMismatch)
		}
		return nil
	}
	// Unknown until read: a compressed layer whose manifest comes later,
	// or a blob of no layer of this image.
	_, done := s.written[d]
	return s.verified(name, name, hdr, d, !done, true)
}

// diffOf returns the diff ID that an output name says, if it says one.
func (s *squasher) diffOf(outName string) digest.Digest {
	d, err := digest.Parse(strings.Replace(strings.TrimPrefix(outName, "blobs/"), "/", ":", 1))
	if err != nil {
		return ""
	}
	if s.kept[d] || s.inRange[d] {
		return d
	}
	return s.blobDiff[d]
}

// legacyLayer handles a legacy <v1id>/layer.tar. When the <v1id>/json
// before it said which layer it is, it is handled like a blob named by its
// diff ID, and written as one; otherwise it is known only once read, so it
// is passed through under its own name and to extract.
func (s *squasher) legacyLayer(name string, hdr *tar.Header) error {
	i, ok := s.v1[path.Dir(name)]
	if !ok {
		_, err := s.copyEntry(name, name, hdr, true, true)
		return err
	}
	diff := s.img.DiffIDs[i]
	_, done := s.written[diff]
	toOut, toExt := s.kept[diff] && !done, s.inRange[diff]
	if !toOut && !toExt {
		return nil
	}
	return s.verified(name, blobPath(diff), hdr, diff, toOut, toExt)
}

// verified copies an entry named by its digest d and checks it; outName is
// its name in out.
func (s *squasher) verified(name, outName string, hdr *tar.Header, d digest.Digest, toOut, toExt bool) error {
	got, err := s.copyEntry(name, outName, hdr, toOut, toExt)
	if err != nil {
		return err
	}
	if got != d {
		return fmt.Errorf("entry %q: content has digest %s: %w", name, got, extract.ErrDigestMismatch)
	}
	return nil
}

// copyEntry copies the current entry to out (as outName) and/or to the
// second stream, hashing it, and records what went to out.
func (s *squasher) copyEntry(name, outName string, hdr *tar.Header, toOut, toExt bool) (digest.Digest, error) {
	if toOut {
		if err := s.outHeader(outName, hdr.Size); err != nil {
			return "", err
		}
	}
	if toExt {
		if err := s.extHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Size: hdr.Size, Mode: 0o644}); err != nil {
			return "", err
		}
	}
	h := sha256.New()
	var n, reported int64
	report := func() {
		if toOut && s.opts.Copying != nil {
			reported = n
			s.opts.Copying(extract.Progress{Entry: name, DiffID: s.diffOf(outName), Done: n, Size: hdr.Size})
		}
	}
	report()
	for {
		m, rerr := s.br.Read(s.buf)
		if m > 0 {
			p := s.buf[:m]
			n += int64(m)
			h.Write(p)
			if toOut {
				if _, err := s.out.Write(p); err != nil {
					return "", fmt.Errorf("writing entry %q: %w", name, err)
				}
			}
			if toExt {
				if err := s.extWrite(p); err != nil {
					return "", err
				}
			}
			if err := s.ctx.Err(); err != nil {
				return "", err
			}
			if n-reported >= 1<<20 || n == hdr.Size {
				report()
			}
		}
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			return "", fmt.Errorf("reading entry %q: %w", name, rerr)
		}
	}
	d := digest.NewDigest(digest.SHA256, h)
	if toOut {
		if _, ok := s.written[d]; !ok {
			s.written[d] = blobInfo{path: outName, size: n}
		}
	}
	return d, nil
}

// doc reads a JSON document (at most maxJSONSize) and passes it on to
// extract; with learn, it remembers the configs and manifests among them.
func (s *squasher) doc(name string, hdr *tar.Header, learn bool) ([]byte, error) {
	if hdr.Size > maxJSONSize {
		return nil, fmt.Errorf("entry %q is %d bytes, more than the %d MiB limit: %w", name, hdr.Size, maxJSONSize>>20, extract.ErrInvalid)
	}
	b, err := io.ReadAll(s.br)
	if err != nil {
		return nil, fmt.Errorf("reading entry %q: %w", name, err)
	}
	if err := s.extHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Size: int64(len(b)), Mode: 0o644}); err != nil {
		return nil, err
	}
	if err := s.extWrite(b); err != nil {
		return nil, err
	}
	if learn {
		s.learn(digest.FromBytes(b), b)
	}
	return b, nil
}

func (s *squasher) extHeader(hdr *tar.Header) error {
	if s.xtw == nil {
		return nil
	}
	if err := s.xtw.WriteHeader(hdr); err != nil {
		if errors.Is(err, errRangeInHand) {
			s.xtw = nil
			return nil
		}
		return s.extractFailed(err)
	}
	return nil
}

func (s *squasher) extWrite(p []byte) error {
	if s.xtw == nil {
		return nil
	}
	if _, err := s.xtw.Write(p); err != nil {
		if errors.Is(err, errRangeInHand) {
			s.xtw = nil
			return nil
		}
		return s.extractFailed(err)
	}
	return nil
}

// probe is the union of the fields of manifests and configs learned from.
type probe struct {
	MediaType string               `json:"mediaType"`
	Config    *ocispec.Descriptor  `json:"config"`
	Layers    []ocispec.Descriptor `json:"layers"`
	RootFS    *ocispec.RootFS      `json:"rootfs"`
}

// learn remembers image configs and manifests, and maps the compressed
// blobs of manifests whose config is known to diff IDs.
func (s *squasher) learn(d digest.Digest, b []byte) {
	var p probe
	if json.Unmarshal(b, &p) != nil || s.docBytes+int64(len(b)) > maxDocBytes {
		return
	}
	switch {
	case p.RootFS != nil:
		s.configs[d] = b
		s.docBytes += int64(len(b))
	case p.Config != nil && len(p.Layers) > 0:
		s.manifests = append(s.manifests, manifestDoc{digest: d, mediaType: p.MediaType, config: *p.Config, layers: p.Layers})
		s.docBytes += int64(len(b))
	default:
		return
	}
	for _, m := range s.manifests {
		diffs := s.diffIDs(m.config.Digest)
		if len(diffs) != len(m.layers) {
			continue
		}
		for i, l := range m.layers {
			if l.Digest != diffs[i] {
				s.blobDiff[l.Digest] = diffs[i]
			}
		}
	}
}

// diffIDs returns the diff IDs of a learned config.
func (s *squasher) diffIDs(config digest.Digest) []digest.Digest {
	b, ok := s.configs[config]
	if !ok {
		return nil
	}
	var p probe
	if json.Unmarshal(b, &p) != nil || p.RootFS == nil {
		return nil
	}
	return p.RootFS.DiffIDs
}

// findConfig returns the config of the image: the one whose diff IDs are
// the image's, preferring the image ID, then one a manifest names.
func (s *squasher) findConfig() (digest.Digest, *manifestDoc, error) {
	var cands []digest.Digest
	for d := range s.configs {
		if equalDigests(s.diffIDs(d), s.img.DiffIDs) {
			cands = append(cands, d)
		}
	}
	if len(cands) == 0 {
		return "", nil, fmt.Errorf("the save stream of %s holds no image config with its %d layers: %w", s.img.ID, len(s.img.DiffIDs), extract.ErrLayerNotFound)
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i] < cands[j] })
	manifestOf := func(cfg digest.Digest) *manifestDoc {
		for i := range s.manifests {
			if m := &s.manifests[i]; m.config.Digest == cfg && len(m.layers) == len(s.img.DiffIDs) {
				return m
			}
		}
		return nil
	}
	for _, d := range cands {
		if d.String() == s.img.ID {
			return d, manifestOf(d), nil
		}
	}
	for _, d := range cands {
		if m := manifestOf(d); m != nil {
			return d, m, nil
		}
	}
	return cands[0], nil, nil
}

func equalDigests(a, b []digest.Digest) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// cleanName makes an entry name canonical; "" for the root or a name that
// climbs out.
func cleanName(name string) string {
	name = path.Clean("/" + name)[1:]
	if name == "" || strings.HasPrefix(name, "..") {
		return ""
	}
	return name
}
