#!/usr/bin/env bash
# End-to-end benchmark: vltava (release build) against librdkafka's in-process mock
# cluster (the client's own ceiling) and, when installed, Tansu, all driven by librdkafka's
# rdkafka_performance on 127.0.0.1. See benches/README.md.
#
#   benches/e2e.sh [--json FILE] [--runs N] [--count N] [--latency-count N] [--no-build]
#                  [--no-tansu] [--keep] [--log-root DIR]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
JSON=$ROOT/target/bench-e2e.json
RUNS=1
COUNT=1000000
LAT_COUNT=10000
LAT_RATE=1000
BUILD=1
TANSU=1
KEEP=0
LOG_ROOT="" # where vltava's log dirs go (default: the work dir under /tmp); e.g. /dev/shm
LIBRDKAFKA_DIR=${VLTAVA_BENCH_LIBRDKAFKA_DIR:-/tmp/vltava-bench-librdkafka}
# Bounded waits for every client run.
RUN_TIMEOUT=${VLTAVA_BENCH_TIMEOUT:-300}
# "Tuned" producer: bigger batches (the client defaults are linger.ms=5, batch.num.messages=10000).
TUNED=(-X linger.ms=50 -X batch.num.messages=100000 -X queue.buffering.max.messages=1000000)

usage() { sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while (($#)); do
  case $1 in
    --json) JSON=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --count) COUNT=$2; shift 2 ;;
    --latency-count) LAT_COUNT=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --no-tansu) TANSU=0; shift ;;
    --keep) KEEP=1; shift ;;
    --log-root) LOG_ROOT=$2; shift 2 ;;
    -h|--help) usage 0 ;;
    *) echo "unknown argument $1" >&2; usage 2 ;;
  esac
done
[[ $JSON = /* ]] || JSON=$PWD/$JSON

TOOL=(python3 "$ROOT/benches/e2e_tool.py")
WORK=$(mktemp -d /tmp/vltava-bench-e2e.XXXXXX)
RESULTS=$WORK/results.tsv
if [[ -n $LOG_ROOT ]]; then LOGS=$(mktemp -d "$LOG_ROOT/vltava-bench-logs.XXXXXX"); else LOGS=$WORK; fi
: >"$RESULTS"
BROKER_PID=""
SAMPLER_PID=""
CLK_TCK=$(getconf CLK_TCK)

log() { printf '[e2e %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "error: $*"; exit 1; }

stop_pid() { # pid: TERM, wait up to 10 s, then KILL
  local pid=$1 i
  [[ -n $pid ]] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  stop_pid "$SAMPLER_PID"
  stop_pid "$BROKER_PID"
  if ((KEEP)); then log "kept $WORK $LOGS"; else rm -rf "$WORK" "$LOGS"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$RESULTS"; }

# ---------------------------------------------------------------- builds
build_librdkafka() {
  local src
  src=$(ls -d "$HOME"/.cargo/registry/src/*/rdkafka-sys-*/librdkafka 2>/dev/null | sort -V | tail -1)
  [[ -n $src ]] || die "no rdkafka-sys source in ~/.cargo/registry (run cargo fetch)"
  RP=$LIBRDKAFKA_DIR/tree/examples/rdkafka_performance
  if [[ -x $RP && "$(cat "$LIBRDKAFKA_DIR/stamp" 2>/dev/null)" == "$src" ]]; then
    log "rdkafka_performance cached: $RP"
    return
  fi
  log "building librdkafka from $src in $LIBRDKAFKA_DIR (a few minutes, once)"
  mkdir -p "$LIBRDKAFKA_DIR"
  rm -rf "$LIBRDKAFKA_DIR/tree"
  cp -a "$src" "$LIBRDKAFKA_DIR/tree"
  if ! (cd "$LIBRDKAFKA_DIR/tree" &&
    ./configure --disable-ssl --disable-gssapi --disable-sasl &&
    make -j"$(nproc)" libs &&
    make -C examples rdkafka_performance) >"$LIBRDKAFKA_DIR/build.log" 2>&1; then
    tail -20 "$LIBRDKAFKA_DIR/build.log" >&2
    die "librdkafka build failed (log: $LIBRDKAFKA_DIR/build.log)"
  fi
  echo "$src" >"$LIBRDKAFKA_DIR/stamp"
}

build_librdkafka
VLTAVA=$ROOT/target/release/vltava
if ((BUILD)); then
  log "cargo build --release"
  (cd "$ROOT" && cargo build --release --bin vltava) >&2
fi
[[ -x $VLTAVA ]] || die "$VLTAVA missing (drop --no-build)"
TANSU_BIN=""
if ((TANSU)) && command -v tansu >/dev/null; then TANSU_BIN=$(command -v tansu); fi

# ---------------------------------------------------------------- brokers
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Sets BROKER_PID and BOOTSTRAP.
start_vltava() {
  local dir=$LOGS/vltava-logs-$1 port="" i
  mkdir -p "$dir"
  "$VLTAVA" --override listeners=PLAINTEXT://127.0.0.1:0 --override "log.dirs=$dir" \
    --override num.partitions=1 2>"$WORK/vltava-$1.log" >/dev/null &
  BROKER_PID=$!
  for ((i = 0; i < 200; i++)); do
    port=$(grep -o 'listening on PLAINTEXT://127.0.0.1:[0-9]*' "$WORK/vltava-$1.log" | head -1 | sed 's/.*://') || true
    [[ -n $port ]] && break
    kill -0 "$BROKER_PID" 2>/dev/null || { cat "$WORK/vltava-$1.log" >&2; die "vltava exited"; }
    sleep 0.05
  done
  [[ -n $port ]] || die "vltava did not log its port within 10 s"
  BOOTSTRAP=127.0.0.1:$port
}

tansu_cmd() { # port -> command line (override with TANSU_ARGS, "{port}" is replaced)
  local port=$1
  if [[ -n ${TANSU_ARGS:-} ]]; then
    echo "$TANSU_BIN ${TANSU_ARGS//\{port\}/$port}"
  else
    echo "$TANSU_BIN broker --listener-url tcp://127.0.0.1:$port --advertised-listener-url tcp://127.0.0.1:$port --storage-engine memory://tansu/"
  fi
}

start_tansu() {
  local port i
  port=$(free_port)
  # shellcheck disable=SC2046
  $(tansu_cmd "$port") >"$WORK/tansu.log" 2>&1 &
  BROKER_PID=$!
  for ((i = 0; i < 200; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    kill -0 "$BROKER_PID" 2>/dev/null || { tail "$WORK/tansu.log" >&2; die "tansu exited"; }
    sleep 0.05
  done
  BOOTSTRAP=127.0.0.1:$port
}

stop_broker() { stop_pid "$BROKER_PID"; BROKER_PID=""; }

cpu_ticks() { # utime + stime of a pid, in clock ticks
  local stat
  stat=$(<"/proc/$1/stat")
  stat=${stat##*) }
  read -r -a f <<<"$stat"
  echo $((f[11] + f[12]))
}

status_kb() { # pid key -> kB
  local k v _
  while read -r k v _; do [[ $k == "$2:" ]] && { echo "$v"; return; }; done <"/proc/$1/status"
  echo 0
}

start_sampler() { # max VmRSS of the broker every 50 ms into $WORK/rss.max
  echo 0 >"$WORK/rss.max"
  (
    max=0
    while kill -0 "$BROKER_PID" 2>/dev/null; do
      r=$(status_kb "$BROKER_PID" VmRSS 2>/dev/null) || r=0
      if ((r > max)); then max=$r; echo "$max" >"$WORK/rss.max"; fi
      sleep 0.05
    done
  ) &
  SAMPLER_PID=$!
}
stop_sampler() { stop_pid "$SAMPLER_PID"; SAMPLER_PID=""; cat "$WORK/rss.max"; }

# ---------------------------------------------------------------- scenarios
acks_name() { [[ $1 == -1 ]] && echo all || echo "$1"; }

# Every scenario starts with no dirty pages left by the one before: without this, the
# gigabytes of earlier scenarios cross vm.dirty_background_ratio and later scenarios
# measure the disk's write-back instead of the broker. Not timed.
settle() { sync; }

# run_produce BROKER SIZE ACKS PARTS RUN [tuned]
run_produce() {
  local broker=$1 size=$2 acks=$3 parts=$4 run=$5 tuned=${6:-} out line delivered failed rate
  local metric="produce_${size}B_acks$(acks_name "$acks")_p$parts${tuned:+_tuned}"
  local topic=${metric//_/-}-r$run
  local args=(-P -t "$topic" -s "$size" -c "$COUNT" -a "$acks")
  ((parts == 1)) && args+=(-p 0)
  [[ -n $tuned ]] && args+=("${TUNED[@]}")
  local c0=0 c1 rss
  settle
  if [[ $broker == mock ]]; then
    args+=(-X test.mock.num.brokers=1)
  else
    args+=(-b "$BOOTSTRAP")
    c0=$(cpu_ticks "$BROKER_PID")
    start_sampler
  fi
  out=$(timeout "$RUN_TIMEOUT" "$RP" "${args[@]}" 2>&1) || true
  if [[ $broker != mock ]]; then
    c1=$(cpu_ticks "$BROKER_PID")
    rss=$(stop_sampler)
    record "$broker" "cpu_ticks_${metric}" "$run" "$((c1 - c0))"
    record "$broker" "bytes_${metric}" "$run" "$((COUNT * size))"
    record "$broker" "rss_max_kb_${metric}" "$run" "$rss"
  fi
  line=$(grep 'messages produced' <<<"$out" | tail -1) || true
  delivered=$(sed -nE 's/.*\), ([0-9]+) delivered.*/\1/p' <<<"$line")
  failed=$(sed -nE 's/.*, ([0-9]+) failed\).*/\1/p' <<<"$line")
  rate=$(sed -nE 's/.*: ([0-9]+) msgs\/s.*/\1/p' <<<"$line")
  if [[ $delivered == "$COUNT" && $failed == 0 && -n $rate ]]; then
    record "$broker" "$metric" "$run" "$rate"
    log "$broker $metric run $run: $rate rec/s"
  else
    record "$broker" "$metric" "$run" "error"
    log "$broker $metric run $run FAILED: ${line:-$(tail -3 <<<"$out")}"
  fi
}

# run_consume BROKER RUN: reads the records of the 100 B acks=1 1-partition produce run.
run_consume() {
  local broker=$1 run=$2 out line n rate
  local topic=produce-100B-acks1-p1-r$run
  out=$(timeout "$RUN_TIMEOUT" "$RP" -C -t "$topic" -p 0 -o beginning -c "$COUNT" -b "$BOOTSTRAP" 2>&1) || true
  line=$(grep 'consumed in' <<<"$out" | grep -v INTERVAL | tail -1) || true
  n=$(sed -nE 's/^% ([0-9]+) messages.*/\1/p' <<<"$line")
  rate=$(sed -nE 's/.*: ([0-9]+) msgs\/s.*/\1/p' <<<"$line")
  if [[ $n == "$COUNT" && -n $rate ]]; then
    record "$broker" consume_100B_p1 "$run" "$rate"
    log "$broker consume_100B_p1 run $run: $rate rec/s"
  else
    record "$broker" consume_100B_p1 "$run" "error"
    log "$broker consume run $run FAILED: ${line:-$(tail -3 <<<"$out")}"
  fi
}

# run_latency BROKER RUN: acks=all, 100 B, fixed rate, linger.ms=0 (no client-side wait).
run_latency() {
  local broker=$1 run=$2 file=$WORK/latency-$1-$2.txt pct
  local args=(-P -l -A "$file" -t "lat-r$run" -p 0 -s 100 -c "$LAT_COUNT" -r "$LAT_RATE" -a -1 -X linger.ms=0)
  if [[ $broker == mock ]]; then args+=(-X test.mock.num.brokers=1); else args+=(-b "$BOOTSTRAP"); fi
  timeout "$RUN_TIMEOUT" "$RP" "${args[@]}" >"$WORK/latency-$1-$2.out" 2>&1 || true
  if pct=$("${TOOL[@]}" percentiles "$file" 2>/dev/null); then
    read -r p50 p99 p999 n <<<"$pct"
    record "$broker" latency_p50_us "$run" "$p50"
    record "$broker" latency_p99_us "$run" "$p99"
    record "$broker" latency_p999_us "$run" "$p999"
    log "$broker latency run $run ($n samples): p50 $p50 us, p99 $p99 us, p99.9 $p999 us"
  else
    record "$broker" latency_p99_us "$run" error
    log "$broker latency run $run FAILED: $(tail -3 "$WORK/latency-$1-$2.out")"
  fi
}

PRODUCE_MATRIX=() # "size acks parts tuned"
for size in 100 1024; do
  for acks in 1 -1; do
    for parts in 1 8; do PRODUCE_MATRIX+=("$size $acks $parts -"); done
  done
  PRODUCE_MATRIX+=("$size 1 1 tuned")
done

topics_for_run() {
  local run=$1 s size acks parts tuned metric
  for s in "${PRODUCE_MATRIX[@]}"; do
    read -r size acks parts tuned <<<"$s"
    [[ $tuned == - ]] && tuned=""
    metric="produce_${size}B_acks$(acks_name "$acks")_p$parts${tuned:+_tuned}"
    echo "${metric//_/-}-r$run:$parts"
  done
  echo "lat-r$run:1"
}

# Start-to-first-ApiVersions: median of 5 fresh starts on a fresh dir and a fixed port.
measure_startup() {
  local broker=$1 i port ms
  for ((i = 0; i < 5; i++)); do
    port=$(free_port)
    if [[ $broker == vltava ]]; then
      rm -rf "$WORK/startup-logs"
      ms=$("${TOOL[@]}" startup "$port" "$VLTAVA" --override "listeners=PLAINTEXT://127.0.0.1:$port" \
        --override "log.dirs=$WORK/startup-logs") || ms=error
    else
      # shellcheck disable=SC2046
      ms=$("${TOOL[@]}" startup "$port" $(tansu_cmd "$port")) || ms=error
    fi
    record "$broker" startup_ms "$i" "$ms"
  done
}

bench_broker() { # vltava | tansu
  local broker=$1 run s size acks parts tuned idle
  log "== $broker: startup"
  measure_startup "$broker"
  for ((run = 1; run <= RUNS; run++)); do
    log "== $broker: run $run/$RUNS"
    "start_$broker" "$run"
    sleep 1
    if ((run == 1)); then
      idle=$(status_kb "$BROKER_PID" VmRSS)
      record "$broker" rss_idle_mb 1 "$(awk -v k="$idle" 'BEGIN{printf "%.1f", k/1024}')"
    fi
    # shellcheck disable=SC2046
    "${TOOL[@]}" create-topics "$BOOTSTRAP" $(topics_for_run "$run") || die "topic creation failed"
    for s in "${PRODUCE_MATRIX[@]}"; do
      read -r size acks parts tuned <<<"$s"
      [[ $tuned == - ]] && tuned=""
      run_produce "$broker" "$size" "$acks" "$parts" "$run" $tuned
    done
    if [[ $broker == vltava ]]; then
      # The machine's ceiling for the 1 KiB rows: filling fresh page-cache pages.
      settle
      record machine page_cache_write_mb_s "$run" "$("${TOOL[@]}" write-speed "$LOGS" $((COUNT * 1024)))"
    fi
    settle
    run_consume "$broker" "$run"
    settle
    run_latency "$broker" "$run"
    record "$broker" rss_hwm_mb "$run" "$(awk -v k="$(status_kb "$BROKER_PID" VmHWM)" 'BEGIN{printf "%.1f", k/1024}')"
    stop_broker
    rm -rf "$LOGS/vltava-logs-$run" # several GB per run
  done
}

bench_mock() {
  local run s size acks parts tuned
  for ((run = 1; run <= RUNS; run++)); do
    log "== mock (in-process, -X test.mock.num.brokers=1): run $run/$RUNS"
    for s in "${PRODUCE_MATRIX[@]}"; do
      read -r size acks parts tuned <<<"$s"
      [[ $tuned == - ]] && tuned=""
      run_produce mock "$size" "$acks" "$parts" "$run" $tuned
    done
    run_latency mock "$run"
  done
}

bench_broker vltava
bench_mock
if [[ -n $TANSU_BIN ]]; then bench_broker tansu; else log "tansu not installed: skipped"; fi

# Derived metrics: RSS while producing 1 KiB (max over the 1 KiB scenarios) and broker CPU
# seconds per GB of record payload written (all produce scenarios).
python3 - "$RESULTS" "$CLK_TCK" <<'EOF' >>"$RESULTS"
import sys, collections
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
tck = float(sys.argv[2])
per = collections.defaultdict(lambda: collections.defaultdict(dict))
for b, m, r, v in rows:
    per[b][r][m] = v
for b, runs in per.items():
    for r, ms in runs.items():
        rss = [float(v) for m, v in ms.items() if m.startswith("rss_max_kb_produce_1024B")]
        if rss:
            print(f"{b}\trss_produce_1024B_mb\t{r}\t{max(rss) / 1024:.1f}")
        for m in ("produce_1024B_acks1_p1", "produce_1024B_acks1_p1_tuned"):
            if ms.get(m, "error") != "error":
                print(f"{b}\t{m}_mb_s\t{r}\t{float(ms[m]) * 1024 / 1e6:.0f}")
        ticks = sum(float(v) for m, v in ms.items() if m.startswith("cpu_ticks_"))
        byts = sum(float(v) for m, v in ms.items() if m.startswith("bytes_"))
        if byts:
            print(f"{b}\tcpu_s_per_gb_written\t{r}\t{ticks / tck / (byts / 1e9):.2f}")
EOF

# Keep the raw per-scenario CPU/RSS figures in the JSON only: the table shows the headline rows.
grep -v -E $'\t(cpu_ticks_|bytes_|rss_max_kb_)' "$RESULTS" >"$WORK/table.tsv" || true
{
  printf '\n'
  "${TOOL[@]}" report "$WORK/table.tsv" "$JSON" \
    "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)" "nproc=$(nproc)" \
    "mem_total_kb=$(awk '/MemTotal/{print $2}' /proc/meminfo)" "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')" \
    "runs=$RUNS" "count=$COUNT" "log_root=${LOG_ROOT:-/tmp}" "latency_count=$LAT_COUNT" "latency_rate=$LAT_RATE" \
    "librdkafka=$(basename "$(dirname "$(cat "$LIBRDKAFKA_DIR/stamp" 2>/dev/null || echo unknown/x)")")" \
    "vltava_git=$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)$(cd "$ROOT" && git diff --quiet 2>/dev/null || echo -dirty)"
}
# The full per-scenario figures (CPU ticks, bytes, max RSS) go into the JSON's "raw" list.
python3 - "$JSON" "$RESULTS" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
j["raw"] = [l.rstrip("\n").split("\t") for l in open(sys.argv[2])]
json.dump(j, open(sys.argv[1], "w"), indent=2, sort_keys=True)
EOF
