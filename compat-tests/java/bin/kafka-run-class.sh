#!/usr/bin/env bash
# Runs one main class of Apache Kafka from the jars that install.sh resolved from
# Maven Central, as the distribution's bin/kafka-run-class.sh does.
#
#   KAFKA_VERSION     which resolved release to run (default 4.0.2; see install.sh)
#   KAFKA_HEAP_OPTS   heap options (default -Xmx512m)
#   KAFKA_JVM_PERFORMANCE_OPTS  JIT/GC options (default: quick start-up for short tools)
#   KAFKA_LOG4J_OPTS  logging options (default: warnings to stderr)
#   KAFKA_OPTS        anything else for the JVM
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
version=${KAFKA_VERSION:-4.0.2}
lib="$here/target/lib-$version"
if [ ! -d "$lib" ]; then
    echo "kafka-run-class.sh: $lib is missing; run compat-tests/java/install.sh" >&2
    exit 127
fi
# shellcheck disable=SC2086  # the *_OPTS variables are lists of words
exec java ${KAFKA_HEAP_OPTS:--Xmx512m} \
    ${KAFKA_JVM_PERFORMANCE_OPTS:--XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto} \
    ${KAFKA_LOG4J_OPTS:--Dlog4j2.configurationFile=$here/config/log4j2.properties} \
    ${KAFKA_OPTS:-} -cp "$lib/*" "$@"
