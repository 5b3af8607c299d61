#!/usr/bin/env bash
# start.sh [legacy|oci|containerd|moby29|all] — start private Docker daemons.
#
# Each kind gets its own dockerd on its own unix socket, with its own
# data-root, exec-root, pidfile, config file and log under
# ${DOCKER_LAYERS_DAEMONS:-/tmp/docker-layers-daemons}/<kind>/.
# A daemon that already answers on its socket is reused (idempotent), and
# images survive stop/start (the data-root is kept).
#
# On success prints, on stdout and for the kinds asked for only:
#   DOCKER_LAYERS_LEGACY_HOST=unix:///.../legacy/docker.sock
#   DOCKER_LAYERS_OCI_HOST=unix:///.../oci/docker.sock
#   DOCKER_LAYERS_CONTAINERD_HOST=unix:///.../containerd/docker.sock
#   DOCKER_LAYERS_MOBY29_HOST=unix:///.../moby29/docker.sock
# so that `eval "$(e2e/daemons/start.sh)"` works. Everything else: stderr.
#
# Needs root and the packages from install.sh (run it first).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

TIMEOUT="${DOCKER_LAYERS_START_TIMEOUT:-60}"

parse_kinds "${1:-all}"
[ "$(id -u)" = 0 ] || die "must run as root (dockerd needs it)"
command -v docker >/dev/null || die "docker CLI not found; run e2e/daemons/install.sh"

mkdir -p "$DAEMONS_ROOT"
chmod 755 "$DAEMONS_ROOT"

# Unix socket paths are limited to 108 bytes; the longest one is the managed
# containerd's ttrpc socket inside the exec-root.
longest="$DAEMONS_ROOT/containerd/exec/containerd/containerd.sock.ttrpc"
[ "${#longest}" -lt 104 ] || die "DOCKER_LAYERS_DAEMONS path too long for unix sockets: $DAEMONS_ROOT"

# The dockerd binary and PATH for a kind. The 26.1 daemon finds docker-proxy
# next to itself; containerd and containerd-shim-runc-v2 come from Debian
# bookworm (/usr/bin) for all four kinds, and so does runc (/usr/sbin) for
# all but moby29: bookworm's runc 1.1.5 cannot start Docker 29's containers,
# so the runc 1.2 built next to its dockerd comes first in its PATH.
SYS_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
kind_dockerd() {
	case "$1" in
	legacy) echo /usr/sbin/dockerd ;;
	moby29) echo "$D29/dockerd" ;;
	*) echo "$D26/usr/sbin/dockerd" ;;
	esac
}
kind_path() {
	case "$1" in
	legacy) echo "$SYS_PATH" ;;
	moby29) echo "$D29:$SYS_PATH" ;;
	*) echo "$D26/usr/sbin:$SYS_PATH" ;;
	esac
}
# Flags for one kind only. moby29's runc is built without libseccomp (no
# seccomp build tag), so its containers run without a seccomp profile.
kind_flags() {
	case "$1" in
	moby29) echo --seccomp-profile=unconfined ;;
	esac
}

# Private daemon.json (so /etc/docker/daemon.json is never read).
write_config() {
	local kind="$1" cfg snap=false driver=""
	cfg="$(kind_dir "$kind")/daemon.json"
	[ "$kind" = containerd ] && snap=true
	if [ -n "${DOCKER_LAYERS_STORAGE_DRIVER:-}" ] && [ "$kind" != containerd ] && [ "$kind" != moby29 ]; then
		driver=", \"storage-driver\": \"$DOCKER_LAYERS_STORAGE_DRIVER\""
	fi
	if [ "$kind" = legacy ] || [ "$kind" = moby29 ]; then
		# 20.10 knows no "containerd-snapshotter" feature; keep its config
		# minimal. Docker 29 has the containerd image store by default on a
		# fresh data-root (setting it only logs that it is the default): the
		# e2e tests see a fallback to a graph driver in the save layout.
		printf '{"features": {"buildkit": false}%s}\n' "$driver" >"$cfg.tmp"
	else
		printf '{"features": {"buildkit": false, "containerd-snapshotter": %s}%s}\n' "$snap" "$driver" >"$cfg.tmp"
	fi
	mv "$cfg.tmp" "$cfg"
}

# Launch one dockerd in the background, fully detached. Prints its PID.
launch() {
	local kind="$1" dir bin extra
	dir="$(kind_dir "$kind")"
	bin="$(kind_dockerd "$kind")"
	read -ra extra <<<"$(kind_flags "$kind")"
	[ -x "$bin" ] || die "$bin missing; run e2e/daemons/install.sh"
	mkdir -p "$dir/data" "$dir/exec"
	chmod 711 "$dir" "$dir/data" "$dir/exec"
	write_config "$kind"
	# A dead daemon may have left its socket and pidfile behind.
	rm -f "$dir/docker.sock" "$dir/docker.pid"
	# Directory where a system containerd would listen; it must exist so that
	# it can be masked below.
	mkdir -p /run/containerd
	printf '\n==== %s start.sh: starting %s dockerd ====\n' "$(date -Is)" "$kind" >>"$dir/dockerd.log"

	# Why a private mount namespace (unshare -m):
	#  * dockerd uses a *system* containerd whenever
	#    /run/containerd/containerd.sock exists, and all the daemons would
	#    then share it. A tmpfs over /run/containerd hides it, so each dockerd
	#    starts its own managed containerd (in <exec-root>/containerd).
	#  * the same tmpfs gives each daemon its own runc state dir
	#    (/run/containerd/runc) and shim socket dir (/run/containerd/s).
	#  * overlay/netns mounts of the daemon stay in its namespace: nothing is
	#    left mounted on the host, and stop.sh finds every process of a
	#    daemon (dockerd, containerd, shims) by this namespace.
	# Propagation "slave": host mounts still show up inside, not the reverse.
	# setsid + stdin/stdout/stderr redirected: the daemon outlives this script
	# and never holds a caller's pipes open (make, go test). `unshare` and the
	# `sh -c` exec in place, so $! is dockerd's PID.
	# The subshell first closes every inherited fd above 2: this script's
	# flocks (the daemon would hold them forever) and whatever a caller
	# passed down (e.g. make's jobserver pipes).
	# shellcheck disable=SC2016
	(
	for fd in "/proc/$BASHPID/fd/"*; do
		fd=${fd##*/}
		if [ "$fd" -gt 2 ]; then eval "exec $fd>&-" 2>/dev/null || true; fi
	done
	exec setsid env -i PATH="$(kind_path "$kind")" HOME=/root LANG=C.UTF-8 \
		unshare --mount --propagation slave -- \
		/bin/sh -c 'mount -t tmpfs -o mode=0711 docker-layers-run /run/containerd && exec "$@"' sh \
		"$bin" \
		--host "unix://$dir/docker.sock" \
		--data-root "$dir/data" \
		--exec-root "$dir/exec" \
		--pidfile "$dir/docker.pid" \
		--config-file "$dir/daemon.json" \
		--bridge none \
		--iptables=false \
		--ip6tables=false \
		--ip-masq=false \
		--userland-proxy=false \
		--cgroup-parent "/docker-layers-$kind" \
		"${extra[@]}" \
		</dev/null >>"$dir/dockerd.log" 2>&1
	) &
	echo $!
}

# Wait until the daemon answers; on failure show its log and clean up.
wait_ready() {
	local kind="$1" pid="$2" deadline dir
	dir="$(kind_dir "$kind")"
	deadline=$((SECONDS + TIMEOUT))
	[ -n "${SERVER_VERSION[$kind]:-}" ] && return 0 # reused: answered already
	while ! answers "$kind"; do
		if [ -n "$pid" ] && ! alive "$pid"; then
			log "$kind dockerd (pid $pid) exited during startup; log tail ($dir/dockerd.log):"
			tail -n 40 "$dir/dockerd.log" >&2 || true
			_DOCKER_LAYERS_LOCK_HELD=1 "$HERE/stop.sh" "$kind" >&2 || true # its containerd
			return 1
		fi
		if [ "$SECONDS" -ge "$deadline" ]; then
			log "$kind dockerd did not answer within ${TIMEOUT}s; log tail ($dir/dockerd.log):"
			tail -n 40 "$dir/dockerd.log" >&2 || true
			_DOCKER_LAYERS_LOCK_HELD=1 "$HERE/stop.sh" "$kind" >&2 || true
			return 1
		fi
		sleep 0.2
	done
}

declare -A PIDS=()
for kind in "${KINDS[@]}"; do
	dir="$(kind_dir "$kind")"
	mkdir -p "$dir"
	# Serialise concurrent start.sh/stop.sh runs for the same kind (held
	# until this script exits; launch() keeps it out of the daemon).
	exec {lockfd}>"$dir/.lock"
	flock -w "$((TIMEOUT + 30))" "$lockfd" || die "could not lock $dir/.lock"
	if answers "$kind"; then
		log "$kind: reusing running daemon at $(kind_host "$kind")"
		PIDS[$kind]=""
	elif pid=$(daemon_pid "$kind"); then
		log "$kind: daemon pid $pid is still starting; waiting"
		PIDS[$kind]="$pid"
	else
		# Leftovers of a crashed daemon (containerd, shims) would block a new one.
		if [ -n "$(kind_pids "$kind")" ]; then
			log "$kind: cleaning up leftovers of a dead daemon"
			_DOCKER_LAYERS_LOCK_HELD=1 "$HERE/stop.sh" "$kind" >&2
		fi
		log "$kind: starting $(kind_dockerd "$kind") (log: $dir/dockerd.log)"
		PIDS[$kind]=$(launch "$kind")
	fi
done

rc=0
for kind in "${KINDS[@]}"; do
	wait_ready "$kind" "${PIDS[$kind]}" || rc=1
done
[ "$rc" = 0 ] || exit 1

for kind in "${KINDS[@]}"; do
	log "$kind: dockerd ${SERVER_VERSION[$kind]:-} ready at $(kind_host "$kind")"
	printf '%s=%s\n' "$(kind_var "$kind")" "$(kind_host "$kind")"
done
