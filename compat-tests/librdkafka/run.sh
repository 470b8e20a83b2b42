#!/usr/bin/env bash
# Run a selected subset of librdkafka's own regression test suite
# (librdkafka/tests, bundled in the rdkafka-sys crate) against vltava.
#
# Usage:
#   compat-tests/librdkafka/run.sh                   # run tests in selected.txt
#   compat-tests/librdkafka/run.sh --all-candidates  # run every 0xxx test, report
#   compat-tests/librdkafka/run.sh --build-only      # only build librdkafka + test-runner
#   compat-tests/librdkafka/run.sh 0001 0017 ...     # run the given tests
#
# Environment:
#   VLTAVA_BIN           broker binary (default <repo>/target/debug/vltava)
#   VLTAVA_BUILD_DIR     librdkafka build dir (default /tmp/vltava-librdkafka)
#   LIBRDKAFKA_SRC       librdkafka source tree (default: from rdkafka-sys crate)
#   TEST_TIMEOUT         per-test timeout in seconds (default 300)
#   TEST_KAFKA_VERSION   broker version the suite assumes (default 4.0.0)
#   BUILD_JOBS           make -j value (default nproc)
#   KEEP_LOGS=1          keep the work dir (broker + test logs) on exit
#   VLTAVA_NUM_PARTITIONS  broker num.partitions (default 4, as the suite's default scenario)
#   VLTAVA_EXTRA_ARGS    extra broker args
#   RUNNER_ARGS          extra test-runner args for every test (e.g. -l: local/mock tests only)
set -euo pipefail

# The whole script is one function so bash parses it completely before
# running (editing this file during a run cannot corrupt the run).
main() {

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
VLTAVA_BIN="${VLTAVA_BIN:-$REPO/target/debug/vltava}"
BUILD_DIR="${VLTAVA_BUILD_DIR:-/tmp/vltava-librdkafka}"
TEST_TIMEOUT="${TEST_TIMEOUT:-300}"
export TEST_KAFKA_VERSION="${TEST_KAFKA_VERSION:-4.0.0}"
BUILD_JOBS="${BUILD_JOBS:-$(nproc 2>/dev/null || echo 2)}"
# The suite's "default" scenario (tests/scenarios/default.json) is a cluster
# with auto topic creation and num.partitions=4; many tests produce to
# partitions 0..3 of auto-created topics.
NUM_PARTITIONS="${VLTAVA_NUM_PARTITIONS:-4}"
SELECTED="$HERE/selected.txt"
CONFIGURE_FLAGS=(--disable-ssl --disable-gssapi --disable-curl
                 --enable-zlib --enable-zstd --disable-lz4-ext
                 --disable-debug-symbols)

MODE=selected
EXPLICIT_TESTS=()
for arg in "$@"; do
    case "$arg" in
        --all-candidates) MODE=all ;;
        --build-only) MODE=build ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
        [0-9][0-9][0-9][0-9]|[0-9][0-9][0-9][0-9]\ *) MODE=explicit; EXPLICIT_TESTS+=("$arg") ;;
        *) echo "unknown argument: $arg" >&2; exit 2 ;;
    esac
done

log() { echo "[librdkafka-compat] $*" >&2; }

# ---------------------------------------------------------------- source ---
find_src() {
    if [[ -n "${LIBRDKAFKA_SRC:-}" ]]; then
        echo "$LIBRDKAFKA_SRC"; return
    fi
    local cargo_home="${CARGO_HOME:-$HOME/.cargo}" ver="" d
    # Prefer the rdkafka-sys version pinned in Cargo.lock.
    if [[ -f "$REPO/Cargo.lock" ]]; then
        ver="$(awk '/^name = "rdkafka-sys"/{getline; gsub(/version = |"/,""); print; exit}' "$REPO/Cargo.lock")"
    fi
    find_in_registry() {
        local pat="rdkafka-sys-${ver:-*}"
        ls -d "$cargo_home"/registry/src/*/$pat/librdkafka 2>/dev/null | sort -V | tail -n1
    }
    d="$(find_in_registry)"
    if [[ -z "$d" ]]; then
        log "rdkafka-sys source not in cargo registry; running cargo fetch"
        (cd "$REPO" && timeout 600 cargo fetch --quiet) >&2
        d="$(find_in_registry)"
    fi
    [[ -n "$d" && -f "$d/tests/test.c" ]] || { log "cannot find librdkafka source"; exit 1; }
    echo "$d"
}

# ----------------------------------------------------------------- build ---
install_build_deps() {
    local missing=()
    command -v make >/dev/null || missing+=(make)
    command -v gcc >/dev/null || missing+=(gcc)
    command -v g++ >/dev/null || missing+=(g++)
    command -v pkg-config >/dev/null || missing+=(pkg-config)
    command -v python3 >/dev/null || missing+=(python3)
    dpkg -s zlib1g-dev >/dev/null 2>&1 || missing+=(zlib1g-dev)
    dpkg -s libzstd-dev >/dev/null 2>&1 || missing+=(libzstd-dev)
    if ((${#missing[@]})); then
        log "installing build deps: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        timeout 600 apt-get update -qq </dev/null >&2 || true
        timeout 900 apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null >&2
    fi
}

build() {
    local src stamp_want
    src="$(find_src)"
    stamp_want="src=$src flags=${CONFIGURE_FLAGS[*]}"
    if [[ -f "$BUILD_DIR/.vltava-stamp" && -x "$BUILD_DIR/tests/test-runner" ]] &&
       [[ "$(cat "$BUILD_DIR/.vltava-stamp")" == "$stamp_want" ]]; then
        log "reusing build in $BUILD_DIR"
        return
    fi
    install_build_deps
    log "building librdkafka from $src in $BUILD_DIR (make -j$BUILD_JOBS)"
    local t0=$SECONDS
    rm -rf "$BUILD_DIR"
    mkdir -p "$BUILD_DIR"
    cp -a "$src/." "$BUILD_DIR/"
    chmod -R u+w "$BUILD_DIR"
    (
        cd "$BUILD_DIR"
        ./configure --no-download "${CONFIGURE_FLAGS[@]}" </dev/null >vltava-configure.out 2>&1 ||
            { tail -n 40 vltava-configure.out >&2; exit 1; }
        timeout 3600 make -j"$BUILD_JOBS" libs </dev/null >vltava-build.out 2>&1 ||
            { tail -n 40 vltava-build.out >&2; exit 1; }
        timeout 3600 make -j"$BUILD_JOBS" -C tests test-runner </dev/null >>vltava-build.out 2>&1 ||
            { tail -n 40 vltava-build.out >&2; exit 1; }
    )
    echo "$stamp_want" >"$BUILD_DIR/.vltava-stamp"
    log "build done in $((SECONDS - t0))s"
}

build
[[ "$MODE" == build ]] && exit 0

# ---------------------------------------------------------------- broker ---
[[ -x "$VLTAVA_BIN" ]] || { log "broker binary not found: $VLTAVA_BIN (run cargo build)"; exit 1; }
WORK="$(mktemp -d /tmp/vltava-librdkafka-run.XXXXXX)"
BROKER_PID=""
BROKER_PORT=""
BROKER_N=0

stop_broker() {
    if [[ -n "$BROKER_PID" ]] && kill -0 "$BROKER_PID" 2>/dev/null; then
        kill -TERM "$BROKER_PID" 2>/dev/null || true
        local i
        for i in $(seq 1 50); do
            kill -0 "$BROKER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$BROKER_PID" 2>/dev/null || true
        wait "$BROKER_PID" 2>/dev/null || true
    fi
    BROKER_PID=""
}

cleanup() {
    stop_broker
    if [[ "${KEEP_LOGS:-0}" == 1 ]]; then
        log "logs kept in $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_broker() {
    BROKER_N=$((BROKER_N + 1))
    local logdir="$WORK/broker-data-$BROKER_N" errlog="$WORK/broker-$BROKER_N.log"
    mkdir -p "$logdir"
    "$VLTAVA_BIN" --override listeners=PLAINTEXT://127.0.0.1:0 \
        --override "log.dirs=$logdir" \
        --override "num.partitions=$NUM_PARTITIONS" \
        ${VLTAVA_EXTRA_ARGS:-} </dev/null >"$errlog" 2>&1 &
    BROKER_PID=$!
    BROKER_LOG="$errlog"
    local i
    BROKER_PORT=""
    for i in $(seq 1 300); do
        BROKER_PORT="$(grep -oE 'listening on PLAINTEXT://127\.0\.0\.1:[0-9]+' "$errlog" 2>/dev/null |
                       head -n1 | sed 's/.*://' || true)"
        [[ -n "$BROKER_PORT" ]] && break
        kill -0 "$BROKER_PID" 2>/dev/null || break
        sleep 0.1
    done
    if [[ -z "$BROKER_PORT" ]]; then
        log "broker failed to start; log:"; tail -n 30 "$errlog" >&2
        exit 1
    fi
    log "broker pid $BROKER_PID listening on 127.0.0.1:$BROKER_PORT"
    cat >"$WORK/test.conf" <<EOF
bootstrap.servers=127.0.0.1:$BROKER_PORT
# Unique topic names per run so reruns don't see leftovers.
test.topic.random=true
EOF
}

ensure_broker() {
    if [[ -z "$BROKER_PID" ]] || ! kill -0 "$BROKER_PID" 2>/dev/null; then
        if [[ -n "$BROKER_PID" ]]; then
            if grep -q 'shutting down' "$BROKER_LOG"; then
                log "broker (pid $BROKER_PID) was shut down by a signal from outside this script; last log lines:"
            else
                log "broker (pid $BROKER_PID) died; last log lines:"
            fi
            tail -n 20 "$BROKER_LOG" >&2 || true
            wait "$BROKER_PID" 2>/dev/null || true
        fi
        start_broker
    fi
}

# ----------------------------------------------------------------- tests ---
# selected.txt lines: "NNNN [extra test-runner args]  # comment"
# e.g. "0045 -l" runs only the local (mock cluster) variants of test 0045.
list_selected() {
    sed -e 's/#.*//' -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' "$SELECTED" |
        grep -E '^[0-9]{4}( +-[a-zA-Z]+)*$' || true
}
list_all() {
    ls "$BUILD_DIR/tests" | grep -oE '^0[0-9]{3}-' | tr -d - | sort -u
}

case "$MODE" in
    selected) mapfile -t TESTS_LIST < <(list_selected) ;;
    all) mapfile -t TESTS_LIST < <(list_all) ;;
    explicit) TESTS_LIST=("${EXPLICIT_TESTS[@]}") ;;
esac
((${#TESTS_LIST[@]})) || { log "no tests to run"; exit 1; }

export RDKAFKA_TEST_CONF="$WORK/test.conf"
export LD_LIBRARY_PATH="$BUILD_DIR/src:$BUILD_DIR/src-cpp${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export TEST_MODE=bare
# Don't let the harness write its own report / sql files into the source dir.
unset TEST_REPORT

# Per-test stats dumps and file-based offset stores from earlier runs.
rm -f "$BUILD_DIR"/tests/stats_*.json "$BUILD_DIR"/tests/*.offset

PASSED=()
FAILED=()
SKIPPED=()
# Passed, but only in variants that run against librdkafka's mock cluster or with no
# broker at all (names ending _local or _mock): they say nothing about vltava, so they
# are counted apart.
NO_BROKER=()
for entry in "${TESTS_LIST[@]}"; do
    read -r t targs <<<"$entry"
    label="$t${targs:+ $targs}"
    ensure_broker
    out="$WORK/test-$t${targs:+${targs// /}}.log"
    t0=$SECONDS
    rc=0
    (cd "$BUILD_DIR/tests" &&
        TESTS="$t" timeout -k 10 "$TEST_TIMEOUT" ./test-runner ${targs:-} ${RUNNER_ARGS:-} </dev/null >"$out" 2>&1) 2>/dev/null || rc=$?
    dt=$((SECONDS - t0))
    # Per-variant results from the runner's summary table, e.g.
    # "| 0022_consume_batch_local |     PASSED |   0.123s |"
    rows="$(sed 's/\x1b\[[0-9;]*m//g' "$out" | grep -E '^\| *[0-9]{4}_[^ ]* +\| +[A-Z]+ ' |
            awk -F'|' '{gsub(/ /,"",$2); gsub(/ /,"",$3); print $2 "=" $3}' | sort -u | paste -sd' ' || true)"
    if ((rc == 0)) && [[ -n "$rows" ]] && ! grep -qvE '=SKIPPED$' <<<"$(tr ' ' '\n' <<<"$rows")"; then
        SKIPPED+=("$label")
        echo "SKIP $label (${dt}s) [$rows] $(sed 's/\x1b\[[0-9;]*m//g' "$out" | grep -m1 -oE 'SKIPPING TEST: .*' | cut -c1-150 || true)"
    elif ((rc == 0)) && [[ -n "$rows" ]] &&
        ! grep -qvE '_(local|mock)=' <<<"$(tr ' ' '\n' <<<"$rows")"; then
        NO_BROKER+=("$label")
        echo "PASS (no broker: local/mock variants only) $label (${dt}s) [$rows]"
    elif ((rc == 0)); then
        PASSED+=("$label")
        echo "PASS $label (${dt}s) [$rows]"
    else
        FAILED+=("$label")
        reason="exit $rc"
        ((rc == 124)) && reason="timeout after ${TEST_TIMEOUT}s"
        echo "FAIL $label (${dt}s, $reason) [$rows]"
        # Show the test framework's failure reports ("### Test ... failed
        # at ...: ###" + message), else the last lines of output.
        excerpt="$(sed 's/\x1b\[[0-9;]*m//g' "$out" | grep -v 'test(s) running' |
                   grep -A1 '^### Test' | grep -v '^--$' | awk '!seen[$0]++' | head -n "${FAIL_LINES:-6}" || true)"
        [[ -n "$excerpt" ]] || excerpt="$(sed 's/\x1b\[[0-9;]*m//g' "$out" | grep -v 'test(s) running' | tail -n 5)"
        cut -c1-400 <<<"$excerpt" | sed 's/^/    | /'
        if [[ "${SHOW_LOG:-0}" == 1 ]]; then
            sed 's/\x1b\[[0-9;]*m//g' "$out" | tail -n 40 | sed 's/^/    > /'
        fi
    fi
done

if [[ "$MODE" == all ]]; then
    echo "passing: ${PASSED[*]:-}"
    echo "failing: ${FAILED[*]:-}"
    echo "skipped: ${SKIPPED[*]:-}"
    echo "passing without a broker: ${NO_BROKER[*]:-}"
fi
echo "${#PASSED[@]} passed, ${#FAILED[@]} failed, ${#SKIPPED[@]} skipped, ${#NO_BROKER[@]} passed without talking to vltava (local/mock variants only)"
((${#PASSED[@]} > 0)) || { log "no selected test passed against vltava"; exit 1; }
((${#FAILED[@]} == 0))
}

main "$@"
