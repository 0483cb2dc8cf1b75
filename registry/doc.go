// Package registry is the service catalog as a deterministic state machine:
// instances, health, per-service indexes, the commands that change them and
// their encoding, snapshot and restore, and watch notification. It knows
// nothing of networks, Raft or clocks: the leader's TTL lease table, which
// decides with a clock, is package lease.
//
// The replication layer calls Catalog.Apply with each committed log entry (the
// bytes of one of the Encode* functions) in log order on every server, feeds
// Result.Changed to lease.Lessor.Observe, and persists Catalog.Snapshot. Front ends
// read Catalog.Service and Catalog.Services, which return immutable views
// whose JSON answers are encoded once per change, lazily on first read.
package registry
