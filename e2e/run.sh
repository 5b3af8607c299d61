#!/usr/bin/env bash
# run.sh — run the e2e suite against the four throwaway daemons.
#
# For each daemon kind whose DOCKER_LAYERS_<KIND>_HOST is not already set,
# it installs what is missing (e2e/daemons/install.sh), starts the daemon
# (e2e/daemons/start.sh), builds the fixture images into it, starts the
# throwaway registries (e2e/registry/start.sh) unless
# DOCKER_LAYERS_REGISTRY_PLAIN is set, pushes each daemon's fixtures into
# them (e2e/registry/push.sh), runs `go test ./e2e`, and stops on exit only
# the daemons and registries it started itself.
#
#   e2e/run.sh [go test flags...]
#
# Environment:
#   DOCKER_LAYERS_{LEGACY,OCI,CONTAINERD,MOBY29}_HOST  use these daemons instead
#   DOCKER_LAYERS_KINDS   the daemons to start and build the fixtures in,
#                         space- or comma-separated (default: legacy oci
#                         containerd moby29). The tests run on those whose
#                         _HOST is then set; on CI (CI=true) a missing one
#                         fails them.
#   DOCKER_LAYERS_BINARY  the docker-layers binary to test (default bin/docker-layers)
#   DOCKER_LAYERS_REGISTRY_{PLAIN,AUTH,TLS}… the registries, as start.sh prints
#                         them: use these instead of starting them (the
#                         fixtures are pushed into them all the same)
#   DOCKER_LAYERS_KEEP=1  leave the daemons and registries this script started running
#   DOCKER_LAYERS_DIVE    the dive binary (default: go install dive into
#                         DOCKER_LAYERS_TOOLS, ~/.cache/docker-layers/tools)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
DAEMONS_ROOT="${DOCKER_LAYERS_DAEMONS:-/tmp/docker-layers-daemons}"

started=()
started_registries=
cleanup() {
	if [ "${#started[@]}" -gt 0 ] && [ -z "${DOCKER_LAYERS_KEEP:-}" ]; then
		for kind in "${started[@]}"; do "$HERE/daemons/stop.sh" "$kind" || true; done
	fi
	if [ -n "$started_registries" ] && [ -z "${DOCKER_LAYERS_KEEP:-}" ]; then
		"$HERE/registry/stop.sh" || true
	fi
}
trap cleanup EXIT

IFS=' ,' read -ra KINDS <<<"${DOCKER_LAYERS_KINDS:-legacy oci containerd moby29}"
need=()
for kind in "${KINDS[@]}"; do
	var="DOCKER_LAYERS_$(echo "$kind" | tr '[:lower:]' '[:upper:]')_HOST"
	[ -n "${!var:-}" ] && continue
	need+=("$kind")
done

if [ "${#need[@]}" -gt 0 ]; then
	"$HERE/daemons/install.sh"
	for kind in "${need[@]}"; do
		# A daemon that already answers is reused and left running.
		if ! docker -H "unix://$DAEMONS_ROOT/$kind/docker.sock" version >/dev/null 2>&1; then
			started+=("$kind")
		fi
		eval "export $("$HERE/daemons/start.sh" "$kind")"
	done
fi

for kind in "${KINDS[@]}"; do
	var="DOCKER_LAYERS_$(echo "$kind" | tr '[:lower:]' '[:upper:]')_HOST"
	DOCKER_HOST="${!var}" "$HERE/fixtures/build.sh"
done

# The registries of the docker:// tests (e2e/registry_test.go), and each
# daemon's fixtures in them: a look-up per tag when they are there already.
registry_started=$SECONDS
if [ -z "${DOCKER_LAYERS_REGISTRY_PLAIN:-}" ]; then
	command -v docker-registry >/dev/null && command -v htpasswd >/dev/null || "$HERE/daemons/install.sh"
	# Running registries are reused and left running.
	# shellcheck source=registry/lib.sh
	if ! (. "$HERE/registry/lib.sh" && for n in "${REGISTRY_NAMES[@]}"; do reg_pid "$n" >/dev/null || exit 1; done); then
		started_registries=1
	fi
	reg_env=$("$HERE/registry/start.sh")
	set -a
	eval "$reg_env"
	set +a
fi
pushes=()
for kind in "${KINDS[@]}"; do
	var="DOCKER_LAYERS_$(echo "$kind" | tr '[:lower:]' '[:upper:]')_HOST"
	DOCKER_HOST="${!var}" "$HERE/registry/push.sh" "$kind" &
	pushes+=($!)
done
for p in "${pushes[@]}"; do wait "$p"; done
echo "run.sh: registries ready, fixtures pushed in $((SECONDS - registry_started))s" >&2

# dive, the second oracle of the efficiency tests (e2e/efficiency_test.go),
# from the Go module proxy into a cache of its own; instant once there.
DIVE_VERSION=v0.13.1
if [ -z "${DOCKER_LAYERS_DIVE:-}" ]; then
	dive_dir="${DOCKER_LAYERS_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/docker-layers/tools}/dive-$DIVE_VERSION"
	if [ ! -x "$dive_dir/dive" ]; then
		GOBIN="$dive_dir" go install "github.com/wagoodman/dive@$DIVE_VERSION" ||
			echo "run.sh: could not install dive $DIVE_VERSION (TestEfficiencyDive fails on CI, skips elsewhere)" >&2
	fi
	if [ -x "$dive_dir/dive" ]; then export DOCKER_LAYERS_DIVE="$dive_dir/dive"; fi
fi

export DOCKER_LAYERS_BINARY="${DOCKER_LAYERS_BINARY:-$ROOT/bin/docker-layers}"
cd "$ROOT"
go test -count=1 -timeout 30m "$@" ./e2e/...
# The extract library against what the real daemons save.
go test -count=1 -tags e2e -run '^TestRealDaemons$' "$@" ./extract
