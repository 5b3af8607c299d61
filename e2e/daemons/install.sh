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
#   * Docker 29 (moby's own daemon, API 1.56, containerd image store by
#     default) and runc 1.2 (bookworm's runc 1.1.5 cannot start Docker 29's
#     containers): built from their Go modules through the Go module proxy
#     (cmd/dockerd of github.com/moby/moby/v2, and runc without libseccomp)
#     into ${DOCKER_LAYERS_PREFIX:-/opt/docker-layers}/docker-29/<versions>/,
#     once: 4 to 12 minutes the first time (12 on 2 busy cores), nothing after. Needs go and gcc (the
#     latter from apt-get). Both use bookworm's containerd 1.6.
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
#   * docker-registry (distribution 2.8), apache2-utils (htpasswd -B),
#     openssl and curl: the throwaway registries of e2e/registry/start.sh (plain
#     HTTP, basic auth, TLS with a CA of its own) that the docker:// tests
#     read from. No registry service is started (policy-rc.d).
#
# Idempotent, quiet on success, fast (< 1 s) when everything is present.
# Works non-interactively (CI=true, no stdin). Must run as root (or with sudo).
set -euo pipefail

PREFIX="${DOCKER_LAYERS_PREFIX:-/opt/docker-layers}"
D26="$PREFIX/docker-26"
# The versions and directory of Docker 29 (MOBY29_VERSION, RUNC29_VERSION, D29).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# Bookworm packages installed on the system.
# gcc: runc is built with cgo (its nsenter is C).
SYSTEM_PKGS=(docker.io containerd runc iptables busybox-static gzip bzip2 xz-utils zstd isal skopeo chromium tmux gcc libc6-dev
	docker-registry apache2-utils openssl curl)

export DEBIAN_FRONTEND=noninteractive
log() { printf 'install.sh: %s\n' "$*" >&2; }

# Re-exec through sudo when not root (developer machines); CI runs as root.
if [ "$(id -u)" != 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		# PATH too: sudo's secure_path would lose go (needed for Docker 29),
		# and GOPATH/GOMODCACHE/GOPROXY so that the caller's module cache is used.
		exec sudo -n DEBIAN_FRONTEND=noninteractive DOCKER_LAYERS_PREFIX="$PREFIX" PATH="$PATH" \
			GOPATH="$(go env GOPATH 2>/dev/null || true)" GOMODCACHE="$(go env GOMODCACHE 2>/dev/null || true)" \
			GOPROXY="$(go env GOPROXY 2>/dev/null || true)" "$0" "$@"
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

# --- 3. Docker 29 and runc 1.2, built from the Go module proxy ---------------
if [ ! -x "$D29/dockerd" ] || [ ! -x "$D29/runc" ] || [ ! -e "$D29/.installed" ]; then
	GO=$(command -v go || true)
	[ -n "$GO" ] || [ ! -x /usr/local/go/bin/go ] || GO=/usr/local/go/bin/go
	[ -n "$GO" ] || { log "go not found: it builds Docker 29 (moby29)"; exit 1; }
	log "building Docker 29 (moby $MOBY29_VERSION) and runc $RUNC29_VERSION into $D29 (first time only: 4 to 12 minutes)"
	b29=$(mktemp -d)
	# (the trap of section 2, if any, is for its own directory: replace it)
	trap 'chmod -R u+w "$b29" 2>/dev/null; rm -rf "$b29"' EXIT
	mkdir -p "$b29/out"
	started=$SECONDS
	# dockerd: as `go install pkg@version` builds it (-mod=mod: the module
	# has a vendor directory whose modules.txt go install would refuse).
	# The version stamped as a release build stamps it (else the daemon
	# says "library-import").
	quiet env GOBIN="$b29/out" GOFLAGS=-mod=mod "$GO" install \
		-ldflags "-X github.com/moby/moby/v2/dockerversion.Version=${MOBY29_VERSION#v} -X github.com/moby/moby/v2/dockerversion.GitCommit=$MOBY29_VERSION" \
		"github.com/moby/moby/v2/cmd/dockerd@$MOBY29_VERSION"
	# runc: its module source, copied out of the read-only module cache. Its
	# go.mod replaces opencontainers/selinux by a directory that the module
	# zip does not hold: drop the replace (the required version is used).
	# Without the seccomp build tag: no libseccomp needed (start.sh runs the
	# daemon with --seccomp-profile=unconfined).
	rdir=$(cd "$b29" && GOFLAGS=-mod=mod "$GO" mod download -json "github.com/opencontainers/runc@$RUNC29_VERSION" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	[ -n "$rdir" ] && [ -d "$rdir" ] || { log "go mod download of runc $RUNC29_VERSION failed"; exit 1; }
	cp -r "$rdir" "$b29/runc"
	chmod -R u+w "$b29/runc"
	(cd "$b29/runc" && "$GO" mod edit -dropreplace github.com/opencontainers/selinux &&
		quiet env CGO_ENABLED=1 GOFLAGS=-mod=mod "$GO" build -trimpath -buildvcs=false \
			-ldflags "-X main.version=${RUNC29_VERSION#v}" -o "$b29/out/runc" .)
	"$b29/out/dockerd" --version >/dev/null && "$b29/out/runc" --version >/dev/null ||
		{ log "the built dockerd or runc does not run"; exit 1; }
	printf 'moby %s, runc %s, built in %ss with %s\n' "$MOBY29_VERSION" "$RUNC29_VERSION" \
		"$((SECONDS - started))" "$("$GO" env GOVERSION)" >"$b29/out/.installed"
	mkdir -p "$(dirname "$D29")"
	rm -rf "$D29.tmp" "$D29"
	mv "$b29/out" "$D29.tmp"
	chmod 755 "$D29.tmp"
	mv "$D29.tmp" "$D29"
fi

# --- 4. final sanity ----------------------------------------------------------
for b in /usr/sbin/dockerd /usr/bin/containerd /usr/sbin/runc /bin/busybox /usr/bin/skopeo /usr/bin/chromium \
	/usr/bin/docker-registry /usr/bin/htpasswd /usr/bin/openssl /usr/bin/curl "$D26/usr/sbin/dockerd" "$D29/dockerd" "$D29/runc"; do
	[ -x "$b" ] || { log "missing $b after install"; exit 1; }
done
