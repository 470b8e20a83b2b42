//go:build tools

// Package toxiproxy pins the toxiproxy server that run.sh builds: sarama's
// functional tests drive their brokers through a toxiproxy HTTP API, and
// kafka-go's tests dial the fixed address localhost:9092, which a toxiproxy
// proxy forwards to vltava's ephemeral port.
package toxiproxy

import _ "github.com/Shopify/toxiproxy/v2/cmd/server"
