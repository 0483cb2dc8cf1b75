package store

import (
	"errors"
	"fmt"
	"testing"

	"github.com/rosterhq/roster/registry"
)

// A front end answers an unknown server id as it answers an unknown
// instance (404), so ErrUnknownPeer must match registry.ErrNotFound, also
// wrapped; the leadership errors must not.
func TestUnknownPeerIsNotFound(t *testing.T) {
	wrapped := fmt.Errorf("remove peer abc: %w", ErrUnknownPeer)
	if !errors.Is(wrapped, registry.ErrNotFound) || !errors.Is(wrapped, ErrUnknownPeer) {
		t.Fatalf("%v: want it to match ErrUnknownPeer and registry.ErrNotFound", wrapped)
	}
	for _, err := range []error{ErrNotLeader, ErrNoLeader, ErrNotArmed} {
		if errors.Is(err, registry.ErrNotFound) {
			t.Errorf("%v matches ErrNotFound: a front end would answer 404 instead of forwarding or 503", err)
		}
	}
}
