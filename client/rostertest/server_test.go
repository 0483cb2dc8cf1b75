package rostertest_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/rosterhq/roster/client/rostertest"
	"github.com/rosterhq/roster/testkit"
)

func call(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	a, err := testkit.Request(method, url, body)
	if err != nil {
		return 0, err.Error()
	}
	return a.Status, string(bytes.TrimSpace(a.Body))
}

// TestServesTheRealServersRules: the test server is the real server, so it
// refuses what production refuses and accepts what production accepts
// (each of these once differed in a hand-written fake).
func TestServesTheRealServersRules(t *testing.T) {
	srv := rostertest.Start(t)
	reg := srv.URL() + "/v1/services/web/instances/"
	for _, tc := range []struct {
		name, method, path, body string
		want                     int
	}{
		{"TTL below the 1 s minimum", "PUT", reg + "w1", `{"address":"10.0.0.1","port":80,"ttl":"100ms"}`, 400},
		{"port 0", "PUT", reg + "w1", `{"address":"10.0.0.1","port":0}`, 400},
		{"deregister_after below the dev minimum", "PUT", reg + "w1", `{"address":"10.0.0.1","port":80,"ttl":"1s","deregister_after":"10ms"}`, 400},
		{"a valid registration", "PUT", reg + "w1", `{"address":"10.0.0.1","port":80,"ttl":"1s"}`, 200},
		{"status=any", "GET", srv.URL() + "/v1/services/web/instances?status=any", "", 200},
		{"mixed-case service name", "GET", srv.URL() + "/v1/services/WeB/instances", "", 200},
		{"unknown peer", "DELETE", srv.URL() + "/v1/cluster/raft/peers/abc", "", 404},
		{"heartbeat of an id never seen", "PUT", reg + "nope/heartbeat", "", 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code, body := call(t, tc.method, tc.path, tc.body); code != tc.want {
				t.Fatalf("%s %s: %d %s, want %d", tc.method, tc.path, code, body, tc.want)
			}
		})
	}
	if inst, ok := srv.Get("w1"); !ok || inst.Service != "web" {
		t.Fatalf("Get(w1) = %+v, %v", inst, ok)
	}
	srv.Forget("w1")
	if code, _ := call(t, "PUT", reg+"w1/heartbeat", ""); code != 404 {
		t.Fatalf("heartbeat after Forget: %d, want 404 (no tombstone)", code)
	}
	call(t, "PUT", reg+"w2", `{"address":"10.0.0.1","port":80,"ttl":"1s"}`)
	srv.Deregister("w2")
	if code, _ := call(t, "PUT", reg+"w2/heartbeat", ""); code != 410 {
		t.Fatalf("heartbeat after Deregister: %d, want 410 (tombstoned)", code)
	}
}

// TestFaultSwitches: each switch does what it says, and the server is
// itself again once it is turned off.
func TestFaultSwitches(t *testing.T) {
	srv := rostertest.Start(t)
	list := srv.URL() + "/v1/services"

	srv.FailNext(2)
	for i := range 2 {
		if code, _ := call(t, "GET", list, ""); code != 503 {
			t.Fatalf("request %d after FailNext(2): %d, want 503", i, code)
		}
	}
	if code, _ := call(t, "GET", list, ""); code != 200 {
		t.Fatalf("third request after FailNext(2): %d, want 200", code)
	}

	srv.SetUnavailable(true)
	if code, _ := call(t, "GET", list, ""); code != 503 {
		t.Fatalf("unavailable: %d, want 503", code)
	}
	if code, _ := call(t, "GET", srv.URL()+"/readyz", ""); code != 200 {
		t.Fatalf("readyz while unavailable: %d, want the real answer", code)
	}
	srv.SetUnavailable(false)

	srv.SetDelay(200 * time.Millisecond)
	start := time.Now()
	call(t, "GET", list, "")
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Fatalf("a delayed request took %v", d)
	}
	srv.SetDelay(0)

	srv.SetDrop(true)
	if code, msg := call(t, "GET", list, ""); code != 0 {
		t.Fatalf("dropped request answered %d %s", code, msg)
	}
	srv.SetDrop(false)

	srv.Stop()
	if code, _ := call(t, "GET", list, ""); code != 0 {
		t.Fatalf("stopped server answered %d", code)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	if code, _ := call(t, "GET", list, ""); code != 200 {
		t.Fatalf("restarted server answered %d", code)
	}
	if n := srv.Requests("GET /v1/services"); n < 6 {
		t.Fatalf("Requests(GET /v1/services) = %d, want every request counted", n)
	}
}
