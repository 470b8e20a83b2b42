#!/usr/bin/env bash
# Run kafka-python's own integration tests (test/integration from its PyPI
# sdist) against a vltava broker.
#
# Usage:
#   compat-tests/kafka-python-suite/run.sh             # tests listed in selected.txt
#   compat-tests/kafka-python-suite/run.sh NODEID...   # given pytest node ids / -k etc.
#   compat-tests/kafka-python-suite/run.sh --all-candidates  # every producer/consumer/admin test
#
# Environment:
#   VLTAVA_BIN             broker binary (default <repo>/target/debug/vltava)
#   VLTAVA_KP_DIR          work dir for sdist cache, unpacked tree and venv
#                          (default /tmp/vltava-kafka-python)
#   KAFKA_PYTHON_VERSION   sdist version to test (default: newest on PyPI, then cached)
#   KAFKA_VERSION          broker version the suite assumes (default 4.0)
#   PYTEST_TIMEOUT         per-test timeout seconds (default 120)
#   SUITE_TIMEOUT          whole pytest run timeout seconds (default 1800)
set -euo pipefail

# The whole script is one function so bash parses it completely before
# running (editing this file during a run cannot corrupt the run).
main() {

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
VLTAVA_BIN="${VLTAVA_BIN:-$REPO/target/debug/vltava}"
KP_DIR="${VLTAVA_KP_DIR:-/tmp/vltava-kafka-python}"
export KAFKA_VERSION="${KAFKA_VERSION:-4.0}"
PYTEST_TIMEOUT="${PYTEST_TIMEOUT:-120}"
SUITE_TIMEOUT="${SUITE_TIMEOUT:-1800}"
SELECTED="$HERE/selected.txt"
PYTHON="${PYTHON:-python3}"

log() { echo "[kafka-python-suite] $*" >&2; }

MODE=selected
EXTRA=()
if [[ "${1:-}" == "--all-candidates" ]]; then
    MODE=all; shift
elif (($#)); then
    MODE=explicit; EXTRA=("$@")
fi

mkdir -p "$KP_DIR/cache"

# ----------------------------------------------------------------- sdist ---
fetch_sdist() {
    local ver="${KAFKA_PYTHON_VERSION:-}" spec="kafka-python" f
    [[ -n "$ver" ]] && spec="kafka-python==$ver"
    f="$(ls "$KP_DIR"/cache/kafka_python-${ver:-*}.tar.gz 2>/dev/null | sort -V | tail -n1 || true)"
    if [[ -z "$f" ]]; then
        log "downloading sdist $spec"
        timeout 300 "$PYTHON" -m pip download --quiet --no-binary :all: --no-deps \
            --dest "$KP_DIR/cache" "$spec" </dev/null >&2
        f="$(ls "$KP_DIR"/cache/kafka_python-${ver:-*}.tar.gz 2>/dev/null | sort -V | tail -n1 || true)"
    fi
    [[ -n "$f" ]] || { log "no kafka-python sdist"; exit 1; }
    echo "$f"
}

SDIST="$(fetch_sdist)"
NAME="$(basename "$SDIST" .tar.gz)"
SRC="$KP_DIR/$NAME"
if [[ ! -f "$SRC/.vltava-unpacked" ]]; then
    log "unpacking $NAME"
    rm -rf "$SRC"
    tar -xzf "$SDIST" -C "$KP_DIR"
    # The sdist ships test/ without test/__init__.py and test/service.py
    # (imported by test/integration/fixtures.py). Add our minimal versions
    # only where the sdist lacks them; the tests themselves are untouched.
    for f in test/__init__.py test/service.py; do
        if [[ ! -e "$SRC/$f" ]]; then
            cp "$HERE/sdist-support/$f" "$SRC/$f"
            log "added missing $f from sdist-support/"
        fi
    done
    touch "$SRC/.vltava-unpacked"
fi
[[ -d "$SRC/test/integration" ]] || { log "$NAME has no test/integration"; exit 1; }

# ------------------------------------------------------------------ venv ---
VENV="$KP_DIR/venv"
REQS=(pytest pytest-timeout pytest-mock lz4 zstandard python-snappy crc32c)
if [[ ! -f "$VENV/.vltava-ready" ]]; then
    log "creating venv $VENV"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    timeout 600 "$VENV/bin/python" -m pip install --quiet "${REQS[@]}" </dev/null >&2
    touch "$VENV/.vltava-ready"
fi

# ---------------------------------------------------------------- broker ---
[[ -x "$VLTAVA_BIN" ]] || { log "broker binary not found: $VLTAVA_BIN (run cargo build)"; exit 1; }
WORK="$(mktemp -d /tmp/vltava-kp-run.XXXXXX)"
BROKER_PID=""
cleanup() {
    if [[ -n "$BROKER_PID" ]] && kill -0 "$BROKER_PID" 2>/dev/null; then
        kill -TERM "$BROKER_PID" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$BROKER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$BROKER_PID" 2>/dev/null || true
        wait "$BROKER_PID" 2>/dev/null || true
    fi
    if [[ "${KEEP_LOGS:-0}" == 1 ]]; then log "logs kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Broker settings mirror what kafka-python's own fixture writes into the
# Kafka server.properties it spawns (test/integration/fixtures.py +
# servers/*/resources/kafka.properties): node id 0 (tests assign replicas to
# broker 0), listeners/advertised.listeners set statically (DescribeConfigs
# tests expect advertised.listeners with source STATIC_BROKER_CONFIG),
# num.partitions=4, group.initial.rebalance.delay.ms=0 and
# group.min.session.timeout.ms=1000 (group tests use 3 s sessions and expect
# groups to settle quickly). advertised.listeners needs the port up front, so pick a
# free loopback port and retry a few times if another process grabs it.
PORT=""
for attempt in 1 2 3 4 5; do
    cand="$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')"
    rm -rf "$WORK/data"; mkdir -p "$WORK/data"
    "$VLTAVA_BIN" --override "listeners=PLAINTEXT://127.0.0.1:$cand" \
        --override "advertised.listeners=PLAINTEXT://127.0.0.1:$cand" \
        --override node.id=0 \
        --override num.partitions=4 \
        --override group.initial.rebalance.delay.ms=0 \
        --override group.min.session.timeout.ms=1000 \
        --override "log.dirs=$WORK/data" ${VLTAVA_EXTRA_ARGS:-} </dev/null >"$WORK/broker.log" 2>&1 &
    BROKER_PID=$!
    for _ in $(seq 1 300); do
        PORT="$(grep -oE 'listening on PLAINTEXT://127\.0\.0\.1:[0-9]+' "$WORK/broker.log" 2>/dev/null |
                head -n1 | sed 's/.*://' || true)"
        [[ -n "$PORT" ]] && break
        kill -0 "$BROKER_PID" 2>/dev/null || break
        sleep 0.1
    done
    [[ -n "$PORT" ]] && break
    log "broker start attempt $attempt on port $cand failed:"; tail -n 5 "$WORK/broker.log" >&2
    kill -TERM "$BROKER_PID" 2>/dev/null || true
    wait "$BROKER_PID" 2>/dev/null || true
    BROKER_PID=""
done
[[ -n "$PORT" ]] || { log "broker failed to start"; exit 1; }
log "broker pid $BROKER_PID on 127.0.0.1:$PORT"
export KAFKA_URI="tcp://127.0.0.1:$PORT"
# The fixtures insist that a Kafka distribution dir exists even when KAFKA_URI
# points at an external broker; nothing is read from it.
mkdir -p "$WORK/no-kafka-dist"
export KAFKA_ROOT="$WORK/no-kafka-dist"

# ----------------------------------------------------------------- tests ---
case "$MODE" in
    selected)
        mapfile -t NODES < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$SELECTED" | grep -v '^$')
        ;;
    all)
        NODES=(test/integration/test_producer_integration.py
               test/integration/test_consumer_integration.py
               test/integration/test_admin_integration.py)
        ;;
    explicit) NODES=("${EXTRA[@]}") ;;
esac

set +e
(
    cd "$SRC"
    # -p no:cacheprovider keeps the unpacked tree clean; -rfEs lists
    # failures/errors/skips in the summary. --timeout-method=signal (instead
    # of the project's "thread") fails just the hung test rather than
    # killing the whole pytest process.
    timeout -k 10 "$SUITE_TIMEOUT" "$VENV/bin/python" -m pytest -p no:cacheprovider \
        --timeout="$PYTEST_TIMEOUT" --timeout-method=signal -q -rfEs --tb=short --show-capture=no --disable-warnings \
        ${PYTEST_ARGS:-} "${NODES[@]}" </dev/null
) 2>&1 | tee "$WORK/pytest.log"
rc=${PIPESTATUS[0]}
set -e
if ((rc != 0)); then
    log "pytest exit code $rc; broker log tail:"
    tail -n 20 "$WORK/broker.log" >&2 || true
fi
exit "$rc"
}

main "$@"
