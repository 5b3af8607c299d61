package commands

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
)

// TestImageArgs: where the image comes from is checked before any work,
// and a mistake is a usage error (exit 1) on one line.
func TestImageArgs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"inspect", "--input", "x.tar", "oci:dir"}, "--input x.tar and oci:dir both name where the image is"},
		{[]string{"extract", "--input", "x.tar", "docker-daemon:myimg", "-o", "out.tar"}, "--input x.tar and docker-daemon:myimg both name where the image is"},
		{[]string{"inspect", "oci:"}, `invalid image "oci:": oci: needs a path`},
		{[]string{"cat", "oci:-", "/etc/passwd"}, "an OCI layout is a directory"},
		{[]string{"inspect"}, "requires exactly 1 argument"},
		{[]string{"cat", "oci:dir"}, "requires exactly 2 arguments"},
	} {
		root := NewRootCommand(nil, false)
		root.SetArgs(tc.args)
		root.SetOut(io.Discard)
		root.SetErr(io.Discard)
		err := root.Execute()
		var stderr bytes.Buffer
		assert.Equal(t, Exit(&stderr, err), exitUsage, "%v", tc.args)
		assert.Check(t, strings.Contains(stderr.String(), tc.msg), "%v: %s", tc.args, stderr.String())
		assert.Equal(t, strings.Count(stderr.String(), "\n"), 1, stderr.String())
	}
}
