package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/internal/retry"
)

// TestPprofAddrServesProfilesWithSampling: --pprof-addr serves Go's
// profiles on their own address, with mutex and block sampling on (without
// it those profiles are empty), and not on the API's address.
func TestPprofAddrServesProfilesWithSampling(t *testing.T) {
	pprofAddr := freePort(t)
	s := newServer(t, "dev", "--dev", "--pprof-addr", pprofAddr)
	s.start(t)
	retry.Eventually(t, 30*time.Second, func() error { return ready(s) })
	get := func(url string) (int, string, error) {
		resp, err := http.Get(url)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), err
	}
	for path, want := range map[string]string{
		"/debug/pprof/mutex?debug=1":     fmt.Sprintf("sampling period=%d", pprofMutexFraction),
		"/debug/pprof/block?debug=1":     "--- contention:",
		"/debug/pprof/goroutine?debug=1": "goroutine profile:",
		"/debug/pprof/profile?seconds=1": "",
	} {
		code, body, err := get("http://" + pprofAddr + path)
		if err != nil || code != http.StatusOK || !strings.Contains(body, want) {
			t.Fatalf("%s: %d %v, want 200 with %q; body starts %.200q", path, code, err, want, body)
		}
	}
	if code, _, err := get(s.url("/debug/pprof/")); err != nil || code != http.StatusNotFound {
		t.Fatalf("the API's address answers /debug/pprof/ with %d %v, want 404", code, err)
	}
}
