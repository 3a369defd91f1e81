#!/usr/bin/env bash
# Peer benchmarks: Pegasus-Go (plog in page-cache and in fsync mode) next to
# etcd, redis and in-process pebble, plus the RPC ceiling (rpcx and
# shared/rpc echo), all driven by the same go-ycsb workloads through
# tools/bench (pegasus-bench). See docs/benchmarks.md.
#
#   tools/bench/run.sh [--docs] [--note TEXT] [--keep]
#
#   --docs       write the tables into docs/benchmarks.md (generated section)
#   --note TEXT  say something about the run in that section (e.g. "machine
#                shared with other builds")
#   --keep       keep the work directory (data, logs, results) afterwards
#
# Environment (defaults in brackets):
#   BENCH_RECORDS    records loaded into every system [100000]
#   BENCH_OPS        operations of one run at most [200000]
#   BENCH_SECONDS    seconds of one run at most [4]
#   BENCH_ROUNDS     rounds; the tables give the median [3]
#   BENCH_THREADS    client thread counts ["16 64"]
#   BENCH_WORKLOADS  workloads ["load a b c e"] (e runs on Pegasus-Go only)
#   BENCH_SYSTEMS    systems ["pegasus-pagecache pegasus-fsync etcd redis pebble rpcx-echo rpc-echo"]
#   BENCH_BASE_PORT  first port; everything listens on 127.0.0.1 from here [36601]
#   BENCH_DIR        work directory [.bench]
#   BENCH_PROFILE    1: also record CPU profiles of the client and of one
#                    replica server for every Pegasus-Go run [0]
#
# Everything started here (two oneboxes, three etcd members, redis, the echo
# servers) is stopped by pid when the script exits, however it exits.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"

WRITE_DOCS=0
NOTE=""
KEEP=0
while [ $# -gt 0 ]; do
	case "$1" in
	--docs) WRITE_DOCS=1 ;;
	--note) NOTE=${2:?--note needs a text}; shift ;;
	--note=*) NOTE=${1#--note=} ;;
	--keep) KEEP=1 ;;
	-h | --help) sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done

RECORDS=${BENCH_RECORDS:-100000}
OPS=${BENCH_OPS:-200000}
SECONDS_PER_RUN=${BENCH_SECONDS:-4}
ROUNDS=${BENCH_ROUNDS:-3}
THREADS=${BENCH_THREADS:-16 64}
WORKLOADS=${BENCH_WORKLOADS:-load a b c e}
SYSTEMS=${BENCH_SYSTEMS:-pegasus-pagecache pegasus-fsync etcd redis pebble rpcx-echo rpc-echo}
BASE=${BENCH_BASE_PORT:-36601}
DIR=${BENCH_DIR:-$ROOT/.bench}
PROFILE=${BENCH_PROFILE:-0}
BIN=$ROOT/bin
BENCH=$BIN/pegasus-bench
TABLE=usertable

for v in RECORDS OPS SECONDS_PER_RUN ROUNDS BASE; do
	if ! [[ ${!v} =~ ^[1-9][0-9]*$ ]]; then
		echo "run.sh: $v=${!v} is not a positive integer" >&2
		exit 2
	fi
done
for s in $SYSTEMS; do
	case "$s" in
	pegasus-pagecache | pegasus-fsync | etcd | redis | pebble | rpcx-echo | rpc-echo) ;;
	*) echo "run.sh: unknown system $s in BENCH_SYSTEMS" >&2; exit 2 ;;
	esac
done

has_system() { [[ " $SYSTEMS " == *" $1 "* ]]; }
log() { echo "[bench $(date +%H:%M:%S)] $*"; }
START_TS=$(date +%s)

# Ports.
PG_PAGECACHE_BASE=$BASE
PG_FSYNC_BASE=$((BASE + 1000))
ETCD_CLIENT=($((BASE + 2001)) $((BASE + 2002)) $((BASE + 2003)))
ETCD_PEER=($((BASE + 2011)) $((BASE + 2012)) $((BASE + 2013)))
REDIS_PORT=$((BASE + 2100))
RPCX_ECHO_PORT=$((BASE + 2200))
RPC_ECHO_PORT=$((BASE + 2201))

# --- cleanup: everything started here, by pid ------------------------------

PIDS=()
ONEBOXES=()
cleanup() {
	local status=$?
	trap - EXIT INT TERM
	for ob in "${ONEBOXES[@]}"; do
		"$BIN/onebox" stop --dir "$ob" >/dev/null 2>&1 || echo "run.sh: onebox stop --dir $ob failed" >&2
	done
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	# An etcd member whose peers are already gone can take a while to stop:
	# give every process 10 s, then SIGKILL.
	for pid in "${PIDS[@]}"; do
		for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	if [ "$KEEP" = 0 ] && [ -d "$DIR" ]; then
		rm -rf "$DIR/data"
	fi
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- dependencies -------------------------------------------------------------

need_pkg() { # command package
	command -v "$1" >/dev/null 2>&1 && return 0
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		log "installing $2 (apt-get)"
		DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends "$2" >"$DIR/apt-$2.log" 2>&1 ||
			{ apt-get update >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends "$2" >"$DIR/apt-$2.log" 2>&1; } ||
			{ echo "run.sh: installing $2 failed; see $DIR/apt-$2.log" >&2; exit 1; }
		command -v "$1" >/dev/null 2>&1 && return 0
	fi
	echo "run.sh: $1 not found: install Debian's $2 (apt-get install $2), run as root to have it installed, or leave $3 out of BENCH_SYSTEMS" >&2
	exit 1
}

rm -rf "$DIR/data"
mkdir -p "$DIR/data" "$DIR/logs"
has_system etcd && need_pkg etcd etcd-server etcd
has_system redis && need_pkg redis-server redis-server redis

# --- build ------------------------------------------------------------------

log "building metaserver, replicaserver, onebox, admincli and pegasus-bench into bin/"
mkdir -p "$BIN"
go build -o "$BIN/" ./metaserver/cmd/metaserver ./replicaserver/cmd/replicaserver ./tools/cmd/onebox ./admincli/cmd/admincli
(cd tools/bench && GOWORK=off go build -o "$BIN/" ./cmd/pegasus-bench)

# --- start the systems ------------------------------------------------------

start_pegasus() { # name base plog_sync
	local name=$1 base=$2 sync=$3 ob=$DIR/data/$1
	log "starting $name: onebox in $ob (1 meta, 3 replica servers, ports from $base, plog_sync=$sync)"
	ONEBOXES+=("$ob")
	"$BIN/onebox" start --dir "$ob" --base-port "$base" -m 1 -r 3 \
		--replica-set "replication.plog_sync=$sync" >"$DIR/logs/$name-onebox.log" 2>&1 ||
		{ cat "$DIR/logs/$name-onebox.log" >&2; exit 1; }
	"$BIN/admincli" -m "127.0.0.1:$base" create "$TABLE" -p 8 -r 3 >>"$DIR/logs/$name-onebox.log" 2>&1 ||
		{ cat "$DIR/logs/$name-onebox.log" >&2; exit 1; }
}

start_etcd() {
	local cluster="" i
	for i in 0 1 2; do
		cluster+="${cluster:+,}m$((i + 1))=http://127.0.0.1:${ETCD_PEER[$i]}"
	done
	log "starting etcd: 3 members, client ports ${ETCD_CLIENT[*]}"
	for i in 0 1 2; do
		etcd --name "m$((i + 1))" --data-dir "$DIR/data/etcd/m$((i + 1))" \
			--listen-client-urls "http://127.0.0.1:${ETCD_CLIENT[$i]}" \
			--advertise-client-urls "http://127.0.0.1:${ETCD_CLIENT[$i]}" \
			--listen-peer-urls "http://127.0.0.1:${ETCD_PEER[$i]}" \
			--initial-advertise-peer-urls "http://127.0.0.1:${ETCD_PEER[$i]}" \
			--initial-cluster "$cluster" --initial-cluster-state new --initial-cluster-token pegasus-bench \
			--logger zap --log-level warn >"$DIR/logs/etcd-m$((i + 1)).log" 2>&1 &
		PIDS+=($!)
	done
	local urls=()
	for i in 0 1 2; do urls+=(--http "http://127.0.0.1:${ETCD_CLIENT[$i]}/health"); done
	"$BENCH" wait "${urls[@]}" --timeout 60s || { tail -n 20 "$DIR"/logs/etcd-m*.log >&2; exit 1; }
}

start_redis() {
	log "starting redis on port $REDIS_PORT (no persistence)"
	mkdir -p "$DIR/data/redis"
	redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$DIR/data/redis" --save "" --appendonly no \
		--daemonize no --protected-mode no >"$DIR/logs/redis.log" 2>&1 &
	PIDS+=($!)
	"$BENCH" wait --tcp "127.0.0.1:$REDIS_PORT" --timeout 30s || { tail -n 20 "$DIR/logs/redis.log" >&2; exit 1; }
}

start_echo() {
	log "starting echo servers: rpcx on $RPCX_ECHO_PORT, shared/rpc on $RPC_ECHO_PORT"
	"$BENCH" echo-server --rpcx-addr "127.0.0.1:$RPCX_ECHO_PORT" --rpc-addr "127.0.0.1:$RPC_ECHO_PORT" \
		>"$DIR/logs/echo.log" 2>&1 &
	PIDS+=($!)
	"$BENCH" wait --tcp "127.0.0.1:$RPCX_ECHO_PORT" --tcp "127.0.0.1:$RPC_ECHO_PORT" --timeout 30s ||
		{ cat "$DIR/logs/echo.log" >&2; exit 1; }
}

has_system pegasus-pagecache && start_pegasus pegasus-pagecache "$PG_PAGECACHE_BASE" pagecache
has_system pegasus-fsync && start_pegasus pegasus-fsync "$PG_FSYNC_BASE" fsync
has_system etcd && start_etcd
has_system redis && start_redis
if has_system rpcx-echo || has_system rpc-echo; then start_echo; fi

# --- runs -------------------------------------------------------------------

RESULTS=$DIR/results.jsonl
PRELOAD=$DIR/preload.jsonl
: >"$RESULTS"
: >"$PRELOAD"
FAILED=()

# binding_args system: the pegasus-bench flags selecting the system.
binding_args() {
	case "$1" in
	pegasus-pagecache) echo "--db pegasus -p pegasus.meta_servers=127.0.0.1:$PG_PAGECACHE_BASE -p pegasus.table=$TABLE" ;;
	pegasus-fsync) echo "--db pegasus -p pegasus.meta_servers=127.0.0.1:$PG_FSYNC_BASE -p pegasus.table=$TABLE" ;;
	etcd) echo "--db etcd -p etcd.endpoints=127.0.0.1:${ETCD_CLIENT[0]},127.0.0.1:${ETCD_CLIENT[1]},127.0.0.1:${ETCD_CLIENT[2]}" ;;
	redis) echo "--db redis -p redis.addr=127.0.0.1:$REDIS_PORT" ;;
	pebble) echo "--db pebble -p pebble.dir=$DIR/data/pebble" ;;
	rpcx-echo) echo "--db rpcx-echo -p rpcx-echo.addr=127.0.0.1:$RPCX_ECHO_PORT" ;;
	rpc-echo) echo "--db rpc-echo -p rpc-echo.addr=127.0.0.1:$RPC_ECHO_PORT" ;;
	esac
}

# applies system workload: whether the system runs the workload.
applies() {
	case "$1:$2" in
	*-echo:c) return 0 ;;     # the echo call stands in for a read
	*-echo:*) return 1 ;;
	pegasus-*:e) return 0 ;;  # scans: Pegasus-Go only
	*:e) return 1 ;;
	esac
	return 0
}

# run_ycsb out system workload threads round max_seconds
run_ycsb() {
	local out=$1 system=$2 workload=$3 threads=$4 round=$5 maxsec=$6 extra=() profiler=""
	if [ "$PROFILE" = 1 ] && [[ $system == pegasus-* ]]; then
		local pdir=$DIR/profiles base=$PG_PAGECACHE_BASE
		[ "$system" = pegasus-fsync ] && base=$PG_FSYNC_BASE
		mkdir -p "$pdir"
		extra=(--cpuprofile "$pdir/$system-$workload-$threads-$round.client.pprof")
		curl -sf -o "$pdir/$system-$workload-$threads-$round.replica1.pprof" \
			"http://127.0.0.1:$((base + 250))/debug/pprof/profile?seconds=$((maxsec > 1 ? maxsec - 1 : 1))" &
		profiler=$!
	fi
	# The summary line comes on stdout (go-ycsb's key-range notice is
	# dropped); the result line goes to $out; stderr (the peers' client
	# libraries log every call cut by the run's deadline) goes to a log.
	# shellcheck disable=SC2046
	if ! "$BENCH" ycsb $(binding_args "$system") --system "$system" --workload "$workload" \
		--threads "$threads" --records "$RECORDS" --ops "$OPS" --round "$round" \
		--max-duration "${maxsec}s" --out "$out" "${extra[@]}" >"$DIR/run.out" 2>>"$DIR/logs/ycsb-stderr.log"; then
		FAILED+=("$system/$workload/threads=$threads/round=$round")
		echo "run.sh: $system $workload threads=$threads round=$round failed; last lines of $DIR/logs/ycsb-stderr.log:" >&2
		tail -n 5 "$DIR/logs/ycsb-stderr.log" >&2
	fi
	grep -v '^Using request distribution' "$DIR/run.out" || true
	if [ -n "$profiler" ]; then wait "$profiler" || true; fi
}

MAX_THREADS=$(echo "$THREADS" | tr ' ' '\n' | sort -n | tail -1)
for s in $SYSTEMS; do
	[[ $s == *-echo ]] && continue
	log "preloading $RECORDS records into $s"
	run_ycsb "$PRELOAD" "$s" load "$MAX_THREADS" 0 3600
done

for round in $(seq "$ROUNDS"); do
	for w in $WORKLOADS; do
		for t in $THREADS; do
			for s in $SYSTEMS; do
				applies "$s" "$w" || continue
				run_ycsb "$RESULTS" "$s" "$w" "$t" "$round" "$SECONDS_PER_RUN"
			done
		done
	done
	log "round $round of $ROUNDS done ($(($(date +%s) - START_TS))s so far)"
done

# --- report -----------------------------------------------------------------

HEADER=$DIR/header.md
{
	mem=$(awk '/^MemTotal:/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)
	cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
	disk=$(df -PT "$DIR" | awk 'NR == 2 {print $1 " (" $2 ")"}')
	commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
	git diff --quiet HEAD 2>/dev/null || commit="$commit (with uncommitted changes)"
	echo "### Run of $(date -u +%Y-%m-%d)${NOTE:+: $NOTE}"
	echo
	echo "- Machine: $(nproc) cores ($cpu), $mem memory, data on $disk; $(go env GOVERSION)."
	echo "  Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
	echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC'), commit \`$commit\`."
	echo "- Peers: $(etcd --version 2>/dev/null | head -1 || echo 'etcd not run'), 3 members;" \
		"$(redis-server --version 2>/dev/null | awk '{print "redis " $3}' || echo 'redis not run'), no persistence;" \
		"pebble v1.1.5 in-process, writes without fsync."
	echo "- Pegasus-Go: 1 meta server, 3 replica servers, table of 8 partitions x 3 replicas," \
		"local-directory store; \`pegasus-pagecache\` runs with \`replication.plog_sync = pagecache\`," \
		"\`pegasus-fsync\` with \`fsync\`."
	echo "- Command: \`BENCH_RECORDS=$RECORDS BENCH_OPS=$OPS BENCH_SECONDS=$SECONDS_PER_RUN BENCH_ROUNDS=$ROUNDS" \
		"BENCH_THREADS=\"$THREADS\" make bench\` (\`tools/bench/run.sh\`)."
	echo "- Shape: $RECORDS records of one 100-byte field, zipfian keys; each run ends after $OPS operations" \
		"or $SECONDS_PER_RUN s; systems alternate within each round; $ROUNDS rounds. Total time $(($(date +%s) - START_TS)) s."
	if [ ${#FAILED[@]} -gt 0 ]; then
		echo "- Failed runs: ${FAILED[*]}."
	fi
} >"$HEADER"

echo
cat "$HEADER"
echo
REPORT_ARGS=(--results "$RESULTS")
[ "$WRITE_DOCS" = 1 ] && REPORT_ARGS+=(--docs "$ROOT/docs/benchmarks.md" --header "$HEADER")
"$BENCH" report "${REPORT_ARGS[@]}"
log "results in $RESULTS, logs in $DIR/logs; total $(($(date +%s) - START_TS))s"

if [ ${#FAILED[@]} -gt 0 ]; then
	echo "run.sh: ${#FAILED[@]} runs failed: ${FAILED[*]}" >&2
	exit 1
fi
