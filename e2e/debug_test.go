package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDebug runs extract through the docker CLI with its global -D, and
// standalone with -D: the debug lines name the Engine API version, the
// save stream's layout and each phase's time, on stderr only; the output
// file is the same bytes as without -D, and without -D stderr is empty.
func TestDebug(t *testing.T) {
	layout := map[string]string{
		"legacy":     "save stream: legacy layout (Docker ≤ 24)",
		"oci":        "save stream: OCI layout with uncompressed blobs (Docker 25+)",
		"containerd": "save stream: OCI layout with compressed blobs (containerd image store)",
		"moby29":     "save stream: OCI layout with compressed blobs (containerd image store)",
	}
	apiVersion := regexp.MustCompile(`level=debug msg="daemon: Engine API version 1\.[0-9]+; image sha256:[0-9a-f]{64} has [0-9]+ layers"`)
	forEachDaemon(t, func(t *testing.T, d daemon) {
		dir := t.TempDir()
		plain := filepath.Join(dir, "plain.tar")
		r := d.plugin(t, "extract", fixtureLatest, "-o", plain)
		must(t, r)
		if r.stderr != "" {
			t.Errorf("without -D, stderr is not empty:\n%s", r.stderr)
		}
		want, err := os.ReadFile(plain)
		if err != nil {
			t.Fatal(err)
		}

		for name, run := range map[string]func(out string) result{
			"docker -D layers": func(out string) result {
				return d.docker(t, "-D", "layers", "extract", fixtureLatest, "-o", out)
			},
			"docker-layers -D": func(out string) result {
				return d.standalone(t, "-D", "extract", fixtureLatest, "-o", out)
			},
		} {
			t.Run(name, func(t *testing.T) {
				out := filepath.Join(t.TempDir(), "out.tar")
				r := run(out)
				if must(t, r) != "" {
					t.Errorf("stdout is not empty with -o:\n%s", r.stdout)
				}
				got, err := os.ReadFile(out)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("-D changed the output: %d bytes, %d without", len(got), len(want))
				}
				if !apiVersion.MatchString(r.stderr) {
					t.Errorf("no API version line:\n%s", r.stderr)
				}
				for _, line := range []string{
					layout[d.kind],
					`msg="selection: ` + fixtureLatest + `, `,
					`msg="reading layers: `,
					`msg="pass 1 (indexing): `,
					`msg="pass 2 (writing): `,
					"): spooled, ",
				} {
					if !strings.Contains(r.stderr, line) {
						t.Errorf("no debug line with %q:\n%s", line, r.stderr)
					}
				}
				// Every line on stderr is a debug line: the plugin's, and
				// any of the docker CLI's own.
				for _, l := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
					if !strings.Contains(l, "level=debug") {
						t.Errorf("not a debug line: %q", l)
					}
				}
			})
		}
	})
}
