package e2e

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// registryEnv is the throwaway registries of e2e/registry/start.sh, into
// which e2e/run.sh pushes each daemon's fixtures as
// ADDR/KIND/docker-layers-fixture:TAG (base, mid and latest into plain;
// latest into auth and tls).
type registryEnv struct {
	plain, auth, tls          string // 127.0.0.1:PORT
	plainLog, authLog, tlsLog string // their JSON logs
	ca                        string // the CA certificate of tls
	user, password            string // the account of auth
	bin                       string // docker-registry, for instances of a test's own
}

// registries returns the registries. Missing ones skip the test locally and
// fail it on CI, as daemons does.
func registries(t *testing.T) registryEnv {
	t.Helper()
	env := func(k string) string { return os.Getenv("DOCKER_LAYERS_REGISTRY_" + k) }
	r := registryEnv{
		plain: env("PLAIN"), auth: env("AUTH"), tls: env("TLS"),
		plainLog: env("PLAIN_LOG"), authLog: env("AUTH_LOG"), tlsLog: env("TLS_LOG"),
		ca: env("CA"), user: env("USER"), password: env("PASSWORD"), bin: env("BIN"),
	}
	if r.plain == "" || r.auth == "" || r.tls == "" || r.plainLog == "" || r.ca == "" || r.user == "" || r.password == "" || r.bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("DOCKER_LAYERS_REGISTRY_* is not set: the registries are missing (run the suite with e2e/run.sh)")
		}
		t.Skip("no registry: DOCKER_LAYERS_REGISTRY_* is not set (run e2e/run.sh, or set -a; eval \"$(e2e/registry/start.sh)\"; set +a and e2e/registry/push.sh KIND)")
	}
	return r
}

// fixtureRepo is the repository the daemon's fixtures are pushed to.
func fixtureRepo(d daemon) string { return d.kind + "/docker-layers-fixture" }

// remote names the fixture tag d pushed into the registry at addr.
func remote(addr string, d daemon, tag string) string {
	return "docker://" + addr + "/" + fixtureRepo(d) + ":" + tag
}

// basicAuth is the value of a config.json "auth" field and of a Basic
// Authorization header for user and password.
func basicAuth(user, password string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
}

// dockerConfig makes a docker config directory that holds the plugin and,
// when auths is not empty, these registry credentials (address → base64 of
// user:password) in config.json, as docker login writes them without a
// credential helper.
func dockerConfig(t *testing.T, auths map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "cli-plugins"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(binary, filepath.Join(dir, "cli-plugins", "docker-layers")); err != nil {
		t.Fatal(err)
	}
	if len(auths) > 0 {
		cfg := map[string]map[string]map[string]string{"auths": {}}
		for addr, auth := range auths {
			cfg["auths"][addr] = map[string]string{"auth": auth}
		}
		b, err := json.Marshal(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// registryImage is an image's manifest in a registry, as the test reads it
// over HTTP itself.
type registryImage struct {
	digest string   // the manifest's digest (Docker-Content-Digest)
	config string   // the config blob's digest
	layers []string // the layer blobs' digests, bottom first
}

// blobs are the image's config and layer digests.
func (i registryImage) blobs() []string { return append([]string{i.config}, i.layers...) }

var manifestTypes = strings.Join([]string{
	"application/vnd.oci.image.index.v1+json",
	"application/vnd.docker.distribution.manifest.list.v2+json",
	"application/vnd.oci.image.manifest.v1+json",
	"application/vnd.docker.distribution.manifest.v2+json",
}, ", ")

// manifestOf reads the manifest of repo:ref from the plain HTTP registry at
// addr; of an index, the linux manifest for this machine's architecture.
func manifestOf(t *testing.T, addr, repo, ref string) registryImage {
	t.Helper()
	for range 2 {
		req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/v2/"+repo+"/manifests/"+ref, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Accept", manifestTypes)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET manifest %s/%s:%s: %s %v: %s", addr, repo, ref, resp.Status, err, body)
		}
		var m struct {
			Config struct{ Digest string }
			Layers []struct{ Digest string }
			// Of an index.
			Manifests []struct {
				Digest   string
				Platform struct{ OS, Architecture string }
			}
		}
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("manifest %s/%s:%s: %v", addr, repo, ref, err)
		}
		if m.Config.Digest != "" {
			img := registryImage{digest: resp.Header.Get("Docker-Content-Digest"), config: m.Config.Digest}
			for _, l := range m.Layers {
				img.layers = append(img.layers, l.Digest)
			}
			return img
		}
		ref = ""
		for _, d := range m.Manifests {
			if d.Platform.OS == "linux" && d.Platform.Architecture == runtime.GOARCH {
				ref = d.Digest
				break
			}
		}
		if ref == "" {
			t.Fatalf("index %s/%s has no linux/%s manifest: %s", addr, repo, ref, body)
		}
	}
	t.Fatalf("%s/%s: an index in an index", addr, repo)
	return registryImage{}
}

// registryLog is a registry's log from a mark on: e2e/registry/start.sh
// has it write JSON lines, one per request ("response completed", or
// "response completed with error" for a 4xx or 5xx), written when the
// response is done.
type registryLog struct {
	path, addr string // the log, and the registry's plain HTTP address
	off        int64
}

// markLog marks the end of the log at path of the registry at addr.
func markLog(t *testing.T, path, addr string) registryLog {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return registryLog{path: path, addr: addr, off: fi.Size()}
}

var logMarks atomic.Int64

// logRequest is a request the registry logged.
type logRequest struct {
	method, path string
	query        url.Values
	status       int
}

// requests returns the requests the registry logged since the mark:
// completed, cut off by the client, or failed alike. It first makes a
// request of its own and waits until the registry has logged it (and a
// little longer), so that every request made before the call is in the
// log.
func (l registryLog) requests(t *testing.T) []logRequest {
	t.Helper()
	mark := fmt.Sprintf("/v2/?dl-mark=%d-%d", os.Getpid(), logMarks.Add(1))
	resp, err := http.Get("http://" + l.addr + mark)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(l.since(t), `"http.request.uri":"`+mark+`"`) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: the registry did not log %s within 10s", l.path, mark)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	var reqs []logRequest
	sc := bufio.NewScanner(strings.NewReader(l.since(t)))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e struct {
			Msg    string `json:"msg"`
			Method string `json:"http.request.method"`
			URI    string `json:"http.request.uri"`
			Status int    `json:"http.response.status"`
		}
		if json.Unmarshal(sc.Bytes(), &e) != nil || !strings.HasPrefix(e.Msg, "response completed") || e.URI == mark {
			continue
		}
		u, err := url.Parse(e.URI)
		if err != nil {
			t.Fatalf("%s: %q: %v", l.path, e.URI, err)
		}
		reqs = append(reqs, logRequest{method: e.Method, path: u.Path, query: u.Query(), status: e.Status})
	}
	return reqs
}

// blobGETs counts the GETs of /v2/REPO/blobs/DIGEST that the registry
// logged since the mark, by digest (see requests).
func (l registryLog) blobGETs(t *testing.T, repo string) map[string]int {
	t.Helper()
	gets := map[string]int{}
	prefix := "/v2/" + repo + "/blobs/"
	for _, r := range l.requests(t) {
		if r.method == http.MethodGet && strings.HasPrefix(r.path, prefix) {
			gets[strings.TrimPrefix(r.path, prefix)]++
		}
	}
	return gets
}

func (l registryLog) since(t *testing.T) string {
	t.Helper()
	f, err := os.Open(l.path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.NewSectionReader(f, l.off, 1<<40))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// ownRegistry is a plain HTTP registry of the test's own, which it may kill.
type ownRegistry struct {
	addr, log string
	cmd       *exec.Cmd
}

// startRegistry starts the docker-registry binary with a config, storage
// and log of its own in a temporary directory, on a port the kernel picks.
func startRegistry(t *testing.T, bin string) *ownRegistry {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: info
  formatter: json
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
http:
  addr: 127.0.0.1:0
  secret: docker-layers-e2e-own
`, filepath.Join(dir, "storage"))
	if err := os.WriteFile(filepath.Join(dir, "config.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	r := &ownRegistry{log: filepath.Join(dir, "registry.log")}
	logf, err := os.Create(r.log)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	r.cmd = exec.Command(bin, "serve", filepath.Join(dir, "config.yml"))
	r.cmd.Stdout, r.cmd.Stderr = logf, logf
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.cmd.Process.Kill(); _ = r.cmd.Wait() })
	listening := regexp.MustCompile(`"msg":"listening on (127\.0\.0\.1:[0-9]+)`)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		b, _ := os.ReadFile(r.log)
		if m := listening.FindSubmatch(b); m != nil {
			r.addr = string(m[1])
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("the registry did not start: %s", b)
		}
	}
}

// blobProxy is a reverse proxy in front of a plain HTTP registry that
// passes the body of each GET of the blob digest (of every blob, if digest
// is "") through filter, and every other request unchanged.
type blobProxy struct {
	addr   string
	srv    *http.Server
	closed sync.Once

	mu     sync.Mutex
	ranges []string // the Range header of each GET of the blob
}

// filter wraps the body of a blob response; status is its HTTP status.
type filter func(status int, body io.ReadCloser) io.ReadCloser

func newBlobProxy(t *testing.T, upstream, digest string, f filter) *blobProxy {
	t.Helper()
	u, err := url.Parse("http://" + upstream)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.FlushInterval = -1 // pass each read on at once
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &blobProxy{addr: l.Addr().String(), srv: &http.Server{Handler: rp, ErrorLog: log.New(io.Discard, "", 0)}}
	rp.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.Method == http.MethodGet && strings.Contains(resp.Request.URL.Path, "/blobs/"+digest) {
			p.mu.Lock()
			p.ranges = append(p.ranges, resp.Request.Header.Get("Range"))
			p.mu.Unlock()
			resp.Body = f(resp.StatusCode, resp.Body)
		}
		return nil
	}
	rp.ErrorLog = log.New(io.Discard, "", 0) // the cuts the tests make
	go func() { _ = p.srv.Serve(l) }()
	t.Cleanup(p.close)
	return p
}

// close closes the proxy's listener and every connection, at once.
func (p *blobProxy) close() { p.closed.Do(func() { _ = p.srv.Close() }) }

// blobRanges are the Range headers of the blob's GETs so far, "" for none.
func (p *blobProxy) blobRanges() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.ranges)
}

// cutOnce is a filter that ends the first body it is given with an error
// after n bytes, so that the proxy drops the connection there; it passes
// the others on whole.
func cutOnce(n int64) filter {
	var first atomic.Bool
	return func(_ int, body io.ReadCloser) io.ReadCloser {
		if first.Swap(true) {
			return body
		}
		return &cut{ReadCloser: body, left: n}
	}
}

type cut struct {
	io.ReadCloser
	left int64
}

func (c *cut) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, errors.New("cut by the test")
	}
	n, err := c.ReadCloser.Read(p[:min(int64(len(p)), c.left)])
	c.left -= int64(n)
	return n, err
}

// flipByte is a filter that inverts the byte at offset at of a 200
// response's body.
func flipByte(at int64) filter {
	return func(status int, body io.ReadCloser) io.ReadCloser {
		if status != http.StatusOK {
			return body
		}
		return &flipper{ReadCloser: body, at: at}
	}
}

type flipper struct {
	io.ReadCloser
	at, off int64
}

func (f *flipper) Read(p []byte) (int, error) {
	n, err := f.ReadCloser.Read(p)
	if f.at >= f.off && f.at < f.off+int64(n) {
		p[f.at-f.off] ^= 0xff
	}
	f.off += int64(n)
	return n, err
}

// throttle is a filter that passes a body on at about rate bytes a second,
// and closes reached once after bytes have passed.
func throttle(rate, after int64, reached chan<- struct{}) filter {
	var once sync.Once
	return func(_ int, body io.ReadCloser) io.ReadCloser {
		return &throttled{ReadCloser: body, rate: rate, after: after, reached: func() { once.Do(func() { close(reached) }) }}
	}
}

type throttled struct {
	io.ReadCloser
	rate, after, passed int64
	reached             func()
}

func (r *throttled) Read(p []byte) (int, error) {
	const chunk = 16 << 10
	if len(p) > chunk {
		p = p[:chunk]
	}
	time.Sleep(time.Duration(int64(len(p)) * int64(time.Second) / r.rate))
	n, err := r.ReadCloser.Read(p)
	if r.passed += int64(n); r.passed >= r.after {
		r.reached()
	}
	return n, err
}

// inFlight is a filter that holds each body for a while before passing it
// on, and records in max the most bodies open at once.
func inFlight(hold time.Duration, max *atomic.Int64) filter {
	var open atomic.Int64
	return func(_ int, body io.ReadCloser) io.ReadCloser {
		n := open.Add(1)
		for m := max.Load(); n > m && !max.CompareAndSwap(m, n); m = max.Load() {
		}
		return &held{ReadCloser: body, hold: hold, done: func() { open.Add(-1) }}
	}
}

type held struct {
	io.ReadCloser
	hold   time.Duration
	done   func()
	closed sync.Once
}

func (h *held) Read(p []byte) (int, error) {
	if h.hold > 0 {
		time.Sleep(h.hold)
		h.hold = 0
	}
	return h.ReadCloser.Read(p)
}

func (h *held) Close() error {
	h.closed.Do(h.done)
	return h.ReadCloser.Close()
}

// fileSHA256 is the sha256 of a file, in hex.
func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// secretsIn returns what of the secrets the outputs show.
func secretsIn(outputs string, secrets ...string) []string {
	var found []string
	for _, s := range secrets {
		if s != "" && strings.Contains(outputs, s) {
			found = append(found, s)
		}
	}
	return found
}

// shortDigest is a digest for messages.
func shortDigest(d string) string {
	d = strings.TrimPrefix(d, "sha256:")
	return d[:min(12, len(d))]
}

// tokenProxy is a registry that asks for bearer tokens, as Docker Hub
// does, in front of a plain HTTP registry: it answers 401 with a Bearer
// challenge that names its own token endpoint unless a request carries
// its token, and the endpoint gives the token for the right Basic
// credentials only. Requests with the token go on to the registry.
type tokenProxy struct {
	addr, token string
}

func newTokenProxy(t *testing.T, upstream, user, password string) *tokenProxy {
	t.Helper()
	u, err := url.Parse("http://" + upstream)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tokenProxy{addr: l.Addr().String(), token: "dl-token-" + hex.EncodeToString(b)}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ErrorLog = log.New(io.Discard, "", 0)
	unauthorized := func(w http.ResponseWriter, challenge bool) {
		if challenge {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="http://%s/token",service="dl-e2e"`, p.addr))
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
	}
	srv := &http.Server{ErrorLog: log.New(io.Discard, "", 0), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" {
			if u, pw, ok := r.BasicAuth(); !ok || u != user || pw != password {
				unauthorized(w, false)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"token": p.token, "expires_in": 300})
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+p.token {
			unauthorized(w, true)
			return
		}
		r.Header.Del("Authorization")
		rp.ServeHTTP(w, r)
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return p
}
