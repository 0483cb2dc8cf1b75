//go:build faults

// Package faults is Roster's fault-test bench: it runs the real roster binary
// as separate containers on private Docker networks, injects faults (kill -9,
// pause, partition, whole-cluster crash, full disk, rolling restart) while
// clients record a history of operations, and checks that history for
// linearizability with porcupine. It holds tests only; run it with
// `make test-faults` (scripts/test-faults.sh), which builds the image first.
package faults
