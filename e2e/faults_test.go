package e2e

import (
	"crypto/rand"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// holdProxy forwards a unix socket to a daemon's and, once a connection has
// sent holdAfter bytes back to the client (only a save stream is that
// large), holds that connection until release is called, and tells held.
type holdProxy struct {
	path      string
	holdAfter int64
	held      chan struct{}
	release   chan struct{}
	once      sync.Once
}

func newHoldProxy(t *testing.T, daemonSock string, holdAfter int64) *holdProxy {
	t.Helper()
	p := &holdProxy{path: filepath.Join(t.TempDir(), "proxy.sock"), holdAfter: holdAfter, held: make(chan struct{}), release: make(chan struct{})}
	l, err := net.Listen("unix", p.path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close(); p.unhold() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go p.serve(c, daemonSock)
		}
	}()
	return p
}

func (p *holdProxy) unhold() { p.once.Do(func() { close(p.release) }) }

func (p *holdProxy) serve(client net.Conn, daemonSock string) {
	defer client.Close()
	up, err := net.Dial("unix", daemonSock)
	if err != nil {
		return
	}
	defer up.Close()
	go func() { _, _ = io.Copy(up, client) }()
	var sent atomic.Int64
	buf := make([]byte, 32<<10)
	var heldOnce sync.Once
	for {
		n, err := up.Read(buf)
		if n > 0 {
			if _, werr := client.Write(buf[:n]); werr != nil {
				return
			}
			if sent.Add(int64(n)) >= p.holdAfter {
				heldOnce.Do(func() { close(p.held); <-p.release })
			}
		}
		if err != nil {
			return
		}
	}
}

// privateDaemon starts a daemon of kind in its own state directory, for a
// test that kills it, and loads a crafted image with 16 MiB of random bytes.
func privateDaemon(t *testing.T, kind string) (host, root string) {
	t.Helper()
	root = filepath.Join("/tmp", "dl-fault-"+kind[:3])
	env := append(os.Environ(), "DOCKER_LAYERS_DAEMONS="+root)
	stop := func() {
		cmd := exec.Command("../e2e/daemons/stop.sh", kind)
		cmd.Dir, cmd.Env = ".", env
		_ = cmd.Run()
	}
	stop()
	t.Cleanup(func() { stop(); os.RemoveAll(root) })
	cmd := exec.Command("../e2e/daemons/start.sh", kind)
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("starting a private %s daemon: %v", kind, err)
	}
	_, host, _ = strings.Cut(strings.TrimSpace(string(out)), "=")
	b := make([]byte, 16<<20)
	_, _ = rand.Read(b)
	d := daemon{kind: kind, host: host}
	d.load(t, loadArchive(t, "docker-layers-crafted:fault", [][]byte{
		layerTar(t, []entry{file("random.bin", string(b))}),
		layerTar(t, []entry{file("small", "s")}),
	}))
	return host, root
}

// startExtract starts a standalone extract through the proxy, writing to
// out with its spool in tmp, and returns once the save stream is held.
func startExtract(t *testing.T, p *holdProxy, out, tmp string, name string, args ...string) (*exec.Cmd, *strings.Builder) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "DOCKER_HOST=unix://"+p.path, "DOCKER_CONFIG="+pluginConfig, "DOCKER_CONTEXT=")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.held:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("the save stream never reached the hold point: %s", stderr.String())
	}
	return cmd, &stderr
}

func exitCode(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("extract did not end")
	}
	return -1
}

func assertEmpty(t *testing.T, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		entries, _ := os.ReadDir(d)
		for _, e := range entries {
			t.Errorf("left behind: %s", filepath.Join(d, e.Name()))
		}
	}
}

func oneLine(t *testing.T, stderr string, contains string) {
	t.Helper()
	s := strings.TrimRight(stderr, "\n")
	if strings.Contains(s, "\n") || !strings.Contains(s, contains) {
		t.Errorf("want one line on stderr containing %q, got %q", contains, stderr)
	}
}

// TestFaultDaemonDiesMidStream kills the daemon while extract reads its
// save stream.
func TestFaultDaemonDiesMidStream(t *testing.T) {
	forEachDaemon(t, func(t *testing.T, d daemon) {
		host, root := privateDaemon(t, d.kind)
		p := newHoldProxy(t, strings.TrimPrefix(host, "unix://"), 1<<20)
		out, tmp := t.TempDir(), t.TempDir()
		cmd, stderr := startExtract(t, p, out, tmp, binary, "extract", "docker-layers-crafted:fault", "-o", filepath.Join(out, "x.tar"), "--tmpdir", tmp)
		pid, err := os.ReadFile(filepath.Join(root, d.kind, "docker.pid"))
		if err != nil {
			t.Fatal(err)
		}
		kill := exec.Command("kill", "-9", strings.TrimSpace(string(pid)))
		if b, err := kill.CombinedOutput(); err != nil {
			t.Fatalf("kill: %v %s", err, b)
		}
		time.Sleep(500 * time.Millisecond)
		p.unhold()
		if code := exitCode(t, cmd); code != 2 {
			t.Errorf("exit %d, want 2: %s", code, stderr)
		}
		t.Logf("stderr: %s", stderr)
		oneLine(t, stderr.String(), "")
		assertEmpty(t, out, tmp)
	})
}

// TestFaultSignals interrupts extract with SIGINT and SIGTERM, standalone
// and through the docker CLI.
func TestFaultSignals(t *testing.T) {
	forEachDaemon(t, func(t *testing.T, d daemon) {
		for _, tc := range []struct {
			name string
			sig  syscall.Signal
			code int
			cli  bool
		}{
			{"SIGINT", syscall.SIGINT, 130, false},
			{"SIGTERM", syscall.SIGTERM, 143, false},
			{"SIGINT through the docker CLI", syscall.SIGINT, 130, true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				p := newHoldProxy(t, strings.TrimPrefix(d.host, "unix://"), 1<<20)
				out, tmp := t.TempDir(), t.TempDir()
				args := []string{"extract", d.ensureCrafted(t, "big-file"), "-o", filepath.Join(out, "x.tar"), "--tmpdir", tmp}
				name := binary
				if tc.cli {
					name, args = "docker", append([]string{"layers"}, args...)
				}
				cmd, stderr := startExtract(t, p, out, tmp, name, args...)
				if err := cmd.Process.Signal(tc.sig); err != nil {
					t.Fatal(err)
				}
				if code := exitCode(t, cmd); code != tc.code {
					t.Errorf("exit %d, want %d: %s", code, tc.code, stderr)
				}
				t.Logf("stderr: %s", stderr)
				assertEmpty(t, out, tmp)
			})
		}
	})
}

// TestFaultDiskFull fills the spool's and the output's file systems.
func TestFaultDiskFull(t *testing.T) {
	small := t.TempDir()
	if b, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", small).CombinedOutput(); err != nil {
		t.Fatalf("mounting a small tmpfs: %v %s", err, b)
	}
	t.Cleanup(func() { _ = exec.Command("umount", small).Run() })
	forEachDaemon(t, func(t *testing.T, d daemon) {
		out, tmp := t.TempDir(), t.TempDir()
		img := d.ensureCrafted(t, "big-file")
		r := d.standalone(t, "extract", img, "-o", filepath.Join(out, "x.tar"), "--tmpdir", small)
		if r.code != 2 {
			t.Errorf("spool on a full disk: want exit 2: %s", r)
		}
		oneLine(t, r.stderr, "no space left on device")
		t.Logf("spool: %s", r.stderr)
		r = d.standalone(t, "extract", img, "-o", filepath.Join(small, "x.tar"), "--tmpdir", tmp)
		if r.code != 2 {
			t.Errorf("output on a full disk: want exit 2: %s", r)
		}
		oneLine(t, r.stderr, "no space left on device")
		r = d.standalone(t, "extract", img, "-o", "/dev/full", "--tmpdir", tmp)
		if r.code != 2 {
			t.Errorf("output to /dev/full: want exit 2: %s", r)
		}
		oneLine(t, r.stderr, "no space left on device")
		assertEmpty(t, out, tmp, small)
	})
}
