#!/usr/bin/env bash
# Runs the integration tests that ship inside three Go Kafka client modules,
# unmodified, against vltava:
#
#   franz-go  github.com/twmb/franz-go/pkg/kgo      (one broker)
#   sarama    github.com/IBM/sarama, -tags functional (five-broker vltava
#             cluster behind toxiproxy, as the suite's docker-compose has)
#   kafka-go  github.com/segmentio/kafka-go, ./compress, ./topics (one broker,
#             reached through localhost:9092, which the tests hard-code)
#
# The test sources come from the Go module cache (`go mod download` of the
# versions pinned in go.mod next to this script); nothing is edited. Tests
# that need APIs vltava does not serve, tests that hit known vltava bugs, and
# tests that are broken against any broker are excluded in EXCLUDES below (one
# line each, with the reason).
#
# Usage:
#   compat-tests/go/run.sh                  # all three suites
#   compat-tests/go/run.sh franz-go kafka-go
#
# Environment:
#   VLTAVA_BIN        broker binary (default <repo>/target/debug/vltava)
#   GO                go binary (default: `go` on PATH, else /usr/local/go/bin/go)
#   GO_COMPAT_BIN     where toxiproxy-server is built (default /tmp/vltava-go-compat-bin)
#   KGO_TEST_RECORDS  records TestGroupETL produces (default 20000; upstream 500000)
#   INCLUDE_KNOWN_BUGS=1  also run the tests excluded as "vltava bug"
#   EXCLUDE_NONE=1    run the excluded tests too (to re-check EXCLUDES)
#   RUN=regexp        replace the suites' -run selection (e.g. RUN='^TestGroupETL$')
#   KEEP_LOGS=1       keep the work dir (broker and go test logs) on exit
#   SUITE_TIMEOUT     per-suite go test timeout in seconds (default 420)
set -euo pipefail

main() {

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
VLTAVA_BIN="${VLTAVA_BIN:-$REPO/target/debug/vltava}"
GO_COMPAT_BIN="${GO_COMPAT_BIN:-/tmp/vltava-go-compat-bin}"
SUITE_TIMEOUT="${SUITE_TIMEOUT:-420}"
KGO_TEST_RECORDS="${KGO_TEST_RECORDS:-20000}"

FRANZ_MOD=github.com/twmb/franz-go
SARAMA_MOD=github.com/IBM/sarama
KAFKAGO_MOD=github.com/segmentio/kafka-go

# ------------------------------------------------------------ selections ---
# franz-go: the kgo tests that talk to a broker (KGO_SEEDS). The package's
# other ~115 tests are unit tests that never open a connection.
FRANZ_RUN='^(TestPing|TestUnknownGroupOffsetFetchPinned|TestIssue1034|TestShareGroup|TestIssue325|TestConsumeTopicRetrieval|TestConsumeTopicRetrieval_Many|TestConsumeRegex|TestConsumeRegexShareSkipsInternal|Test848RegexBrokerResolves|TestIssue337|TestDirectPartitionPurge|TestIssue434|TestAddRemovePartitions|TestPauseIssue489|TestPauseIssueOct2023|TestIssue523|TestIssue648|TestIssue810|TestIssue865|TestIssueFetchLargerThanBrokerMaxReadBytes|TestPooling|TestGroupSimple|TestHookPollStart|TestConsumeMaxDecompressBatchBytes|TestGroupETL|TestClient_Produce|TestIssue769|TestIssueProduceBrokerTooOldFailsRecords|TestIssueProduceSyncManualPartitionNegativeDoesNotPanic|TestIssue831|TestClient_ProduceLargeMessages|TestShareGroupETL|TestShareGroupAckOnClose|TestShareGroupOffsetsAdmin|TestTxnEtl)$'
# sarama: every Test* in functional_*_test.go (computed from the module source).
# kafka-go: every test of the packages that dial localhost:9092.
KAFKAGO_PKGS=("$KAFKAGO_MOD" "$KAFKAGO_MOD/compress" "$KAFKAGO_MOD/topics")

# -------------------------------------------------------------- excludes ---
# "suite :: go test -skip pattern (one alternative, may name a subtest) :: reason"
# Reasons starting with "vltava bug" are dropped with INCLUDE_KNOWN_BUGS=1.
EXCLUDES=(
# franz-go
"franz-go :: ^TestTxnEtl\$ :: unserved: transactions (InitProducerId with a transactional.id, AddPartitionsToTxn, EndTxn, TxnOffsetCommit); hangs until the go test timeout"
"franz-go :: ^TestShareGroup\$ :: unserved: share groups, KIP-932 (ShareGroupHeartbeat, ShareFetch, ShareAcknowledge); self-skips"
"franz-go :: ^TestShareGroupETL\$ :: unserved: share groups, KIP-932; self-skips"
"franz-go :: ^TestShareGroupAckOnClose\$ :: unserved: share groups, KIP-932; self-skips"
"franz-go :: ^TestShareGroupOffsetsAdmin\$ :: unserved: share groups, KIP-932 (+ IncrementalAlterConfigs); self-skips"
"franz-go :: ^TestConsumeRegexShareSkipsInternal\$ :: unserved: share groups, KIP-932; self-skips"
"franz-go :: ^Test848RegexBrokerResolves\$ :: unserved: KIP-848 (ConsumerGroupHeartbeat); self-skips"
"franz-go :: ^TestGroupETL\$/./^848\$ :: unserved: KIP-848 (ConsumerGroupHeartbeat); the range/848, sticky/848, sticky/848/static subtests self-skip"
"franz-go :: ^TestGroupSimple\$/^848\$ :: unserved: KIP-848 (ConsumerGroupHeartbeat); self-skips"
# sarama
"sarama :: ^TestFuncAdminAlterPartitionReassignments\$ :: unserved: AlterPartitionReassignments, ListPartitionReassignments"
"sarama :: ^TestFuncDescribeProducers\$ :: unserved: DescribeProducers"
"sarama :: ^TestFuncDescribeTransactions\$ :: unserved: transactions (DescribeTransactions)"
"sarama :: ^TestFuncListTransactions\$ :: unserved: transactions (ListTransactions)"
"sarama :: ^TestFuncTxn :: unserved: transactions (transactional InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn, EndTxn, TxnOffsetCommit)"
"sarama :: ^TestFuncInitProducerId3\$ :: unserved: transactions (InitProducerId v3 with a transactional.id and epoch bump)"
"sarama :: ^TestReadOnlyAndAllCommittedMessages\$ :: unserved: transactions (read_committed over aborted transactions); also t.Skip()s itself upstream"
"sarama :: ^TestFuncIdempotentBufferedSequence\$ :: env: reads the Java broker's log (docker compose logs) for OutOfOrderSequenceException; vltava has no such log line to look for"
# kafka-go
"kafka-go :: ^TestClientAddOffsetsToTxn\$ :: unserved: transactions; self-skips"
"kafka-go :: ^TestClientAddPartitionsToTxn\$ :: unserved: transactions; self-skips"
"kafka-go :: ^TestClientTxnOffsetCommit\$ :: unserved: transactions; self-skips"
"kafka-go :: ^TestClientInitProducerId\$ :: unserved: transactions (transactional InitProducerId); self-skips"
"kafka-go :: ^TestClientFindCoordinator\$ :: unserved: transactions (FindCoordinator for a transactional id returns COORDINATOR_NOT_AVAILABLE)"
"kafka-go :: ^TestClientAlterPartitionReassignments\$ :: unserved: AlterPartitionReassignments"
"kafka-go :: ^TestClientAlterPartitionReassignmentsMultiTopics\$ :: unserved: AlterPartitionReassignments"
"kafka-go :: ^TestClientListPartitionReassignments\$ :: unserved: ListPartitionReassignments"
"kafka-go :: ^TestClientCreateACLs\$ :: unserved: ACLs (CreateAcls)"
"kafka-go :: ^TestClientDeleteACLs\$ :: unserved: ACLs (DeleteAcls)"
"kafka-go :: ^TestClientDescribeACLs\$ :: unserved: ACLs (DescribeAcls)"
"kafka-go :: ^TestAlterUserScramCredentials\$ :: unserved: SASL/SCRAM (AlterUserScramCredentials)"
"kafka-go :: ^TestDescribeUserScramCredentials\$ :: unserved: SASL/SCRAM (the test first creates credentials with AlterUserScramCredentials)"
"kafka-go :: ^TestUnsupportedSASLMechanism\$ :: unserved: SASL (SaslHandshake; the SASL listener localhost:9093)"
"kafka-go :: ^TestWriter\$/SASL :: unserved: SASL (the SASL_PLAINTEXT listener localhost:9093)"
"kafka-go :: ^TestReaderConsumerGroup\$/^(verify_offset_committed|verify_offset_committed_when_using_interval_committer|consumer_group_commits_on_close)\$ :: test bug: helper getOffsets builds a ConsumerGroup without its connect func and panics (nil func call, consumergroup.go:903) against any broker, killing the test binary"
"kafka-go :: ^TestReaderConsumerGroup\$/^consumer_group_rebalance\$ :: test bug: creates 3 partitions, writes 24 records round-robin and expects 12 per reader from 2 readers; the range split is 2+1 partitions, so one reader has only 8"
)

log() { echo "[go-compat] $*" >&2; }

skip_pattern() {  # suite -> joined -skip pattern
    local suite=$1 e s pat reason out=""
    for e in "${EXCLUDES[@]}"; do
        s=${e%% :: *}; pat=${e#* :: }; reason=${pat#* :: }; pat=${pat%% :: *}
        [[ "$s" == "$suite" ]] || continue
        [[ "${EXCLUDE_NONE:-0}" == 1 ]] && continue
        if [[ "${INCLUDE_KNOWN_BUGS:-0}" == 1 && "$reason" == "vltava bug"* ]]; then
            continue
        fi
        out+="${out:+|}$pat"
    done
    echo "$out"
}

# --------------------------------------------------------------- go, mods ---
if [[ -z "${GO:-}" ]]; then
    if command -v go >/dev/null 2>&1; then GO=$(command -v go)
    elif [[ -x /usr/local/go/bin/go ]]; then GO=/usr/local/go/bin/go
    else log "go not found (set GO=...)"; exit 1
    fi
fi
"$GO" version >&2
[[ -x "$VLTAVA_BIN" ]] || { log "broker binary not found: $VLTAVA_BIN (run cargo build)"; exit 1; }
command -v python3 >/dev/null || { log "python3 is needed to pick free ports"; exit 1; }
command -v curl >/dev/null || { log "curl is needed to configure toxiproxy"; exit 1; }
export GOFLAGS="${GOFLAGS:-} -mod=readonly"
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}"
export no_proxy="$NO_PROXY"

SUITES=("$@")
((${#SUITES[@]})) || SUITES=(franz-go sarama kafka-go)
for s in "${SUITES[@]}"; do
    case "$s" in franz-go|sarama|kafka-go) ;; *) log "unknown suite: $s"; exit 2 ;; esac
done

log "downloading modules"
(cd "$HERE" && timeout 600 "$GO" mod download "$FRANZ_MOD" "$SARAMA_MOD" "$KAFKAGO_MOD" </dev/null)
(cd "$HERE" && timeout 600 "$GO" mod download </dev/null)
moddir() { (cd "$HERE" && "$GO" list -m -f '{{.Dir}}' "$1"); }

need_toxiproxy=0
for s in "${SUITES[@]}"; do [[ "$s" == franz-go ]] || need_toxiproxy=1; done
TOXIPROXY_BIN="$GO_COMPAT_BIN/toxiproxy-server"
if ((need_toxiproxy)); then
    log "building toxiproxy-server"
    mkdir -p "$GO_COMPAT_BIN"
    (cd "$HERE/toxiproxy" && timeout 900 "$GO" build -o "$TOXIPROXY_BIN" \
        github.com/Shopify/toxiproxy/v2/cmd/server </dev/null)
fi

# ------------------------------------------------------------ processes ---
WORK="$(mktemp -d /tmp/vltava-go-compat.XXXXXX)"
export GO_COMPAT_WORK="$WORK"

stop_all() {  # every process this script (or its docker shim) started
    local f pids=() pid i alive
    for f in "$WORK"/pids/*.pid; do
        [[ -f "$f" ]] || continue
        pids+=("$(cat "$f")")
        rm -f "$f"
    done
    ((${#pids[@]})) || return 0
    # TERM all at once (a cluster node stopped last would wait for a quorum
    # that is already gone), KILL what is left after 20 s.
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for i in $(seq 1 200); do
        alive=0
        for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        ((alive)) || break
        sleep 0.1
    done
    for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
}

cleanup() {
    stop_all
    if [[ "${KEEP_LOGS:-0}" == 1 ]]; then log "logs kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$WORK/pids"

# free_ports N [fixed]: N free 127.0.0.1 ports. Plain: kernel-chosen ephemeral
# ports. "fixed": random free ports in 20000-28999, below the kernel's
# ephemeral range, for nodes that the docker shim restarts on the same port
# (a freed ephemeral port can be taken by an outgoing connection meanwhile).
free_ports() {
    python3 - "$1" "${2:-}" <<'EOF'
import random, socket, sys
n, fixed = int(sys.argv[1]), sys.argv[2] == "fixed"
ss = []
cands = random.sample(range(20000, 29000), 2000) if fixed else [0] * n
for p in cands:
    if len(ss) == n:
        break
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        s.close()
        continue
    ss.append(s)
print(" ".join(str(s.getsockname()[1]) for s in ss))
for s in ss: s.close()
EOF
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_listening() {  # log file, pid, occurrence -> prints port
    local logf=$1 pid=$2 nth=${3:-1} i port
    for i in $(seq 1 300); do
        port="$(grep -oE 'listening on PLAINTEXT://127\.0\.0\.1:[0-9]+' "$logf" 2>/dev/null |
                sed -n "${nth}p" | sed 's/.*://' || true)"
        [[ -n "$port" ]] && { echo "$port"; return 0; }
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    log "broker (pid $pid) did not start; log:"; tail -n 30 "$logf" >&2
    return 1
}

# start_node NAME ARGS... : starts vltava with ARGS, records its command line
# (for the docker shim) and pid, prints the PLAINTEXT port.
start_node() {
    local name=$1; shift
    local logf="$WORK/$name.log"
    printf '%q ' "$VLTAVA_BIN" "$@" >"$WORK/$name.cmd"
    "$VLTAVA_BIN" "$@" </dev/null >>"$logf" 2>&1 &
    local pid=$!  # a simple command run with & is exec'd: this is vltava's pid
    echo "$pid" >"$WORK/pids/$name.pid"
    wait_listening "$logf" "$pid" 1
}

start_toxiproxy() {  # -> prints the API address
    local port
    port=$(free_ports 1)
    "$TOXIPROXY_BIN" -host 127.0.0.1 -port "$port" </dev/null >"$WORK/toxiproxy.log" 2>&1 &
    echo $! >"$WORK/pids/toxiproxy.pid"
    local i
    for i in $(seq 1 100); do
        curl -fsS "http://127.0.0.1:$port/version" >/dev/null 2>&1 && { echo "http://127.0.0.1:$port"; return 0; }
        sleep 0.1
    done
    log "toxiproxy did not start"; cat "$WORK/toxiproxy.log" >&2; return 1
}

add_proxy() {  # api name listen upstream
    curl -fsS -XPOST "$1/proxies" \
        -d "{\"name\":\"$2\",\"listen\":\"$3\",\"upstream\":\"$4\",\"enabled\":true}" >/dev/null
}

# ---------------------------------------------------------------- results ---
TOTAL_PASS=0
TOTAL_FAIL=0
SUMMARY=()

# parse_results suite logfile go-test-exit-code
parse_results() {
    local suite=$1 out=$2 rc=$3 p f s unfinished
    p=$(grep -cE '^--- PASS: ' "$out" || true)
    f=$(grep -cE '^--- FAIL: ' "$out" || true)
    s=$(grep -cE '^--- SKIP: ' "$out" || true)
    # Top-level tests that started but never reported (panic, timeout).
    unfinished=$(awk '
        /^=== RUN   [^\/ ]+$/ { started[$3] = 1 }
        /^--- (PASS|FAIL|SKIP): / { done[$3] = 1 }
        END { for (t in started) if (!(t in done)) print t }' "$out" | sort)
    if [[ -n "$unfinished" ]]; then
        f=$((f + $(wc -l <<<"$unfinished")))
    fi
    if ((rc != 0 && f == 0)); then
        f=1
        unfinished="(go test exited $rc without a failing test; see the log)"
    fi
    grep -E '^--- (PASS|FAIL|SKIP): ' "$out" | sed "s/^/    [$suite] /" || true
    if [[ -n "$unfinished" ]]; then
        sed "s/^/    [$suite] --- FAIL (did not finish): /" <<<"$unfinished"
        grep -E '^(panic: |FAIL|\*\*\* Test killed)' "$out" | head -n 5 | sed "s/^/    [$suite] | /" || true
    fi
    if ((f > 0)); then
        { grep -E '^--- FAIL: ' "$out" || true; } | awk '{print $3}' | while read -r t; do
            awk -v t="$t" '$0 ~ "^=== (RUN|CONT|NAME) +"t"(/|$)" {p=1; next} /^(===|---) / {p=0} p' "$out" |
                grep -E '_test\.go:[0-9]+' | head -n 4 | cut -c1-300 | sed "s/^/    [$suite] | $t: /" || true
        done
    fi
    TOTAL_PASS=$((TOTAL_PASS + p))
    TOTAL_FAIL=$((TOTAL_FAIL + f))
    SUMMARY+=("$(printf '%-9s %3d passed, %3d failed, %3d skipped (top-level tests) in %ss' \
        "$suite" "$p" "$f" "$s" "$4")")
}

# run_go_test suite outfile dir env... -- go-test-args...
run_go_test() {
    local suite=$1 out=$2 dir=$3; shift 3
    local envs=()
    while [[ $1 != -- ]]; do envs+=("$1"); shift; done
    shift
    local rc=0
    (cd "$dir" && env "${envs[@]}" timeout -k 20 "$((SUITE_TIMEOUT + 120))" \
        "$GO" test -count=1 -v -timeout "${SUITE_TIMEOUT}s" "$@" </dev/null >>"$out" 2>&1) || rc=$?
    return $rc
}

# ------------------------------------------------------------- franz-go ---
suite_franz() {
    local data port skip out="$WORK/franz-go.out" rc=0 t0=$SECONDS
    data="$WORK/franz-go-data"; mkdir -p "$data"
    port=$(start_node franz-go --override listeners=PLAINTEXT://127.0.0.1:0 \
        --override "log.dirs=$data" --override group.initial.rebalance.delay.ms=0)
    log "franz-go: broker on 127.0.0.1:$port"
    skip=$(skip_pattern franz-go)
    run_go_test franz-go "$out" "$HERE" \
        "KGO_SEEDS=127.0.0.1:$port" KGO_TEST_RF=1 "KGO_TEST_RECORDS=$KGO_TEST_RECORDS" -- \
        "$FRANZ_MOD/pkg/kgo" -run "${RUN:-$FRANZ_RUN}" -skip "$skip" || rc=$?
    stop_all
    parse_results franz-go "$out" "$rc" $((SECONDS - t0))
}

# --------------------------------------------------------------- sarama ---
# Five vltava nodes form one cluster (controller quorum on ephemeral ports);
# each advertises 127.0.0.1:2909N, where toxiproxy proxy "kafkaN" listens and
# forwards to the node's ephemeral client port. That is the layout the suite
# expects with TOXIPROXY_ADDR set (functional_test.go: setupToxiProxies), which
# hard-codes 127.0.0.1:29091-29095. A `docker` shim on PATH turns the suite's
# `docker compose stop|start kafka-N` into a clean stop / restart of node N.
write_docker_shim() {
    mkdir -p "$WORK/shim"
    cat >"$WORK/shim/docker" <<'EOF'
#!/usr/bin/env bash
# docker stand-in for sarama's functional tests: `docker compose stop|start kafka-N`.
set -euo pipefail
W="${GO_COMPAT_WORK:?}"
[[ "${1:-}" == compose ]] || { echo "docker shim: only 'compose stop|start kafka-N' is emulated" >&2; exit 1; }
shift
args=()
for a in "$@"; do case "$a" in --profile|zookeeper) ;; *) args+=("$a") ;; esac; done
op=${args[0]:-}; svc=${args[1]:-}
[[ "$svc" =~ ^kafka-[1-5]$ ]] || { echo "docker shim: unsupported: compose $*" >&2; exit 1; }
name="sarama-${svc#kafka-}"
case "$op" in
  stop)
    pid=$(cat "$W/pids/$name.pid" 2>/dev/null || true)
    [[ -n "$pid" ]] || exit 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$W/pids/$name.pid"
    echo "docker shim: stopped $svc (pid $pid)" >&2 ;;
  start)
    if [[ -f "$W/pids/$name.pid" ]] && kill -0 "$(cat "$W/pids/$name.pid")" 2>/dev/null; then exit 0; fi
    before=$(grep -c 'listening on PLAINTEXT' "$W/$name.log" || true)
    eval "exec $(cat "$W/$name.cmd")" </dev/null >>"$W/$name.log" 2>&1 &
    pid=$!
    echo "$pid" >"$W/pids/$name.pid"
    for _ in $(seq 1 300); do
      now=$(grep -c 'listening on PLAINTEXT' "$W/$name.log" || true)
      ((now > before)) && { echo "docker shim: started $svc (pid $pid)" >&2; exit 0; }
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    echo "docker shim: $svc did not start" >&2; tail -n 20 "$W/$name.log" >&2; exit 1 ;;
  *) echo "docker shim: unsupported: compose $*" >&2; exit 1 ;;
esac
EOF
    chmod +x "$WORK/shim/docker"
}

suite_sarama() {
    local out="$WORK/sarama.out" rc=0 t0=$SECONDS i api ports voters port skip names dir
    for i in 1 2 3 4 5; do
        port_free $((29090 + i)) || { log "sarama: 127.0.0.1:$((29090 + i)) is in use (the suite hard-codes 29091-29095)"; return 1; }
    done
    api=$(start_toxiproxy)
    read -r -a ports <<<"$(free_ports 10 fixed)"
    ((${#ports[@]} == 10)) || { log "sarama: could not find 10 free ports"; return 1; }
    voters=""
    for i in 1 2 3 4 5; do voters+="${voters:+,}$i@127.0.0.1:${ports[$((4 + i))]}"; done
    for i in 1 2 3 4 5; do
        mkdir -p "$WORK/sarama-data-$i"
        printf '%q ' "$VLTAVA_BIN" \
            --override "node.id=$i" \
            --override "listeners=PLAINTEXT://127.0.0.1:${ports[$((i - 1))]},CONTROLLER://127.0.0.1:${ports[$((4 + i))]}" \
            --override "advertised.listeners=PLAINTEXT://127.0.0.1:$((29090 + i))" \
            --override controller.listener.names=CONTROLLER \
            --override listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT \
            --override "controller.quorum.voters=$voters" \
            --override "log.dirs=$WORK/sarama-data-$i" \
            --override default.replication.factor=2 \
            --override offsets.topic.replication.factor=2 \
            --override auto.create.topics.enable=false \
            --override delete.topic.enable=true \
            --override group.initial.rebalance.delay.ms=0 \
            --override leader.imbalance.check.interval.seconds=5 >"$WORK/sarama-$i.cmd"
        # exec, so that $! is vltava's own pid
        eval "exec $(cat "$WORK/sarama-$i.cmd")" </dev/null >>"$WORK/sarama-$i.log" 2>&1 &
        echo $! >"$WORK/pids/sarama-$i.pid"
    done
    for i in 1 2 3 4 5; do
        port=$(wait_listening "$WORK/sarama-$i.log" "$(cat "$WORK/pids/sarama-$i.pid")" 1)
        add_proxy "$api" "kafka$i" "127.0.0.1:$((29090 + i))" "127.0.0.1:$port"
    done
    log "sarama: 5-node cluster, toxiproxy $api, brokers advertised on 127.0.0.1:29091-29095"
    write_docker_shim
    dir=$(moddir "$SARAMA_MOD")
    names=$(grep -h '^func Test' "$dir"/functional_*_test.go | sed -E 's/^func (Test[A-Za-z0-9_]*).*/\1/' | paste -sd'|')
    skip=$(skip_pattern sarama)
    run_go_test sarama "$out" "$HERE" \
        "TOXIPROXY_ADDR=$api" KAFKA_VERSION=4.0.0 "PATH=$WORK/shim:$PATH" -- \
        -tags functional "$SARAMA_MOD" -run "${RUN:-^($names)\$}" -skip "$skip" || rc=$?
    stop_all
    parse_results sarama "$out" "$rc" $((SECONDS - t0))
}

# ------------------------------------------------------------- kafka-go ---
suite_kafkago() {
    local data port api skip out="$WORK/kafka-go.out" rc=0 t0=$SECONDS
    port_free 9092 || { log "kafka-go: 127.0.0.1:9092 is in use (the tests hard-code localhost:9092)"; return 1; }
    data="$WORK/kafka-go-data"; mkdir -p "$data"
    port=$(start_node kafka-go --override listeners=PLAINTEXT://127.0.0.1:0 \
        --override advertised.listeners=PLAINTEXT://localhost:9092 \
        --override "log.dirs=$data" --override group.initial.rebalance.delay.ms=0 \
        --override message.max.bytes=200000000 --override delete.topic.enable=true)
    api=$(start_toxiproxy)
    add_proxy "$api" kafka 127.0.0.1:9092 "127.0.0.1:$port"
    log "kafka-go: broker on 127.0.0.1:$port, forwarded from localhost:9092"
    skip=$(skip_pattern kafka-go)
    run_go_test kafka-go "$out" "$HERE" KAFKA_VERSION=4.0.0 -- \
        -p 1 "${KAFKAGO_PKGS[@]}" -run "${RUN:-.}" -skip "$skip" || rc=$?
    stop_all
    parse_results kafka-go "$out" "$rc" $((SECONDS - t0))
}

# ----------------------------------------------------------------- main ---
for s in "${SUITES[@]}"; do
    log "==== $s"
    case "$s" in
        franz-go) suite_franz ;;
        sarama) suite_sarama ;;
        kafka-go) suite_kafkago ;;
    esac
done

echo
echo "Excluded (see EXCLUDES in $0):"
for e in "${EXCLUDES[@]}"; do
    s=${e%% :: *}; rest=${e#* :: }
    printf '  %-9s %s  -- %s\n' "$s" "${rest%% :: *}" "${rest#* :: }"
done
echo
printf '%s\n' "${SUMMARY[@]}"
echo "$TOTAL_PASS passed, $TOTAL_FAIL failed"
((TOTAL_FAIL == 0))
}

main "$@"
