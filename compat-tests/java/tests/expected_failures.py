"""The one place that lists what vltava cannot do yet for Kafka's Java programs.

Each entry maps a scenario (as passed to the `expect` fixture) to the Kafka API that
vltava does not serve yet. On vltava these scenarios run as strict expected
failures: one that starts passing fails the run until its entry is removed here.
On the upstream broker they run as ordinary tests.
"""

VLTAVA_EXPECTED_FAILURES: dict[str, str] = {
    "configs-alter-topic": "IncrementalAlterConfigs (API 44)",
    "configs-alter-broker": "IncrementalAlterConfigs (API 44)",
    "configs-alter-broker-default": "IncrementalAlterConfigs (API 44)",
    "delete-records": "DeleteRecords (API 21)",
    "leader-election": "ElectLeaders (API 43)",
    "log-dirs": "DescribeLogDirs (API 35)",
    "metadata-quorum": "DescribeQuorum (API 55)",
    "reassign-partitions-list": "ListPartitionReassignments (API 46)",
    "transactions-list": "ListTransactions (API 66)",
    "features-describe": "ApiVersions v3 finalized features (kafka.version / metadata.version)",
    "consumer-groups-new-protocol": "ConsumerGroupHeartbeat (API 68)",
    "streams-exactly-once": "transactions: AddPartitionsToTxn (24), AddOffsetsToTxn (25), EndTxn (26), TxnOffsetCommit (28)",
}
