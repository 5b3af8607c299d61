#!/usr/bin/env bash
# push.sh KIND — push the fixture images of the daemon at $DOCKER_HOST into
# the registries of start.sh (whose output must be in the environment):
#
#   plain  $DOCKER_LAYERS_REGISTRY_PLAIN/KIND/docker-layers-fixture:{base,mid,latest}
#          docker push from the daemon: what its image store makes of the
#          layers (the graph driver compresses them with gzip; the
#          containerd store pushes the blobs it keeps)
#   auth   $DOCKER_LAYERS_REGISTRY_AUTH/KIND/docker-layers-fixture:latest
#          docker push after a real `docker login`, in a throwaway DOCKER_CONFIG
#   tls    $DOCKER_LAYERS_REGISTRY_TLS/KIND/docker-layers-fixture:latest
#          skopeo copy from the plain registry, trusting the CA with
#          --dest-cert-dir (the daemons would trust it only through the
#          host's /etc/docker/certs.d, which this script leaves alone)
#
# A tag whose manifest is already the daemon's image (the registry's
# manifest is the image ID, or names it as its config) is not pushed again:
# a second run is a look-up per tag. The registry names that docker push
# needs are untagged again, so that the daemon's tags are the fixtures' only.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

KIND="${1:?usage: push.sh KIND (with DOCKER_HOST and the output of start.sh in the environment)}"
FIXTURE=docker-layers-fixture
[ -n "${DOCKER_HOST:-}" ] || die "set DOCKER_HOST to the $KIND daemon"
for v in DOCKER_LAYERS_REGISTRY_PLAIN DOCKER_LAYERS_REGISTRY_AUTH DOCKER_LAYERS_REGISTRY_TLS DOCKER_LAYERS_REGISTRY_CA; do
	[ -n "${!v:-}" ] || die "$v is not set: eval \"export \$(e2e/registry/start.sh)\" first"
done
unset DOCKER_CONTEXT

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The docker CLI's config for the pushes and the login: never the user's.
export DOCKER_CONFIG="$work/docker-config"
mkdir -p "$DOCKER_CONFIG"

# pushed REF ID [skopeo flags...]: does the registry have REF as image ID?
pushed() {
	local ref="$1" id="$2"
	shift 2
	skopeo inspect --raw "$@" "docker://$ref" >"$work/manifest" 2>/dev/null || return 1
	grep -qF "\"$id\"" "$work/manifest" || [ "$(skopeo manifest-digest "$work/manifest")" = "$id" ]
}

# push TAG REGISTRY [skopeo flags for the look-up...]: docker push of the fixture TAG.
push() {
	local tag="$1" reg="$2" id ref out
	shift 2
	id=$(docker image inspect --format '{{.Id}}' "$FIXTURE:$tag")
	ref="$reg/$KIND/$FIXTURE:$tag"
	if pushed "$ref" "$id" "$@"; then
		return 0
	fi
	docker tag "$FIXTURE:$tag" "$ref"
	if ! out=$(docker push "$ref" 2>&1); then
		printf '%s\n' "$out" >&2
		docker image rm "$ref" >/dev/null 2>&1 || true
		die "docker push $ref failed"
	fi
	docker image rm "$ref" >/dev/null
	log "pushed $FIXTURE:$tag ($id) from $KIND to $ref"
}

started=$SECONDS
for tag in base mid latest; do
	push "$tag" "$DOCKER_LAYERS_REGISTRY_PLAIN" --tls-verify=false
done

auth_creds=(--creds "$REGISTRY_USER:$REGISTRY_PASSWORD")
if ! pushed "$DOCKER_LAYERS_REGISTRY_AUTH/$KIND/$FIXTURE:latest" "$(docker image inspect --format '{{.Id}}' "$FIXTURE:latest")" \
	--tls-verify=false "${auth_creds[@]}"; then
	printf '%s\n' "$REGISTRY_PASSWORD" |
		docker login "$DOCKER_LAYERS_REGISTRY_AUTH" -u "$REGISTRY_USER" --password-stdin >/dev/null 2>&1 ||
		die "docker login $DOCKER_LAYERS_REGISTRY_AUTH failed"
	push latest "$DOCKER_LAYERS_REGISTRY_AUTH" --tls-verify=false "${auth_creds[@]}"
	docker logout "$DOCKER_LAYERS_REGISTRY_AUTH" >/dev/null 2>&1 || true
fi

src="$DOCKER_LAYERS_REGISTRY_PLAIN/$KIND/$FIXTURE:latest"
dst="$DOCKER_LAYERS_REGISTRY_TLS/$KIND/$FIXTURE:latest"
cadir=$(dirname "$DOCKER_LAYERS_REGISTRY_CA")
if ! pushed "$dst" "$(docker image inspect --format '{{.Id}}' "$FIXTURE:latest")" --cert-dir "$cadir"; then
	# --preserve-digests: the same manifest and blobs as the plain registry's
	# (not in skopeo 1.9; a registry-to-registry copy keeps them anyway).
	if ! out=$(skopeo copy --src-tls-verify=false --dest-cert-dir "$cadir" "docker://$src" "docker://$dst" 2>&1); then
		printf '%s\n' "$out" >&2
		die "skopeo copy $src to $dst failed"
	fi
	log "copied $src to $dst"
fi
log "$KIND: fixtures in the registries ($((SECONDS - started))s)"
