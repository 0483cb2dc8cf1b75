package retry

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// recorder is a testing.TB that records a failure instead of stopping.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	panic(r)
}
func (r *recorder) Fatal(args ...any) {
	r.failed = fmt.Sprint(args...)
	panic(r)
}

func run(f func(tb testing.TB)) (failed string) {
	r := &recorder{}
	defer func() {
		if v := recover(); v != nil && v != r {
			panic(v)
		}
		failed = r.failed
	}()
	f(r)
	return ""
}

func TestEventuallySucceedsOnceTheConditionHolds(t *testing.T) {
	n := 0
	if msg := run(func(tb testing.TB) {
		Eventually(tb, time.Second, func() error {
			if n++; n < 3 {
				return errors.New("not yet")
			}
			return nil
		})
	}); msg != "" || n != 3 {
		t.Fatalf("failed=%q after %d checks, want success after 3", msg, n)
	}
}

func TestEventuallyReportsTheLastErrorAtTheDeadline(t *testing.T) {
	msg := run(func(tb testing.TB) {
		Eventually(tb, 50*time.Millisecond, func() error { return errors.New("still down") })
	})
	if !strings.Contains(msg, "still down") {
		t.Fatalf("failure %q does not carry the condition's error", msg)
	}
}

func TestNeverFailsOnTheFirstViolation(t *testing.T) {
	n := 0
	msg := run(func(tb testing.TB) {
		Never(tb, time.Second, func() error {
			if n++; n == 2 {
				return errors.New("went critical")
			}
			return nil
		})
	})
	if !strings.Contains(msg, "went critical") || n != 2 {
		t.Fatalf("failed=%q after %d checks", msg, n)
	}
	if msg := run(func(tb testing.TB) { Never(tb, 30*time.Millisecond, func() error { return nil }) }); msg != "" {
		t.Fatalf("a property that holds failed: %q", msg)
	}
}
