#!/usr/bin/env bash
# Resolves Apache Kafka's jars from Maven Central into target/lib-<version>/ for the
# Java compatibility suite (nothing is committed; ~/.m2 caches the downloads).
#   4.0.2: the release line vltava's advertised versions match; broker, tools,
#          Java client, Connect and Streams.
#   4.4.0: the newest release; broker, tools and Java client (its Connect file
#          connectors and Streams examples are not published).
# A lib directory is rebuilt whenever pom.xml changes (a stamp records its hash).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
command -v java >/dev/null || { echo "install.sh: java not found (need JDK 17+)" >&2; exit 1; }
command -v mvn >/dev/null || { echo "install.sh: mvn not found" >&2; exit 1; }
pom_hash=$(sha256sum pom.xml | cut -c1-16)

resolve() {
    local version=$1
    shift
    local lib="target/lib-$version"
    if [ "$(cat "$lib/.complete" 2>/dev/null)" = "$pom_hash" ]; then
        echo "kafka $version: present ($(ls "$lib" | wc -l) jars)"
        return 0
    fi
    rm -rf "$lib" "$lib.tmp"
    echo "kafka $version: resolving from Maven Central"
    mvn -B -q -Dkafka.version="$version" "$@" dependency:copy-dependencies \
        -DoutputDirectory="$lib.tmp"
    mv "$lib.tmp" "$lib"
    echo "$pom_hash" >"$lib/.complete"
    echo "kafka $version: $(ls "$lib" | wc -l) jars"
}

resolve 4.0.2
resolve 4.4.0 -Dcore.only
