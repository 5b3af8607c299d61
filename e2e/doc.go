// Package e2e tests the built docker-layers binary against real Docker
// daemons: Docker 20.10 (legacy save layout), Docker 26.1 (OCI-layout save),
// Docker 26.1 with the containerd image store, and Docker 29 (API 1.56)
// with its default containerd image store. e2e/run.sh starts them and
// passes their hosts in DOCKER_LAYERS_{LEGACY,OCI,CONTAINERD,MOBY29}_HOST.
// It also starts three registries (plain HTTP, basic auth, TLS with a CA
// of its own; e2e/registry), pushes each daemon's fixtures into them, and
// passes them in DOCKER_LAYERS_REGISTRY_*: the docker:// tests compare what
// they read there with what the daemon that pushed it gives.
//
// Each command runs twice when it matters: as a plugin, through the real
// docker CLI with a temporary config directory holding the plugin, and
// standalone. A test whose daemon, registry or tool (skopeo) is missing
// skips locally and fails when CI=true.
package e2e
