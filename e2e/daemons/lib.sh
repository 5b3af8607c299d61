# shellcheck shell=bash disable=SC2034
# lib.sh — shared definitions for start.sh and stop.sh (sourced, not run).
#
# Four daemon kinds, each with its own state directory
#   $DAEMONS_ROOT/<kind>/{docker.sock,data,exec,docker.pid,dockerd.log,daemon.json}
#
#   legacy      Debian bookworm dockerd 20.10 (`docker save`: <id>/layer.tar)
#   oci         Debian trixie dockerd 26.1, graph-driver image store
#               (`docker save`: OCI layout + manifest.json)
#   containerd  the same 26.1 binary with the containerd image store
#               (`docker save`: OCI layout, gzip-compressed layer blobs)
#   moby29      moby's own dockerd at Docker 29 (API 1.56), built from the
#               Go module proxy by install.sh, with its default containerd
#               image store, and a runc 1.2 built the same way

DAEMONS_ROOT="${DOCKER_LAYERS_DAEMONS:-/tmp/docker-layers-daemons}"
PREFIX="${DOCKER_LAYERS_PREFIX:-/opt/docker-layers}"
D26="$PREFIX/docker-26"
# Docker 29: moby's dockerd and a runc new enough for it, built from their Go
# modules by install.sh into a directory named after both versions (a new
# version is a new directory: nothing stale is ever reused).
MOBY29_VERSION=v2.0.0-beta.24 # github.com/moby/moby/v2: Docker Engine 29, API 1.56
RUNC29_VERSION=v1.2.8         # github.com/opencontainers/runc
D29="$PREFIX/docker-29/moby-$MOBY29_VERSION-runc-$RUNC29_VERSION"
ALL_KINDS=(legacy oci containerd moby29)

log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() { log "$*"; exit 1; }

# Expand the command-line argument ("all" or empty = every kind).
parse_kinds() {
	local arg="${1:-all}"
	case "$arg" in
	all) KINDS=("${ALL_KINDS[@]}") ;;
	legacy | oci | containerd | moby29) KINDS=("$arg") ;;
	*) die "unknown kind '$arg' (want legacy, oci, containerd, moby29 or all)" ;;
	esac
}

kind_dir() { printf '%s/%s' "$DAEMONS_ROOT" "$1"; }
kind_sock() { printf '%s/docker.sock' "$(kind_dir "$1")"; }
kind_host() { printf 'unix://%s' "$(kind_sock "$1")"; }
kind_var() { # legacy -> DOCKER_LAYERS_LEGACY_HOST
	printf 'DOCKER_LAYERS_%s_HOST' "$(printf '%s' "$1" | tr '[:lower:]' '[:upper:]')"
}

# Does the daemon answer on its socket? Records its version in SERVER_VERSION.
declare -A SERVER_VERSION=()
answers() {
	local v
	[ -S "$(kind_sock "$1")" ] || return 1
	v=$(timeout 10 env -u DOCKER_HOST -u DOCKER_CONTEXT \
		docker -H "$(kind_host "$1")" version --format '{{.Server.Version}}' 2>/dev/null) || return 1
	SERVER_VERSION[$1]=$v
}

# Is the process alive? A zombie is not (PID 1 here may reap late).
alive() {
	local state=
	[ -r "/proc/$1/stat" ] || return 1
	# Field 3 of /proc/PID/stat, after the "(comm)" which may contain spaces.
	state=$(sed -n 's/^.*) \([A-Za-z]\).*/\1/p' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# PID from the pidfile if that process is alive and is a dockerd.
daemon_pid() {
	local pf pid
	pf="$(kind_dir "$1")/docker.pid"
	[ -s "$pf" ] || return 1
	pid=$(cat "$pf" 2>/dev/null) || return 1
	[ -n "$pid" ] && alive "$pid" || return 1
	[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ] || return 1
	printf '%s' "$pid"
}

# Every process that belongs to one kind: processes sharing the dockerd's
# private mount namespace (dockerd, its containerd, the shims), container
# processes (in the kind's cgroup parent /docker-layers-<kind>), plus any
# dockerd/containerd/shim whose command line names the kind's state dir
# (catches leftovers after dockerd itself died).
kind_pids() {
	local kind="$1" dir ns="" pid p comm
	{
	dir="$(kind_dir "$kind")/"
	if pid=$(daemon_pid "$kind"); then
		ns=$(readlink "/proc/$pid/ns/mnt" 2>/dev/null || true)
		[ "$ns" = "$(readlink /proc/self/ns/mnt)" ] && ns="" # not private: skip ns match
	fi
	# Namespace members (fast: one find over /proc, no fork per process).
	if [ -n "$ns" ]; then
		# ns looks like "mnt:[4026532301]": escape the brackets for -lname.
		ns=${ns//[/\\[}
		ns=${ns//]/\\]}
		{ find /proc -mindepth 3 -maxdepth 3 -path '/proc/[0-9]*/ns/mnt' -lname "$ns" 2>/dev/null || true; } |
			cut -d/ -f3
	fi
	# Container processes, in the cgroup parent start.sh gives the kind.
	{ grep -l -- ":/docker-layers-$kind/" /proc/[0-9]*/cgroup 2>/dev/null || true; } | cut -d/ -f3
	# Daemon processes naming the state dir (builtins only, forks only on a match).
	for p in /proc/[0-9]*; do
		pid=${p#/proc/}
		comm=
		read -r comm 2>/dev/null <"$p/comm" || continue
		case "$comm" in
		dockerd | containerd | containerd-shim* | runc | docker-proxy | unshare)
			# (grep the file itself: `tr | grep -q` would fail under pipefail.)
			if grep -qaF -- "$dir" "$p/cmdline" 2>/dev/null; then
				echo "$pid"
			fi
			;;
		esac
	done
	} | sort -un
}

# Mount points at or below the kind's state dir in *our* mount namespace,
# deepest first.
kind_mounts() {
	local dir
	dir="$(kind_dir "$1")"
	# mountinfo field 5 is the mount point (octal-escaped spaces; our paths have none).
	awk -v d="$dir" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r
}
