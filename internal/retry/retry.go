// Package retry is how Roster's tests wait: for a condition, with a
// deadline, reporting the condition's last failure, never a bare sleep.
package retry

import (
	"testing"
	"time"
)

// Interval is how often a condition is checked again.
const Interval = 20 * time.Millisecond

// Eventually calls check until it returns nil, and fails the test with
// check's last error if that has not happened within d.
func Eventually(t testing.TB, d time.Duration, check func() error) {
	t.Helper()
	EventuallyEvery(t, d, Interval, check)
}

// EventuallyEvery is Eventually checking every interval: for tests that must
// catch the first moment a condition holds (a server turning ready).
func EventuallyEvery(t testing.TB, d, interval time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not true within %v: %v", d, err)
		}
		time.Sleep(interval)
	}
}

// Never calls bad for the whole period and fails the test the first time it
// returns an error: for properties that must hold throughout, such as "no
// heartbeating instance turns critical".
func Never(t testing.TB, period time.Duration, bad func() error) {
	t.Helper()
	deadline := time.Now().Add(period)
	for time.Now().Before(deadline) {
		if err := bad(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(Interval)
	}
}
