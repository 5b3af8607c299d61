package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// platformImage is one platform of the crafted multi-platform image.
type platformImage struct {
	os, arch, variant string
	// layers are uncompressed layer tars, bottom first.
	layers [][]byte
}

func (p platformImage) String() string {
	s := p.os + "/" + p.arch
	if p.variant != "" {
		s += "/" + p.variant
	}
	return s
}

// diffIDs are the sha256 digests of the uncompressed layers, bottom first.
func (p platformImage) diffIDs() []string {
	var ids []string
	for _, l := range p.layers {
		ids = append(ids, sha256Digest(l))
	}
	return ids
}

func sha256Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// multiPlatformImages are the platforms of the fixture: linux/amd64 with two
// layers and linux/arm64/v8 with three, sharing the bottom layer, each with
// its own /platform.txt.
func multiPlatformImages(t *testing.T) []platformImage {
	t.Helper()
	common := layerTar(t, []entry{dir("etc"), file("etc/common.txt", "shared by every platform\n")})
	return []platformImage{
		{os: "linux", arch: "amd64", layers: [][]byte{
			common,
			layerTar(t, []entry{file("platform.txt", "linux/amd64\n"), file("amd64-only", "x86-64\n")}),
		}},
		{os: "linux", arch: "arm64", variant: "v8", layers: [][]byte{
			common,
			layerTar(t, []entry{file("platform.txt", "linux/arm64/v8\n"), file("arm64-only", "aarch64\n")}),
			layerTar(t, []entry{dir("opt"), file("opt/extra", "a third layer on arm64 only\n")}),
		}},
	}
}

// ociArchive writes an OCI image layout archive, as `docker load` reads it,
// of one image named name whose index (nested, as the containerd image
// store writes it) holds one manifest per platform, with its own config and
// gzip-compressed layers.
func ociArchive(t *testing.T, name string, imgs []platformImage) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	written := map[string]bool{}
	add := func(path string, data []byte) {
		if written[path] {
			return
		}
		written[path] = true
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: path, Mode: 0o644, Size: int64(len(data)), ModTime: time.Unix(1700000000, 0)}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	blob := func(mediaType string, data []byte) map[string]any {
		d := sha256Digest(data)
		add("blobs/sha256/"+d[len("sha256:"):], data)
		return map[string]any{"mediaType": mediaType, "digest": d, "size": len(data)}
	}
	mustJSON := func(v any) []byte {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	add("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`))
	var manifests []map[string]any
	for _, img := range imgs {
		var layers []map[string]any
		var history []map[string]any
		for i, l := range img.layers {
			var gz bytes.Buffer
			zw := gzip.NewWriter(&gz)
			if _, err := zw.Write(l); err != nil {
				t.Fatal(err)
			}
			if err := zw.Close(); err != nil {
				t.Fatal(err)
			}
			layers = append(layers, blob("application/vnd.oci.image.layer.v1.tar+gzip", gz.Bytes()))
			history = append(history, map[string]any{"created": "2023-11-14T22:13:20Z", "created_by": fmt.Sprintf("%s layer %d", img, i)})
		}
		history = append(history, map[string]any{"created": "2023-11-14T22:13:20Z", "created_by": `CMD ["/platform.txt"]`, "empty_layer": true})
		cfg := map[string]any{
			"architecture": img.arch, "os": img.os, "created": "2023-11-14T22:13:20Z",
			"config":  map[string]any{"Cmd": []string{"/platform.txt"}},
			"rootfs":  map[string]any{"type": "layers", "diff_ids": img.diffIDs()},
			"history": history,
		}
		if img.variant != "" {
			cfg["variant"] = img.variant
		}
		m := blob("application/vnd.oci.image.manifest.v1+json", mustJSON(map[string]any{
			"schemaVersion": 2,
			"mediaType":     "application/vnd.oci.image.manifest.v1+json",
			"config":        blob("application/vnd.oci.image.config.v1+json", mustJSON(cfg)),
			"layers":        layers,
		}))
		p := map[string]any{"os": img.os, "architecture": img.arch}
		if img.variant != "" {
			p["variant"] = img.variant
		}
		m["platform"] = p
		manifests = append(manifests, m)
	}
	idx := blob("application/vnd.oci.image.index.v1+json", mustJSON(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.index.v1+json",
		"manifests":     manifests,
	}))
	idx["annotations"] = map[string]string{
		"io.containerd.image.name":          "docker.io/library/" + name,
		"org.opencontainers.image.ref.name": name[len(name)-len(tagOf(name)):],
	}
	add("index.json", mustJSON(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.index.v1+json",
		"manifests":     []any{idx},
	}))
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// tagOf is the tag of a name:tag reference.
func tagOf(ref string) string {
	for i := len(ref) - 1; i >= 0 && ref[i] != '/'; i-- {
		if ref[i] == ':' {
			return ref[i+1:]
		}
	}
	return "latest"
}

// multiImage is the multi-platform image the tests load into the
// containerd-store daemon.
const multiImage = "dl-platform-multi:latest"

// savedIndex lists the platforms of an image's `docker save` stream whose
// manifest and config blobs the stream holds, and checks that it holds
// every layer blob of those platforms.
func savedIndex(t *testing.T, saved []byte) []string {
	t.Helper()
	blobs := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(saved))
	var index []byte
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Name == "index.json" {
			index = b
		} else if hex, ok := strings.CutPrefix(hdr.Name, "blobs/sha256/"); ok {
			blobs["sha256:"+hex] = b
		}
	}
	type desc struct {
		Digest   string
		Platform *struct{ OS, Architecture, Variant string }
	}
	var doc struct {
		Manifests []desc
		Config    *desc
		Layers    []desc
	}
	var platforms []string
	var walk func(b []byte)
	walk = func(b []byte) {
		doc.Manifests, doc.Config, doc.Layers = nil, nil, nil
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		for _, m := range doc.Manifests {
			child, ok := blobs[m.Digest]
			if !ok {
				continue
			}
			var c struct {
				Config *desc
				Layers []desc
			}
			if err := json.Unmarshal(child, &c); err != nil {
				t.Fatal(err)
			}
			if c.Config == nil {
				walk(child)
				continue
			}
			for _, l := range append(c.Layers, *c.Config) {
				if _, ok := blobs[l.Digest]; !ok {
					t.Errorf("manifest %s: blob %s is not in the save stream", m.Digest, l.Digest)
				}
			}
			if m.Platform != nil {
				p := m.Platform.OS + "/" + m.Platform.Architecture
				if m.Platform.Variant != "" {
					p += "/" + m.Platform.Variant
				}
				platforms = append(platforms, p)
			}
		}
	}
	walk(index)
	slices.Sort(platforms)
	return platforms
}

// loadMulti loads the two-platform fixture into the containerd-store daemon
// and checks that the daemon kept both platforms.
func (d daemon) loadMulti(t *testing.T) []platformImage {
	t.Helper()
	imgs := multiPlatformImages(t)
	d.load(t, ociArchive(t, multiImage, imgs))
	r := runCmd(t, []string{"DOCKER_HOST=" + d.host, "DOCKER_CONTEXT="}, nil, "docker", "save", multiImage)
	if r.code != 0 {
		t.Fatalf("docker save: %s", r)
	}
	if got, want := savedIndex(t, []byte(r.stdout)), []string{"linux/amd64", "linux/arm64/v8"}; !slices.Equal(got, want) {
		t.Fatalf("after docker load, docker save of %s holds the platforms %v, want %v", multiImage, got, want)
	}
	return imgs
}

// reversed returns ids newest first, as inspect -q prints them.
func reversed(ids []string) string {
	out := slices.Clone(ids)
	slices.Reverse(out)
	return strings.Join(out, "\n") + "\n"
}

// TestPlatformMultiPlatformImage: --platform selects each platform of an
// image that holds two, in the containerd image store (on Docker 26.1, API
// 1.45, through the image's own save stream; on Docker 29, API ≥ 1.49, the
// daemon selects the platform) and in a docker save archive (--input); the
// default is the host's platform; an absent platform is a one-line error
// that lists those the image has.
func TestPlatformMultiPlatformImage(t *testing.T) {
	forEachDaemon(t, func(t *testing.T, d daemon) {
		if !d.containerdStore() {
			t.Skip("multi-platform images need the containerd image store")
		}
		imgs := d.loadMulti(t)
		amd, arm := imgs[0], imgs[1]
		dir := t.TempDir()
		saved := filepath.Join(dir, "saved.tar")
		must(t, d.docker(t, "save", "-o", saved, multiImage))

		// Which of the two paths is taken: the debug line says. (A platform
		// other than the host's: below API 1.49, the host's needs neither.)
		t.Run("API path", func(t *testing.T) {
			other := "linux/arm64"
			if runtime.GOARCH == "arm64" {
				other = "linux/amd64"
			}
			r := d.standalone(t, "-D", "inspect", "-q", "--platform", other, multiImage)
			must(t, r)
			daemonPicks := strings.Contains(r.stderr, "≥ 1.49: the daemon selects platform "+other)
			fromSave := strings.Contains(r.stderr, "< 1.49 describes platform")
			if wantDaemon := d.kind == "moby29"; daemonPicks != wantDaemon || fromSave == wantDaemon {
				t.Errorf("on the %s daemon, the daemon selects the platform: %v, want %v; debug output:\n%s", d.kind, daemonPicks, wantDaemon, r.stderr)
			}
		})

		for _, tc := range []struct {
			flag string
			img  platformImage
		}{
			{"linux/arm64", arm},
			{"linux/arm64/v8", arm},
			{"linux/aarch64", arm},
			{"linux/amd64", amd},
		} {
			t.Run(tc.flag, func(t *testing.T) {
				want := reversed(tc.img.diffIDs())
				if got := must(t, d.plugin(t, "inspect", "-q", "--no-trunc", "--platform", tc.flag, multiImage)); got != want {
					t.Errorf("inspect --platform %s shows\n%swant\n%s", tc.flag, got, want)
				}
				if got := must(t, d.standalone(t, "inspect", "-q", "--no-trunc", "--platform", tc.flag, "--input", saved)); got != want {
					t.Errorf("inspect --input --platform %s shows\n%swant\n%s", tc.flag, got, want)
				}
				rs := rows(t, must(t, d.plugin(t, "inspect", "--no-trunc", "--format", "{{json .}}", "--platform", tc.flag, multiImage)))
				if top := fmt.Sprintf("%s layer %d", tc.img, len(tc.img.layers)-1); len(rs) == 0 || rs[0].CreatedBy != top {
					t.Errorf("inspect --platform %s: top row %+v, want CREATED BY %q", tc.flag, rs, top)
				}

				ref := reference(t, tc.img.layers)
				got := d.extractTree(t, "--platform", tc.flag, multiImage)
				if diff := diffTrees(got, ref); diff != "" {
					t.Errorf("extract --platform %s differs from its layers:\n%s", tc.flag, diff)
				}
				if n := got["platform.txt"]; n.SHA != ref["platform.txt"].SHA || n.Size != int64(len(tc.img.String())+1) {
					t.Errorf("extract --platform %s: /platform.txt is %+v", tc.flag, n)
				}
				fromInput := readTree(t, strings.NewReader(must(t, d.standalone(t, "extract", "--platform", tc.flag, "--input", saved, "-o", "-"))))
				if diff := diffTrees(fromInput, ref); diff != "" {
					t.Errorf("extract --input --platform %s differs from its layers:\n%s", tc.flag, diff)
				}
				// A layer spec counts in the platform's own layers.
				top := d.extractTree(t, "--platform", tc.flag, "-l", "-1", multiImage)
				if diff := diffTrees(top, reference(t, tc.img.layers[len(tc.img.layers)-1:])); diff != "" {
					t.Errorf("extract --platform %s -l -1 differs from its top layer:\n%s", tc.flag, diff)
				}
				// diff and cat read the platform's layers, too.
				if got, want := must(t, d.plugin(t, "cat", "--platform", tc.flag, multiImage, "/platform.txt")), tc.img.String()+"\n"; got != want {
					t.Errorf("cat --platform %s /platform.txt = %q, want %q", tc.flag, got, want)
				}
				if out := must(t, d.plugin(t, "diff", "--platform", tc.flag, "--format", "{{.Change}} {{.Path}}", "--path", "/platform.txt", multiImage)); !strings.Contains(out, "/platform.txt") {
					t.Errorf("diff --platform %s shows no /platform.txt:\n%s", tc.flag, out)
				}
				// squash picks the platform's config and layers, too.
				squashed := "dl-platform-squashed:" + strings.ReplaceAll(tc.flag, "/", "-")
				must(t, d.plugin(t, "squash", "-q", "--platform", tc.flag, "-t", squashed, multiImage))
				if n := len(strings.Fields(must(t, d.plugin(t, "inspect", "-q", "--platform", tc.flag, squashed)))); n != 1 {
					t.Errorf("squash --platform %s: %d layers, want 1", tc.flag, n)
				}
				if diff := diffTrees(d.extractTree(t, "--platform", tc.flag, squashed), ref); diff != "" {
					t.Errorf("squash --platform %s: the squashed image differs from the platform's layers:\n%s", tc.flag, diff)
				}
				must(t, d.docker(t, "rmi", squashed))
				data, err := os.ReadFile(saved)
				if err != nil {
					t.Fatal(err)
				}
				stdin := runCmd(t, nil, data, binary, "inspect", "-q", "--no-trunc", "--platform", tc.flag, "--input", "-", multiImage)
				if stdin.code != 0 || stdin.stdout != want {
					t.Errorf("inspect --input - --platform %s: %s", tc.flag, stdin)
				}
			})
		}

		t.Run("default", func(t *testing.T) {
			host := reversed(diffIDs(t, d, multiImage))
			if got := must(t, d.plugin(t, "inspect", "-q", "--no-trunc", multiImage)); got != host {
				t.Errorf("inspect without --platform shows\n%sdocker image inspect\n%s", got, host)
			}
			if runtime.GOARCH == "amd64" && host != reversed(amd.diffIDs()) {
				t.Errorf("on an amd64 host the daemon's platform is not linux/amd64: %s", host)
			}
		})

		// An image without the host's platform: the daemon answers for the
		// platform it has, and --platform agrees.
		t.Run("host platform absent", func(t *testing.T) {
			const armOnly = "dl-platform-armonly:latest"
			d.load(t, ociArchive(t, armOnly, imgs[1:]))
			want := reversed(arm.diffIDs())
			for _, args := range [][]string{{}, {"--platform", "linux/arm64"}} {
				if got := must(t, d.plugin(t, append([]string{"inspect", "-q", "--no-trunc", armOnly}, args...)...)); got != want {
					t.Errorf("inspect %v shows\n%swant\n%s", args, got, want)
				}
			}
			r := d.plugin(t, "extract", "--platform", "linux/amd64", armOnly, "-o", "-")
			if r.code != 2 {
				t.Errorf("extract --platform linux/amd64: want exit 2, got %s", r)
			}
			oneLine(t, r.stderr, `image "`+armOnly+`" has no linux/amd64: its only platform is linux/arm64`)
		})

		t.Run("absent", func(t *testing.T) {
			const msg = `image "` + multiImage + `" has no linux/s390x: available platforms are linux/amd64, linux/arm64`
			out := filepath.Join(dir, "out.tar")
			for _, args := range [][]string{
				{"inspect", "--platform", "linux/s390x", multiImage},
				{"extract", "--platform", "linux/s390x", multiImage, "-o", out},
				{"inspect", "--platform", "linux/s390x", "--input", saved, multiImage},
				{"extract", "--platform", "linux/s390x", "--input", saved, "-o", out},
			} {
				r := d.plugin(t, args...)
				if r.code != 2 {
					t.Errorf("%v: want exit 2, got %s", args, r)
				}
				oneLine(t, r.stderr, msg)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("extract left %s behind: %v", out, err)
			}
		})
	})
}

// TestPlatformSingleImage: on every daemon, a single-platform image (the
// graphdriver stores hold nothing else) works with its own platform, as
// without --platform, and any other platform is a one-line error naming
// the image's one platform. A bad --platform is a usage error.
func TestPlatformSingleImage(t *testing.T) {
	forEachDaemon(t, func(t *testing.T, d daemon) {
		img := "docker-layers-fixture:latest"
		own := strings.TrimSpace(must(t, d.docker(t, "image", "inspect", "--format", "{{.Os}}/{{.Architecture}}", img)))
		other := "linux/arm64"
		if own == other {
			other = "linux/amd64"
		}
		plain := must(t, d.plugin(t, "inspect", "--no-trunc", "-a", img))
		if got := must(t, d.plugin(t, "inspect", "--no-trunc", "-a", "--platform", own, img)); got != plain {
			t.Errorf("inspect --platform %s shows\n%swithout --platform\n%s", own, got, plain)
		}
		plainTar := must(t, d.plugin(t, "extract", "-l", "2:", img, "-o", "-"))
		if got := must(t, d.standalone(t, "extract", "-l", "2:", "--platform", own, img, "-o", "-")); got != plainTar {
			t.Errorf("extract --platform %s differs from extract without it", own)
		}
		for _, cmd := range []string{"inspect", "extract"} {
			r := d.plugin(t, cmd, "--platform", other, img, "-l", "-1")
			if r.code != 2 {
				t.Errorf("%s --platform %s: want exit 2, got %s", cmd, other, r)
			}
			oneLine(t, r.stderr, `image "`+img+`" has no `+other+`: its only platform is `+own)
			r = d.plugin(t, cmd, "--platform", "linux/arm/v7/x", img)
			if r.code != 1 {
				t.Errorf("%s --platform linux/arm/v7/x: want exit 1, got %s", cmd, r)
			}
			oneLine(t, r.stderr, `invalid argument "linux/arm/v7/x" for "--platform" flag`)
		}
	})
}
