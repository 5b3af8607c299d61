#!/usr/bin/env bash
# stop.sh — stop the registries start.sh started (SIGTERM, then SIGKILL).
# Keeps their storage, certificates and logs, so that the next start.sh
# finds the pushed images again. Idempotent: nothing running is fine.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

for name in "${REGISTRY_NAMES[@]}"; do
	pid=$(reg_pid "$name") || continue
	kill "$pid" 2>/dev/null || true
	for _ in $(seq 50); do
		alive "$pid" || break
		sleep 0.1
	done
	if alive "$pid"; then kill -9 "$pid" 2>/dev/null || true; fi
	rm -f "$(reg_dir "$name")/registry.pid" "$(reg_dir "$name")/addr"
	log "$name: stopped docker-registry (pid $pid)"
done
