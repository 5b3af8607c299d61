package extract

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/docker-layers/docker-layers/flatten"
	"github.com/opencontainers/go-digest"
)

// The fuzz targets decode their input into the files of an archive
// (fuzzfiles_test.go), so that a seed is a few hundred bytes and the
// fuzzer runs hundreds of inputs a second instead of minimizing large
// ones.

// fuzzSpoolLimit caps what one reader may spool: a decompression bomb is
// a fair input.
const fuzzSpoolLimit = 16 << 20

// fuzzDeadline is how long one input may run before the target panics
// with every goroutine's stack, which the fuzzer reports as a crash: a
// hang is a bug, not a slow input.
const fuzzDeadline = 20 * time.Second

// fuzzFileSeeds are small inputs for decodeFuzzFiles, one a layout or a
// way a save stream fails. Only what the readers look at is there.
func fuzzFileSeeds(t testing.TB) map[string]string {
	return map[string]string{
		// Docker ≤ 24: <v1id>/layer.tar, a repeated layer as a symlink;
		// also opened in place.
		"legacy": `fa/layer.tar hello
fb/layer.tar world
sc/layer.tar ../a/layer.tar
f$3.json {"rootfs":{"diff_ids":["sha256:%0","sha256:%1","sha256:%0"]}}
fmanifest.json [{"Config":"$3.json","RepoTags":["x:1"],"Layers":["a/layer.tar","b/layer.tar","c/layer.tar"]}]
o
`,
		"legacy-v1ids": legacyV1IDs(t),
		// Docker 25+ with the graphdriver store: uncompressed blobs named
		// by diff ID, index.json and manifest.json, written first here.
		"oci": `findex.json {"manifests":[{"digest":"sha256:$3","annotations":{"io.containerd.image.name":"docker.io/library/x:1"}}]}
fmanifest.json [{"Config":"blobs/sha256/$2","RepoTags":["x:1"],"Layers":["blobs/sha256/$4"]}]
fblobs/sha256/$2 {"rootfs":{"diff_ids":["sha256:$4"]}}
fblobs/sha256/$3 {"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"digest":"sha256:$2"},"layers":[{"digest":"sha256:$4","size":#4}]}
fblobs/sha256/$4 hello
`,
		// The containerd image store: gzip and zstd blobs, a platform
		// index behind a second index, an attestation manifest and a
		// platform whose blobs were not exported.
		"containerd": `gblobs/sha256/$0 hello
zblobs/sha256/$1 world
fblobs/sha256/$2 {"os":"linux","architecture":"amd64","rootfs":{"diff_ids":["sha256:%0","sha256:%1","sha256:%0"]}}
fblobs/sha256/$3 {"config":{"digest":"sha256:$2"},"layers":[{"digest":"sha256:$0","size":#0},{"digest":"sha256:$1","size":#1},{"digest":"sha256:$0","size":#0}]}
fblobs/sha256/$4 {"config":{"digest":"sha256:$2"}}
fblobs/sha256/$5 {"manifests":[{"digest":"sha256:$3","platform":{"os":"linux","architecture":"amd64"}},{"digest":"sha256:$4","annotations":{"vnd.docker.reference.type":"attestation-manifest"}},{"digest":"sha256:%8","platform":{"os":"linux","architecture":"arm64"}}]}
fblobs/sha256/$6 {"manifests":[{"digest":"sha256:$5"}]}
findex.json {"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:$6"}]}
plinux/amd64
i
`,
		// A legacy archive cut inside its last entry, then the daemon's
		// error.
		"daemon-error": `fa/layer.tar hello
f$1.json {"rootfs":{"diff_ids":["sha256:%0"]}}
fmanifest.json [{"Config":"$1.json","Layers":["a/layer.tar"]}]
e1100 {"errorDetail":{"message":"no space left on device"},"error":"no space left on device"}
`,
		// A gzip-compressed archive whose layer is a hard link; also
		// opened as a file.
		"compressed": `fa hello
ha/layer.tar a
f$2.json {"rootfs":{"diff_ids":["sha256:%0"]}}
fmanifest.json [{"Config":"$2.json","Layers":["a/layer.tar"]}]
cgzip
o
`,
	}
}

// legacyV1IDs is a two-layer legacy archive whose directories have the v1
// IDs Docker gives them, so that a stream reader given the image's diff
// IDs identifies each layer from its json (legacy.go).
func legacyV1IDs(t testing.TB) string {
	t.Helper()
	layers := []string{"hello", "world"}
	var diffIDs []digest.Digest
	for _, l := range layers {
		diffIDs = append(diffIDs, digest.FromString(l))
	}
	chains := ChainIDs(diffIDs)
	var b strings.Builder
	var dirs []string
	parent := ""
	for i, l := range layers {
		hashed := map[string]string{"layer_id": string(chains[i])}
		saved := map[string]string{}
		if parent != "" {
			hashed["parent"] = "sha256:" + parent
			saved["parent"] = parent
		}
		sum := sha256.Sum256(mustJSON(t, hashed))
		dir := hex.EncodeToString(sum[:])
		saved["id"] = dir
		json := mustJSON(t, saved)
		if LegacyLayerIndex(dir, json, chains) != i {
			t.Fatalf("legacy directory %d is not identified from its json", i)
		}
		fmt.Fprintf(&b, "f%s/json %s\nf%s/layer.tar %s\n", dir, json, dir, l)
		dirs = append(dirs, dir+"/layer.tar")
		parent = dir
	}
	b.WriteString(`f$4.json {"rootfs":{"diff_ids":["sha256:%1","sha256:%3"]}}` + "\ni\n")
	fmt.Fprintf(&b, `fmanifest.json [{"Config":"$4.json","RepoTags":["x:1"],"Layers":["%s"]}]`+"\n", strings.Join(dirs, `","`))
	return b.String()
}

// TestFuzzFileSeeds checks that every seed decodes into an archive whose
// image reads, and that the seeds stay small.
func TestFuzzFileSeeds(t *testing.T) {
	for name, s := range fuzzFileSeeds(t) {
		t.Logf("seed %s: %d bytes", name, len(s))
		if len(s) > 1<<10 {
			t.Errorf("seed %s is %d bytes, more than 1 KiB", name, len(s))
		}
		files := decodeFuzzFiles([]byte(s))
		a, err := ReadArchive(context.Background(), bytes.NewReader(files.tarBytes()), files.options(t.TempDir(), 0))
		if name == "daemon-error" {
			var de *DaemonError
			if !errors.As(err, &de) {
				t.Errorf("seed %s: got %v, want the daemon's error", name, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("seed %s: %v", name, err)
			continue
		}
		img, err := a.Image("")
		if err == nil {
			_, err = a.Layers(context.Background(), img, img.Config.RootFS.DiffIDs, nil)
		}
		if err != nil {
			t.Errorf("seed %s: %v", name, err)
		}
		_ = a.Close()
	}
}

// FuzzArchive reads the decoded archive with ReadArchive from a reader
// (spooled), lists and selects its images, and reads every usable image's
// layers twice (the second time from the cache). An input with an open
// directive is also written to a file and read with OpenArchive (in
// place, or spooled when it is compressed). Invariants: no panic, no
// hang, every layer returned hashes to its diff ID, errors are one line,
// nothing is left in TmpDir, and the two ways agree.
func FuzzArchive(f *testing.F) {
	for _, s := range fuzzFileSeeds(f) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) { fuzzArchive(t, b) })
}

func fuzzArchive(t testing.TB, b []byte) {
	defer watchdog()()
	files := decodeFuzzFiles(b)
	data := files.tarBytes()
	dir := fuzzTempDir(t)
	tmp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	opts := files.options(tmp, fuzzSpoolLimit)
	ctx := context.Background()

	spooled := readFuzzArchive(t, tmp, func() (*Archive, error) {
		return ReadArchive(ctx, bytes.NewReader(data), opts)
	})
	p := filepath.Join(dir, "archive.tar")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	inPlace := readFuzzArchive(t, tmp, func() (*Archive, error) {
		return OpenArchive(ctx, p, opts)
	})
	// A spool limit may be met by one way and not the other.
	if spooled != inPlace && !strings.Contains(spooled+inPlace, "no space left") {
		t.Fatalf("ReadArchive and OpenArchive disagree:\nReadArchive:\n%s\nOpenArchive:\n%s", spooled, inPlace)
	}
}

// readFuzzArchive opens an archive with open and reads all it can from
// it, checking the invariants. It returns what it read, to compare.
func readFuzzArchive(t testing.TB, tmp string, open func() (*Archive, error)) string {
	t.Helper()
	ctx := context.Background()
	var sum strings.Builder
	a, err := open()
	if err != nil {
		checkError(t, err)
		assertEmptyDir(t, tmp)
		return "open: " + err.Error()
	}
	refs := []string{""}
	for _, r := range a.Images() {
		fmt.Fprintf(&sum, "image %s\n", r)
		refs = append(refs, r.RepoTags...)
		for _, d := range []digest.Digest{r.ID, r.Manifest, r.Index} {
			if d != "" {
				refs = append(refs, shortID(d))
			}
		}
	}
	var done []*Image
	for _, ref := range refs {
		img, err := a.Image(ref)
		if err != nil {
			checkError(t, err)
			fmt.Fprintf(&sum, "%q: %v\n", ref, err)
			continue
		}
		fmt.Fprintf(&sum, "%q: %s\n", ref, img.ID)
		if slices.Contains(done, img) {
			continue
		}
		done = append(done, img)
		want := img.Config.RootFS.DiffIDs
		ls, err := a.Layers(ctx, img, want, func(k int, l flatten.Layer) {
			if k < 0 || k >= len(want) || l.ID != want[k].String() {
				panic(fmt.Sprintf("ready(%d, %s) for %d layers", k, l.ID, len(want)))
			}
		})
		if err != nil {
			checkError(t, err)
			fmt.Fprintf(&sum, "layers: %v\n", err)
			continue
		}
		checkLayers(t, want, ls)
		fmt.Fprintf(&sum, "layers: %d\n", len(ls))
		// Again, bottom last: from the cache.
		rev := slices.Clone(want)
		slices.Reverse(rev)
		ls, err = a.Layers(ctx, img, rev, nil)
		if err != nil {
			t.Fatalf("layers read once fail the second time: %v", err)
		}
		checkLayers(t, rev, ls)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	assertEmptyDir(t, tmp)
	return sum.String()
}

// FuzzSaveStream reads the decoded archive as a save stream: with
// ReadMetadata, whose images give the diff IDs to want, then with
// FromSaveStream for every layer or, given an image directive, for the
// top one only with the image's diff IDs known.
// Invariants: no panic, no hang, every layer returned or handed to Ready
// hashes to its diff ID, errors are one line, and nothing is left in
// TmpDir.
func FuzzSaveStream(f *testing.F) {
	for _, s := range fuzzFileSeeds(f) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) { fuzzSaveStream(t, b) })
}

func fuzzSaveStream(t testing.TB, b []byte) {
	defer watchdog()()
	files := decodeFuzzFiles(b)
	data := files.tarBytes()
	tmp := fuzzTempDir(t)
	opts := files.options(tmp, fuzzSpoolLimit)
	ctx := context.Background()

	var want []digest.Digest
	a, err := ReadMetadata(ctx, bytes.NewReader(data), opts)
	if err == nil {
		refs := []string{""}
		for _, r := range a.Images() {
			if r.ID != "" {
				refs = append(refs, shortID(r.ID))
			}
		}
		for _, ref := range refs {
			img, err := a.Image(ref)
			if err != nil {
				checkError(t, err)
				continue
			}
			if len(want) == 0 {
				want = img.Config.RootFS.DiffIDs
			}
			// Layers are not kept: any layer returned is a document
			// that is its own layer, still verified.
			ls, err := a.Layers(ctx, img, img.Config.RootFS.DiffIDs, nil)
			if err != nil {
				checkError(t, err)
			} else {
				checkLayers(t, img.Config.RootFS.DiffIDs, ls)
			}
		}
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
	} else {
		checkError(t, err)
	}
	assertEmptyDir(t, tmp)
	if len(want) == 0 {
		// Every regular file, which is a layer if it is not compressed.
		for _, f := range files {
			if f.Kind == fuzzRegular {
				want = append(want, digest.FromBytes(f.Plain))
			}
		}
	}
	if len(want) == 0 {
		return
	}

	// Every layer; or, given the image's diff IDs, the top one only
	// (legacy directories identified from their json, compressed blobs
	// deferred), from a reader that returns short reads.
	var r io.Reader = bytes.NewReader(data)
	if files.has(fuzzImageDiffIDs) {
		opts.ImageDiffIDs = [][]digest.Digest{want}
		want = want[len(want)-1:]
		r = iotest.HalfReader(r)
	}
	opts.Ready = func(k int, l flatten.Layer) {
		if k < 0 || k >= len(want) || l.ID != want[k].String() {
			panic(fmt.Sprintf("ready(%d, %s) for %d layers", k, l.ID, len(want)))
		}
		checkLayers(t, want[k:k+1], []flatten.Layer{l})
	}
	ls, err := FromSaveStream(ctx, r, want, opts)
	if err != nil {
		checkError(t, err)
	} else {
		checkLayers(t, want, ls.List())
		if err := ls.Close(); err != nil {
			t.Fatal(err)
		}
	}
	assertEmptyDir(t, tmp)
}

// checkLayers checks that ls are the layers want, each hashing to its
// diff ID.
func checkLayers(t testing.TB, want []digest.Digest, ls []flatten.Layer) {
	t.Helper()
	if len(ls) != len(want) {
		t.Fatalf("%d layers for %d wanted", len(ls), len(want))
	}
	for k, l := range ls {
		d, n, err := hashReader(io.NewSectionReader(l.R, 0, l.Size))
		if err != nil {
			t.Fatal(err)
		}
		if l.ID != want[k].String() || d.String() != l.ID || n != l.Size {
			t.Fatalf("layer %d: want %s, got %s of %d bytes hashing to %s", k, want[k], l.ID, n, d)
		}
	}
}

// checkError checks that err is one line, as the command prints it.
func checkError(t testing.TB, err error) {
	t.Helper()
	if msg := err.Error(); msg == "" || strings.ContainsAny(msg, "\n\r") {
		t.Fatalf("error is not one line: %q", msg)
	}
}

// fuzzTempDir returns a new directory that is removed when t ends. It is
// on a RAM file system when one is at hand and TMPDIR does not say
// otherwise: creating and removing the spool's directory and files is
// most of an input's time on a disk, several times what it is in RAM.
func fuzzTempDir(t testing.TB) string {
	if os.Getenv("TMPDIR") == "" {
		if dir, err := os.MkdirTemp("/dev/shm", "docker-layers-fuzz-"); err == nil {
			t.Cleanup(func() { _ = os.RemoveAll(dir) })
			return dir
		}
	}
	return t.TempDir()
}

// watchdog panics with every goroutine's stack unless the function it
// returns is called within fuzzDeadline.
func watchdog() (stop func()) {
	timer := time.AfterFunc(fuzzDeadline, func() {
		buf := make([]byte, 1<<20)
		panic(fmt.Sprintf("input still running after %v:\n%s", fuzzDeadline, buf[:runtime.Stack(buf, true)]))
	})
	return func() { timer.Stop() }
}

// FuzzLayout reads the decoded files as an OCI image layout directory
// with OpenLayout, with the same reads and invariants as FuzzArchive. The
// files are written through an os.Root, so that however the fuzzer names
// them (and whatever its symlinks point at) nothing is written outside
// the directory; a symlink that leads out of it is a fair input, which
// OpenLayout must refuse to follow.
func FuzzLayout(f *testing.F) {
	for _, s := range fuzzFileSeeds(f) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) { fuzzLayout(t, b) })
}

func fuzzLayout(t testing.TB, b []byte) {
	defer watchdog()()
	files := decodeFuzzFiles(b)
	dir := fuzzTempDir(t)
	tmp := filepath.Join(dir, "tmp")
	layout := filepath.Join(dir, "layout")
	for _, d := range []string{tmp, layout} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// Something outside the layout for symlinks to find.
	if err := os.WriteFile(filepath.Join(dir, "outside"), []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	writeFuzzLayout(t, layout, files)
	opts := files.options(tmp, fuzzSpoolLimit)
	readFuzzArchive(t, tmp, func() (*Archive, error) {
		return OpenLayout(context.Background(), layout, opts)
	})
}

// writeFuzzLayout writes the decoded files into dir through an os.Root:
// what cannot be written there (a name that climbs out, a parent that is a
// file or a symlink leading out) is left out.
func writeFuzzLayout(t testing.TB, dir string, files fuzzFiles) {
	t.Helper()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	for _, f := range files {
		name, err := flatten.CleanName(f.Name)
		if err != nil {
			continue
		}
		if d := filepath.Dir(name); d != "." && root.MkdirAll(d, 0o700) != nil {
			continue
		}
		switch f.Kind {
		case fuzzRegular:
			_ = root.WriteFile(name, f.Data, 0o600)
		case fuzzDir:
			_ = root.MkdirAll(name, 0o700)
		case fuzzSymlink:
			_ = root.Symlink(f.Link, name)
		case fuzzHardlink:
			if target, err := flatten.CleanName(f.Link); err == nil {
				_ = root.Link(target, name)
			}
		}
	}
}
