package consulapi

import "testing"

// Which paths the Consul subset takes: Consul's prefixes, never the
// native API's.
func TestIsConsulPath(t *testing.T) {
	for path, want := range map[string]bool{
		"/v1/agent/services":         true,
		"/v1/catalog/service/web":    true,
		"/v1/health/service/web":     true,
		"/v1/status/leader":          true,
		"/v1/kv/a/b":                 true,
		"/v1/kv":                     true,
		"/v1/acl/tokens":             false, // the native ACL API
		"/v1/services/web/instances": false,
		"/v1/heartbeats":             false,
		"/v1/cluster/leader":         false,
		"/v1/snapshot":               false,
		"/v1/prometheus/sd":          false,
		"/metrics":                   false,
		"/v1/agentx":                 false,
		"/v2/agent/services":         false,
		"/":                          false,
	} {
		if got := IsConsulPath(path); got != want {
			t.Errorf("IsConsulPath(%q) = %v, want %v", path, got, want)
		}
	}
}

// The dispatch in front of the native lookup costs nanoseconds.
//
//	go test -run '^$' -bench IsConsulPath ./consulapi/
func BenchmarkIsConsulPath(b *testing.B) {
	for b.Loop() {
		if IsConsulPath("/v1/services/web/instances") {
			b.Fatal("native path taken")
		}
	}
}
