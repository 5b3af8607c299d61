# shellcheck shell=bash disable=SC2034
# lib.sh — shared definitions for start.sh, stop.sh and push.sh (sourced, not run).
#
# Three throwaway registries (Debian's docker-registry, distribution 2.8),
# each with its own directory
#   $REGISTRY_ROOT/<name>/{config.yml,storage/,registry.log,registry.pid,addr}
#
#   plain  plain HTTP
#   auth   plain HTTP, htpasswd basic auth ($REGISTRY_USER / $REGISTRY_PASSWORD)
#   tls    HTTPS with a server certificate for 127.0.0.1 (IP SAN) signed by
#          a CA of its own ($REGISTRY_ROOT/ca/ca.crt)
#
# All listen on 127.0.0.1 on a port the kernel picks (the address is
# read from the registry's "listening on" log line and kept in addr).

REGISTRY_ROOT="${DOCKER_LAYERS_REGISTRY_ROOT:-/tmp/docker-layers-registry}"
REGISTRY_BIN="${DOCKER_LAYERS_REGISTRY_BIN:-/usr/bin/docker-registry}"
REGISTRY_NAMES=(plain auth tls)
# A test account, not a secret: the e2e tests check that it never shows in
# any output, so it looks like a real password.
REGISTRY_USER=dl-test
REGISTRY_PASSWORD=Kq4-vT9m-Xe2r-Lw7p

log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() { log "$*"; exit 1; }

reg_dir() { printf '%s/%s' "$REGISTRY_ROOT" "$1"; }
# DOCKER_LAYERS_REGISTRY_PLAIN etc.
reg_var() { printf 'DOCKER_LAYERS_REGISTRY_%s' "$(printf '%s' "$1" | tr '[:lower:]' '[:upper:]')"; }

# Is the process alive? A zombie is not.
alive() {
	local state=
	[ -r "/proc/$1/stat" ] || return 1
	state=$(sed -n 's/^.*) \([A-Za-z]\).*/\1/p' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# PID of the registry <name> if it is alive and serves <name>'s config.
reg_pid() {
	local dir pid
	dir=$(reg_dir "$1")
	[ -s "$dir/registry.pid" ] || return 1
	pid=$(cat "$dir/registry.pid" 2>/dev/null) || return 1
	[ -n "$pid" ] && alive "$pid" || return 1
	grep -qaF -- "$dir/config.yml" "/proc/$pid/cmdline" 2>/dev/null || return 1
	printf '%s' "$pid"
}

# The HTTP status of GET /v2/ on registry <name>, or 000 when it does not answer.
reg_ping() {
	local dir addr scheme=http tls=()
	dir=$(reg_dir "$1")
	addr=$(cat "$dir/addr" 2>/dev/null) || { echo 000; return; }
	if [ "$1" = tls ]; then
		scheme=https
		tls=(--cacert "$REGISTRY_ROOT/ca/ca.crt")
	fi
	curl -s -o /dev/null -m 5 -w '%{http_code}' "${tls[@]}" "$scheme://$addr/v2/" 2>/dev/null || true
}

# Does registry <name> answer as it should (200, or 401 for auth)?
reg_answers() {
	local want=200
	[ "$1" = auth ] && want=401
	[ "$(reg_ping "$1")" = "$want" ]
}
