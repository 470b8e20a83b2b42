//go:build tools

// Package compat pins the Go client modules whose own test suites run.sh
// executes against vltava. Nothing here is built.
package compat

import (
	_ "github.com/IBM/sarama"
	_ "github.com/segmentio/kafka-go"
	_ "github.com/twmb/franz-go/pkg/kgo"
)
