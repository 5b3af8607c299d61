// Package source opens an image from wherever it lives and gives every
// command the same things: the image's ancestry (its layers and history),
// its config, the layers a user's specs select, and those layers, each
// verified against its diff ID, on demand.
//
// An image lives in one of five places, named as skopeo names them
// (see [ParseReference]):
//
//   - docker-daemon:NAME: the Docker Engine the docker CLI reaches (the
//     local socket, DOCKER_HOST, a context). Its ancestry comes from
//     ImageInspect and ImageHistory, its layers from one ImageSave stream
//     ([extract.FromDaemon]); a plain NAME means the daemon;
//   - docker-archive:PATH: a `docker save` archive, as a file (or "-",
//     stdin), in any of the three layouts Docker writes, compressed or not;
//   - oci:DIR: an OCI image layout directory;
//   - oci-archive:PATH: a tar of an OCI image layout, compressed or not;
//   - docker://REGISTRY/REPO[:TAG|@DIGEST]: an image in a registry, read
//     with go-containerregistry over the registry package's transport:
//     the manifest and config when opened, then only the layer blobs
//     asked for. [Selection.Pushable] hands out its layers as descriptors
//     that a push mounts, fetched only if they must be uploaded.
//
// The last three are read by [extract]'s one reader of save formats
// ([extract.Archive]): a docker save archive of Docker 25 and later is an
// OCI layout with a manifest.json beside it, so the same code lists,
// selects and verifies the images of all three.
//
// Platform selection lives here for every source: --platform picks one
// platform of a multi-platform image, through the Engine API (which
// depends on its version and image store: see daemon.go) or through the
// image index of an archive or layout.
//
// The data flows one way: source (this package) → verified layers
// (extract) → the merge index and the merged tar (flatten) → a compressor
// and an atomic file or a pipe (the commands), or a new image (squash).
//
// The package is a library: it imports neither cobra nor docker/cli, and
// it calls the Engine API through the narrow [Client] interface.
//
// Debug lines go to the logger in the context, containerd/log's
// log.G(ctx) (a logrus entry; logrus's standard logger when the context
// has none), as in the source, extract and flatten packages: the Engine
// API version, which source the image came from, how long selecting the
// layers and reading them took. The caller decides the level and where
// the lines go; nothing is logged above debug, and no credentials or
// file contents ever are.
package source
