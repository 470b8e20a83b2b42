"""The one place that lists what vltava cannot do yet for Kafka's Java programs.

Each entry maps a scenario (as passed to the `expect` fixture) to the Kafka API that
vltava does not serve yet, and to the evidence: a regular expression that the test's
failure must contain, so that a scenario failing for another reason (a bug in the test
or in vltava) is reported as a failure, not as the expected one. On vltava these
scenarios run as strict expected failures: one that starts passing fails the run until
its entry is removed here. On the upstream broker they run as ordinary tests.
"""

VLTAVA_EXPECTED_FAILURES: dict[str, tuple[str, str]] = {
    "reassign-partitions-list": (
        "ListPartitionReassignments (API 46)", "does not support LIST_PARTITION_REASSIGNMENTS"),
    "reassign-partitions": (
        "AlterPartitionReassignments (API 45), ListPartitionReassignments (API 46)",
        "does not support LIST_PARTITION_REASSIGNMENTS"),
    "transactions-list": ("ListTransactions (API 66)", "does not support LIST_TRANSACTIONS"),
    "consumer-groups-new-protocol": (
        "ConsumerGroupHeartbeat (API 68)", "does not support CONSUMER_GROUP_HEARTBEAT"),
    "streams-exactly-once": (
        "transactions: AddPartitionsToTxn (24), AddOffsetsToTxn (25), EndTxn (26), TxnOffsetCommit (28)",
        "Timeout exception caught trying to initialize transactions"),
}
