package commands

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/debug"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// TestDebugLines runs extract on the sample archive as the docker CLI runs
// it after -D (debug.Enable, which sets logrus's level) and without it:
// with debug the libraries' lines are on stderr, without it stderr is
// empty, and the output is the same bytes.
func TestDebugLines(t *testing.T) {
	sample, err := filepath.Abs("../../e2e/fixtures/sample.tar.gz")
	assert.NilError(t, err)
	run := func(t *testing.T, on bool) (stderr string, out []byte) {
		if on {
			debug.Enable()
			defer debug.Disable()
		}
		var stdout, errBuf bytes.Buffer
		dockerCLI, err := command.NewDockerCli(command.WithOutputStream(&stdout), command.WithErrorStream(&errBuf))
		assert.NilError(t, err)
		file := filepath.Join(t.TempDir(), "out.tar")
		root := NewRootCommand(dockerCLI, false)
		root.SetArgs([]string{"extract", "--input", sample, "--tmpdir", t.TempDir(), "-o", file})
		assert.NilError(t, root.ExecuteContext(context.Background()))
		out, err = os.ReadFile(file)
		assert.NilError(t, err)
		return errBuf.String(), out
	}

	stderr, withDebug := run(t, true)
	for _, want := range []string{
		`level=debug msg="archive: gzip, decompressed with `,
		`msg="archive: docker save archive, OCI layout (Docker 25+), `,
		`msg="selection: docker-archive:` + sample + `, 7 of 7 layers selected in `,
		`: uncompressed, read in place"`,
		`msg="reading layers: 7 layers, 2.2 MB, in `,
		`msg="pass 1 (indexing): 7 layers in `,
		`msg="pass 2 (writing): 293 entries, 2.0 MB of file data in `,
	} {
		assert.Check(t, is.Contains(stderr, want))
	}
	for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
		assert.Check(t, is.Contains(line, "level=debug"), "not a debug line: %q", line)
	}

	stderr, without := run(t, false)
	assert.Check(t, is.Equal(stderr, ""))
	assert.Check(t, bytes.Equal(withDebug, without), "the output differs with -D")
}
