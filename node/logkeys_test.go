package node_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/internal/retry"
	"github.com/rosterhq/roster/testkit"
)

// TestLogLinesNeverRepeatAKey: a log line with a key twice (component=raftstore
// ... component=gossip) is ambiguous to every log pipeline. A dev server's
// lines from start, a registration and shutdown carry each key once.
func TestLogLinesNeverRepeatAKey(t *testing.T) {
	var logs testkit.LogBuffer
	cfg := testkit.DevConfig()
	cfg.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	n := testkit.Start(t, cfg)
	retry.Eventually(t, 10*time.Second, func() error {
		_, err := testkit.Request(http.MethodPut, "http://"+n.HTTPAddr()+"/v1/services/web/instances/w1",
			`{"address":"10.0.0.1","port":80}`)
		return err
	})
	retry.Eventually(t, 10*time.Second, func() error {
		if !strings.Contains(logs.String(), "gossip member state") {
			return errorString("no gossip log line yet")
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Close(ctx); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	lines := 0
	for sc.Scan() {
		lines++
		if dup := duplicateKey(t, sc.Bytes()); dup != "" {
			t.Errorf("key %q twice in %s", dup, sc.Bytes())
		}
	}
	if lines < 5 {
		t.Fatalf("only %d log lines", lines)
	}
}

type errorString string

func (e errorString) Error() string { return string(e) }

// duplicateKey returns the first top-level key of a JSON object that
// appears twice.
func duplicateKey(t *testing.T, line []byte) string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(line))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("log line %s is not a JSON object", line)
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("log line %s: %v", line, err)
		}
		key := tok.(string)
		if seen[key] {
			return key
		}
		seen[key] = true
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("log line %s: %v", line, err)
		}
	}
	return ""
}
