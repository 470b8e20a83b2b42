#!/usr/bin/env bash
# The long fuzz run: libFuzzer (cargo fuzz, nightly Rust) over request framing, decoding
# and dispatch (fuzz/fuzz_targets/requests.rs), seeded with every captured request in
# protocol-fixtures/. Prints executions, crashes and peak RSS at the end.
#
#   fuzz/run.sh                 # 10^7 executions
#   RUNS=100000 fuzz/run.sh     # fewer
#   JOBS=2 fuzz/run.sh          # parallel jobs (each RUNS/JOBS executions)
#   MAX_TIME=1200 fuzz/run.sh   # stop after this many seconds even before RUNS
#   SANITIZER=address fuzz/run.sh  # with AddressSanitizer (default none: safe Rust, and
#                                  # several times the executions per second)
#
# Installs the nightly toolchain and cargo-fuzz when they are missing. The corpus and
# the crash artifacts live under fuzz/target/ (never committed). A crash input found here
# becomes a regression test (src/fuzz.rs or src/protocol/decode_tests.rs).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
RUNS=${RUNS:-10000000}
JOBS=${JOBS:-1}
MAX_TIME=${MAX_TIME:-0}
SANITIZER=${SANITIZER:-none}
if ! rustup toolchain list | grep -q '^nightly'; then
    rustup toolchain install nightly --profile minimal
fi
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked

CORPUS=target/corpus/requests
ARTIFACTS=target/artifacts/requests
mkdir -p "$CORPUS" "$ARTIFACTS"
# Seeds: every fixture request with the size prefix a connection sees.
python3 - "$CORPUS" <<'PY'
import json, pathlib, struct, sys
root = pathlib.Path("../protocol-fixtures")
out = pathlib.Path(sys.argv[1])
for i, e in enumerate(json.loads((root / "index.json").read_text())):
    body = (root / e["request_file"]).read_bytes()
    (out / f"seed-{i:04d}").write_bytes(struct.pack(">i", len(body)) + body)
PY
cargo +nightly fuzz build -O -s "$SANITIZER" requests
LOG=target/fuzz-requests.log
# libFuzzer's jobs mode writes each job's output to fuzz-<n>.log; one job runs in place.
PARALLEL=()
[ "$JOBS" -gt 1 ] && PARALLEL=(-jobs="$JOBS" -workers="$JOBS")
start=$(date +%s)
set +e
cargo +nightly fuzz run -O -s "$SANITIZER" requests "$CORPUS" -- \
    -runs=$((RUNS / JOBS)) "${PARALLEL[@]}" -max_total_time="$MAX_TIME" \
    -max_len=65536 -rss_limit_mb=4096 \
    -artifact_prefix="$ARTIFACTS/" -print_final_stats=1 2>&1 | tee "$LOG" | grep -E '^#[0-9]+ +(pulse|DONE)|ERROR|panicked|Done'
rc=${PIPESTATUS[0]}
set -e
crashes=$(find "$ARTIFACTS" -type f | wc -l)
# The run's own output holds every job's final stats (libFuzzer echoes the job logs).
execs=$(grep -h 'stat::number_of_executed_units' "$LOG" | awk '{s += $2} END {print s + 0}')
peak=$(grep -h 'stat::peak_rss_mb' "$LOG" | awk '$2 > m {m = $2} END {print m + 0}')
echo "fuzz requests: $execs executions, $crashes crashes, peak RSS ${peak} MB, $(( $(date +%s) - start ))s (exit $rc)"
[ "$rc" -eq 0 ] && [ "$crashes" -eq 0 ]
