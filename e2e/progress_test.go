package e2e

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// The progress image: bigLayers layers, each with many small files and a
// few large ones of incompressible bytes, so that reading a layer takes
// several progress reports and flattening writes enough to show a rate.
// Its bytes are the same on every run, so it is loaded once per daemon.
const (
	progressImage  = "docker-layers-progress:big"
	bigLayers      = 4
	bigSmallFiles  = 1000
	bigLargeFiles  = 2
	bigLargeFileSz = 16 << 20
)

var (
	progressOnce   sync.Once
	progressLayers [][]byte
)

func bigImageLayers(t *testing.T) [][]byte {
	progressOnce.Do(func() {
		rng := rand.NewChaCha8([32]byte{'d', 'o', 'c', 'k', 'e', 'r', '-', 'l', 'a', 'y', 'e', 'r', 's'})
		for l := range bigLayers {
			es := []entry{dir(fmt.Sprintf("layer%d", l)), dir(fmt.Sprintf("layer%d/small", l))}
			for i := range bigSmallFiles {
				es = append(es, file(fmt.Sprintf("layer%d/small/f%04d", l, i), fmt.Sprintf("file %d of layer %d\n", i, l)))
			}
			for i := range bigLargeFiles {
				b := make([]byte, bigLargeFileSz)
				_, _ = rng.Read(b)
				es = append(es, file(fmt.Sprintf("layer%d/large%d.bin", l, i), string(b)))
			}
			progressLayers = append(progressLayers, layerTar(t, es))
		}
	})
	return progressLayers
}

// ensureProgressImage loads the progress image into the daemon unless it
// is there already.
func (d daemon) ensureProgressImage(t *testing.T) string {
	t.Helper()
	if d.docker(t, "image", "inspect", progressImage).code != 0 {
		d.load(t, loadArchive(t, progressImage, bigImageLayers(t)))
	}
	return progressImage
}

// needTmux returns tmux's path; without it the test fails on CI and is
// skipped elsewhere.
func needTmux(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("tmux")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("tmux is missing (e2e/daemons/install.sh installs it): %v", err)
		}
		t.Skipf("tmux is missing (e2e/daemons/install.sh installs it): %v", err)
	}
	return p
}

// inTmux runs the shell command script in a detached tmux session of 150
// columns and 60 rows, the terminal a person would watch, with env added
// to its environment. It waits for the command to end and returns the
// screen then (capture-pane, trailing blank lines dropped), and
// everything the command wrote to the terminal (pipe-pane).
func inTmux(t *testing.T, env []string, script string) (screen []string, raw string) {
	t.Helper()
	tmux := needTmux(t)
	dir := t.TempDir()
	sock, start, rawLog := filepath.Join(dir, "sock"), filepath.Join(dir, "start"), filepath.Join(dir, "raw")
	env = append([]string{"TERM=xterm-256color"}, env...)
	tm := func(args ...string) result {
		return runCmd(t, env, nil, tmux, append([]string{"-S", sock, "-f", "/dev/null"}, args...)...)
	}
	// The command waits for pipe-pane to be recording before it starts,
	// and for the screen to be read before it ends.
	wrapped := fmt.Sprintf(`while [ ! -e %s ]; do sleep 0.05; done; %s; echo "[exit $?]"; sleep 600`, start, script)
	must(t, tm("new-session", "-d", "-x", "150", "-y", "60", "-s", "progress", "sh", "-c", wrapped))
	t.Cleanup(func() { tm("kill-server") })
	must(t, tm("pipe-pane", "-o", "-t", "progress", "cat >> "+rawLog))
	if err := os.WriteFile(start, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		lines := strings.Split(must(t, tm("capture-pane", "-p", "-t", "progress")), "\n")
		for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
			lines = lines[:len(lines)-1]
		}
		if len(lines) > 0 && strings.HasPrefix(lines[len(lines)-1], "[exit ") {
			screen = lines
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the command did not end in tmux; the screen:\n%s", strings.Join(lines, "\n"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	b, err := os.ReadFile(rawLog)
	if err != nil {
		t.Fatal(err)
	}
	return screen, string(b)
}

// tarStats counts the entries and the file data of a tar.
func tarStats(t *testing.T, name string) (entries, bytes int64) {
	t.Helper()
	f := mustOpen(t, name)
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return entries, bytes
		}
		if err != nil {
			t.Fatal(err)
		}
		entries++
		if h.Typeflag == tar.TypeReg {
			bytes += h.Size
		}
	}
}

var (
	layerLine   = regexp.MustCompile(`^([0-9a-f]{12}): (.*)$`)
	summaryLine = regexp.MustCompile(`^(Extracted|Squashed layers 1 to 3:) ([0-9,]+) entries, ([0-9.]+ [kMG]?B) in [0-9.]+m?s (to|into) (.+)$`)
)

// checkScreen checks the final screen of a command that read layers
// layers: one line per layer, each finished, in place of its progress
// bar; then the flattening line, done; then the summary and the exit
// status. It returns the summary's submatches.
func checkScreen(t *testing.T, screen []string, layers int, flattening string) []string {
	t.Helper()
	dump := "\n" + strings.Join(screen, "\n")
	seen := map[string]int{}
	var read []string
	i := 0
	for ; i < len(screen) && layerLine.MatchString(screen[i]); i++ {
		m := layerLine.FindStringSubmatch(screen[i])
		seen[m[1]]++
		if m[2] == "Read" {
			read = append(read, m[1])
		}
	}
	if len(read) != layers || len(seen) != layers {
		t.Errorf("want exactly one finished line per layer (%d), got %d lines for %d IDs, %d finished:%s", layers, i, len(seen), len(read), dump)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("layer %s has %d lines:%s", id, n, dump)
		}
	}
	rest := screen[i:]
	if len(rest) != 3 || rest[0] != flattening || !summaryLine.MatchString(rest[1]) || rest[2] != "[exit 0]" {
		t.Fatalf("want %q, a summary and [exit 0] after the layers, got:%s", flattening, dump)
	}
	return summaryLine.FindStringSubmatch(rest[1])
}

// TestProgressTerminal runs extract and squash as a person would, in a
// terminal of 150x60 (tmux), and reads the screen they leave: docker
// pull's display, one line per layer updated in place, then the
// flattening and a one-line summary. What was written to the terminal
// shows the progress bars and the flattening's counts on the way.
func TestProgressTerminal(t *testing.T) {
	needTmux(t)
	forEachDaemon(t, func(t *testing.T, d daemon) {
		img := d.ensureProgressImage(t)
		env := []string{"DOCKER_HOST=" + d.host, "DOCKER_CONFIG=" + pluginConfig, "DOCKER_CONTEXT="}
		dir := t.TempDir()

		t.Run("extract", func(t *testing.T) {
			out := filepath.Join(dir, "out.tar")
			screen, raw := inTmux(t, env, "docker layers extract "+img+" -o "+out)
			t.Logf("the screen at the end:\n%s", strings.Join(screen, "\n"))
			m := checkScreen(t, screen, bigLayers, fmt.Sprintf("Flattening %d layers: Done", bigLayers))
			entries, bytes := tarStats(t, out)
			if want := fmt.Sprintf("%s entries", comma(entries)); m[2]+" entries" != want {
				t.Errorf("summary says %s entries, the tar has %d", m[2], entries)
			}
			if bytes < bigLayers*bigLargeFiles*bigLargeFileSz || !strings.HasSuffix(m[3], "MB") || m[4] != "to" || m[5] != out {
				t.Errorf("summary %q: want the tar's %d bytes, to %s", m[0], bytes, out)
			}
			if !regexp.MustCompile(`[0-9a-f]{12}: Reading \[[=>]* *\] +[0-9.]+[kM]?B/[0-9.]+MB`).MatchString(raw) {
				t.Errorf("no progress bar was shown while reading:\n%q", raw)
			}
			if !regexp.MustCompile(fmt.Sprintf(`Flattening %d layers: [0-9,]+ entries, [0-9.]+ [kMG]?B written`, bigLayers)).MatchString(raw) {
				t.Errorf("the flattening's progress was not shown:\n%q", raw)
			}
		})

		t.Run("squash", func(t *testing.T) {
			out := filepath.Join(dir, "squashed.tar")
			screen, _ := inTmux(t, env, "docker layers squash "+img+" -l 1:3 -o "+out)
			t.Logf("the screen at the end:\n%s", strings.Join(screen, "\n"))
			// The image ID follows the summary on stdout.
			if len(screen) < 2 || !regexp.MustCompile(`^sha256:[0-9a-f]{64}$`).MatchString(screen[len(screen)-2]) {
				t.Fatalf("no image ID before the exit status:\n%s", strings.Join(screen, "\n"))
			}
			screen = append(screen[:len(screen)-2:len(screen)-2], screen[len(screen)-1])
			// The archive is read whole first (its own line), and the
			// layers squashed are read from it.
			if len(screen) > 0 && strings.HasPrefix(screen[0], "archive: ") {
				if screen[0] != "archive: Read" {
					t.Errorf("archive line %q, want it finished", screen[0])
				}
				screen = screen[1:]
			}
			// The layer below the range is copied into the new image
			// after the flattening: one line of its own.
			var copied []string
			for i := 0; i < len(screen); i++ {
				if m := layerLine.FindStringSubmatch(screen[i]); m != nil && strings.HasPrefix(m[2], "Cop") {
					copied = append(copied, screen[i])
					screen = append(screen[:i:i], screen[i+1:]...)
					i--
				}
			}
			if len(copied) != 1 || !strings.HasSuffix(copied[0], ": Copied") {
				t.Errorf("want one finished line for the layer copied, got %q", copied)
			}
			m := checkScreen(t, screen, 3, "Flattening 3 layers: Done")
			if m[4] != "to" || m[5] != out {
				t.Errorf("summary %q: want to %s", m[0], out)
			}
		})

		t.Run("not on a pipe", func(t *testing.T) {
			out := filepath.Join(dir, "pipe.tar")
			if r := d.plugin(t, "extract", img, "-o", out); r.code != 0 || r.stderr != "" {
				t.Errorf("progress or summary on a pipe: %s", r)
			}
			r := d.plugin(t, "extract", "--progress", "plain", img, "-o", out, "-f")
			if r.code != 0 || !regexp.MustCompile(`(?m)^Extracted [0-9,]+ entries, [0-9.]+ MB in [0-9.]+m?s to `+regexp.QuoteMeta(out)+`$`).MatchString(r.stderr) {
				t.Errorf("--progress plain: want a summary: %s", r)
			}
		})
	})
}

// comma writes n with thousands separators, as the summary does.
func comma(n int64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
