package registry

import (
	"testing"

	"gotest.tools/v3/assert"
)

func TestParseTag(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{in: "127.0.0.1:5000/pushed/x:sq", want: "127.0.0.1:5000/pushed/x:sq"},
		{in: "docker://127.0.0.1:5000/pushed/x:sq", want: "127.0.0.1:5000/pushed/x:sq"},
		// As docker push takes it: docker.io, library/ and latest.
		{in: "app", want: "docker.io/library/app:latest"},
		{in: "team/app:1.0", want: "docker.io/team/app:1.0"},
		{in: "docker.io/team/app:1.0", want: "docker.io/team/app:1.0"},
		{in: "registry.example.com/app", want: "registry.example.com/app:latest"},
		{in: "registry.example.com/app@sha256:3f57d9401f8d42f986df300f0c69192fc41da28ccc8d797829467780db3dd741", err: "push to a tag, not a digest"},
		{in: "Upper/app:1", err: `invalid reference "Upper/app:1"`},
		{in: "", err: `invalid reference ""`},
	} {
		got, err := ParseTag(tc.in)
		if tc.err != "" {
			assert.ErrorContains(t, err, tc.err, tc.in)
			continue
		}
		assert.NilError(t, err, tc.in)
		assert.Equal(t, got, tc.want, tc.in)
	}
}
