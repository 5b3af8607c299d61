#!/usr/bin/env bash
# install.sh — install everything the e2e Docker daemons need, via apt-get only.
#
#   * Docker 20.10 (legacy `docker save` layout): Debian bookworm's docker.io,
#     installed normally (brings containerd, runc, tini, iptables).
#   * Docker 26.1 (OCI `docker save` layout, containerd image store): Debian
#     trixie's docker.io, downloaded with a *private* apt configuration (the
#     system's sources and lists are never touched, so nothing else can be
#     upgraded to trixie) and unpacked with `dpkg -x` into
#     ${DOCKER_LAYERS_PREFIX:-/opt/docker-layers}/docker-26. Its dockerd uses
#     bookworm's containerd/runc from PATH.
#   * busybox-static: provides /bin/busybox, copied into the fixture images.
#   * gzip, bzip2, xz-utils, zstd: the e2e tests check compressed output with them.
#   * isal: igzip, which extract inflates gzip layers with when it is in PATH;
#     the unit and e2e tests check it against the built-in inflater.
#   * skopeo (1.9): writes the OCI image layouts and OCI archives
#     (oci:DIR, oci-archive:FILE) that the e2e tests read with --input.
#   * chromium: headless, opens the HTML page of `docker layers report`
#     in e2e/report_test.go (rendering, script errors, no network).
#   * tmux: a real terminal for e2e/progress_test.go, which reads the
#     progress display off its screen (capture-pane).
#
# Idempotent, quiet on success, fast (< 1 s) when everything is present.
# Works non-interactively (CI=true, no stdin). Must run as root (or with sudo).
set -euo pipefail

PREFIX="${DOCKER_LAYERS_PREFIX:-/opt/docker-layers}"
D26="$PREFIX/docker-26"
# Bookworm packages installed on the system.
SYSTEM_PKGS=(docker.io containerd runc iptables busybox-static gzip bzip2 xz-utils zstd isal skopeo chromium tmux)

export DEBIAN_FRONTEND=noninteractive
log() { printf 'install.sh: %s\n' "$*" >&2; }

# Re-exec through sudo when not root (developer machines); CI runs as root.
if [ "$(id -u)" != 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		exec sudo -n DEBIAN_FRONTEND=noninteractive DOCKER_LAYERS_PREFIX="$PREFIX" "$0" "$@"
	fi
	log "must run as root"; exit 1
fi

# Quiet apt: wait for the dpkg lock instead of failing when another apt runs.
APT_OPTS=(-q -y -o Dpkg::Use-Pty=0 -o DPkg::Lock::Timeout=600
	-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)

# Run a noisy command; show its output only if it fails.
quiet() {
	local out rc=0
	out=$("$@" 2>&1 </dev/null) || rc=$?
	if [ "$rc" != 0 ]; then
		printf '%s\n' "$out" >&2
		log "command failed ($rc): $*"
	fi
	return "$rc"
}

pkg_installed() {
	[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" = installed ]
}

# --- 1. bookworm packages -------------------------------------------------
missing=()
for p in "${SYSTEM_PKGS[@]}"; do
	pkg_installed "$p" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	log "installing ${missing[*]} (apt-get)"
	# Keep maintainer scripts from starting docker/containerd services.
	# (No systemd here; invoke-rc.d honours policy-rc.d exit code 101.)
	policy=/usr/sbin/policy-rc.d
	own_policy=
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod 755 "$policy"
		own_policy=1
	fi
	# Remember which daemons already ran, so we only stop what apt started.
	pre_pids=" $(pgrep -x dockerd || true) $(pgrep -x containerd || true) "
	pre_pids=${pre_pids//$'\n'/ }
	install_pkgs() {
		quiet apt-get "${APT_OPTS[@]}" install --no-install-recommends "${missing[@]}"
	}
	if ! install_pkgs 2>/dev/null; then
		# Fresh machine: package lists may be missing or stale.
		quiet apt-get "${APT_OPTS[@]}" update
		install_pkgs
	fi
	[ -n "$own_policy" ] && rm -f "$policy"
	# Safety net: stop any system daemon a maintainer script started anyway.
	for pid in $(pgrep -x dockerd || true) $(pgrep -x containerd || true); do
		case "$pre_pids" in *" $pid "*) continue ;; esac
		# Private daemons (ours: --exec-root; their managed containerd: --config
		# .../containerd.toml) are never started by apt; only stop system ones.
		if grep -qaE -- '--exec-root|containerd\.toml' "/proc/$pid/cmdline" 2>/dev/null; then continue; fi
		log "stopping system daemon started by package install: pid $pid"
		kill "$pid" 2>/dev/null || true
	done
fi

# --- 2. trixie docker.io (26.1), unpacked privately -------------------------
if [ ! -x "$D26/usr/sbin/dockerd" ] || [ ! -e "$D26/.installed" ]; then
	log "fetching trixie docker.io into $D26"
	work=$(mktemp -d)
	trap 'rm -rf "$work"' EXIT
	mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/deb"
	# Trixie's signing keys are in bookworm's debian-archive-keyring.
	echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" \
		>"$work/sources.list"
	# Private apt configuration: own sources list, lists and cache dirs; the
	# system apt state is left exactly as it was.
	TRIXIE_APT=(-q -o Dir::Etc::SourceList="$work/sources.list"
		-o Dir::Etc::SourceParts=/nonexistent
		-o Dir::State::Lists="$work/lists"
		-o Dir::Cache="$work/cache"
		-o Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false
		-o Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false
		-o Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled=false
		-o Acquire::IndexTargets::deb::DEP-11-icons-hidpi::DefaultEnabled=false
		-o APT::Update::Post-Invoke-Success::=
		-o APT::Sandbox::User=root)
	quiet apt-get "${TRIXIE_APT[@]}" update
	(cd "$work/deb" && quiet apt-get "${TRIXIE_APT[@]}" download docker.io)
	deb=$(ls "$work"/deb/docker.io_*.deb)
	rm -rf "$D26.tmp"
	mkdir -p "$D26.tmp"
	dpkg -x "$deb" "$D26.tmp"
	dpkg-deb -f "$deb" Version >"$D26.tmp/.installed"
	rm -rf "$D26.tmp/usr/share/man" "$D26.tmp/etc/init.d" "$D26.tmp/usr/lib/systemd"
	# dpkg -x gives the target dir the package's root mode (0755) — fine.
	rm -rf "$D26"
	mv "$D26.tmp" "$D26"
	# Sanity check: it must run against bookworm's libc.
	if ! "$D26/usr/sbin/dockerd" --version >/dev/null 2>&1; then
		log "unpacked trixie dockerd does not run:"; "$D26/usr/sbin/dockerd" --version >&2 || true
		exit 1
	fi
fi

# --- 3. final sanity ----------------------------------------------------------
for b in /usr/sbin/dockerd /usr/bin/containerd /usr/sbin/runc /bin/busybox /usr/bin/skopeo /usr/bin/chromium "$D26/usr/sbin/dockerd"; do
	[ -x "$b" ] || { log "missing $b after install"; exit 1; }
done
