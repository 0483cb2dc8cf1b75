package raftstore

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// Raft logs its configuration as hclog.Fmt("%+v", servers); the bridge must
// print the formatted value, and keep a trailing key without value.
func TestHCLogBridgeFormatsHclogFmtValues(t *testing.T) {
	var buf bytes.Buffer
	l := newHCLog(slog.New(slog.NewTextHandler(&buf, nil)), "raft")
	l.Info("initial configuration", "index", 1, "servers", hclog.Fmt("%+v", []struct{ ID string }{{"a"}}))
	l.Warn("odd", "lonely")
	out := buf.String()
	if !strings.Contains(out, "servers=[{ID:a}]") || strings.Contains(out, "%+v") {
		t.Errorf("hclog.Fmt value not rendered: %s", out)
	}
	if !strings.Contains(out, "extra=lonely") {
		t.Errorf("trailing value lost: %s", out)
	}
}
