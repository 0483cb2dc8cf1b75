package httpapi

import (
	"net/http"
	"testing"

	"github.com/rosterhq/roster/acl"
)

// BenchmarkLookupWithACL is the default listing with ACLs on: the token is
// hashed and resolved, the route goes through mux and its permission check.
func BenchmarkLookupWithACL(b *testing.B) {
	h, body, _ := lookupFixture(b)
	rules := []string{"service:read:web"}
	h.cfg.ACL.Resolver = &acl.Resolver{Default: acl.DefaultDeny, Lookup: func(hash string) (string, []string, bool) {
		return "bench", rules, hash == acl.HashSecret("s3cret")
	}}
	req, _ := http.NewRequest(http.MethodGet, "/v1/services/web/instances", nil)
	req.Header.Set("X-Roster-Token", "s3cret")
	w := &discardWriter{hdr: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.hdr)
		w.n, w.status = 0, 0
		h.ServeHTTP(w, req)
		if w.status != http.StatusOK || w.n != len(body) {
			b.Fatalf("answered %d with %d bytes", w.status, w.n)
		}
	}
}
