#!/usr/bin/env bash
# demo.sh — the main job on a small sample image, on a fresh machine.
#
# 1. With no daemon at all: inspect, extract, diff, cat, ls, du, squash and compare the
#    shipped sample archive (e2e/fixtures/sample.tar.gz, a `docker save` of
#    the fixture image).
# 2. Against a daemon: the one the docker CLI reaches (DOCKER_HOST, the
#    current context); when none answers, the project's own throwaway
#    daemon (the one e2e uses), installed, started and left running. Builds
#    the sample image offline, installs the plugin, inspects and extracts.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
BIN="$ROOT/bin/docker-layers"
SAMPLE="$HERE/fixtures/sample.tar.gz"
OUT="$(mktemp -d "${TMPDIR:-/tmp}/docker-layers-demo.XXXXXX")"
say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

echo "== Without a daemon: the sample archive ($SAMPLE)"
say docker-layers inspect --input sample.tar.gz
"$BIN" inspect --input "$SAMPLE"
say "docker-layers extract --input sample.tar.gz -l 2: -o $OUT/changes.tar.gz   # the changes above busybox"
"$BIN" extract --input "$SAMPLE" -l 2: -o "$OUT/changes.tar.gz"
tar -tzvf "$OUT/changes.tar.gz"
say "docker-layers diff --input sample.tar.gz -l 3:   # what each layer from 3 up adds, changes, deletes"
"$BIN" diff --input "$SAMPLE" -l 3:
say docker-layers diff --input sample.tar.gz --summary
"$BIN" diff --input "$SAMPLE" --summary
say docker-layers cat --input sample.tar.gz /app/hello-relative-link
"$BIN" cat --input "$SAMPLE" /app/hello-relative-link
say "docker-layers cat --input sample.tar.gz /app/delete-me.txt -l :2   # before layer 3 deleted it"
"$BIN" cat --input "$SAMPLE" /app/delete-me.txt -l :2
say "docker-layers squash --input sample.tar.gz -l 2: -m 'the app steps' -o $OUT/squashed.tar   # no daemon either"
"$BIN" squash --input "$SAMPLE" -l 2: -m 'the app steps' -o "$OUT/squashed.tar"
say "docker-layers inspect docker-archive:$OUT/squashed.tar"
"$BIN" inspect "docker-archive:$OUT/squashed.tar"
say "docker-layers ls --input sample.tar.gz /app   # each path with the layer that last wrote it"
"$BIN" ls --input "$SAMPLE" /app
say "docker-layers ls --input sample.tar.gz --history /app/conf/app.conf   # what each layer did to it"
"$BIN" ls --input "$SAMPLE" --history /app/conf/app.conf
say "docker-layers du --input sample.tar.gz --depth 2   # bytes by directory"
"$BIN" du --input "$SAMPLE" --depth 2
say "docker-layers du --input sample.tar.gz --top 3   # the largest files"
"$BIN" du --input "$SAMPLE" --top 3
say "docker-layers compare docker-archive:sample.tar.gz -l :2 --layers-b :4   # two layer ranges of one image"
"$BIN" compare "docker-archive:$SAMPLE" -l :2 --layers-b :4
say "docker-layers compare docker-archive:sample.tar.gz docker-archive:$OUT/squashed.tar --summary   # squashing kept the files"
"$BIN" compare "docker-archive:$SAMPLE" "docker-archive:$OUT/squashed.tar" --summary

echo
echo "== With a daemon"
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
say "docker layers extract $img -o $OUT/rootfs.tar.zst"
docker layers extract $img -o "$OUT/rootfs.tar.zst"
ls -l "$OUT/rootfs.tar.zst"
say "docker layers extract $img -l -1 -o - | tar -tv"
docker layers extract $img -l -1 -o - | tar -tv
say docker layers diff $img -l -1
docker layers diff $img -l -1
say docker layers cat $img /app/conf/app.conf
docker layers cat $img /app/conf/app.conf
say docker layers compare docker-layers-fixture:mid $img
docker layers compare docker-layers-fixture:mid $img
say docker layers compare docker-layers-fixture:mid $img --config
docker layers compare docker-layers-fixture:mid $img --config
echo
echo "demo: outputs are in $OUT"
