package node

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/rosterhq/roster/httpapi"
)

// A watcher limit the connection cap cannot hold is lowered at start, with
// a warning, so watchers meet their own 429 before the connection cap.
func TestWatcherLimitIsLoweredToFitTheConnectionCap(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	conns, watchers := httpLimits(Config{MaxConns: 100, HTTP: httpapi.Config{MaxWatchers: 20000}}, log)
	if conns != 100 || watchers != 75 {
		t.Fatalf("limits %d conns, %d watchers; want 100 and 75", conns, watchers)
	}
	if !strings.Contains(logs.String(), "max watchers lowered") {
		t.Fatalf("no warning logged: %s", logs.String())
	}
	logs.Reset()
	if _, watchers := httpLimits(Config{MaxConns: 100000, HTTP: httpapi.Config{MaxWatchers: 500}}, log); watchers != 500 {
		t.Fatalf("a watcher limit that fits was changed to %d", watchers)
	}
	if strings.Contains(logs.String(), "lowered") {
		t.Fatalf("warned about a limit that fits: %s", logs.String())
	}
	if conns, _ := httpLimits(Config{MaxConns: -1}, log); conns > 0 {
		t.Fatalf("--max-conns -1 still capped at %d", conns)
	}
}
