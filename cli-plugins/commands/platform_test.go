package commands

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/containerd/platforms"
	"gotest.tools/v3/assert"
)

func TestParsePlatform(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{in: "linux/amd64", want: "linux/amd64"},
		{in: "linux/arm64", want: "linux/arm64"},
		{in: "linux/arm64/v8", want: "linux/arm64"},
		{in: "linux/aarch64", want: "linux/arm64"},
		{in: "linux/arm/v7", want: "linux/arm/v7"},
		{in: "linux/armhf", want: "linux/arm/v7"},
		{in: "linux/x86_64", want: "linux/amd64"},
		{in: "windows/amd64", want: "windows/amd64"},
		{in: "", err: "empty platform"},
		{in: "  ", err: "empty platform"},
		{in: "linux/arm/v7/extra", err: `invalid platform "linux/arm/v7/extra"`},
		{in: "linux/amd 64", err: `invalid platform "linux/amd 64"`},
	}
	for _, tc := range tests {
		p, err := parsePlatform(tc.in)
		if tc.err != "" {
			assert.ErrorContains(t, err, tc.err, "%q", tc.in)
			continue
		}
		assert.NilError(t, err, "%q", tc.in)
		assert.Equal(t, platforms.Format(p), tc.want, "%q", tc.in)
	}
}

// TestPlatformFlag: --platform is parsed before any work, and a bad value
// is a usage error (exit 1) on one line.
func TestPlatformFlag(t *testing.T) {
	for _, name := range []string{"inspect", "extract"} {
		root := NewRootCommand(nil, false)
		root.SetArgs([]string{name, "--platform", "linux/arm/v7/x", "img"})
		root.SetOut(io.Discard)
		root.SetErr(io.Discard)
		err := root.Execute()
		var stderr bytes.Buffer
		assert.Equal(t, Exit(&stderr, err), exitUsage, name)
		assert.Check(t, strings.Contains(stderr.String(), `invalid platform "linux/arm/v7/x"`), stderr.String())
		assert.Equal(t, strings.Count(stderr.String(), "\n"), 1, stderr.String())

	}
	cmd := newExtractCommand(nil)
	assert.NilError(t, cmd.Flags().Parse([]string{"--platform", "linux/aarch64"}))
	assert.Equal(t, cmd.Flags().Lookup("platform").Value.String(), "linux/arm64")
}
