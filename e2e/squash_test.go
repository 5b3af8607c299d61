package e2e

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// squashSource is built on the fixture: a layer that deletes files of the
// layers below it (so a squash starting there must keep its whiteouts),
// every config field squash must keep, and a layer above the range.
const squashSource = `FROM docker-layers-fixture:latest
RUN rm -rf /app/conf /app/hello.txt /app/old/three.txt
ENV SQUASH_A=1 SQUASH_B="two words"
RUN echo squashed > /app/squash.txt && mkdir -p /data && echo gone > /app/gone.txt
LABEL dl.squash.label=yes
RUN rm /app/gone.txt && echo top > /app/top.txt
EXPOSE 8080/tcp
VOLUME /data
HEALTHCHECK --interval=31s CMD true
STOPSIGNAL SIGUSR1
WORKDIR /app
USER 1000:1000
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat /app/squash.txt"]
`

// buildSquashSource builds squashSource on d with the classic builder,
// offline, and returns its tag.
func (d daemon) buildSquashSource(t *testing.T) string {
	t.Helper()
	const tag = "dl-squash-src:latest"
	r := runCmd(t, []string{"DOCKER_HOST=" + d.host, "DOCKER_CONTEXT=", "DOCKER_BUILDKIT=0"}, []byte(squashSource),
		"docker", "build", "--network", "none", "--pull=false", "-q", "-t", tag, "-")
	if r.code != 0 {
		t.Fatalf("building %s: %s", tag, r)
	}
	return tag
}

// configFields are the config fields squash must keep.
var configFields = []string{"Env", "Cmd", "Entrypoint", "WorkingDir", "User", "Labels", "ExposedPorts", "Volumes", "Healthcheck", "StopSignal"}

func (d daemon) imageConfig(t *testing.T, img string) map[string]json.RawMessage {
	t.Helper()
	var cfg map[string]json.RawMessage
	if err := json.Unmarshal([]byte(must(t, d.docker(t, "image", "inspect", "--format", "{{json .Config}}", img))), &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// checkSquashed checks the image squash made of orig, layers from..to.
// It runs "cat file" in img (with cat as the entrypoint when entrypoint is
// set), which must print want.
func (d daemon) checkSquashed(t *testing.T, orig, img string, from, to int, comment string, entrypoint bool, file, want string) {
	t.Helper()
	// It runs.
	args := []string{"run", "--rm", "--network", "none"}
	if entrypoint {
		args = append(args, "--entrypoint", "cat", img, file)
	} else {
		args = append(args, img, "cat", file)
	}
	if got := strings.TrimSpace(must(t, d.docker(t, args...))); got != want {
		t.Errorf("docker run %s: got %q, want %q", img, got, want)
	}
	// Its file system is the original's.
	got, export := d.exportTree(t, img), d.exportTree(t, orig)
	dropExportAdds(got, export)
	if diff := diffTrees(got, export); diff != "" {
		t.Errorf("docker export of %s differs from %s's:\n%s", img, orig, diff)
	}
	// The kept layers are the same, the range is one layer.
	od, nd := diffIDs(t, d, orig), diffIDs(t, d, img)
	wantN := len(od) - (to - from)
	if len(nd) != wantN {
		t.Fatalf("%s has %d layers, want %d", img, len(nd), wantN)
	}
	if !slices.Equal(nd[:from], od[:from]) || !slices.Equal(nd[from+1:], od[to+1:]) {
		t.Errorf("kept layers changed:\n got %v\nwant %v + squashed + %v", nd, od[:from], od[to+1:])
	}
	// docker layers inspect sees as many.
	q := strings.Fields(must(t, d.plugin(t, "inspect", "-q", img)))
	if len(q) != wantN {
		t.Errorf("docker layers inspect -q %s: %d layers, want %d", img, len(q), wantN)
	}
	// docker history shows the collapsed step with its comment, and as many
	// steps as the original less the collapsed ones.
	hist := strings.Split(strings.TrimSpace(must(t, d.docker(t, "history", "--no-trunc", "--format", "{{.CreatedBy}}|{{.Comment}}", img))), "\n")
	ohist := strings.Split(strings.TrimSpace(must(t, d.docker(t, "history", "--no-trunc", "--format", "{{.CreatedBy}}", orig))), "\n")
	step := fmt.Sprintf("docker-layers squash %d..%d|%s", from, to, comment)
	if !slices.Contains(hist, step) {
		t.Errorf("docker history %s has no step %q:\n%s", img, step, strings.Join(hist, "\n"))
	}
	if len(hist) != len(ohist)-(to-from) {
		t.Errorf("docker history %s: %d steps, want %d", img, len(hist), len(ohist)-(to-from))
	}
	// The config is kept.
	oc, nc := d.imageConfig(t, orig), d.imageConfig(t, img)
	for _, f := range configFields {
		if string(oc[f]) != string(nc[f]) {
			t.Errorf("config %s: got %s, want %s", f, nc[f], oc[f])
		}
	}
}

// archiveEntries lists a tar file's entries and reads its small JSON files.
func archiveEntries(t *testing.T, name string) (map[string]*tar.Header, map[string][]byte) {
	t.Helper()
	f := mustOpen(t, name)
	defer f.Close()
	hdrs, docs := map[string]*tar.Header{}, map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("reading %s: %v", name, err)
		}
		hdrs[h.Name] = h
		if h.Typeflag == tar.TypeReg && h.Size < 1<<20 {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			docs[h.Name] = b
		}
	}
	return hdrs, docs
}

func TestSquash(t *testing.T) {
	forEachDaemon(t, func(t *testing.T, d daemon) {
		src := d.buildSquashSource(t)
		n := len(diffIDs(t, d, src))
		fixture := "docker-layers-fixture:latest"
		nf := len(diffIDs(t, d, fixture))
		t.Cleanup(func() {
			d.docker(t, "rmi", "dl-squash-out:mid", "dl-squash-out:all", "dl-squash-out:fix-mid", "dl-squash-out:fix-all", "dl-squash-out:two", "dl-squash-out:file")
		})

		// A middle range that starts with deletions of lower files, through
		// the plugin, with every flag; the top layer is kept.
		tmp := t.TempDir()
		r := d.plugin(t, "squash", src, "-l", fmt.Sprintf("%d:%d", n-3, n-2), "-t", "dl-squash-out:mid", "-t", "dl-squash-out:two",
			"-m", "squashed by the e2e test", "--tmpdir", tmp, "--progress", "plain")
		id := strings.TrimSpace(must(t, r))
		if want := strings.TrimSpace(must(t, d.docker(t, "image", "inspect", "--format", "{{.Id}}", "dl-squash-out:two"))); id != want {
			t.Errorf("squash printed %q, the daemon has %q", id, want)
		}
		if left, _ := os.ReadDir(tmp); len(left) != 0 {
			t.Errorf("--tmpdir holds %d entries after squash", len(left))
		}
		d.checkSquashed(t, src, "dl-squash-out:mid", n-3, n-2, "squashed by the e2e test", true, "/app/squash.txt", "squashed")

		// Everything, standalone, quiet: one layer.
		r = d.standalone(t, "squash", "-q", src, "-t", "dl-squash-out:all")
		if out := strings.TrimSpace(must(t, r)); !strings.HasPrefix(out, "sha256:") || strings.Contains(out, "\n") || r.stderr != "" {
			t.Errorf("squash -q: %s", r)
		}
		d.checkSquashed(t, src, "dl-squash-out:all", 0, n-1, fmt.Sprintf("docker-layers squashed layers 0..%d (%d layers) into one", n-1, n), true, "/app/top.txt", "top")

		// The fixture: a middle range (a delete, then a recreate) and all.
		must(t, d.plugin(t, "squash", fixture, "-l", "2:4", "-t", "dl-squash-out:fix-mid"))
		d.checkSquashed(t, fixture, "dl-squash-out:fix-mid", 2, 4, "docker-layers squashed layers 2..4 (3 layers) into one", false, "/app/conf/app.conf", "version=2")
		must(t, d.plugin(t, "squash", fixture, "-l", ":", "-t", "dl-squash-out:fix-all"))
		d.checkSquashed(t, fixture, "dl-squash-out:fix-all", 0, nf-1, fmt.Sprintf("docker-layers squashed layers 0..%d (%d layers) into one", nf-1, nf), false, "/app/old/three.txt", "three, recreated")

		// -o FILE: a docker load archive with both manifest.json and index.json.
		file := filepath.Join(t.TempDir(), "squashed.tar")
		must(t, d.plugin(t, "squash", src, "-l", "1:-2", "-t", "dl-squash-out:file", "-o", file))
		hdrs, docs := archiveEntries(t, file)
		for _, name := range []string{"manifest.json", "index.json", "oci-layout"} {
			if _, ok := docs[name]; !ok {
				t.Errorf("%s has no %s", file, name)
			}
		}
		var idx struct {
			Manifests []struct {
				Digest      string
				Annotations map[string]string
			}
		}
		if err := json.Unmarshal(docs["index.json"], &idx); err != nil || len(idx.Manifests) != 1 {
			t.Fatalf("index.json: %v %s", err, docs["index.json"])
		}
		if got := idx.Manifests[0].Annotations["io.containerd.image.name"]; got != "docker.io/library/dl-squash-out:file" {
			t.Errorf("index.json names %q", got)
		}
		var mf struct {
			Layers []struct {
				MediaType string
				Digest    string
				Size      int64
			}
		}
		mpath := "blobs/sha256/" + strings.TrimPrefix(idx.Manifests[0].Digest, "sha256:")
		if err := json.Unmarshal(docs[mpath], &mf); err != nil || len(mf.Layers) != 3 {
			t.Fatalf("manifest %s: %v %s", mpath, err, docs[mpath])
		}
		for _, l := range mf.Layers {
			if _, ok := hdrs["blobs/sha256/"+strings.TrimPrefix(l.Digest, "sha256:")]; !ok {
				t.Errorf("%s has no blob for layer %s", file, l.Digest)
			}
		}
		// Graphdriver daemons: every layer is known before it is read, so
		// the archive holds exactly the new image (the containerd store's
		// compressed blobs may arrive before their manifest: see README).
		if !d.containerdStore() {
			refd := map[string]bool{"blobs/": true, "blobs/sha256/": true, "index.json": true, "oci-layout": true, "manifest.json": true, mpath: true}
			var m struct{ Config struct{ Digest string } }
			_ = json.Unmarshal(docs[mpath], &m)
			refd["blobs/sha256/"+strings.TrimPrefix(m.Config.Digest, "sha256:")] = true
			for _, l := range mf.Layers {
				refd["blobs/sha256/"+strings.TrimPrefix(l.Digest, "sha256:")] = true
			}
			for name := range hdrs {
				if !refd[name] {
					t.Errorf("%s holds %s, which the new image does not use", file, name)
				}
			}
		}
		if d.containerdStore() && !strings.HasSuffix(mf.Layers[1].MediaType, "gzip") {
			t.Errorf("containerd store: the squashed layer is %s, want gzip", mf.Layers[1].MediaType)
		}
		d.docker(t, "rmi", "dl-squash-out:file")
		r = d.docker(t, "load", "-i", file)
		if !strings.Contains(must(t, r), "dl-squash-out:file") {
			t.Errorf("docker load -i %s: %s", file, r)
		}
		d.checkSquashed(t, src, "dl-squash-out:file", 1, n-2, fmt.Sprintf("docker-layers squashed layers 1..%d (%d layers) into one", n-2, n-2), true, "/app/top.txt", "top")

		// On the containerd store the squashed image is not larger than the
		// original because of an uncompressed layer (docker-squash #260).
		if d.containerdStore() {
			size := func(img string) int64 {
				s, err := strconv.ParseInt(strings.TrimSpace(must(t, d.docker(t, "image", "inspect", "--format", "{{.Size}}", img))), 10, 64)
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
			if o, s := size(fixture), size("dl-squash-out:fix-all"); float64(s) > 1.3*float64(o) {
				t.Errorf("containerd store: squashed image is %d bytes, the original %d", s, o)
			}
		}
	})
}

func TestSquashErrors(t *testing.T) {
	forEachDaemon(t, func(t *testing.T, d daemon) {
		for _, c := range []struct {
			args []string
			code int
			msg  string
		}{
			{[]string{"squash", "docker-layers-fixture:latest"}, 1, "nothing to do"},
			{[]string{"squash", "docker-layers-fixture:latest", "-t", "Bad Tag"}, 1, "invalid tag"},
			{[]string{"squash", "docker-layers-fixture:latest", "-t", "dl-squash-out:never", "-l", "99"}, 3, "99"},
			{[]string{"squash", "dl-squash-no-such-image", "-t", "dl-squash-out:never"}, 2, "dl-squash-no-such-image"},
			// Fails mid-stream, once the load has started: the daemon must
			// load nothing.
			{[]string{"squash", "docker-layers-fixture:latest", "-t", "dl-squash-out:never", "--tmpdir", "/nonexistent/dl-squash"}, 2, "/nonexistent/dl-squash"},
			{[]string{"squash", "docker-layers-fixture:latest", "-o", "/nonexistent/dl-squash/out.tar"}, 2, "/nonexistent/dl-squash"},
		} {
			r := d.plugin(t, c.args...)
			if r.code != c.code || !strings.Contains(r.stderr, c.msg) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
				t.Errorf("%v: want exit %d and one line with %q, got %s", c.args, c.code, c.msg, r)
			}
		}
		if r := d.docker(t, "image", "inspect", "dl-squash-out:never"); r.code == 0 {
			t.Errorf("a failed squash left dl-squash-out:never")
		}
	})
}
