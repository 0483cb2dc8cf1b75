package acl

import "testing"

func TestRulesGrantWhatTheySay(t *testing.T) {
	type q struct {
		read, write   string // a service that must be readable / writable
		noRead, noWri string // and one that must not be
	}
	for _, tc := range []struct {
		rules []string
		q     q
		opR   bool
		opW   bool
	}{
		{[]string{"service:write:web"}, q{"web", "web", "orders", "orders"}, false, false},
		{[]string{"service:read:web"}, q{"WEB", "", "webx", "web"}, false, false},
		{[]string{"service:write:web-*"}, q{"web-a", "web-b", "web", "webb"}, false, false},
		{[]string{"service:read:*", "service:write:api"}, q{"anything", "api", "", "web"}, false, false},
		{[]string{"operator:read"}, q{"", "", "web", "web"}, true, false},
		{[]string{"operator:write"}, q{"", "", "web", "web"}, true, true},
		{BootstrapRules, q{"x", "y", "", ""}, true, true},
	} {
		rules, err := ParseRules(tc.rules)
		if err != nil {
			t.Fatal(err)
		}
		id := NewIdentity("t", rules)
		if tc.q.read != "" && !id.ServiceRead(tc.q.read) {
			t.Errorf("%v: cannot read %s", tc.rules, tc.q.read)
		}
		if tc.q.write != "" && !id.ServiceWrite(tc.q.write) {
			t.Errorf("%v: cannot write %s", tc.rules, tc.q.write)
		}
		if tc.q.noRead != "" && id.ServiceRead(tc.q.noRead) {
			t.Errorf("%v: can read %s", tc.rules, tc.q.noRead)
		}
		if tc.q.noWri != "" && id.ServiceWrite(tc.q.noWri) {
			t.Errorf("%v: can write %s", tc.rules, tc.q.noWri)
		}
		if id.Operator(false) != tc.opR || id.Operator(true) != tc.opW {
			t.Errorf("%v: operator read %v write %v", tc.rules, id.Operator(false), id.Operator(true))
		}
	}
}

func TestBadRulesAreRefused(t *testing.T) {
	for _, r := range []string{"", "service", "service:read", "service:delete:web", "operator:admin", "service:read:we*b", "service:read:Web_1", "kv:read:x", "service:read:"} {
		if _, err := ParseRule(r); err == nil {
			t.Errorf("%q accepted", r)
		}
	}
}

func TestResolveAnonymousFollowsTheDefault(t *testing.T) {
	lookup := func(h string) (string, []string, bool) {
		if h == HashSecret("s3cret") {
			return "acc", []string{"service:write:web"}, true
		}
		return "", nil, false
	}
	read := &Resolver{Default: DefaultRead, Lookup: lookup}
	deny := &Resolver{Default: DefaultDeny, Lookup: lookup}
	if id, _ := read.Resolve(""); !id.ServiceRead("web") || id.ServiceWrite("web") || !id.Operator(false) || id.Operator(true) {
		t.Error("anonymous under read")
	}
	if id, _ := deny.Resolve(""); id.ServiceRead("web") || id.Operator(false) {
		t.Error("anonymous under deny")
	}
	if id, err := deny.Resolve("s3cret"); err != nil || id.Accessor != "acc" || !id.ServiceWrite("web") {
		t.Errorf("a known token: %v %v", id, err)
	}
	if _, err := read.Resolve("wrong"); err == nil {
		t.Error("an unknown token resolved")
	}
}
