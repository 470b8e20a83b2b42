#!/usr/bin/env bash
# Runs the whole vltava test suite: formatting, clippy, cargo tests (unit tests,
# protocol fixtures, the rdkafka compat test), the Python client suites, and the
# optional third-party suites. Meant for a fresh Debian 12 machine, as root,
# with no stdin; installs what is missing. Idempotent: safe to run twice.
#
# Environment:
#   VLTAVA_SKIP_INSTALL=1   do not apt-get / pip install anything
#   PYTEST_ARGS="..."       extra arguments for pytest (e.g. "-k kcat -x")
#   JAVA_PYTEST_ARGS="..."  extra arguments for the Java suite's pytest run
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$(pwd)
export DEBIAN_FRONTEND=noninteractive
export CARGO_TERM_COLOR=never
START=$(date +%s)
FAILED=()

section() {
    printf '\n==================== %s ====================\n' "$*"
}

STEP_LOGS=$(mktemp -d)
trap 'rm -rf "$STEP_LOGS"' EXIT
COUNTS=()

# The test counts a step's output ends with: pytest's last "N passed, ..." line, the
# third-party runners' "N passed, M failed", or the sum of cargo's "test result:" lines.
counts_of() {
    local log=$1
    if grep -q '^test result:' "$log"; then
        awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) g += $i } }
             END { printf "%d passed, %d failed, %d ignored", p, f, g }' "$log"
    else
        # A step that prints no counts (fmt, clippy) is not an error: grep's status 1
        # would end the whole run under pipefail.
        { grep -E '^(=+ )?[0-9]+ (passed|failed|skipped|errors?)' "$log" || true; } | tail -1 | sed -E 's/^=+ //; s/ =+$//'
    fi
}

# Runs one step, records its failure and keeps going so one run reports everything.
step() {
    local name=$1
    shift
    section "$name"
    local t0=$SECONDS
    local log="$STEP_LOGS/${#COUNTS[@]}.log"
    local rc=0
    "$@" </dev/null 2>&1 | tee "$log" || rc=${PIPESTATUS[0]}
    local counts
    counts=$(counts_of "$log")
    # Skips are reported as skips, never as passes; a step whose tests all skipped
    # tested nothing, and fails.
    if [ "$rc" -eq 0 ] && [[ "$counts" == *skipped* ]] && ! [[ "$counts" =~ (^|[^0-9])[1-9][0-9]*\ passed ]]; then
        echo "---- every selected test of this step skipped: nothing was tested"
        rc=1
    fi
    if [ "$rc" -eq 0 ]; then
        printf -- '---- %s: OK (%ss)\n' "$name" $((SECONDS - t0))
        COUNTS+=("$(printf '%-6s %5ss  %s: %s' OK $((SECONDS - t0)) "$name" "${counts:-no test counts}")")
    else
        printf -- '---- %s: FAILED with exit code %s (%ss)\n' "$name" "$rc" $((SECONDS - t0))
        COUNTS+=("$(printf '%-6s %5ss  %s: %s' FAILED $((SECONDS - t0)) "$name" "${counts:-no test counts}")")
        FAILED+=("$name")
    fi
}

# ------------------------------------------------------------------ install
as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi
}

# Installs the named Debian packages that are not installed yet.
install_apt_packages() {
    local wanted=("$@")
    local missing=()
    local pkg status
    for pkg in "${wanted[@]}"; do
        status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
        [ "$status" = "install ok installed" ] || missing+=("$pkg")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        echo "apt packages present: ${wanted[*]}"
        return 0
    fi
    echo "installing apt packages: ${missing[*]}"
    as_root apt-get update -q
    as_root apt-get install -y -q --no-install-recommends "${missing[@]}"
}

install_rust() {
    if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
    if ! command -v cargo >/dev/null 2>&1; then
        echo "cargo not found: install a Rust toolchain (rustup, with rustfmt and clippy) first" >&2
        return 1
    fi
    if command -v rustup >/dev/null 2>&1; then
        cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
        cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
    fi
    cargo --version
}

pip_install() {
    # --break-system-packages only for a Debian python3 (PEP 668); pyenv's pip needs none.
    PIP_ROOT_USER_ACTION=ignore python3 -m pip install -q --disable-pip-version-check "$@" ||
        PIP_ROOT_USER_ACTION=ignore python3 -m pip install -q --disable-pip-version-check \
            --break-system-packages "$@"
}

install_python_packages() {
    if ! command -v python3 >/dev/null 2>&1; then
        as_root apt-get update -q
        as_root apt-get install -y -q --no-install-recommends python3 python3-pip
    fi
    # module to import -> pip requirement. kafka-python needs python-snappy, lz4
    # and zstandard for its snappy/lz4/zstd codecs (gzip is in the stdlib).
    local -A reqs=(
        [pytest]="pytest"
        [confluent_kafka]="confluent-kafka"
        [kafka]="kafka-python>=2.2"
        [snappy]="python-snappy"
        [lz4.frame]="lz4"
        [zstandard]="zstandard"
        [fuse]="fusepy"
    )
    local missing=()
    local mod
    for mod in "${!reqs[@]}"; do
        python3 -c "import $mod" >/dev/null 2>&1 || missing+=("${reqs[$mod]}")
    done
    # kafka-python 2.0.x lacks the admin/consumer APIs the suite uses.
    if python3 -c "import kafka" >/dev/null 2>&1 &&
        ! python3 -c 'import kafka,sys; sys.exit(tuple(map(int, kafka.__version__.split(".")[:2])) < (2, 2))'; then
        missing+=("kafka-python>=2.2")
    fi
    if [ ${#missing[@]} -eq 0 ]; then
        echo "python packages present"
        return 0
    fi
    echo "installing python packages: ${missing[*]}"
    pip_install "${missing[@]}"
}

section "environment"
echo "repo: $REPO"
echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)  cores: $(nproc)"
if [ "${VLTAVA_SKIP_INSTALL:-0}" != 1 ]; then
    section "install prerequisites"
    # kcat: the kcat suite. build-essential + pkg-config: rdkafka-sys builds the
    # bundled librdkafka with ./configure && make. zlib1g-dev: librdkafka's gzip
    # (libz-sys links the system zlib when it finds it, else builds its own).
    # libfuse2: faultfs.py, the failing disk of python/test_disk_faults.py (via fusepy).
    install_apt_packages kcat build-essential pkg-config zlib1g-dev libfuse2
    # Kafka's own Java programs (compat-tests/java): a JDK 17+ and Maven, unless present.
    if ! command -v java >/dev/null 2>&1 || ! command -v mvn >/dev/null 2>&1; then
        install_apt_packages openjdk-17-jdk-headless maven
    fi
    install_rust
    install_python_packages
else
    export PATH="$HOME/.cargo/bin:$PATH"
fi
python3 --version
command -v kcat >/dev/null && kcat -V 2>&1 | head -1 || echo "kcat: not installed"

# --------------------------------------------------------------------- run
step "cargo fmt --check" cargo fmt --all -- --check
step "cargo clippy" cargo clippy --all-targets -- -D warnings
# Debug build: the tests below use target/debug/vltava (fast to build, fast enough).
step "cargo build" cargo build --bins
step "cargo test" cargo test --all-targets

if [ -x target/debug/vltava ]; then
    # shellcheck disable=SC2086  # PYTEST_ARGS is a list of words on purpose
    step "python client suites (pytest)" \
        env VLTAVA_BIN="$REPO/target/debug/vltava" \
        python3 -m pytest -q -p no:cacheprovider ${PYTEST_ARGS:-} compat-tests/python
else
    section "python client suites (pytest)"
    echo "---- skipped: target/debug/vltava was not built"
    FAILED+=("python client suites (pytest): no broker binary")
fi

if [ -x target/debug/vltava ]; then
    # Apache Kafka's jars from Maven Central (cached in ~/.m2), then every scenario
    # against vltava and against the upstream broker started from the same jars.
    step "Kafka's Java programs: install (Maven Central)" bash compat-tests/java/install.sh
    # One step per area, so the summary counts each; every module runs on both brokers.
    J=compat-tests/java/tests
    AREAS=("CLI tools:$J/test_cli_topics.py $J/test_cli_groups.py $J/test_cli_admin.py $J/test_compaction.py"
        "Java client:$J/test_java_client.py"
        "Connect and Streams:$J/test_connect_streams.py"
        "three brokers:$J/test_three_brokers.py"
        "differential:$J/test_differential.py")
    for f in "$J"/test_*.py; do
        case " ${AREAS[*]} " in
        *" $f "* | *":$f "*) ;;
        *) FAILED+=("$f is in no area of run-all.sh") ;;
        esac
    done
    for area in "${AREAS[@]}"; do
        # shellcheck disable=SC2086  # the file list and JAVA_PYTEST_ARGS are lists of words
        step "Kafka's Java programs: ${area%%:*} (pytest)" \
            env VLTAVA_BIN="$REPO/target/debug/vltava" \
            python3 -m pytest -q -rxXs -c $J/pytest.ini ${JAVA_PYTEST_ARGS:-} ${area#*:}
    done
fi

if [ -x target/debug/vltava ]; then
    # The integration tests inside the franz-go, Sarama and kafka-go modules (Go module
    # proxy; the module and build caches persist between runs where the machine keeps them).
    if command -v go >/dev/null 2>&1 || [ -x /usr/local/go/bin/go ]; then
        step "third-party suite: Go clients (franz-go, Sarama, kafka-go)" \
            env VLTAVA_BIN="$REPO/target/debug/vltava" bash compat-tests/go/run.sh
    else
        section "third-party suite: Go clients (franz-go, Sarama, kafka-go)"
        echo "---- FAILED: no go toolchain (go on PATH or /usr/local/go/bin/go)"
        FAILED+=("third-party suite: Go clients: no go toolchain")
    fi
fi

for suite in librdkafka kafka-python-suite; do
    if [ -f "compat-tests/$suite/run.sh" ]; then
        step "third-party suite: $suite" \
            env VLTAVA_BIN="$REPO/target/debug/vltava" bash "compat-tests/$suite/run.sh"
    else
        section "third-party suite: $suite"
        echo "---- not present (compat-tests/$suite/run.sh), skipped"
    fi
done

# ------------------------------------------------------------------ summary
section "summary"
echo "per step (result, time, name: counts):"
printf '  %s\n' "${COUNTS[@]}"
echo "total time: $(($(date +%s) - START))s"
if [ ${#FAILED[@]} -gt 0 ]; then
    echo "FAILED steps:"
    printf '  - %s\n' "${FAILED[@]}"
    exit 1
fi
echo "all steps passed"
