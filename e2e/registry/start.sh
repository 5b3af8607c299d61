#!/usr/bin/env bash
# start.sh — start the three throwaway registries the docker:// e2e tests read.
#
#   plain  plain HTTP
#   auth   plain HTTP with htpasswd basic auth (a fixed test user, see lib.sh)
#   tls    HTTPS, with a throwaway CA and a server certificate for 127.0.0.1
#          (IP SAN) that openssl makes here, once
#
# Each is Debian's docker-registry (distribution 2.8) with a config of its
# own under ${DOCKER_LAYERS_REGISTRY_ROOT:-/tmp/docker-layers-registry}/<name>/,
# storage in <name>/storage (kept across stop/start, so pushed images stay),
# listening on 127.0.0.1 on a port the kernel picks, and logging JSON lines
# at info level to <name>/registry.log, which start.sh truncates: every
# request ends in a "response completed" line (or "response completed with
# error" for a 4xx/5xx) with http.request.method, http.request.uri and
# http.response.status, so that tests can count blob GETs.
# A registry that already answers is reused (idempotent).
#
# Prints on stdout, for `set -a; eval "$(e2e/registry/start.sh)"; set +a`:
#   DOCKER_LAYERS_REGISTRY_PLAIN=127.0.0.1:PORT
#   DOCKER_LAYERS_REGISTRY_PLAIN_LOG=…/plain/registry.log
#   DOCKER_LAYERS_REGISTRY_AUTH=127.0.0.1:PORT
#   DOCKER_LAYERS_REGISTRY_AUTH_LOG=…/auth/registry.log
#   DOCKER_LAYERS_REGISTRY_TLS=127.0.0.1:PORT
#   DOCKER_LAYERS_REGISTRY_TLS_LOG=…/tls/registry.log
#   DOCKER_LAYERS_REGISTRY_CA=…/ca/ca.crt           (the TLS instance's CA)
#   DOCKER_LAYERS_REGISTRY_USER=dl-test             (the auth instance's account)
#   DOCKER_LAYERS_REGISTRY_PASSWORD=…
#   DOCKER_LAYERS_REGISTRY_BIN=/usr/bin/docker-registry  (tests start instances of their own)
# Everything else goes to stderr. Needs docker-registry, htpasswd (apache2-utils),
# openssl and curl: e2e/daemons/install.sh installs them.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

TIMEOUT="${DOCKER_LAYERS_START_TIMEOUT:-60}"

for b in "$REGISTRY_BIN" htpasswd openssl curl; do
	command -v "$b" >/dev/null || die "$b not found; run e2e/daemons/install.sh"
done
mkdir -p "$REGISTRY_ROOT"
exec {lockfd}>"$REGISTRY_ROOT/.lock"
flock -w "$((TIMEOUT + 30))" "$lockfd" || die "could not lock $REGISTRY_ROOT/.lock"

# The CA and the server certificate, made once (10 years; ECDSA P-256).
pki() {
	local ca="$REGISTRY_ROOT/ca" pki="$REGISTRY_ROOT/pki"
	[ -s "$ca/ca.crt" ] && [ -s "$pki/server.crt" ] && [ -s "$pki/server.key" ] && return 0
	log "making a throwaway CA and a server certificate for 127.0.0.1 in $REGISTRY_ROOT"
	rm -rf "$ca" "$pki"
	mkdir -p "$ca" "$pki"
	chmod 700 "$pki"
	# ca/ holds the CA certificate alone, so that it is a certs.d directory
	# as it is (skopeo --cert-dir, containers' certs.d: every *.crt is a CA).
	openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
		-keyout "$pki/ca.key" -out "$ca/ca.crt" -days 3650 -subj "/CN=docker-layers e2e test CA" \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
	openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
		-keyout "$pki/server.key" -out "$pki/server.csr" -subj "/CN=127.0.0.1" 2>/dev/null
	printf '%s\n' "subjectAltName=IP:127.0.0.1" "basicConstraints=critical,CA:FALSE" \
		"keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" >"$pki/server.ext"
	openssl x509 -req -in "$pki/server.csr" -CA "$ca/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
		-out "$pki/server.crt" -days 3650 -extfile "$pki/server.ext" 2>/dev/null
	openssl verify -CAfile "$ca/ca.crt" "$pki/server.crt" >/dev/null || die "the server certificate does not verify"
}

write_config() {
	local name="$1" dir
	dir=$(reg_dir "$name")
	{
		cat <<-EOF
			version: 0.1
			log:
			  level: info
			  formatter: json
			  accesslog:
			    disabled: true
			storage:
			  filesystem:
			    rootdirectory: $dir/storage
			  maintenance:
			    uploadpurging:
			      enabled: false
			http:
			  addr: 127.0.0.1:0
			  secret: docker-layers-e2e-$name
		EOF
		if [ "$name" = tls ]; then
			cat <<-EOF
				  tls:
				    certificate: $REGISTRY_ROOT/pki/server.crt
				    key: $REGISTRY_ROOT/pki/server.key
			EOF
		fi
		if [ "$name" = auth ]; then
			cat <<-EOF
				auth:
				  htpasswd:
				    realm: docker-layers-e2e
				    path: $dir/htpasswd
			EOF
		fi
	} >"$dir/config.yml.tmp"
	mv "$dir/config.yml.tmp" "$dir/config.yml"
	if [ "$name" = auth ]; then
		htpasswd -Bbn "$REGISTRY_USER" "$REGISTRY_PASSWORD" >"$dir/htpasswd" 2>/dev/null
	fi
}

# Start registry <name> detached; wait_ready waits for it.
launch() {
	local name="$1" dir
	dir=$(reg_dir "$name")
	mkdir -p "$dir/storage"
	write_config "$name"
	rm -f "$dir/addr" "$dir/registry.pid"
	[ -e "$dir/registry.log" ] && mv "$dir/registry.log" "$dir/registry.log.old"
	# setsid and stdio to the log: the registry outlives this script and
	# holds no pipe of its caller (make, go test) open. The subshell closes
	# the lock's fd first.
	(
		exec {lockfd}>&-
		exec setsid "$REGISTRY_BIN" serve "$dir/config.yml" </dev/null >"$dir/registry.log" 2>&1
	) &
	echo "$!" >"$dir/registry.pid"
}

# Wait for the "listening on" line of registry <name>, record its
# address, and wait until it answers.
wait_ready() {
	local name="$1" dir pid addr deadline
	dir=$(reg_dir "$name")
	pid=$(cat "$dir/registry.pid")
	deadline=$((SECONDS + TIMEOUT))
	while :; do
		addr=$(sed -n 's/.*"msg":"listening on \(127\.0\.0\.1:[0-9]*\)[",].*/\1/p' "$dir/registry.log" | tail -n 1)
		[ -n "$addr" ] && break
		if ! alive "$pid" || [ "$SECONDS" -ge "$deadline" ]; then
			log "the $name registry did not start; log tail ($dir/registry.log):"
			tail -n 20 "$dir/registry.log" >&2 || true
			kill -9 "$pid" 2>/dev/null || true
			return 1
		fi
		sleep 0.1
	done
	echo "$addr" >"$dir/addr"
	until reg_answers "$name"; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			log "the $name registry at $addr does not answer GET /v2/ as it should ($(reg_ping "$name"))"
			return 1
		fi
		sleep 0.1
	done
	log "$name: started docker-registry (pid $pid) at $addr (log: $dir/registry.log)"
}

pki
launched=()
for name in "${REGISTRY_NAMES[@]}"; do
	dir=$(reg_dir "$name")
	mkdir -p "$dir"
	if pid=$(reg_pid "$name") && reg_answers "$name"; then
		log "$name: reusing running registry (pid $pid) at $(cat "$dir/addr")"
		continue
	fi
	if pid=$(reg_pid "$name"); then
		log "$name: registry pid $pid does not answer; restarting it"
		kill -9 "$pid" 2>/dev/null || true
	fi
	launch "$name"
	launched+=("$name")
done
rc=0
for name in "${launched[@]}"; do
	wait_ready "$name" || rc=1
done
[ "$rc" = 0 ] || exit 1

for name in "${REGISTRY_NAMES[@]}"; do
	dir=$(reg_dir "$name")
	printf '%s=%s\n' "$(reg_var "$name")" "$(cat "$dir/addr")"
	printf '%s_LOG=%s\n' "$(reg_var "$name")" "$dir/registry.log"
done
printf 'DOCKER_LAYERS_REGISTRY_CA=%s\n' "$REGISTRY_ROOT/ca/ca.crt"
printf 'DOCKER_LAYERS_REGISTRY_USER=%s\n' "$REGISTRY_USER"
printf 'DOCKER_LAYERS_REGISTRY_PASSWORD=%s\n' "$REGISTRY_PASSWORD"
printf 'DOCKER_LAYERS_REGISTRY_BIN=%s\n' "$(command -v "$REGISTRY_BIN")"
