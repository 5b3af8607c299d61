#!/usr/bin/env bash
# demo.sh — the main job on a small sample image, on a fresh machine.
#
# Uses the daemon the docker CLI reaches (DOCKER_HOST, the current context);
# when none answers, installs and starts the project's own throwaway daemon
# (the one e2e uses) and leaves it running. Builds the sample image offline,
# installs the plugin, and shows the image's layers.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

if ! docker version >/dev/null 2>&1; then
	echo "demo: no Docker daemon answers; starting the throwaway one (e2e/daemons)" >&2
	"$HERE/daemons/install.sh"
	eval "$("$HERE/daemons/start.sh" legacy)"
	export DOCKER_HOST="$DOCKER_LAYERS_LEGACY_HOST"
	echo "demo: using $DOCKER_HOST (stop it with e2e/daemons/stop.sh)" >&2
fi

"$HERE/fixtures/build.sh"
make -C "$ROOT" --no-print-directory install

img=docker-layers-fixture:latest
say docker layers inspect $img
docker layers inspect $img
say docker layers inspect --all -l docker-layers-fixture:mid: $img
docker layers inspect --all -l docker-layers-fixture:mid: $img
say docker layers inspect -q -l -1 $img
docker layers inspect -q -l -1 $img
