package main

import (
	"context"
	"strings"
	"testing"
)

func TestCLIMaintenance(t *testing.T) {
	s := fakeServer(t)
	ctx := context.Background()
	if code, _, stderr := cli(t, ctx, runRegister, s.Addr(), "--service", "web", "--id", "web-1", "--address", "10.0.0.1", "--port", "8080"); code != exitOK {
		t.Fatalf("register: %d %s", code, stderr)
	}
	code, out, stderr := cli(t, ctx, runMaintenance, s.Addr(), "enable", "web", "web-1", "--reason", "kernel upgrade")
	if code != exitOK || !strings.Contains(out, "in maintenance: kernel upgrade (status critical)") {
		t.Fatalf("enable: %d %q %q", code, out, stderr)
	}
	if inst, _ := s.Get("web-1"); inst.Maintenance != "kernel upgrade" {
		t.Fatalf("stored %+v", inst)
	}
	if code, out, _ := cli(t, ctx, runLookup, s.Addr(), "web"); code != exitNotFound {
		t.Fatalf("lookup of a service whose only instance is in maintenance: %d %s", code, out)
	}
	code, out, stderr = cli(t, ctx, runMaintenance, s.Addr(), "disable", "web", "web-1")
	if code != exitOK || !strings.Contains(out, "out of maintenance (status passing)") {
		t.Fatalf("disable: %d %q %q", code, out, stderr)
	}
	if inst, _ := s.Get("web-1"); inst.Maintenance != "" {
		t.Fatalf("stored %+v", inst)
	}
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"pause", "web", "web-1"}, exitUsage},
		{[]string{"enable", "web"}, exitUsage},
		{[]string{"disable", "web", "web-1", "--reason", "x"}, exitUsage},
		{[]string{"enable", "web", "nope"}, exitNotFound},
	} {
		if code, _, stderr := cli(t, ctx, runMaintenance, s.Addr(), tc.args...); code != tc.code || stderr == "" {
			t.Errorf("maintenance %v: exit %d (%q), want %d", tc.args, code, stderr, tc.code)
		}
	}
}
