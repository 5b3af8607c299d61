#!/usr/bin/env bash
# stop.sh [legacy|oci|containerd|moby29|all] — stop daemons started by start.sh.
#
# SIGTERM to dockerd (it stops its managed containerd), wait, then SIGTERM
# and finally SIGKILL whatever of that daemon is still alive (dockerd,
# containerd, shims). Unmounts anything still mounted under the state dir.
# The state (images in the data-root, log) is kept, so a later start.sh is
# fast and finds the images again. Idempotent: nothing running is fine.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

GRACE="${DOCKER_LAYERS_STOP_TIMEOUT:-20}"

parse_kinds "${1:-all}"
[ "$(id -u)" = 0 ] || die "must run as root"

# Wait until none of the given PIDs is alive; false after $1 seconds.
wait_gone() {
	local secs="$1" deadline p alive
	shift
	deadline=$((SECONDS + secs))
	while :; do
		alive=
		for p in "$@"; do
			if alive "$p"; then
				alive=1
				break
			fi
		done
		[ -z "$alive" ] && return 0
		[ "$SECONDS" -ge "$deadline" ] && return 1
		sleep 0.2
	done
}

stop_kind() {
	local kind="$1" dir pid pids m
	dir="$(kind_dir "$kind")"
	[ -d "$dir" ] || return 0

	# Everything of this daemon, collected *before* dockerd exits (the
	# namespace match needs a live dockerd).
	mapfile -t pids < <(kind_pids "$kind")
	if pid=$(daemon_pid "$kind"); then
		# Running containers would make dockerd wait their stop timeout
		# (10 s each by default) on shutdown: kill them first.
		local running
		running=$(timeout 10 env -u DOCKER_HOST -u DOCKER_CONTEXT \
			docker -H "$(kind_host "$kind")" ps -q 2>/dev/null || true)
		if [ -n "$running" ]; then
			log "$kind: killing running containers: ${running//$'\n'/ }"
			# shellcheck disable=SC2086
			timeout 20 env -u DOCKER_HOST -u DOCKER_CONTEXT \
				docker -H "$(kind_host "$kind")" kill $running >/dev/null 2>&1 || true
		fi
		log "$kind: stopping dockerd (pid $pid)"
		kill -TERM "$pid" 2>/dev/null || true
		wait_gone "$GRACE" "$pid" || {
			log "$kind: dockerd did not exit in ${GRACE}s; killing"
			kill -KILL "$pid" 2>/dev/null || true
		}
	fi
	# Leftovers: containerd, shims (also those of an earlier crashed run).
	mapfile -t -O "${#pids[@]}" pids < <(kind_pids "$kind")
	if [ "${#pids[@]}" -gt 0 ]; then
		kill -TERM "${pids[@]}" 2>/dev/null || true
		if ! wait_gone 5 "${pids[@]}"; then
			log "$kind: killing leftover processes"
			kill -KILL "${pids[@]}" 2>/dev/null || true
			wait_gone 5 "${pids[@]}" || log "$kind: some processes survived SIGKILL: ${pids[*]}"
		fi
	fi

	# Mounts made outside the private namespace (e.g. by an older run).
	while read -r m; do
		[ -n "$m" ] || continue
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "$kind: cannot unmount $m"
	done < <(kind_mounts "$kind")

	rm -f "$dir/docker.sock" "$dir/docker.pid"
}

for kind in "${KINDS[@]}"; do
	dir="$(kind_dir "$kind")"
	[ -d "$dir" ] || continue
	# start.sh holds the lock already when it calls us to clean up.
	if [ -z "${_DOCKER_LAYERS_LOCK_HELD:-}" ]; then
		exec {lockfd}>"$dir/.lock"
		flock -w 120 "$lockfd" || die "could not lock $dir/.lock"
	fi
	stop_kind "$kind"
	if [ -z "${_DOCKER_LAYERS_LOCK_HELD:-}" ]; then
		exec {lockfd}>&-
	fi
done
