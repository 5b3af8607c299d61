package e2e

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestCompleteLayers: the shell completion of -l offers the image's
// indexes, its ancestors' tags and diff-ID prefixes, standalone, through
// the docker CLI, and from a saved archive; never file names.
func TestCompleteLayers(t *testing.T) {
	forEachDaemon(t, func(t *testing.T, d daemon) {
		img := "docker-layers-fixture:latest"
		ids := diffIDs(t, d, img)
		check := func(what, out string) {
			t.Helper()
			var specs []string
			for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
				specs = append(specs, strings.SplitN(l, "\t", 2)[0])
			}
			got := " " + strings.Join(specs, " ") + " "
			for _, want := range []string{"0", "-1", "docker-layers-fixture:base", "docker-layers-fixture:mid", strings.TrimPrefix(ids[0], "sha256:")[:12], ":36"} {
				if !strings.Contains(got, " "+want+" ") {
					t.Errorf("%s: no %q in:\n%s", what, want, out)
				}
			}
		}
		check("standalone", must(t, d.standalone(t, "__complete", "inspect", img, "-l", "")))
		check("plugin", must(t, d.docker(t, "__complete", "layers", "extract", img, "--layers", "")))
		out := must(t, d.standalone(t, "__complete", "squash", img, "-l", "docker-layers-fixture:mid:"))
		if !strings.Contains(out, "docker-layers-fixture:mid:-1\t") {
			t.Errorf("a range: no docker-layers-fixture:mid:-1 in:\n%s", out)
		}
		if out := must(t, d.standalone(t, "__complete", "inspect", "dl-no-such-image", "-l", "")); strings.TrimSpace(out) != ":4" {
			t.Errorf("a missing image: want nothing and no file names, got:\n%s", out)
		}

		// A saved archive, without the daemon's tags for the ancestors.
		saved := filepath.Join(t.TempDir(), "saved.tar")
		must(t, d.docker(t, "save", "-o", saved, img))
		out = must(t, d.standalone(t, "__complete", "diff", "--input", saved, "-l", ""))
		if !strings.Contains(out, "\n-1\t") || !strings.Contains(out, strings.TrimPrefix(ids[len(ids)-1], "sha256:")[:12]+"\t") {
			t.Errorf("--input: got:\n%s", out)
		}
	})
}
