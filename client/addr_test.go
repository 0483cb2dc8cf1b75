package client

import "testing"

func TestAddrWithoutPortMeansTheDefaultPort(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1":              "http://127.0.0.1:8500",
		"roster.internal":        "http://roster.internal:8500",
		"127.0.0.1:9000":         "http://127.0.0.1:9000",
		"::1":                    "http://[::1]:8500",
		"[::1]":                  "http://[::1]:8500",
		"[::1]:9000":             "http://[::1]:9000",
		"https://roster.example": "https://roster.example", // a URL keeps its scheme's port
		"http://10.0.0.1:8500/":  "http://10.0.0.1:8500",
	} {
		u, err := parseAddr(in)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		if u.String() != want {
			t.Errorf("%q means %s, want %s", in, u, want)
		}
	}
	for _, bad := range []string{"", "foo bar", "ftp://x:1", "http://"} {
		if err := CheckAddr(bad); err == nil {
			t.Errorf("CheckAddr(%q) accepted it", bad)
		}
	}
}
