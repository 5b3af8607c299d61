#!/usr/bin/env bash
# run.sh — `make bench`: measure docker-layers against the daemon's own
# export (docker save, docker export) and crane, on the four e2e daemons,
# and write BENCHMARKS.md.
#
#   SETUP    e2e/daemons/install.sh and start.sh (running daemons are reused
#            and left running), GNU time from apt-get, crane at a pinned
#            version into .cache/bench/bin, the benchmark images built
#            offline (reused while their tag exists with the same Dockerfile).
#   METHOD   runs are interleaved in rounds (A B … A B …); round 0 is a
#            warm-up; every ratio is the median of per-round (per-pair)
#            ratios. Wall time from EPOCHREALTIME, peak RSS, bytes
#            written and CPU seconds from /usr/bin/time -v, and the CPU
#            seconds of the daemon (dockerd and its children, from
#            /proc/PID/stat) during each run. Progress on stderr.
#   MEASURE  for each daemon: (a) docker save, (b) extract to /dev/null and
#            to FILE.tar, (c) docker export, (d) docker save | crane export,
#            (e) top layer vs docker save | head -c OFFSET, (f) extract to
#            .tar.gz vs docker save | gzip -6, (g) inspect vs docker
#            history, (i) extract --input vs crane export from a saved
#            archive; (h) extract of the 1x and the 2x image on one daemon;
#            (k) compare of the 1x image with a copy that has one more
#            small layer, vs extract -l -1 of that copy and vs its docker
#            save (the stream compare reads whole); (l) ls -R --format json
#            and du of an image of a million files, next to extract, from
#            a docker save archive that benchtool manyfiles writes (on
#            BENCH_BIG_KIND's round only: no daemon is involved); (n)
#            efficiency vs dive --ci (v0.13.1, go install) and report,
#            from the saved archive of (i); (r) from a registry (the
#            plain e2e registry, e2e/registry/start.sh, into which the 1x
#            image is pushed from each daemon): extract docker://… vs
#            crane export of the same reference, and extract -l -1, with
#            the bytes each fetched (from the registry's log, one more
#            run each, not timed).
#            Floors and ceilings beside them: (a') docker save -o FILE,
#            (a'') the same then the output less the top layer copied
#            from it, and for gzip layer blobs igzip (ISA-L, from apt-get
#            isal) inflating them one per core.
#   REPORT   BENCHMARKS.md via e2e/bench/benchtool.
#
# Environment:
#   BENCH_KINDS        daemons, space- or comma-separated (default: legacy oci containerd moby29)
#   BENCH_PAIRS        measured rounds (pairs) per group after the warm-up (default 5)
#   BENCH_SHORT_PAIRS  measured rounds for (g), whose runs are short (default 20)
#   BENCH_ONLY         measurements to run, letters a-i, k, l, n, r and m, the libraries'
#                      go test micro-benchmarks (default: a,b,c,d,e,f,g,h,i,k,l,m,n,r)
#   BENCH_BIG_KIND     daemon for the 2x image of (h) (default: oci)
#   BENCH_OUT          report to write (default: BENCHMARKS.md at the repository root)
#   BENCH_REBUILD=1    rebuild the benchmark images even if they exist
#   DOCKER_LAYERS_BINARY  the binary to measure (default: bin/docker-layers)
#   DOCKER_LAYERS_{LEGACY,OCI,CONTAINERD,MOBY29}_HOST  use these daemons
#
# Images: docker-layers-bench:1x (~1.4 GB, 8 layers, Dockerfile) on every
# daemon and docker-layers-bench:2x (twice that, Dockerfile.2x) on
# BENCH_BIG_KIND. They stay in the daemons for the next run; remove them with
# `docker image rm docker-layers-bench:1x docker-layers-bench:2x`.
set -euo pipefail
export LC_ALL=C

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CACHE="$ROOT/.cache/bench"
BINDIR="$CACHE/bin"
CRANE_PKG=github.com/google/go-containerregistry/cmd/crane
CRANE_VERSION=v0.21.9
DIVE_PKG=github.com/wagoodman/dive
DIVE_VERSION=v0.13.1
REPO=docker-layers-bench
IMG="$REPO:1x"
IMG2="$REPO:2x"
IMGP="$REPO:1x-plus"
EXPORT_CTR=docker-layers-bench-export

kinds="${BENCH_KINDS:-legacy oci containerd moby29}"
read -r -a KINDS <<<"${kinds//,/ }"
PAIRS="${BENCH_PAIRS:-5}"
SHORT_PAIRS="${BENCH_SHORT_PAIRS:-20}"
ONLY=",${BENCH_ONLY:-a,b,c,d,e,f,g,h,i,k,l,m,n,r},"
ONLY="${ONLY// /,}"
BIG_KIND="${BENCH_BIG_KIND:-oci}"
OUT="${BENCH_OUT:-$ROOT/BENCHMARKS.md}"
DL="${DOCKER_LAYERS_BINARY:-$ROOT/bin/docker-layers}"

log() { printf 'bench: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
want() { [[ "$ONLY" == *",$1,"* ]]; }

for k in "${KINDS[@]}"; do
	case "$k" in legacy | oci | containerd | moby29) ;; *) die "unknown kind '$k' in BENCH_KINDS" ;; esac
done
[[ "$PAIRS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_PAIRS must be a positive number"
[[ "$SHORT_PAIRS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_SHORT_PAIRS must be a positive number"
[[ "$ONLY" =~ ^,([a-iklmnr],)+$ ]] || die "BENCH_ONLY must be letters a-i, k, l, m, n or r separated by commas, got '${BENCH_ONLY:-}'"
[ "$(id -u)" = 0 ] || die "must run as root (the daemons and apt-get need it)"
[ -x "$DL" ] || die "$DL not found; run 'make build' (make bench does)"

cd "$ROOT"
mkdir -p "$CACHE" "$BINDIR"
# One run at a time: the run directory and the daemons' CPU are shared.
exec {lockfd}>"$CACHE/.lock"
flock -n "$lockfd" || die "another e2e/bench/run.sh holds $CACHE/.lock"

RUN="$CACHE/run" # fixed, so that the commands in the report read the same every run
RUN_REL="${RUN#"$ROOT"/}"
rm -rf "$RUN"
mkdir -p "$RUN"
CTX=""
cleanup() {
	local rc=$?
	[ -n "$CTX" ] && rm -rf "$CTX"
	# The outputs and saved archives are big; the TSVs stay for a look.
	rm -f "$RUN"/*.tar "$RUN"/*.tar.gz "$RUN"/.*.tmp
	if [ -n "${DOCKER_HOST:-}" ]; then docker rm -f "$EXPORT_CTR" >/dev/null 2>&1 || true; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

START=$SECONDS
printf 'key\tvalue\n' >"$RUN/meta.tsv"
printf 'kind\tgroup\tvariant\tcommand\n' >"$RUN/commands.tsv"
printf 'kind\tgroup\tvariant\tround\tseconds\trss_kib\tfs_in\tfs_out\tbytes\trc\tload1\tcpu_s\tdaemon_cpu_s\n' >"$RUN/samples.tsv"
meta() { printf '%s\t%s\n' "$1" "$2" >>"$RUN/meta.tsv"; }
note() { log "note: $*"; meta note "$*"; }

# ---------------------------------------------------------------- SETUP
log "setup: daemons, tools, images"
"$ROOT/e2e/daemons/install.sh"
# apt_install PKG — install a Debian package, updating the lists if needed.
apt_install() {
	log "installing $1 (apt-get)"
	DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=600 install "$1" >/dev/null ||
		{ apt-get -q update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get -q -y install "$1" >/dev/null; }
}
/usr/bin/time -v true >/dev/null 2>&1 || apt_install time
# igzip (ISA-L, SIMD inflation, the fastest gzip decompressor Debian has)
# for (i)'s inflation ceiling on the daemon whose layer blobs are gzip.
if want i && ! command -v igzip >/dev/null; then apt_install isal; fi
for tool in gzip head cat stat; do command -v "$tool" >/dev/null || die "$tool not found"; done

declare -A HOST=()
for k in "${KINDS[@]}"; do
	var="DOCKER_LAYERS_${k^^}_HOST"
	if [ -z "${!var:-}" ]; then
		eval "export $("$ROOT/e2e/daemons/start.sh" "$k")"
	fi
	HOST[$k]="${!var}"
done

if [ "$("$BINDIR/crane" version 2>/dev/null)" != "$CRANE_VERSION" ]; then
	log "installing crane $CRANE_VERSION into $BINDIR"
	GOBIN="$BINDIR" go install "$CRANE_PKG@$CRANE_VERSION"
fi
# dive prints no version of its own when go install built it: the
# directory names it.
DIVE="$CACHE/dive-$DIVE_VERSION/dive"
if want n && [ ! -x "$DIVE" ]; then
	log "installing dive $DIVE_VERSION into ${DIVE%/dive}"
	GOBIN="${DIVE%/dive}" go install "$DIVE_PKG@$DIVE_VERSION"
fi
go build -o "$BINDIR/benchtool" ./e2e/bench/benchtool
# (r)'s registry: the plain one of the e2e tests (started, or reused).
if want r; then
	command -v docker-registry >/dev/null || "$ROOT/e2e/daemons/install.sh"
	reg_env=$("$ROOT/e2e/registry/start.sh")
	REG=$(sed -n 's/^DOCKER_LAYERS_REGISTRY_PLAIN=//p' <<<"$reg_env")
	REG_LOG=$(sed -n 's/^DOCKER_LAYERS_REGISTRY_PLAIN_LOG=//p' <<<"$reg_env")
	[ -n "$REG" ] && [ -n "$REG_LOG" ] || die "e2e/registry/start.sh gave no plain registry"
fi

# fetched_bytes FROM REPO — the bytes of the blob GETs of REPO the
# registry served since line FROM of its log (the e2e tests may share it).
fetched_bytes() {
	tail -n +"$(($1 + 1))" "$REG_LOG" | jq -r --arg p "/v2/$2/blobs/" 'select(."http.request.method" == "GET" and (."http.request.uri" | startswith($p))) | ."http.response.written"' |
		awk '{n += $1} END {printf "%.0f", n}'
}
export PATH="$BINDIR:$PATH"

# The build context: hard links to files of this machine (a copy, with
# reflinks where the file system has them, if hard links cannot be made).
make_ctx() {
	[ -n "$CTX" ] && return 0
	CTX=$(mktemp -d "$CACHE/ctx.XXXXXX")
	local src dst
	for pair in /usr/lib/x86_64-linux-gnu:lib /usr/local/go:go /usr/share/doc:doc \
		/usr/share/man:share/man /usr/share/locale:share/locale /usr/share/vim:share/vim; do
		src=${pair%%:*} dst="$CTX/${pair#*:}"
		[ -d "$src" ] || die "$src missing: the benchmark image is made of it"
		mkdir -p "$(dirname "$dst")"
		if ! cp -al "$src" "$dst" 2>/dev/null; then
			rm -rf "$dst"
			cp -a --reflink=auto "$src" "$dst"
		fi
	done
	log "build context $CTX: $(du -s --apparent-size -B1M "$CTX" | cut -f1) MB"
}

# ensure_image TAG DOCKERFILE [BASE]: build unless TAG exists from the same
# Dockerfile (and the same BASE image, which it is built FROM).
ensure_image() {
	local tag=$1 dockerfile=$2 base=${3:-} sum have s
	sum=$(sha256sum "$dockerfile" | cut -c1-16)
	if [ -n "$base" ]; then sum="$sum-$(docker image inspect --format '{{.Id}}' "$base" | cut -c8-23)"; fi
	have=$(docker image inspect --format '{{index .Config.Labels "docker-layers-bench.dockerfile"}}' "$tag" 2>/dev/null || true)
	if [ "$have" = "$sum" ] && [ -z "${BENCH_REBUILD:-}" ]; then
		log "$tag already on $DOCKER_HOST"
		return 0
	fi
	make_ctx
	docker image rm "$tag" >/dev/null 2>&1 || true
	log "building $tag on $DOCKER_HOST (a few minutes)"
	s=$SECONDS
	if ! DOCKER_BUILDKIT=0 docker build --network none --pull=false --no-cache \
		--label "docker-layers-bench.dockerfile=$sum" -t "$tag" -f "$dockerfile" "$CTX" >"$RUN/build.log" 2>&1; then
		tail -n 30 "$RUN/build.log" >&2
		die "building $tag on $DOCKER_HOST failed"
	fi
	log "built $tag in $((SECONDS - s)) s"
}

for k in "${KINDS[@]}"; do
	export DOCKER_HOST="${HOST[$k]}"
	"$ROOT/e2e/fixtures/build.sh"
	ensure_image "$IMG" "$HERE/Dockerfile"
	if want h && [ "$k" = "$BIG_KIND" ]; then ensure_image "$IMG2" "$HERE/Dockerfile.2x"; fi
	if want k; then ensure_image "$IMGP" "$HERE/Dockerfile.plus" "$IMG"; fi
done
[ -n "$CTX" ] && rm -rf "$CTX"
CTX=""
if want h && [[ " ${KINDS[*]} " != *" $BIG_KIND "* ]]; then
	note "(h) 2x image skipped: BENCH_BIG_KIND=$BIG_KIND is not in BENCH_KINDS"
fi

# Facts for the report.
meta date "$(date -u '+%Y-%m-%d %H:%M UTC')"
inv="make bench"
for v in BENCH_REBUILD BENCH_BIG_KIND BENCH_ONLY BENCH_SHORT_PAIRS BENCH_PAIRS BENCH_KINDS; do
	if [ -n "${!v:-}" ]; then inv="$v=\"${!v}\" $inv"; fi
done
meta invocation "$inv"
meta cpu "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
meta nproc "$(nproc)"
meta memory "$(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
meta kernel "$(uname -sr)"
meta disk "$(df -h --output=source,fstype,size,avail / | tail -1 | awk '{printf "%s %s, %s, %s free at the start", $1, $2, $3, $4}')"
meta client "$(docker version --format '{{.Client.Version}}' 2>/dev/null)"
meta version "$("$DL" version)"
meta crane "$(crane version) ($CRANE_PKG@$CRANE_VERSION)"
if want n; then meta dive "$DIVE_PKG@$DIVE_VERSION"; fi
meta gzip "$(gzip --version | head -1)"
if want i; then meta igzip "$(igzip --version 2>&1 | head -1) (Debian isal $(dpkg-query -W -f '${Version}' isal 2>/dev/null))"; fi
meta go "$(go version | cut -d' ' -f3-)"
meta kinds "${KINDS[*]}"
meta pairs "$PAIRS"
meta short_pairs "$SHORT_PAIRS"
meta big_kind "$BIG_KIND"
meta rundir "$RUN_REL"
meta tmpdir "${TMPDIR:-/tmp}"
meta load_before "$(cut -d' ' -f1-3 /proc/loadavg)"
[ "$PAIRS" -ge 5 ] || note "BENCH_PAIRS=$PAIRS: fewer than the 5 pairs a committed report needs"

# ---------------------------------------------------------------- METHOD
# Per variant: CMD (timed, bash -c), PRE and POST (not timed), OUTFILE
# (its size is recorded, then it is removed), NOPIPEFAIL (for head -c).
declare -A CMD PRE POST OUTFILE NOPIPEFAIL
KIND=""

# daemon_pids — the dockerd that serves $DOCKER_HOST and its children (the
# containerd it started), whose CPU time each run records; none when the
# daemon is not a local process found by its --host argument.
daemon_pids() {
	local d
	d=$(pgrep -f -- "--host ${DOCKER_HOST}( |\$)" | head -n 1) || true
	[ -n "$d" ] || return 0
	echo "$d" $(pgrep -P "$d")
}

# cpu_ticks PID... — user + system clock ticks these processes used so far.
cpu_ticks() {
	local p t=0 c
	for p in "$@"; do
		c=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null) || c=0
		t=$((t + ${c:-0}))
	done
	echo "$t"
}
CLK_TCK=$(getconf CLK_TCK)
DPIDS=""

# us EPOCHREALTIME — microseconds.
us() { local t=${1/./}; echo $((10#$t)); }

# measure GROUP VARIANT ROUND — one run.
measure() {
	local group=$1 v=$2 round=$3 cmd t0 t1 d rc=0 load bytes=-1 rss fin fout pf=-o
	local c0 c1 cpu dcpu=-1
	cmd=${CMD[$v]}
	if [ -n "${NOPIPEFAIL[$v]:-}" ]; then pf=+o; fi
	if [ -n "${PRE[$v]:-}" ]; then bash -c "${PRE[$v]}" || die "$KIND $v: '${PRE[$v]}' failed"; fi
	# Not timed: write back what earlier runs left dirty (the variants
	# that write GBs: docker save -o, crane's temp file, extract's spool
	# and output), so that no run pays for another's writeback.
	sync
	load=$(cut -d' ' -f1 /proc/loadavg)
	# shellcheck disable=SC2086 # DPIDS is a list
	c0=$(cpu_ticks $DPIDS)
	t0=$EPOCHREALTIME
	/usr/bin/time -v -o "$RUN/time.out" bash "$pf" pipefail -c "$cmd" 2>"$RUN/stderr" || rc=$?
	t1=$EPOCHREALTIME
	# shellcheck disable=SC2086
	c1=$(cpu_ticks $DPIDS)
	d=$(($(us "$t1") - $(us "$t0")))
	if [ -n "$DPIDS" ]; then dcpu=$(awk -v t=$((c1 - c0)) -v hz="$CLK_TCK" 'BEGIN {printf "%.2f", t / hz}'); fi
	if [ -n "${OUTFILE[$v]:-}" ]; then
		[ -f "${OUTFILE[$v]}" ] && bytes=$(stat -c %s "${OUTFILE[$v]}")
		rm -f "${OUTFILE[$v]}"
	fi
	if [ -n "${POST[$v]:-}" ]; then bash -c "${POST[$v]}" || die "$KIND $v: '${POST[$v]}' failed"; fi
	rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$RUN/time.out")
	fin=$(sed -n 's/.*File system inputs: //p' "$RUN/time.out")
	fout=$(sed -n 's/.*File system outputs: //p' "$RUN/time.out")
	cpu=$(awk -F': ' '/User time \(seconds\)|System time \(seconds\)/ {t += $2} END {printf "%.2f", t}' "$RUN/time.out")
	printf '%s\t%s\t%s\t%d\t%d.%06d\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n' "$KIND" "$group" "$v" "$round" \
		$((d / 1000000)) $((d % 1000000)) "${rss:-0}" "${fin:-0}" "${fout:-0}" "$bytes" "$rc" "$load" "$cpu" "$dcpu" >>"$RUN/samples.tsv"
	local tag="round $round/$4"
	[ "$round" = 0 ] && tag="warm-up"
	log "$(printf '[%s %s %s] %-8s %7.3f s  rss %5.1f MiB  wrote %6.0f MB%s' "$KIND" "$group" "$tag" "$v" \
		"$((d / 1000000)).$(printf '%06d' $((d % 1000000)))" "$(awk -v k="${rss:-0}" 'BEGIN {print k / 1024}')" \
		"$(awk -v b="${fout:-0}" 'BEGIN {print b * 512 / 1e6}')" "$([ "$rc" = 0 ] || echo "  FAILED rc=$rc")")"
	if [ "$rc" != 0 ]; then
		log "  $cmd"
		tail -n 5 "$RUN/stderr" | sed 's/^/  /' >&2
	fi
}

# rounds GROUP N VARIANT... — a warm-up round, then N rounds of the
# variants in this order. Records each variant's command for the report.
rounds() {
	local group=$1 n=$2 r v shown
	shift 2
	[ $# -gt 0 ] || return 0
	for v in "$@"; do
		shown=${CMD[$v]}
		if [ -n "${PRE[$v]:-}" ]; then shown="${PRE[$v]}  # not timed, then: $shown"; fi
		if [ -n "${OUTFILE[$v]:-}" ]; then shown="$shown; rm ${OUTFILE[$v]#"$ROOT"/}  # not timed"; fi
		if [ -n "${POST[$v]:-}" ]; then shown="$shown; ${POST[$v]}  # not timed"; fi
		printf '%s\t%s\t%s\t%s\n' "$KIND" "$group" "$v" "$shown" >>"$RUN/commands.tsv"
	done
	log "[$KIND $group] $n rounds + warm-up of: $*"
	for ((r = 0; r <= n; r++)); do
		for v in "$@"; do measure "$group" "$v" "$r" "$n"; done
	done
}

dl="${DL#"$ROOT"/}"
for KIND in "${KINDS[@]}"; do
	export DOCKER_HOST="${HOST[$KIND]}"
	DPIDS=$(daemon_pids)
	[ -n "$DPIDS" ] || note "$KIND: dockerd for $DOCKER_HOST not found among local processes; its CPU time is not recorded"
	log "==== $KIND: $(docker version --format '{{.Server.Version}}') at $DOCKER_HOST"
	meta "server.$KIND" "$(docker version --format '{{.Server.Version}}')"
	meta "layers.$KIND" "$(docker image inspect --format '{{len .RootFS.Layers}}' "$IMG")"
	meta "image_size.$KIND" "$(docker image inspect --format '{{.Size}}' "$IMG")"
	if want h && [ "$KIND" = "$BIG_KIND" ]; then
		meta "layers_2x.$KIND" "$(docker image inspect --format '{{len .RootFS.Layers}}' "$IMG2")"
		meta "image_size_2x.$KIND" "$(docker image inspect --format '{{.Size}}' "$IMG2")"
	fi
	# A saved copy: the stream size, (e)'s offset and (i)'s input.
	saved="$RUN_REL/saved-$KIND.tar"
	docker save -o "$saved" "$IMG"
	meta "save_bytes.$KIND" "$(stat -c %s "$saved")"
	read -r offset top_name top_size < <(benchtool offset "$saved" || true)
	[ -n "${top_size:-}" ] || die "benchtool offset $saved failed"
	meta "top_offset.$KIND" "$offset"
	meta "top.$KIND" "\`$top_name\`, $top_size bytes, ends at byte $offset of $(stat -c %s "$saved") ($(awk -v o="$offset" -v s="$(stat -c %s "$saved")" 'BEGIN {printf "%.0f", 100 * o / s}')% into the stream)"
	CMD=() PRE=() POST=() OUTFILE=() NOPIPEFAIL=()

	# (a) (b) (c) (d): the whole image.
	vs=()
	if want a; then
		vs+=(a)
		CMD[a]="docker save $IMG > /dev/null"
	fi
	if want b || want h || want c || want d; then
		vs+=(b)
		CMD[b]="$dl extract $IMG -o /dev/null"
	fi
	if want a && want b; then
		# (a') the daemon's stream stored in a file: what any tool that
		# must keep the stream (to flatten it in order) pays at least.
		vs+=(asave)
		CMD[asave]="docker save -o $RUN_REL/save.tar $IMG"
		OUTFILE[asave]="$RUN/save.tar"
	fi
	if want b; then
		vs+=(bfile)
		CMD[bfile]="$dl extract $IMG -o $RUN_REL/out.tar"
		OUTFILE[bfile]="$RUN/out.tar"
	fi
	if want a && want b && [ "$offset" -ge "$(($(stat -c %s "$saved") - (1 << 20)))" ]; then
		# (a'') the stream stored, then the output written from it. The
		# top layer's blob ends the stream's layers, and it may delete or
		# replace any entry of the others: no output but its own entries
		# can be written before it is in hand. So at least the output
		# less the top layer's size is written after the stream ends; as
		# fast as the kernel copies a stored file (copy_file_range).
		outsize=$("$DL" extract --input "$saved" -o - | wc -c)
		meta "out_bytes.$KIND" "$outsize"
		vs+=(asavecp)
		CMD[asavecp]="docker save -o $RUN_REL/save.tar $IMG && benchtool copy $RUN_REL/save.tar $RUN_REL/out.tar $((outsize - top_size))"
		OUTFILE[asavecp]="$RUN/out.tar"
		POST[asavecp]="rm -f $RUN_REL/save.tar"
	fi
	if want c; then
		vs+=(c)
		PRE[c]="docker rm -f $EXPORT_CTR >/dev/null 2>&1; docker create --name $EXPORT_CTR $IMG > /dev/null"
		CMD[c]="docker export $EXPORT_CTR > /dev/null"
		POST[c]="docker rm $EXPORT_CTR > /dev/null"
	fi
	if want d; then
		vs+=(d)
		CMD[d]="docker save $IMG | crane export - - > /dev/null"
	fi
	rounds stream "$PAIRS" "${vs[@]}"

	# (h) on the big kind, in rounds of their own: inside the rounds above,
	# the 2x image's 2.8 GB save and spool slowed the next round's (b) on
	# the OCI daemon: (b) ÷ (a) 1.52 with it, 1.27 without; (b) right after
	# the 2x run took 15.4-17.6 s, against 11.6-13.5 s after (bfile).
	if want h && [ "$KIND" = "$BIG_KIND" ]; then
		CMD[b2x]="$dl extract $IMG2 -o /dev/null"
		rounds big "$PAIRS" b b2x
	fi

	if want e; then
		CMD[e]="$dl extract $IMG -l -1 -o /dev/null"
		CMD[headc]="docker save $IMG | head -c $offset > /dev/null"
		NOPIPEFAIL[headc]=1 # docker save dies of SIGPIPE when head is done
		rounds top "$PAIRS" e headc
	fi
	if want k; then
		# (k) compare reads every layer of the copy (the shared ones to
		# look paths up in), so its stream is read whole; extract -l -1
		# stops once the top layer's blob is in, wherever it comes.
		meta "layers_plus.$KIND" "$(docker image inspect --format '{{len .RootFS.Layers}}' "$IMGP")"
		meta "compare_rows.$KIND" "$("$DL" compare "$IMG" "$IMGP" --format '{{.Change}}' | sort | uniq -c | awk '{printf "%s%s %s", (NR > 1 ? ", " : ""), $1, $2}')"
		CMD[k]="$dl compare $IMG $IMGP --summary > /dev/null"
		CMD[ktop]="$dl extract $IMGP -l -1 -o /dev/null"
		CMD[ksave]="docker save $IMGP > /dev/null"
		rounds compare "$PAIRS" k ktop ksave
	fi
	if want l && [ "$KIND" = "$BIG_KIND" ]; then
		many="$CACHE/manyfiles.tar"
		many_rel="${many#"$ROOT"/}"
		if [ ! -s "$many" ]; then
			log "(l) writing $many_rel: a million files (benchtool manyfiles)"
			benchtool manyfiles -o "$many.tmp" && mv "$many.tmp" "$many"
		fi
		meta "manyfiles_entries" "$("$DL" ls --input "$many" -R --format '{{.Type}}' | wc -l)"
		PRE[lls]="cat $many_rel > /dev/null"
		CMD[lls]="$dl ls --input $many_rel -R --format json > /dev/null"
		PRE[ldu]="cat $many_rel > /dev/null"
		CMD[ldu]="$dl du --input $many_rel > /dev/null"
		PRE[lx]="cat $many_rel > /dev/null"
		CMD[lx]="$dl extract --input $many_rel -o /dev/null"
		rounds scale "$PAIRS" lls ldu lx
	fi
	if want f; then
		CMD[f]="$dl extract $IMG -o $RUN_REL/out.tar.gz"
		OUTFILE[f]="$RUN/out.tar.gz"
		CMD[savegz]="docker save $IMG | gzip -6 > $RUN_REL/save.tar.gz"
		OUTFILE[savegz]="$RUN/save.tar.gz"
		rounds gzip "$PAIRS" f savegz
	fi
	if want g; then
		CMD[inspect]="$dl inspect $IMG > /dev/null"
		CMD[history]="docker history $IMG > /dev/null"
		rounds inspect "$SHORT_PAIRS" inspect history
	fi
	if want i; then
		PRE[input]="cat $saved > /dev/null"
		CMD[input]="$dl extract --input $saved -o - > /dev/null"
		PRE[crane]="cat $saved > /dev/null"
		CMD[crane]="crane export - - < $saved > /dev/null"
		vs=(input crane)
		# The layer blobs that are gzip (the containerd store's): igzip
		# inflates each, one per core. Its CPU seconds over the cores
		# bound the throughput of any tool that inflates them.
		blobs="$RUN/blobs"
		rm -rf "$blobs" && mkdir -p "$blobs"
		tar -xf "$saved" -C "$blobs"
		find "$blobs" -type f -size +1k -exec sh -c '[ "$(head -c 2 "$1" | od -An -tx1 | tr -d " ")" = 1f8b ] && echo "$1"' _ {} \; >"$RUN/gzip-blobs"
		if [ -s "$RUN/gzip-blobs" ]; then
			meta "gzip_blobs.$KIND" "$(wc -l <"$RUN/gzip-blobs") gzip layer blobs, $(xargs -a "$RUN/gzip-blobs" cat | wc -c) bytes, $(xargs -a "$RUN/gzip-blobs" igzip -dc | wc -c) bytes inflated"
			PRE[inflate]="xargs -a $RUN_REL/gzip-blobs cat > /dev/null"
			CMD[inflate]="xargs -a $RUN_REL/gzip-blobs -P $(nproc) -n 1 igzip -dc > /dev/null"
			vs+=(inflate)
		fi
		rounds input "$PAIRS" "${vs[@]}"
		rm -rf "$blobs" "$RUN/gzip-blobs"
	fi
	if want n; then
		# (n) The efficiency figures, ours and dive's CI mode, from the
		# same saved archive; and the HTML report. dive's rules are all
		# disabled, so that its exit status says only whether it ran.
		PRE[neff]="cat $saved > /dev/null"
		CMD[neff]="$dl efficiency --input $saved > /dev/null"
		PRE[ndive]="cat $saved > /dev/null"
		CMD[ndive]="${DIVE#"$ROOT"/} --ci --source docker-archive --lowestEfficiency disabled --highestWastedBytes disabled --highestUserWastedPercent disabled $saved > /dev/null"
		PRE[nreport]="cat $saved > /dev/null"
		CMD[nreport]="$dl report --input $saved -o - > /dev/null"
		rounds efficiency "$PAIRS" neff ndive nreport
	fi
	if want r; then
		# (r) The 1x image pushed from this daemon (its blobs as this
		# daemon pushes them) into the registry; kept there for the
		# next run.
		rimg="$REG/bench-$KIND/docker-layers-bench:1x"
		docker tag "$IMG" "$rimg"
		docker push -q "$rimg" >/dev/null || die "docker push $rimg failed"
		docker rmi "$rimg" >/dev/null
		CMD[rx]="$dl extract docker://$rimg -o /dev/null"
		CMD[rcrane]="crane export $rimg - > /dev/null"
		CMD[rtop]="$dl extract docker://$rimg -l -1 -o /dev/null"
		rounds registry "$PAIRS" rx rcrane rtop
		for v in rx rcrane rtop; do
			n0=$(wc -l <"$REG_LOG")
			bash -c "${CMD[$v]}"
			meta "fetched_$v.$KIND" "$(fetched_bytes "$n0" "bench-$KIND/docker-layers-bench")"
		done
	fi
	rm -f "$saved"
done

# (m) the libraries' micro-benchmarks, no daemon.
if want m; then
	log "[m] go test -bench ./flatten ./extract"
	(cd "$ROOT" && go test -run '^$' -bench . -benchmem -count 3 ./flatten ./extract) >"$RUN/micro.txt" 2>&1 ||
		die "go test -bench failed: $(tail -n 5 "$RUN/micro.txt")"
fi

# ---------------------------------------------------------------- REPORT
meta load_after "$(cut -d' ' -f1-3 /proc/loadavg)"
elapsed=$((SECONDS - START))
if [ "$elapsed" -gt 2700 ] && [ "$PAIRS" -le 5 ]; then
	med() { awk -F'\t' -v v="$1" '$3 == v && $4 > 0 && $10 == 0 {print $5}' "$RUN/samples.tsv" | sort -n |
		awk '{x[NR] = $1} END {if (NR) printf "%.0f", x[int((NR + 1) / 2)]; else printf "?"}'; }
	note "The run took $((elapsed / 60)) min, more than the ~45 min aimed for, with the minimum of 5 pairs: on this machine one \`docker save\` of the 1.4 GB image takes $(med a) s (median over the daemons), and (f)'s \`docker save | gzip -6\` $(med savegz) s."
fi
meta duration "$((elapsed / 60)) min $((elapsed % 60)) s (set-up included)"
benchtool report -dir "$RUN" -history "$HERE/history.md" -o "$OUT"
failed=$(awk -F'\t' 'NR > 1 && $10 != 0' "$RUN/samples.tsv" | wc -l)
log "wrote ${OUT#"$ROOT"/} in $((elapsed / 60)) min $((elapsed % 60)) s; samples in ${RUN_REL}/samples.tsv"
[ "$failed" = 0 ] || die "$failed runs failed (see ${OUT#"$ROOT"/})"
