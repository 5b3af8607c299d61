package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// daemon is one of the throwaway daemons.
type daemon struct {
	kind string // legacy, oci, containerd or moby29
	host string // unix:///…
}

// kinds are the daemons of e2e/daemons: Docker 20.10, Docker 26.1 with the
// graph-driver image store and with the containerd image store, and Docker
// 29 (API 1.56, ≥ 1.49: the daemon picks the platform) with its default
// containerd image store.
var kinds = []string{"legacy", "oci", "containerd", "moby29"}

// containerdStore says whether the daemon keeps images in the containerd
// image store: compressed layer blobs, images of several platforms.
func (d daemon) containerdStore() bool {
	return d.kind == "containerd" || d.kind == "moby29"
}

// binary is the docker-layers binary under test; pluginConfig a docker
// config directory that holds it as a CLI plugin.
var binary, pluginConfig string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "docker-layers-e2e-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(tmp)
	binary = os.Getenv("DOCKER_LAYERS_BINARY")
	if binary == "" {
		binary = filepath.Join(tmp, "docker-layers")
		cmd := exec.Command("go", "build", "-o", binary, "../cli-plugins/docker-layers")
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			panic(err)
		}
	}
	if !filepath.IsAbs(binary) { // relative to the repository root, as make passes it
		binary = filepath.Join("..", binary)
	}
	if binary, err = filepath.Abs(binary); err != nil {
		panic(err)
	}
	pluginConfig = filepath.Join(tmp, "docker-config")
	if err := os.MkdirAll(filepath.Join(pluginConfig, "cli-plugins"), 0o755); err != nil {
		panic(err)
	}
	if err := os.Symlink(binary, filepath.Join(pluginConfig, "cli-plugins", "docker-layers")); err != nil {
		panic(err)
	}
	return m.Run()
}

// daemons returns the daemons to test against. A missing one skips the test
// locally and fails it on CI.
func daemons(t *testing.T) []daemon {
	t.Helper()
	var out []daemon
	for _, k := range kinds {
		host := os.Getenv("DOCKER_LAYERS_" + strings.ToUpper(k) + "_HOST")
		if host == "" {
			if os.Getenv("CI") == "true" {
				t.Fatalf("DOCKER_LAYERS_%s_HOST is not set: the %s daemon is missing (run the suite with e2e/run.sh)", strings.ToUpper(k), k)
			}
			t.Logf("skipping the %s daemon: DOCKER_LAYERS_%s_HOST is not set (run e2e/run.sh)", k, strings.ToUpper(k))
			continue
		}
		out = append(out, daemon{kind: k, host: host})
	}
	if len(out) == 0 {
		t.Skip("no daemon: run the e2e suite with e2e/run.sh")
	}
	return out
}

// forEachDaemon runs f as a parallel-safe subtest per daemon.
func forEachDaemon(t *testing.T, f func(t *testing.T, d daemon)) {
	for _, d := range daemons(t) {
		t.Run(d.kind, func(t *testing.T) { f(t, d) })
	}
}

// result is what a command did.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
}

// runCmd runs name with args and env added to the environment.
func runCmd(t *testing.T, env []string, stdin []byte, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("running %s %v: %v", name, args, err)
		}
		r.code = ee.ExitCode()
	}
	return r
}

// plugin runs "docker layers ARGS" through the real docker CLI.
func (d daemon) plugin(t *testing.T, args ...string) result {
	t.Helper()
	return runCmd(t, []string{"DOCKER_HOST=" + d.host, "DOCKER_CONFIG=" + pluginConfig, "DOCKER_CONTEXT="}, nil, "docker", append([]string{"layers"}, args...)...)
}

// standalone runs "docker-layers ARGS".
func (d daemon) standalone(t *testing.T, args ...string) result {
	t.Helper()
	return runCmd(t, []string{"DOCKER_HOST=" + d.host, "DOCKER_CONFIG=" + pluginConfig, "DOCKER_CONTEXT="}, nil, binary, args...)
}

// docker runs the docker CLI itself against the daemon.
func (d daemon) docker(t *testing.T, args ...string) result {
	t.Helper()
	return runCmd(t, []string{"DOCKER_HOST=" + d.host, "DOCKER_CONFIG=" + pluginConfig, "DOCKER_CONTEXT="}, nil, "docker", args...)
}

// must fails the test unless r succeeded, and returns its stdout.
func must(t *testing.T, r result) string {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("command failed: %s", r)
	}
	return r.stdout
}
