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
# a second run is a GET of each manifest (curl). The registry names that docker push
# needs are untagged again, so that the daemon's tags are the fixtures' only.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

KIND="${1:?usage: push.sh KIND (with DOCKER_HOST and the output of start.sh in the environment)}"
FIXTURE=docker-layers-fixture
[ -n "${DOCKER_HOST:-}" ] || die "set DOCKER_HOST to the $KIND daemon"
for v in DOCKER_LAYERS_REGISTRY_PLAIN DOCKER_LAYERS_REGISTRY_AUTH DOCKER_LAYERS_REGISTRY_TLS DOCKER_LAYERS_REGISTRY_CA; do
	[ -n "${!v:-}" ] || die "$v is not set: set -a; eval \"\$(e2e/registry/start.sh)\"; set +a first"
done
unset DOCKER_CONTEXT

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The docker CLI's config for the pushes and the login: never the user's.
export DOCKER_CONFIG="$work/docker-config"
mkdir -p "$DOCKER_CONFIG"

# The image IDs of the fixtures, by tag.
mapfile -t ids < <(docker image inspect --format '{{.Id}}' "$FIXTURE:base" "$FIXTURE:mid" "$FIXTURE:latest" 2>/dev/null)
[ "${#ids[@]}" = 3 ] || die "$KIND: the fixtures are missing (e2e/fixtures/build.sh)"
declare -A ID=([base]=${ids[0]} [mid]=${ids[1]} [latest]=${ids[2]})

# pushed URL ID [curl flags...]: is the manifest at URL
# (SCHEME://ADDR/v2/REPO/manifests/TAG) the image ID: the manifest's own
# digest (the containerd store's image IDs) or its config's (the graph
# driver's)?
pushed() {
	local url="$1" id="$2"
	shift 2
	curl -sf -m 10 -D "$work/headers" -o "$work/manifest" "$@" \
		-H 'Accept: application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' \
		"$url" || return 1
	grep -qF "\"$id\"" "$work/manifest" || grep -qixF "docker-content-digest: $id"$'\r' "$work/headers"
}

# push TAG ADDR [curl flags for the look-up...]: docker push of the fixture
# TAG to the registry at ADDR, unless it is there.
push() {
	local tag="$1" addr="$2" ref out
	shift 2
	ref="$addr/$KIND/$FIXTURE:$tag"
	pushed "http://$addr/v2/$KIND/$FIXTURE/manifests/$tag" "${ID[$tag]}" "$@" && return 0
	docker tag "$FIXTURE:$tag" "$ref"
	if ! out=$(docker push "$ref" 2>&1); then
		printf '%s\n' "$out" >&2
		docker image rm "$ref" >/dev/null 2>&1 || true
		die "docker push $ref failed"
	fi
	docker image rm "$ref" >/dev/null
	log "pushed $FIXTURE:$tag (${ID[$tag]}) from $KIND to $ref"
}

started=$SECONDS
for tag in base mid latest; do
	push "$tag" "$DOCKER_LAYERS_REGISTRY_PLAIN"
done

auth=(-u "$REGISTRY_USER:$REGISTRY_PASSWORD")
if ! pushed "http://$DOCKER_LAYERS_REGISTRY_AUTH/v2/$KIND/$FIXTURE/manifests/latest" "${ID[latest]}" "${auth[@]}"; then
	printf '%s\n' "$REGISTRY_PASSWORD" |
		docker login "$DOCKER_LAYERS_REGISTRY_AUTH" -u "$REGISTRY_USER" --password-stdin >/dev/null 2>&1 ||
		die "docker login $DOCKER_LAYERS_REGISTRY_AUTH failed"
	push latest "$DOCKER_LAYERS_REGISTRY_AUTH" "${auth[@]}"
	docker logout "$DOCKER_LAYERS_REGISTRY_AUTH" >/dev/null 2>&1 || true
fi

src="$DOCKER_LAYERS_REGISTRY_PLAIN/$KIND/$FIXTURE:latest"
dst="$DOCKER_LAYERS_REGISTRY_TLS/$KIND/$FIXTURE:latest"
if ! pushed "https://$DOCKER_LAYERS_REGISTRY_TLS/v2/$KIND/$FIXTURE/manifests/latest" "${ID[latest]}" --cacert "$DOCKER_LAYERS_REGISTRY_CA"; then
	# A registry-to-registry copy keeps the manifest and the blobs as they are.
	if ! out=$(skopeo copy --src-tls-verify=false --dest-cert-dir "$(dirname "$DOCKER_LAYERS_REGISTRY_CA")" \
		"docker://$src" "docker://$dst" 2>&1); then
		printf '%s\n' "$out" >&2
		die "skopeo copy $src to $dst failed"
	fi
	log "copied $src to $dst"
fi
log "$KIND: fixtures in the registries ($((SECONDS - started))s)"
