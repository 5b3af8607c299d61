package source

import (
	"os"
	"path/filepath"
	"testing"

	"gotest.tools/v3/assert"
)

const sha64 = "3f57d9401f8d42f986df300f0c69192fc41da28ccc8d797829467780db3dd741"

func TestParseReference(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Reference
		err  string
	}{
		{in: "myimg", want: Reference{Transport: Daemon, Name: "myimg"}},
		{in: "myimg:1.0", want: Reference{Transport: Daemon, Name: "myimg:1.0"}},
		{in: "localhost:5000/app:v2", want: Reference{Transport: Daemon, Name: "localhost:5000/app:v2"}},
		{in: "sha256:3f57d9401f8d", want: Reference{Transport: Daemon, Name: "sha256:3f57d9401f8d"}},
		{in: "docker-daemon:myimg:1.0", want: Reference{Transport: Daemon, Name: "myimg:1.0"}},
		{in: "docker-daemon:oci:latest", want: Reference{Transport: Daemon, Name: "oci:latest"}},
		{in: "docker-archive:saved.tar", want: Reference{Transport: DockerArchive, Path: "saved.tar"}},
		{in: "docker-archive:saved.tar:myimg:1.0", want: Reference{Transport: DockerArchive, Path: "saved.tar", Name: "myimg:1.0"}},
		{in: "docker-archive:-", want: Reference{Transport: DockerArchive, Path: "-"}},
		{in: "oci:./layout", want: Reference{Transport: OCILayout, Path: "./layout"}},
		{in: "oci:/tmp/layout:latest", want: Reference{Transport: OCILayout, Path: "/tmp/layout", Name: "latest"}},
		{in: "oci-archive:app.oci.tar:v1", want: Reference{Transport: OCIArchive, Path: "app.oci.tar", Name: "v1"}},
		{in: "oci-archive:-", want: Reference{Transport: OCIArchive, Path: "-"}},
		{in: "oci:", err: `invalid image "oci:": oci: needs a path`},
		{in: "oci:-", err: "an OCI layout is a directory, not standard input"},
		{in: "docker-daemon:", err: "docker-daemon: needs an image name"},
		{in: "docker://registry.example.com:5000/team/app:1.0", want: Reference{Transport: Registry, Name: "registry.example.com:5000/team/app:1.0"}},
		{in: "docker://127.0.0.1:5000/app@sha256:" + sha64, want: Reference{Transport: Registry, Name: "127.0.0.1:5000/app@sha256:" + sha64}},
		// As docker pull and skopeo take them: docker.io when the
		// registry is left out, latest when the tag is.
		{in: "docker://busybox", want: Reference{Transport: Registry, Name: "busybox"}},
		{in: "docker://library/busybox:1.36", want: Reference{Transport: Registry, Name: "library/busybox:1.36"}},
		{in: "docker://127.0.0.1:5000/app", want: Reference{Transport: Registry, Name: "127.0.0.1:5000/app"}},
		{in: "docker:latest", want: Reference{Transport: Daemon, Name: "docker:latest"}},
		{in: "docker://", err: "docker:// needs a reference"},
		{in: "docker://UPPER/case", err: `invalid image "docker://UPPER/case"`},
		{in: "docker://app@sha256:short", err: `invalid image "docker://app@sha256:short"`},
		{in: "docker:///repo", err: "starts with a slash"},
	} {
		got, err := ParseReference(tc.in)
		if tc.err != "" {
			assert.ErrorContains(t, err, tc.err, tc.in)
			continue
		}
		assert.NilError(t, err, tc.in)
		assert.Equal(t, got, tc.want, tc.in)
		// String reads back as the same reference.
		again, err := ParseReference(got.String())
		assert.NilError(t, err, tc.in)
		assert.Equal(t, again, got, "%s: String gives %q", tc.in, got.String())
	}
}

func TestFromInput(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "saved.tar")
	assert.NilError(t, os.WriteFile(file, nil, 0o644))
	for _, tc := range []struct {
		path, name string
		want       Reference
		err        string
	}{
		{path: dir, name: "latest", want: Reference{Transport: OCILayout, Path: dir, Name: "latest"}},
		{path: file, want: Reference{Transport: DockerArchive, Path: file}},
		{path: "-", name: "x:1", want: Reference{Transport: DockerArchive, Path: "-", Name: "x:1"}},
		{path: filepath.Join(dir, "nothere"), err: "opening " + filepath.Join(dir, "nothere") + ": no such file or directory"},
	} {
		got, err := FromInput(tc.path, tc.name)
		if tc.err != "" {
			assert.Error(t, err, tc.err)
			continue
		}
		assert.NilError(t, err)
		assert.Equal(t, got, tc.want)
	}
}
