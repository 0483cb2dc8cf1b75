package gateway_test

import (
	"strings"
	"testing"

	"github.com/rosterhq/roster/gateway"
)

// TestConfigValidateJudgesWhatNewWouldRefuse: Validate refuses what New
// refuses, with the same words, and starts nothing (no registry address is
// contacted: there is none).
func TestConfigValidateJudgesWhatNewWouldRefuse(t *testing.T) {
	bad := gateway.Config{MaxTries: -1}
	err := bad.Validate()
	if err == nil || !strings.Contains(err.Error(), "max tries -1") {
		t.Fatalf("Validate of max tries -1: %v", err)
	}
	if _, nerr := gateway.New(bad); nerr == nil || !strings.Contains(nerr.Error(), err.Error()) {
		t.Fatalf("New says %v, Validate %v", nerr, err)
	}
	if bad.MaxTries != -1 {
		t.Fatalf("Validate changed the config it was given: max tries %d", bad.MaxTries)
	}
	if err := (gateway.Config{}).Validate(); err != nil {
		t.Fatalf("the zero config (all defaults): %v", err)
	}
}
