package e2e

import (
	"crypto/rand"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The tests of docker:// images read the fixtures that e2e/run.sh pushes
// from each daemon into the registries of e2e/registry/start.sh (see
// registryEnv), and compare what they read with what the daemon that
// pushed them gives.

// layersIn runs docker-layers standalone with the docker config cfg and
// env added.
func (d daemon) layersIn(t *testing.T, cfg string, env []string, args ...string) result {
	t.Helper()
	return runCmd(t, append([]string{"DOCKER_HOST=" + d.host, "DOCKER_CONFIG=" + cfg, "DOCKER_CONTEXT="}, env...), nil, binary, args...)
}

// pluginIn runs `docker --config cfg layers ARGS` with env added.
func (d daemon) pluginIn(t *testing.T, cfg string, env []string, args ...string) result {
	t.Helper()
	return runCmd(t, append([]string{"DOCKER_HOST=" + d.host, "DOCKER_CONTEXT="}, env...), nil, "docker", append([]string{"--config", cfg, "layers"}, args...)...)
}

// extractSHA extracts with run and returns the sha256 of the output.
func extractSHA(t *testing.T, run func(t *testing.T, args ...string) result, args ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out.tar")
	must(t, run(t, append(append([]string{"extract"}, args...), "-o", out)...))
	return fileSHA256(t, out)
}

// failsCleanly checks that r failed with exit 2 and one line on stderr that
// says one of says (case-insensitive), and that dirs are empty.
func failsCleanly(t *testing.T, what string, r result, says []string, dirs ...string) {
	t.Helper()
	line := strings.TrimRight(r.stderr, "\n")
	if r.code != 2 || r.stdout != "" || line == "" || strings.Contains(line, "\n") {
		t.Errorf("%s: want exit 2, one line on stderr and nothing on stdout: %s", what, r)
	}
	if len(says) > 0 && !slices.ContainsFunc(says, func(s string) bool { return strings.Contains(strings.ToLower(line), strings.ToLower(s)) }) {
		t.Errorf("%s: stderr says none of %q: %s", what, says, line)
	}
	assertEmpty(t, dirs...)
}

// TestRegistryExtractMatchesDaemon: a fixture that a daemon pushed to the
// plain registry extracts from docker:// to the same bytes as from the
// daemon, whole and in layer ranges; inspect shows the daemon's diff IDs.
func TestRegistryExtractMatchesDaemon(t *testing.T) {
	reg := registries(t)
	forEachDaemon(t, func(t *testing.T, d daemon) {
		t.Parallel()
		t.Run("no tag, and a digest", func(t *testing.T) {
			want := extractSHA(t, d.standalone, "-l", "1:", "docker-layers-fixture:latest")
			repo := "docker://" + reg.plain + "/" + fixtureRepo(d)
			for _, img := range []string{repo, repo + "@" + manifestDigest(t, reg.plain, fixtureRepo(d), "latest")} {
				if got := extractSHA(t, d.standalone, "-l", "1:", img); got != want {
					t.Errorf("extract -l 1: %s: not the bytes extract gives from the daemon's latest", img)
				}
			}
		})
		for _, tag := range []string{"mid", "latest"} {
			for _, spec := range [][]string{nil, {"-l", "-1"}, {"-l", "1:3"}, {"-l", "2:"}, {"-l", ":1", "-l", "3"}} {
				t.Run(strings.Join(append([]string{tag}, spec...), " "), func(t *testing.T) {
					dir := t.TempDir()
					a, b := filepath.Join(dir, "registry.tar"), filepath.Join(dir, "daemon.tar")
					must(t, d.plugin(t, append(append([]string{"extract"}, spec...), remote(reg.plain, d, tag), "-o", a)...))
					must(t, d.standalone(t, append(append([]string{"extract"}, spec...), "docker-layers-fixture:"+tag, "-o", b)...))
					if fileSHA256(t, a) != fileSHA256(t, b) {
						ba, _ := os.ReadFile(a)
						bb, _ := os.ReadFile(b)
						sameBytes(t, "extract "+remote(reg.plain, d, tag)+" against the daemon's", string(ba), string(bb))
						t.Errorf("extract %v %s: not the bytes extract gives from the daemon", spec, remote(reg.plain, d, tag))
					}
				})
			}
			t.Run(tag+" inspect", func(t *testing.T) {
				want := diffIDs(t, d, "docker-layers-fixture:"+tag)
				slices.Reverse(want) // inspect shows the newest first
				for _, run := range []func(t *testing.T, args ...string) result{d.plugin, d.standalone} {
					var got []string
					for _, r := range rows(t, must(t, run(t, "inspect", "--format", "json", "--no-trunc", remote(reg.plain, d, tag)))) {
						got = append(got, r.DiffID)
					}
					if !slices.Equal(got, want) {
						t.Errorf("inspect --format json %s: diff IDs\n%q\nwant the daemon's\n%q", remote(reg.plain, d, tag), got, want)
					}
				}
			})
		}
	})
}

// TestRegistryEveryCommand runs every command on a docker:// image: those
// whose output does not name the image print what they print for the
// daemon's image; the others succeed.
func TestRegistryEveryCommand(t *testing.T) {
	reg := registries(t)
	forEachDaemon(t, func(t *testing.T, d daemon) {
		t.Parallel()
		img, mid := remote(reg.plain, d, "latest"), remote(reg.plain, d, "mid")
		for _, args := range [][]string{
			{"diff", "--format", "json", "-l", "2:", img},
			{"compare", "--format", "json", mid, img},
			{"compare", "--format", "json", "docker-layers-fixture:mid", img},
			{"compare", "--format", "json", mid, "docker-layers-fixture:latest"},
			{"cat", img, "/app/hello-relative-link"},
			{"cat", img, "/app/conf/numbers-link/README"},
			{"ls", img, "/app"},
			{"du", img, "/app"},
		} {
			local := slices.Clone(args)
			for i, a := range local {
				local[i] = strings.Replace(strings.Replace(a, img, "docker-layers-fixture:latest", 1), mid, "docker-layers-fixture:mid", 1)
			}
			got, want := must(t, d.standalone(t, args...)), must(t, d.standalone(t, local...))
			if got != want || got == "" {
				t.Errorf("%v: got\n%s\nwant, as from the daemon,\n%s", args, got, want)
			}
		}
		dir := t.TempDir()
		must(t, d.plugin(t, "efficiency", img))
		must(t, d.plugin(t, "report", img, "-o", filepath.Join(dir, "report.html")))
		must(t, d.plugin(t, "squash", img, "-l", "2:", "-o", filepath.Join(dir, "squashed.tar")))
		if fi, err := os.Stat(filepath.Join(dir, "squashed.tar")); err != nil || fi.Size() == 0 {
			t.Errorf("squash -o: %v", err)
		}
	})
}

// TestRegistryFetchesOnlyWhatItNeeds counts, in the plain registry's log,
// the GETs of each blob of the daemon's pushed fixtures that one command
// makes (GET /v2/KIND/docker-layers-fixture/blobs/DIGEST, whether it
// completed or not; HEAD requests and manifests are not counted), and
// asserts:
//   - inspect: no layer blob; the config blob at most once;
//   - extract -l -1: the top layer's blob exactly once, no other layer
//     blob; the config at most once;
//   - cat of /app/conf/numbers-link/README, which the top layer of latest
//     writes: the same as extract -l -1;
//   - compare mid latest (latest is mid plus three layers): only blobs of
//     the two images, each at most once, so the four layers they share are
//     not fetched once per side;
//   - compare mid latest -l -1 --layers-b -1: the two top layers' blobs
//     exactly once each and no other layer blob (none of the five layers
//     outside the two ranges); the configs at most once.
func TestRegistryFetchesOnlyWhatItNeeds(t *testing.T) {
	reg := registries(t)
	forEachDaemon(t, func(t *testing.T, d daemon) {
		t.Parallel()
		repo := fixtureRepo(d)
		latest, mid := manifestOf(t, reg.plain, repo, "latest"), manifestOf(t, reg.plain, repo, "mid")
		top, midTop := latest.layers[len(latest.layers)-1], mid.layers[len(mid.layers)-1]
		img, midImg := remote(reg.plain, d, "latest"), remote(reg.plain, d, "mid")
		for _, tc := range []struct {
			name string
			args []string
			once []string // fetched exactly once
			may  []string // fetched at most once
		}{
			{"inspect", []string{"inspect", img}, nil, []string{latest.config}},
			{"extract -l -1", []string{"extract", "-l", "-1", img, "-o", filepath.Join(t.TempDir(), "top.tar")}, []string{top}, []string{latest.config}},
			{"cat", []string{"cat", img, "/app/conf/numbers-link/README"}, []string{top}, []string{latest.config}},
			{"compare", []string{"compare", midImg, img}, nil, append(latest.blobs(), mid.config)},
			{"compare -l -1 --layers-b -1", []string{"compare", midImg, img, "-l", "-1", "--layers-b", "-1"}, []string{midTop, top}, []string{mid.config, latest.config}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				mark := markLog(t, reg.plainLog, reg.plain)
				must(t, d.standalone(t, tc.args...))
				gets := mark.blobGETs(t, repo)
				for _, b := range tc.once {
					if gets[b] != 1 {
						t.Errorf("%v: %d GETs of blob %s, want 1", tc.args, gets[b], shortDigest(b))
					}
				}
				for b, n := range gets {
					switch {
					case slices.Contains(tc.once, b):
					case !slices.Contains(tc.may, b):
						t.Errorf("%v: %d GETs of blob %s, which it does not need (layer %d of latest)", tc.args, n, shortDigest(b), slices.Index(latest.layers, b))
					case n > 1:
						t.Errorf("%v: %d GETs of blob %s, want at most 1", tc.args, n, shortDigest(b))
					}
				}
				t.Logf("%v: blob GETs %v", tc.args, gets)
			})
		}
	})
}

// TestRegistryFetchesThreeAtOnce extracts the whole of latest (seven
// layers) through a proxy that holds each blob's body for 500ms: three
// blobs, no more, are being fetched at once at some point, and the
// output is the daemon's.
func TestRegistryFetchesThreeAtOnce(t *testing.T) {
	reg := registries(t)
	d := daemons(t)[0]
	var most atomic.Int64
	p := newBlobProxy(t, reg.plain, "", inFlight(500*time.Millisecond, &most))
	img := "docker://" + p.addr + "/" + fixtureRepo(d) + ":latest"
	if got, want := extractSHA(t, d.standalone, img), extractSHA(t, d.standalone, "docker-layers-fixture:latest"); got != want {
		t.Errorf("extract %s: not the bytes extract gives from the daemon", img)
	}
	if n := most.Load(); n != 3 {
		t.Errorf("at most %d blobs were fetched at once, want 3", n)
	}
}

// TestRegistryAuth reads the daemon's latest from the basic-auth registry:
// after a real docker login, through the docker CLI (--config) and
// standalone (DOCKER_CONFIG); and without credentials or with a wrong
// password, which is exit 2 and one line that says so, with no output file
// and nothing left in --tmpdir.
func TestRegistryAuth(t *testing.T) {
	reg := registries(t)
	forEachDaemon(t, func(t *testing.T, d daemon) {
		t.Parallel()
		img := remote(reg.auth, d, "latest")
		want := extractSHA(t, d.standalone, "docker-layers-fixture:latest")
		t.Run("docker login", func(t *testing.T) {
			cfg := dockerConfig(t, nil)
			must(t, runCmd(t, []string{"DOCKER_HOST=" + d.host, "DOCKER_CONTEXT="}, []byte(reg.password+"\n"),
				"docker", "--config", cfg, "login", reg.auth, "-u", reg.user, "--password-stdin"))
			for name, run := range map[string]func(t *testing.T, args ...string) result{
				"docker --config": func(t *testing.T, args ...string) result { return d.pluginIn(t, cfg, nil, args...) },
				"DOCKER_CONFIG, no daemon": func(t *testing.T, args ...string) result {
					return runCmd(t, []string{"DOCKER_HOST=unix:///nonexistent/docker-layers-e2e.sock", "DOCKER_CONFIG=" + cfg, "DOCKER_CONTEXT="}, nil, binary, args...)
				},
			} {
				if got := extractSHA(t, run, img); got != want {
					t.Errorf("%s: extract %s: not the bytes extract gives from the daemon", name, img)
				}
			}
		})
		for _, tc := range []struct {
			name  string
			auths map[string]string
		}{
			{"no credentials", nil},
			{"wrong password", map[string]string{reg.auth: basicAuth(reg.user, reg.password+"-wrong")}},
			{"credentials of another registry", map[string]string{reg.plain: basicAuth(reg.user, reg.password)}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				cfg := dockerConfig(t, tc.auths)
				out, tmp := t.TempDir(), t.TempDir()
				for _, args := range [][]string{
					{"extract", img, "-o", filepath.Join(out, "x.tar"), "--tmpdir", tmp},
					{"inspect", img},
					{"cat", img, "/app/hello.txt"},
				} {
					failsCleanly(t, strings.Join(args, " "), d.layersIn(t, cfg, nil, args...), []string{"unauthorized", "authentication required"}, out, tmp)
					failsCleanly(t, "docker layers "+strings.Join(args, " "), d.pluginIn(t, cfg, nil, args...), []string{"unauthorized", "authentication required"}, out, tmp)
				}
			})
		}
	})
}

// TestRegistryTLS reads the daemon's latest from the TLS registry, whose
// certificate a CA of its own signed: trusted through SSL_CERT_FILE and
// through $HOME/.config/containers/certs.d/HOST:PORT/ca.crt; without it,
// exit 2 and one line that names the x509 error.
func TestRegistryTLS(t *testing.T) {
	reg := registries(t)
	ca, err := os.ReadFile(reg.ca)
	if err != nil {
		t.Fatal(err)
	}
	forEachDaemon(t, func(t *testing.T, d daemon) {
		t.Parallel()
		img := remote(reg.tls, d, "latest")
		want := extractSHA(t, d.standalone, "docker-layers-fixture:latest")
		home := t.TempDir()
		certs := filepath.Join(home, ".config", "containers", "certs.d", reg.tls)
		if err := os.MkdirAll(certs, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(certs, "ca.crt"), ca, 0o644); err != nil {
			t.Fatal(err)
		}
		for name, env := range map[string][]string{
			"SSL_CERT_FILE":                 {"SSL_CERT_FILE=" + reg.ca, "HOME=" + t.TempDir()},
			"containers certs.d under HOME": {"HOME=" + home},
		} {
			t.Run(name, func(t *testing.T) {
				if got := extractSHA(t, func(t *testing.T, args ...string) result { return d.layersIn(t, pluginConfig, env, args...) }, img); got != want {
					t.Errorf("extract %s: not the bytes extract gives from the daemon", img)
				}
				must(t, d.pluginIn(t, pluginConfig, env, "inspect", img))
			})
		}
		t.Run("no CA", func(t *testing.T) {
			out, tmp := t.TempDir(), t.TempDir()
			env := []string{"HOME=" + t.TempDir()}
			failsCleanly(t, "extract", d.layersIn(t, pluginConfig, env, "extract", img, "-o", filepath.Join(out, "x.tar"), "--tmpdir", tmp), []string{"x509"}, out, tmp)
			failsCleanly(t, "docker layers inspect", d.pluginIn(t, pluginConfig, env, "inspect", img), []string{"x509"})
		})
	})
}

// TestRegistryDiesMidBlob kills a registry of the test's own (kill -9,
// and its proxy closes every connection) while extract reads a 16 MiB
// layer blob through a proxy that passes it on at 2 MiB/s: the kill lands
// after 1 MiB of it. Extract asks for the rest again (ranged GETs), then
// fails: exit 2, one line, no output file, nothing left in --tmpdir.
func TestRegistryDiesMidBlob(t *testing.T) {
	reg := registries(t)
	needSkopeo(t)
	own := startRegistry(t, reg.bin)
	random := make([]byte, 16<<20)
	_, _ = rand.Read(random)
	archive := filepath.Join(t.TempDir(), "big.tar")
	if err := os.WriteFile(archive, loadArchive(t, "dl-registry:big", [][]byte{
		layerTar(t, []entry{file("random.bin", string(random))}),
		layerTar(t, []entry{file("small", "s")}),
	}), 0o644); err != nil {
		t.Fatal(err)
	}
	skopeo(t, "--dest-tls-verify=false", "docker-archive:"+archive, "docker://"+own.addr+"/big:latest")
	big := manifestOf(t, own.addr, "big", "latest").layers[0]
	reached := make(chan struct{})
	p := newBlobProxy(t, own.addr, big, throttle(2<<20, 1<<20, reached))

	out, tmp := t.TempDir(), t.TempDir()
	cmd := exec.Command(binary, "extract", "docker://"+p.addr+"/big:latest", "-o", filepath.Join(out, "big.tar"), "--tmpdir", tmp)
	cmd.Env = append(os.Environ(), offlineEnv()...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-reached:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("extract never read 1 MiB of the blob: %s", stderr.String())
	}
	if err := own.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	p.close()
	start := time.Now()
	if code := exitCode(t, cmd); code != 2 {
		t.Errorf("exit %d, want 2: %s", code, stderr.String())
	}
	t.Logf("failed %s after the kill: %s", time.Since(start).Round(time.Millisecond), stderr.String())
	oneLine(t, stderr.String(), "")
	assertEmpty(t, out, tmp)
}

// TestRegistryInterrupted interrupts extract while it reads a layer blob
// that a proxy passes on at 256 KiB/s: SIGINT is exit 130, SIGTERM 143,
// with no output file and nothing left in --tmpdir.
func TestRegistryInterrupted(t *testing.T) {
	reg := registries(t)
	d := daemons(t)[0]
	bottom := manifestOf(t, reg.plain, fixtureRepo(d), "latest").layers[0]
	for _, tc := range []struct {
		sig  syscall.Signal
		code int
	}{{syscall.SIGINT, 130}, {syscall.SIGTERM, 143}} {
		t.Run(tc.sig.String(), func(t *testing.T) {
			reached := make(chan struct{})
			p := newBlobProxy(t, reg.plain, bottom, throttle(256<<10, 64<<10, reached))
			out, tmp := t.TempDir(), t.TempDir()
			cmd := exec.Command(binary, "extract", "docker://"+p.addr+"/"+fixtureRepo(d)+":latest", "-o", filepath.Join(out, "x.tar"), "--tmpdir", tmp)
			cmd.Env = append(os.Environ(), offlineEnv()...)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			select {
			case <-reached:
			case <-time.After(60 * time.Second):
				_ = cmd.Process.Kill()
				t.Fatalf("extract never read 64 KiB of the blob: %s", stderr.String())
			}
			if err := cmd.Process.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			if code := exitCode(t, cmd); code != tc.code {
				t.Errorf("exit %d, want %d: %s", code, tc.code, stderr.String())
			}
			assertEmpty(t, out, tmp)
		})
	}
}

// TestRegistryResumesDroppedBlob reads the daemon's latest through a proxy
// that drops the connection once, 100 KiB into the bottom layer's blob:
// extract asks for the rest with a ranged GET and writes the bytes it
// writes from the daemon.
func TestRegistryResumesDroppedBlob(t *testing.T) {
	reg := registries(t)
	forEachDaemon(t, func(t *testing.T, d daemon) {
		t.Parallel()
		repo := fixtureRepo(d)
		bottom := manifestOf(t, reg.plain, repo, "latest").layers[0]
		const cutAt = 100 << 10
		size := blobSize(t, reg.plain, repo, bottom)
		if size <= cutAt {
			t.Fatalf("the bottom layer's blob is %d bytes: too small to cut at %d", size, cutAt)
		}
		p := newBlobProxy(t, reg.plain, bottom, cutOnce(cutAt))
		img := "docker://" + p.addr + "/" + repo + ":latest"
		if got, want := extractSHA(t, d.standalone, img), extractSHA(t, d.standalone, "docker-layers-fixture:latest"); got != want {
			t.Errorf("extract %s, cut once: not the bytes extract gives from the daemon", img)
		}
		// The ranged GET asks from where the cut left it, at most cutAt
		// (what reached extract of what the proxy passed on), to the end:
		// bytes=N- or bytes=N-(size-1).
		ranges := p.blobRanges()
		if len(ranges) != 2 || ranges[0] != "" {
			t.Fatalf("GETs of the cut blob with Range headers %q: want one whole, then one from where it stopped", ranges)
		}
		from, to, ok := strings.Cut(strings.TrimPrefix(ranges[1], "bytes="), "-")
		n, err := strconv.ParseInt(from, 10, 64)
		if !ok || !strings.HasPrefix(ranges[1], "bytes=") || err != nil || n <= 0 || n > cutAt || (to != "" && to != strconv.FormatInt(size-1, 10)) {
			t.Errorf("asked again with Range %q: want bytes=N- or bytes=N-%d with 0 < N <= %d", ranges[1], size-1, cutAt)
		}
	})
}

// TestRegistryToken reads the daemon's latest from a registry that asks for
// bearer tokens (tokenProxy): with the right Basic credentials in the
// docker config, extract gives the daemon's bytes; without or with a wrong
// password, exit 2 and one line. Under -D no output shows the password,
// the Basic credentials, the token or "Authorization".
func TestRegistryToken(t *testing.T) {
	reg := registries(t)
	d := daemons(t)[0]
	p := newTokenProxy(t, reg.plain, reg.user, reg.password)
	img := "docker://" + p.addr + "/" + fixtureRepo(d) + ":latest"
	wrong := reg.password + "-wrong"
	secrets := []string{reg.password, basicAuth(reg.user, reg.password), wrong, basicAuth(reg.user, wrong), p.token, "Authorization"}
	right := dockerConfig(t, map[string]string{p.addr: basicAuth(reg.user, reg.password)})
	if got, want := extractSHA(t, func(t *testing.T, args ...string) result { return d.pluginIn(t, right, nil, args...) }, img),
		extractSHA(t, d.standalone, "docker-layers-fixture:latest"); got != want {
		t.Errorf("extract %s: not the bytes extract gives from the daemon", img)
	}
	for _, tc := range []struct {
		name string
		cfg  string
		ok   bool
	}{
		{"right password", right, true},
		{"wrong password", dockerConfig(t, map[string]string{p.addr: basicAuth(reg.user, wrong)}), false},
		{"no credentials", dockerConfig(t, nil), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			for _, args := range [][]string{
				{"inspect", img},
				{"extract", "-f", "-l", "-1", img, "-o", filepath.Join(out, "x.tar")},
				{"cat", img, "/app/hello.txt"},
			} {
				for _, r := range []result{
					runCmd(t, []string{"DOCKER_HOST=" + d.host, "DOCKER_CONTEXT="}, nil, "docker", append([]string{"--config", tc.cfg, "-D", "layers"}, args...)...),
					d.layersIn(t, tc.cfg, nil, append([]string{"-D"}, args...)...),
				} {
					if found := secretsIn(r.stdout+r.stderr, secrets...); len(found) > 0 {
						t.Errorf("%v shows %q:\n%s", args, found, r)
					}
					if tc.ok {
						if r.code != 0 || !strings.Contains(r.stderr, "level=debug") {
							t.Errorf("%v: want success and debug lines: %s", args, r)
						}
					} else {
						failsCleanly(t, strings.Join(args, " "), r, []string{"unauthorized", "authentication required"}, out)
					}
				}
			}
		})
	}
}

// TestRegistryDigestMismatch reads the daemon's latest through a proxy in
// front of the plain registry that inverts one byte of the top layer's
// blob. In the gzip header's MTIME field, the blob still inflates to the
// same layer: only its digest tells, and the error must say "digest". In
// the middle of the blob, whatever finds it first (the inflater or the
// digest) fails the command. Either way: exit 2, one line that names the
// blob, no output file and nothing left in --tmpdir.
func TestRegistryDigestMismatch(t *testing.T) {
	reg := registries(t)
	forEachDaemon(t, func(t *testing.T, d daemon) {
		t.Parallel()
		repo := fixtureRepo(d)
		latest := manifestOf(t, reg.plain, repo, "latest")
		top := latest.layers[len(latest.layers)-1]
		size := blobSize(t, reg.plain, repo, top)
		for _, tc := range []struct {
			name string
			at   int64
			says []string
		}{
			{"gzip header", 4, []string{"digest"}},
			{"middle", size / 2, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				p := newBlobProxy(t, reg.plain, top, flipByte(tc.at))
				img := "docker://" + p.addr + "/" + repo + ":latest"
				out, tmp := t.TempDir(), t.TempDir()
				for _, args := range [][]string{
					{"extract", img, "-o", filepath.Join(out, "x.tar"), "--tmpdir", tmp},
					{"extract", "-l", "-1", img, "-o", filepath.Join(out, "x.tar"), "--tmpdir", tmp},
					{"cat", img, "/app/conf/numbers-link/README", "--tmpdir", tmp},
					{"squash", img, "-o", filepath.Join(out, "squashed.tar"), "--tmpdir", tmp},
				} {
					r := d.standalone(t, args...)
					failsCleanly(t, strings.Join(args, " "), r, tc.says, out, tmp)
					if !strings.Contains(r.stderr, top) {
						t.Errorf("%v: the error does not name the blob %s: %s", args, top, r.stderr)
					}
					t.Logf("%v: %s", args, strings.TrimSpace(r.stderr))
				}
			})
		}
	})
}

// manifestDigest is the digest of the manifest that repo:tag names (an
// index, where the registry has one).
func manifestDigest(t *testing.T, addr, repo, tag string) string {
	t.Helper()
	r := runCmd(t, nil, nil, "curl", "-sfI", "-o", "/dev/null", "-w", "%header{docker-content-digest}", "-H", "Accept: "+manifestTypes, "http://"+addr+"/v2/"+repo+"/manifests/"+tag)
	d := must(t, r)
	if !strings.HasPrefix(d, "sha256:") {
		t.Fatalf("HEAD manifest %s:%s: digest %q", repo, tag, d)
	}
	return d
}

// blobSize is the size of a blob, as the registry's HEAD says it.
func blobSize(t *testing.T, addr, repo, digest string) int64 {
	t.Helper()
	r := runCmd(t, nil, nil, "curl", "-sfI", "-o", "/dev/null", "-w", "%header{content-length}", "http://"+addr+"/v2/"+repo+"/blobs/"+digest)
	var n int64
	if err := json.Unmarshal([]byte(must(t, r)), &n); err != nil || n <= 0 {
		t.Fatalf("HEAD blob %s: size %q: %v", digest, r.stdout, err)
	}
	return n
}

// TestRegistryNotFound: a tag, a repository or a registry that is not
// there is exit 2 and one line that names the reference.
func TestRegistryNotFound(t *testing.T) {
	reg := registries(t)
	forEachDaemon(t, func(t *testing.T, d daemon) {
		t.Parallel()
		for _, img := range []string{
			"docker://" + reg.plain + "/" + fixtureRepo(d) + ":nope",
			"docker://" + reg.plain + "/" + fixtureRepo(d) + "@sha256:" + strings.Repeat("0", 64),
			"docker://" + reg.plain + "/" + d.kind + "/no-such-repository:latest",
		} {
			out, tmp := t.TempDir(), t.TempDir()
			name := strings.TrimPrefix(img, "docker://")
			failsCleanly(t, "extract "+img, d.standalone(t, "extract", img, "-o", filepath.Join(out, "x.tar"), "--tmpdir", tmp), []string{name}, out, tmp)
			failsCleanly(t, "docker layers inspect "+img, d.plugin(t, "inspect", img), []string{name})
			failsCleanly(t, "compare "+img, d.standalone(t, "compare", remote(reg.plain, d, "latest"), img), []string{name})
		}
		// A registry that is not there: a port nothing listens on.
		img := "docker://127.0.0.1:1/" + fixtureRepo(d) + ":latest"
		failsCleanly(t, "inspect "+img, d.standalone(t, "inspect", img), []string{"127.0.0.1:1/" + fixtureRepo(d) + ":latest"})
	})
}

// TestRegistrySecrets runs commands with -D (debug lines on: the tests
// check that a command that succeeds shows some) against the
// basic-auth registry, with the right password and with a wrong one,
// through the docker CLI and standalone, and looks for the passwords, the
// base64 of user:password (the Basic credentials) and "Authorization" in
// every stdout and stderr: none may show.
func TestRegistrySecrets(t *testing.T) {
	reg := registries(t)
	d := daemons(t)[0]
	wrong := reg.password + "-wrong"
	secrets := []string{reg.password, basicAuth(reg.user, reg.password), wrong, basicAuth(reg.user, wrong), "Authorization"}
	img := remote(reg.auth, d, "latest")
	missing := "docker://" + reg.auth + "/" + fixtureRepo(d) + ":nope"
	for _, tc := range []struct {
		name     string
		password string
		ok       bool
	}{{"right password", reg.password, true}, {"wrong password", wrong, false}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := dockerConfig(t, map[string]string{reg.auth: basicAuth(reg.user, tc.password)})
			out := t.TempDir()
			for _, args := range [][]string{
				{"inspect", img},
				{"extract", "-f", "-l", "-1", img, "-o", filepath.Join(out, "x.tar")},
				{"cat", img, "/app/hello.txt"},
				{"ls", img, "/app"},
				{"compare", img, remote(reg.plain, d, "mid")},
				{"inspect", missing},
			} {
				for _, r := range []result{
					runCmd(t, []string{"DOCKER_HOST=" + d.host, "DOCKER_CONTEXT="}, nil, "docker", append([]string{"--config", cfg, "-D", "layers"}, args...)...),
					d.layersIn(t, cfg, nil, append([]string{"-D"}, args...)...),
				} {
					if found := secretsIn(r.stdout+r.stderr, secrets...); len(found) > 0 {
						t.Errorf("%v shows %q:\n%s", args, found, r)
					}
					wantOK := tc.ok && args[1] != missing
					if (r.code == 0) != wantOK {
						t.Errorf("%v: want success %v: %s", args, wantOK, r)
					}
					if wantOK && !strings.Contains(r.stderr, "level=debug") {
						t.Errorf("%v: no debug line on stderr: %s", args, r.stderr)
					}
				}
			}
		})
	}
}

// TestRegistryUsage: docker:// with an empty or invalid reference is a
// usage error, exit 1 with one line, before any registry is asked.
func TestRegistryUsage(t *testing.T) {
	registries(t)
	d := daemons(t)[0]
	for _, img := range []string{"docker://", "docker://UPPER/case", "docker://127.0.0.1:1/repo:bad tag", "docker://127.0.0.1:1/repo@sha256:short", "docker:///repo"} {
		for _, args := range [][]string{{"inspect", img}, {"extract", img, "-o", "-"}, {"compare", img, "docker-layers-fixture:latest"}} {
			for _, r := range []result{d.standalone(t, args...), d.plugin(t, args...)} {
				line := strings.TrimRight(r.stderr, "\n")
				if r.code != 1 || r.stdout != "" || line == "" || strings.Contains(line, "\n") || !strings.Contains(line, "invalid image") {
					t.Errorf("%q: want exit 1 and one line that says invalid image: %s", args, r)
				}
			}
		}
	}
}
