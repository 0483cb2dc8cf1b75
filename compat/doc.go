// Package compat tests that existing tools work unchanged against Roster:
// the official Consul Go client, consul-template, Prometheus's Consul
// service discovery, and Debian's prometheus binary on /v1/prometheus/sd.
// It is its own module so that those heavy dependencies stay out of
// Roster's go.mod.
package compat
