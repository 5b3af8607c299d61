package extract

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/containerd/log"
	"github.com/docker-layers/docker-layers/flatten"
	"github.com/dustin/go-humanize"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

const (
	// maxJSONSize caps every JSON document read into memory.
	maxJSONSize = 4 << 20
	// maxEntries caps the number of tar entries remembered.
	maxEntries = 1 << 20
	// maxLearned caps the manifests and configs remembered from a stream.
	maxLearned = 4096
)

// taken is a wanted layer in hand: a spool file, or its recording
// (Options.Record).
type taken struct {
	f    *os.File
	size int64
	rec  *flatten.Recording
	// recErr: the content was read whole, but Record refused it.
	recErr error
}

// layer is the flatten.Layer of the layer d, sp.
func (sp taken) layer(d digest.Digest) flatten.Layer {
	if sp.rec != nil {
		return flatten.Layer{ID: d.String(), Recording: sp.rec}
	}
	return flatten.Layer{ID: d.String(), R: io.NewSectionReader(sp.f, 0, sp.size), Size: sp.size}
}

// learnedManifest is an OCI manifest seen in a stream.
type learnedManifest struct {
	config digest.Digest
	layers []digest.Digest
}

// streamReader reads one save stream for a known set of diff IDs.
type streamReader struct {
	*saveTar
	ctx  context.Context
	opts Options
	sp   *spool

	wantList []digest.Digest
	want     map[digest.Digest]bool
	got      map[digest.Digest]taken

	sawMeta bool // manifest.json or index.json was seen

	// What the layout is, as far as the entries seen show (debug lines).
	sawLegacy, sawBlobs, sawCompressed bool
	entryCount                         int

	// What the stream showed so far: used to skip compressed blobs known
	// to be unwanted, and to explain a missing layer.
	entries   map[string]*entry
	hashed    map[string]digest.Digest // entry → uncompressed content digest
	manifest  []byte                   // manifest.json
	configs   map[digest.Digest][]digest.Digest
	manifests []learnedManifest
	blobDiff  map[digest.Digest]digest.Digest // compressed blob → diff ID

	// The chain IDs of Options.ImageDiffIDs, and the legacy layer
	// directories their json identified: directory → diff ID.
	chains     [][]digest.Digest // per image
	legacyDirs map[string]digest.Digest

	// With deferCompressed, compressed blobs not yet identified are
	// spooled as they are, until learn maps them to diff IDs.
	deferCompressed bool
	pending         map[digest.Digest]pendingBlob
}

// pendingBlob is a compressed blob spooled as it is, not yet identified.
type pendingBlob struct {
	name string
	f    *os.File
	size int64
}

func newStreamReader(ctx context.Context, r io.Reader, want []digest.Digest, sp *spool, opts Options) *streamReader {
	s := &streamReader{
		saveTar:  newSaveTar(r),
		ctx:      ctx,
		opts:     opts,
		sp:       sp,
		wantList: want,
		want:     make(map[digest.Digest]bool, len(want)),
		got:      make(map[digest.Digest]taken, len(want)),
		entries:  make(map[string]*entry),
		hashed:   make(map[string]digest.Digest),
		configs:  make(map[digest.Digest][]digest.Digest),
		blobDiff: make(map[digest.Digest]digest.Digest),
		pending:  make(map[digest.Digest]pendingBlob),

		// A recording is small: with Record, nothing is spooled, not
		// even a blob until it is identified.
		deferCompressed: !opts.Record && 2*len(want) < distinct(opts.ImageDiffIDs),
		legacyDirs:      make(map[string]digest.Digest),
	}
	for _, d := range want {
		s.want[d] = true
	}
	for _, ids := range opts.ImageDiffIDs {
		s.chains = append(s.chains, ChainIDs(ids))
	}
	return s
}

// distinct counts the distinct diff IDs of images.
func distinct(images [][]digest.Digest) int {
	seen := map[digest.Digest]bool{}
	for _, ids := range images {
		for _, d := range ids {
			seen[d] = true
		}
	}
	return len(seen)
}

// run reads entries until every wanted layer is in hand.
func (s *streamReader) run() error {
	defer func() {
		for d, p := range s.pending {
			delete(s.pending, d)
			s.sp.discard(p.f)
		}
	}()
	for len(s.got) < len(s.want) {
		if err := s.ctx.Err(); err != nil {
			return err
		}
		hdr, err := s.next()
		if errors.Is(err, io.EOF) {
			log.G(s.ctx).Debugf("save stream: %s, read to its end (%s entries)", s.layout(), humanize.Comma(int64(s.entryCount)))
			return s.atEOF()
		}
		if err != nil {
			return err
		}
		s.entryCount++
		if err := s.entry(hdr); err != nil {
			return err
		}
		if err := s.skipRest(hdr); err != nil {
			return err
		}
	}
	log.G(s.ctx).Debugf("save stream: %s; every wanted layer in hand after %s entries: closing the stream early", s.layout(), humanize.Comma(int64(s.entryCount)))
	return nil
}

// skipRest reads what is left of a large entry that was skipped or only
// peeked at, reporting progress and watching the context on the way. The
// tar reader skips small remainders itself.
func (s *streamReader) skipRest(hdr *tar.Header) error {
	if dataSize(hdr) < progressEvery {
		return nil
	}
	bp := copyBufPool.Get().(*[]byte)
	defer copyBufPool.Put(bp)
	var m *meter
	for {
		n, err := s.tr.Read(*bp)
		if n > 0 {
			if m == nil {
				m = s.meter(s.last, "", hdr.Size)
			}
			if _, werr := m.Write((*bp)[:n]); werr != nil {
				return werr
			}
		}
		if errors.Is(err, io.EOF) {
			if m != nil {
				m.finish()
			}
			return nil
		}
		if err != nil {
			return s.fail(fmt.Errorf("reading entry %q: %w", truncate(s.last, 200), err))
		}
	}
}

// atEOF explains why a complete stream held not every wanted layer.
func (s *streamReader) atEOF() error {
	if !s.sawMeta {
		return errorf(ErrInvalid, "save stream has neither manifest.json nor index.json")
	}
	if err := s.drainPending(); err != nil {
		return err
	}
	return s.missing()
}

// entry handles one tar entry.
func (s *streamReader) entry(hdr *tar.Header) error {
	name, err := entryName(hdr.Name)
	if err != nil {
		return err
	}
	if name == "" {
		return nil // the root directory
	}
	if len(s.entries) >= maxEntries {
		return errorf(ErrInvalid, "more than %d entries", maxEntries)
	}
	s.entries[name] = &entry{name: name, typeflag: hdr.Typeflag, linkname: hdr.Linkname, size: hdr.Size}
	if hdr.Typeflag != tar.TypeReg {
		return nil
	}
	switch {
	case name == "manifest.json":
		s.sawMeta = true
		b, err := s.readJSON(name, hdr.Size)
		if err != nil {
			return err
		}
		s.manifest = b
	case name == "index.json":
		s.sawMeta = true
	case strings.HasPrefix(name, "blobs/"):
		return s.blob(name, hdr)
	case path.Base(name) == "layer.tar":
		s.sawLegacy = true
		diff, ok := s.legacyDirs[path.Dir(name)]
		if !ok {
			return s.layer(name, hdr, "")
		}
		if _, got := s.got[diff]; !s.want[diff] || got {
			// A legacy layer known not to be wanted: passed over, not spooled.
			log.G(s.ctx).Debugf("layer %s (entry %q, %s): passed over, not wanted", diff, name, humanBytes(hdr.Size))
			return nil
		}
		return s.layer(name, hdr, diff)
	case path.Base(name) == "json" && len(s.chains) > 0 && strings.Count(name, "/") == 1 && hdr.Size <= maxJSONSize:
		b, err := s.readJSON(name, hdr.Size)
		if err != nil {
			return err
		}
		for k, chains := range s.chains {
			if i := LegacyLayerIndex(path.Dir(name), b, chains); i >= 0 {
				s.legacyDirs[path.Dir(name)] = s.opts.ImageDiffIDs[k][i]
				break
			}
		}
	case !strings.Contains(name, "/") && strings.HasSuffix(name, ".json") && hdr.Size <= maxJSONSize:
		// A legacy image config, <hex>.json.
		b, err := s.readJSON(name, hdr.Size)
		if err != nil {
			return err
		}
		s.learn(digest.FromBytes(b), b)
	}
	return nil
}

// blob handles an entry under blobs/.
func (s *streamReader) blob(name string, hdr *tar.Header) error {
	d := digestFromBlobPath(name)
	if d == "" {
		return nil
	}
	s.sawBlobs = true
	if s.want[d] {
		if _, ok := s.got[d]; ok {
			return nil
		}
		return s.namedLayer(name, hdr, d)
	}
	if diff, ok := s.blobDiff[d]; ok {
		if _, got := s.got[diff]; !s.want[diff] || got {
			// A compressed layer known not to be wanted.
			log.G(s.ctx).Debugf("layer %s (entry %q, %s compressed): passed over, not wanted", diff, name, humanBytes(hdr.Size))
			return nil
		}
		return s.layer(name, hdr, diff)
	}
	head, r, err := peek(s.tr)
	if err != nil {
		return s.fail(fmt.Errorf("reading entry %q: %w", name, err))
	}
	if detectLayerCompression(head) != uncompressed {
		s.sawCompressed = true
		if s.deferCompressed {
			return s.spoolPending(name, hdr, d, r)
		}
		return s.layerFrom(name, hdr, r, "")
	}
	// Uncompressed and not wanted: its name is its diff ID. Learn from
	// small JSON documents (manifests, configs) which compressed blobs
	// are unwanted; skip the rest.
	if hdr.Size <= maxJSONSize && len(head) > 0 && head[0] == '{' {
		b, err := readCapped(r, maxJSONSize)
		if err != nil {
			return s.fail(fmt.Errorf("reading entry %q: %w", name, err))
		}
		s.learn(d, b)
		return s.resolvePending()
	}
	return nil
}

// spoolPending spools a compressed blob that is not identified yet as it
// is (deferCompressed).
func (s *streamReader) spoolPending(name string, hdr *tar.Header, d digest.Digest, r io.Reader) error {
	if _, ok := s.pending[d]; ok {
		return nil // the same blob twice
	}
	m := s.meter(name, "", hdr.Size)
	f, err := s.sp.create()
	if err != nil {
		return err
	}
	n, err := copyBuffered(s.sp.writer(f), m.reader(r))
	if err != nil {
		s.sp.discard(f)
		return s.fail(fmt.Errorf("spooling entry %q: %w", name, err))
	}
	m.finish()
	log.G(s.ctx).Debugf("entry %q: not identified yet, spooled compressed (%s)", name, humanBytes(n))
	s.pending[d] = pendingBlob{name: name, f: f, size: n}
	return nil
}

// resolvePending decompresses the pending blobs that learn identified as
// wanted, and drops the others it identified.
func (s *streamReader) resolvePending() error {
	for d, p := range s.pending {
		diff, ok := s.blobDiff[d]
		if !ok {
			continue
		}
		if err := s.takePending(d, p, diff); err != nil {
			return err
		}
	}
	return nil
}

// drainPending identifies what is still pending at the end of the stream
// by decompressing it, as if deferCompressed were off.
func (s *streamReader) drainPending() error {
	for d, p := range s.pending {
		if err := s.takePending(d, p, ""); err != nil {
			return err
		}
	}
	return nil
}

// takePending decompresses pending blob d into the spool if it may be
// wanted (expect is its diff ID when known), and removes its compressed
// copy.
func (s *streamReader) takePending(d digest.Digest, p pendingBlob, expect digest.Digest) error {
	delete(s.pending, d)
	defer s.sp.discard(p.f)
	if _, got := s.got[expect]; expect != "" && (!s.want[expect] || got) {
		log.G(s.ctx).Debugf("layer %s (entry %q): not wanted, its compressed copy dropped", expect, p.name)
		return nil
	}
	if len(s.got) == len(s.want) {
		return nil
	}
	return s.layerFrom(p.name, &tar.Header{Name: p.name, Size: p.size}, io.NewSectionReader(p.f, 0, p.size), expect)
}

func (s *streamReader) meter(name string, d digest.Digest, size int64) *meter {
	return newMeter(s.ctx, s.opts.Progress, Progress{
		Entry:  name,
		DiffID: d,
		Size:   size,
		Layers: len(s.got),
		Wanted: len(s.want),
	})
}

// namedLayer spools an uncompressed blob whose name is a wanted diff ID,
// verifying it while copying.
func (s *streamReader) namedLayer(name string, hdr *tar.Header, d digest.Digest) error {
	m := s.meter(name, d, hdr.Size)
	sp, got, err := s.take(m.reader(s.tr), d)
	if err != nil {
		verb := "spooling"
		if s.opts.Record {
			verb = "recording"
		}
		return s.fail(fmt.Errorf("%s layer %s (entry %q): %w", verb, d, name, err))
	}
	m.finish()
	s.hashed[name] = got
	if got != d {
		s.drop(sp)
		return errorf(ErrDigestMismatch, "layer %s (entry %q): content has digest %s", d, name, got)
	}
	if sp.recErr != nil {
		return s.fail(fmt.Errorf("layer %s (entry %q): %w", d, name, sp.recErr))
	}
	s.keep(d, name, sp)
	return nil
}

// layer hashes an entry whose identity is unknown (a legacy layer.tar, a
// compressed blob), decompressing it if needed, and keeps it if it is
// wanted. expect, if set, is the diff ID the entry must have.
func (s *streamReader) layer(name string, hdr *tar.Header, expect digest.Digest) error {
	return s.layerFrom(name, hdr, s.tr, expect)
}

func (s *streamReader) layerFrom(name string, hdr *tar.Header, r io.Reader, expect digest.Digest) error {
	m := s.meter(name, expect, hdr.Size)
	head, r, err := peek(m.reader(r))
	if err != nil {
		return s.fail(fmt.Errorf("reading entry %q: %w", name, err))
	}
	c := detectLayerCompression(head)
	if c != uncompressed {
		log.G(s.ctx).Debugf("entry %q: decompressing %s (%s) with %s", name, c, humanBytes(hdr.Size), inflater(c, s.opts.GzipProgram))
	} else if expect == "" {
		log.G(s.ctx).Debugf("entry %q: not identified yet, hashing it (%s)", name, humanBytes(hdr.Size))
	}
	dr, err := decompress(c, r, s.opts)
	if err != nil {
		return s.fail(fmt.Errorf("decompressing entry %q: %w", name, err))
	}
	sp, d, err := s.take(dr, expect)
	_ = dr.Close()
	if err != nil {
		if c != uncompressed {
			return s.fail(fmt.Errorf("decompressing %s entry %q: %w", c, name, err))
		}
		return s.fail(fmt.Errorf("reading entry %q: %w", name, err))
	}
	m.finish()
	s.hashed[name] = d
	if expect != "" && d != expect {
		s.drop(sp)
		return errorf(ErrDigestMismatch, "layer %s (entry %q, %s): uncompressed content has digest %s", expect, name, c, d)
	}
	if _, got := s.got[d]; !s.want[d] || got {
		log.G(s.ctx).Debugf("layer %s (entry %q): not wanted, dropped", d, name)
		s.drop(sp)
		return nil
	}
	if sp.recErr != nil {
		return s.fail(fmt.Errorf("layer %s (entry %q, %s): %w", d, name, c, sp.recErr))
	}
	s.keep(d, name, sp)
	return nil
}

// take reads a layer's content from r into the spool, or with
// Options.Record into its recording, and returns its sha256. expect, if
// known, names the layer in the recording's errors.
func (s *streamReader) take(r io.Reader, expect digest.Digest) (taken, digest.Digest, error) {
	if s.opts.Record {
		rec, recErr, d, n, err := s.sp.recordHashed(s.ctx, r, expect.String())
		return taken{rec: rec, size: n, recErr: recErr}, d, err
	}
	f, d, n, err := s.sp.spoolHashed(r)
	return taken{f: f, size: n}, d, err
}

// drop discards a layer taken that is not kept.
func (s *streamReader) drop(sp taken) {
	if sp.f != nil {
		s.sp.discard(sp.f)
	}
}

func (s *streamReader) keep(d digest.Digest, name string, sp taken) {
	how := "recorded"
	if sp.f != nil {
		s.sp.keep(sp.f)
		how = "spooled"
	}
	log.G(s.ctx).Debugf("layer %s (entry %q): %s, %s (%d of %d wanted)", d, name, how, humanBytes(sp.size), len(s.got)+1, len(s.want))
	s.got[d] = sp
	if s.opts.Ready != nil {
		for k, w := range s.wantList {
			if w == d {
				s.opts.Ready(k, sp.layer(d))
			}
		}
	}
	if s.opts.Progress != nil {
		s.opts.Progress(Progress{Entry: s.last, DiffID: d, Done: sp.size, Size: sp.size, Layers: len(s.got), Wanted: len(s.want)})
	}
}

// readJSON reads the current entry into memory, up to maxJSONSize.
func (s *streamReader) readJSON(name string, size int64) ([]byte, error) {
	if size > maxJSONSize {
		return nil, errorf(ErrInvalid, "%s is %d bytes, more than the %d MiB limit", name, size, maxJSONSize>>20)
	}
	b, err := readCapped(s.tr, maxJSONSize)
	if err != nil {
		return nil, s.fail(fmt.Errorf("reading entry %q: %w", name, err))
	}
	return b, nil
}

// readCapped reads r to its end, failing past limit bytes.
func readCapped(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, errorf(ErrInvalid, "JSON document larger than the %d MiB limit", limit>>20)
	}
	return b, nil
}

// probe is the union of the fields of manifests and configs that the
// stream reader learns from.
type probe struct {
	Config *ocispec.Descriptor  `json:"config"`
	Layers []ocispec.Descriptor `json:"layers"`
	RootFS *ocispec.RootFS      `json:"rootfs"`
}

// learn records what a small JSON blob says about layers: a config's diff
// IDs, a manifest's layer blobs. Once a manifest and its config are both
// known, its compressed blobs map to diff IDs.
func (s *streamReader) learn(d digest.Digest, b []byte) {
	var p probe
	if json.Unmarshal(b, &p) != nil {
		return
	}
	if p.RootFS != nil && len(s.configs) < maxLearned {
		var diffs []digest.Digest
		for _, id := range p.RootFS.DiffIDs {
			if validDigest(id) != nil {
				return
			}
			diffs = append(diffs, id)
		}
		s.configs[d] = diffs
	}
	if p.Config != nil && len(p.Layers) > 0 && len(s.manifests) < maxLearned && validDigest(p.Config.Digest) == nil {
		lm := learnedManifest{config: p.Config.Digest}
		for _, l := range p.Layers {
			if validDigest(l.Digest) != nil {
				return
			}
			lm.layers = append(lm.layers, l.Digest)
		}
		s.manifests = append(s.manifests, lm)
	}
	for _, m := range s.manifests {
		diffs, ok := s.configs[m.config]
		if !ok || len(diffs) != len(m.layers) {
			continue
		}
		for i, l := range m.layers {
			if l != diffs[i] {
				s.blobDiff[l] = diffs[i]
			}
		}
	}
}

// manifestItem is one record of manifest.json.
type manifestItem struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// missing reports the wanted layers the stream did not hold, explaining
// the first one with what the stream's manifest says about it.
func (s *streamReader) missing() error {
	var missing []digest.Digest
	seen := make(map[digest.Digest]bool)
	for _, d := range s.wantList {
		if _, ok := s.got[d]; !ok && !seen[d] {
			seen[d] = true
			missing = append(missing, d)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	first := missing[0]
	msg := fmt.Sprintf("layer %s %s", first, s.explain(first))
	if len(missing) > 1 {
		msg += fmt.Sprintf(" (and %d more)", len(missing)-1)
	}
	return errorf(ErrLayerNotFound, "%s", msg)
}

func (s *streamReader) explain(d digest.Digest) string {
	var items []manifestItem
	if json.Unmarshal(s.manifest, &items) != nil {
		return "is not in the save stream"
	}
	for _, it := range items {
		cfg := digestFromConfigPath(it.Config)
		diffs := s.configs[cfg]
		for i, id := range diffs {
			if id != d || i >= len(it.Layers) {
				continue
			}
			p, err := cleanManifestPath(it.Layers[i])
			if err != nil {
				return fmt.Sprintf("is named by %v", err)
			}
			if _, ok := s.entries[p]; !ok {
				return fmt.Sprintf("(entry %q) is not in the save stream", p)
			}
			e, err := resolve(s.entries, p, "archive")
			if err != nil {
				return fmt.Sprintf("(entry %q): %v", p, err)
			}
			if h, ok := s.hashed[e.name]; ok && h != d {
				return fmt.Sprintf("(entry %q): content has digest %s", p, h)
			}
			return fmt.Sprintf("(entry %q) is not in the save stream", p)
		}
	}
	return "is not in the save stream"
}
