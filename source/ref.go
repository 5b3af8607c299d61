package source

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// Transport names where an image lives, with skopeo's transport names.
type Transport string

const (
	// Daemon is the Docker Engine's image store.
	Daemon Transport = "docker-daemon"
	// DockerArchive is a `docker save` archive: a file, or "-" for stdin.
	DockerArchive Transport = "docker-archive"
	// OCILayout is an OCI image layout directory.
	OCILayout Transport = "oci"
	// OCIArchive is a tar of an OCI image layout.
	OCIArchive Transport = "oci-archive"
	// Registry is an image in a registry: docker://REGISTRY/REPO:TAG.
	Registry Transport = "docker"
)

var transports = []Transport{Daemon, DockerArchive, OCILayout, OCIArchive, Registry}

// Reference names an image and where it lives.
type Reference struct {
	Transport Transport
	// Path is the archive file ("-" is stdin) or the layout directory;
	// empty for the daemon.
	Path string
	// Name selects the image: for the daemon, a name, tag or ID; for a
	// registry, REGISTRY/REPO[:TAG|@DIGEST] (docker.io when REGISTRY is
	// left out, as docker pull takes it); in an
	// archive or a layout, a tag, an image-ID prefix, or the name its
	// index.json gives it (org.opencontainers.image.ref.name). It may be
	// empty when the archive or layout holds one image.
	Name string
}

// String gives the reference as ParseReference reads it.
func (r Reference) String() string {
	switch {
	case r.Transport == Daemon || r.Transport == "":
		if named, _ := ParseReference(r.Name); named.Transport != Daemon || strings.HasPrefix(r.Name, string(Daemon)+":") {
			return string(Daemon) + ":" + r.Name
		}
		return r.Name
	case r.Transport == Registry:
		return string(Registry) + "://" + r.Name
	case r.Name == "":
		return string(r.Transport) + ":" + r.Path
	}
	return string(r.Transport) + ":" + r.Path + ":" + r.Name
}

// ParseReference reads an image argument. With a transport prefix it names
// its source as skopeo does:
//
//	docker-daemon:NAME
//	docker-archive:FILE[:NAME]   ("-" is stdin)
//	oci:DIR[:NAME]
//	oci-archive:FILE[:NAME]      ("-" is stdin)
//	docker://[REGISTRY/]REPO[:TAG|@DIGEST]
//
// FILE and DIR end at the first colon after the prefix, as in skopeo.
// Anything else is the name of an image in the daemon ("myimg:1.0",
// "registry:5000/app", an ID).
func ParseReference(s string) (Reference, error) {
	prefix, rest, ok := strings.Cut(s, ":")
	if !ok {
		return Reference{Transport: Daemon, Name: s}, nil
	}
	var t Transport
	for _, c := range transports {
		if prefix == string(c) {
			t = c
		}
	}
	switch t {
	case "":
		return Reference{Transport: Daemon, Name: s}, nil
	case Registry:
		ref, ok := strings.CutPrefix(rest, "//")
		if !ok {
			// "docker:latest" is the daemon's image docker:latest.
			return Reference{Transport: Daemon, Name: s}, nil
		}
		if ref == "" {
			return Reference{}, fmt.Errorf("invalid image %q: docker:// needs a reference, such as docker://registry.example.com/app:1.0", s)
		}
		if strings.HasPrefix(ref, "/") {
			// go-containerregistry would take "/repo" as a Docker Hub
			// repository; docker pull and skopeo refuse it.
			return Reference{}, fmt.Errorf("invalid image %q: the reference after docker:// starts with a slash", s)
		}
		if _, err := name.ParseReference(ref); err != nil {
			return Reference{}, fmt.Errorf("invalid image %q: %w", s, err)
		}
		return Reference{Transport: Registry, Name: ref}, nil
	case Daemon:
		if rest == "" {
			return Reference{}, fmt.Errorf("invalid image %q: %s: needs an image name", s, t)
		}
		return Reference{Transport: Daemon, Name: rest}, nil
	}
	path, name, _ := strings.Cut(rest, ":")
	if path == "" {
		return Reference{}, fmt.Errorf("invalid image %q: %s: needs a path", s, t)
	}
	if path == "-" && t == OCILayout {
		return Reference{}, fmt.Errorf("invalid image %q: an OCI layout is a directory, not standard input", s)
	}
	return Reference{Transport: t, Path: path, Name: name}, nil
}

// FromInput is the reference of --input PATH, with name (the image
// argument, maybe empty) selecting the image in it: a directory is an OCI
// layout; a file, or "-" for stdin, is an archive (a `docker save` archive
// or an OCI archive: the same reader reads both).
func FromInput(path, name string) (Reference, error) {
	if path == "" {
		return Reference{}, errors.New("empty --input path")
	}
	if path != "-" {
		fi, err := os.Stat(path)
		if err != nil {
			return Reference{}, fmt.Errorf("opening %s: %w", path, unwrapPathError(err))
		}
		if fi.IsDir() {
			return Reference{Transport: OCILayout, Path: path, Name: name}, nil
		}
	}
	return Reference{Transport: DockerArchive, Path: path, Name: name}, nil
}
