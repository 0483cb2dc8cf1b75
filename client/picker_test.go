package client_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/client"
)

func insts(spec ...string) []api.Instance {
	var out []api.Instance
	for _, s := range spec {
		id, status, _ := strings.Cut(s, ":")
		if status == "" {
			status = "passing"
		}
		out = append(out, api.Instance{Service: "web", ID: id, Status: api.Status(status), Weight: 1})
	}
	return out
}

func picks(t *testing.T, p *client.Picker, n int) string {
	t.Helper()
	var b strings.Builder
	for range n {
		in, err := p.Pick()
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(in.ID)
	}
	return b.String()
}

func TestRoundRobinTakesInstancesInTurn(t *testing.T) {
	p := client.NewPicker(client.RoundRobin, 0)
	p.Update(insts("a", "b", "c"))
	if got := picks(t, p, 6); got != "abcabc" {
		t.Fatalf("picks = %s", got)
	}
}

func TestPickerNeverPicksCriticalInstances(t *testing.T) {
	for _, s := range []client.Strategy{client.RoundRobin, client.Random, client.Weighted} {
		p := client.NewPicker(s, 0)
		p.Update(insts("a", "b:critical", "c:warning"))
		if got := picks(t, p, 50); strings.Contains(got, "b") {
			t.Fatalf("%v picked a critical instance: %s", s, got)
		}
	}
}

func TestWeightedSpreadsInProportionAndInterleaves(t *testing.T) {
	p := client.NewPicker(client.Weighted, 0)
	in := insts("a", "b", "c")
	in[0].Weight = 5
	p.Update(in)
	// Smooth weighted round robin interleaves: a gets 5 of every 7 picks
	// but never three in a row.
	if got := picks(t, p, 7); strings.Count(got, "a") != 5 || strings.Contains(got, "aaa") {
		t.Fatalf("picks = %s", got)
	}
	counts := map[byte]int{}
	for _, c := range []byte(picks(t, p, 700)) {
		counts[c]++
	}
	if counts['a'] != 500 || counts['b'] != 100 || counts['c'] != 100 {
		t.Fatalf("counts = %v, want 500/100/100", counts)
	}
}

func TestRandomSpreadsLoad(t *testing.T) {
	p := client.NewPicker(client.Random, 0)
	p.Update(insts("a", "b"))
	got := picks(t, p, 1000)
	if n := strings.Count(got, "a"); n < 400 || n > 600 {
		t.Fatalf("a picked %d of 1000 times", n)
	}
}

func TestFailedInstanceIsSkippedUnlessNothingElseIsLeft(t *testing.T) {
	p := client.NewPicker(client.RoundRobin, 0)
	p.Update(insts("a", "b"))
	p.Fail(api.Instance{ID: "a"})
	if got := picks(t, p, 4); got != "bbbb" {
		t.Fatalf("picks after a failed = %s", got)
	}
	p.Fail(api.Instance{ID: "b"})
	if _, err := p.Pick(); err != nil {
		t.Fatalf("all cooling off: %v, want a pick anyway", err)
	}
	p.Update(nil)
	if _, err := p.Pick(); !errors.Is(err, client.ErrNoInstances) {
		t.Fatalf("empty picker: %v", err)
	}
}
