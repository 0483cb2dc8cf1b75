package client

import (
	"net"
	"strings"
)

// DefaultPort is the port of a server address given without one
// ("10.0.0.1" means "10.0.0.1:8500", not port 80). A URL with a scheme
// ("https://roster.example.com") keeps its scheme's port.
const DefaultPort = "8500"

// CheckAddr reports whether a is a usable server address: "host",
// "host:port" or an http(s) URL. Tools (the CLI) check their flags with it
// before sending anything.
func CheckAddr(a string) error {
	_, err := parseAddr(a)
	return err
}

// withDefaultPort adds DefaultPort to a bare host (or IPv6 literal).
func withDefaultPort(a string) string {
	if a == "" {
		return a
	}
	if _, _, err := net.SplitHostPort(a); err == nil {
		return a
	}
	host := strings.TrimSuffix(strings.TrimPrefix(a, "["), "]")
	if strings.ContainsAny(host, "[]/") {
		return a // not a host: let url.Parse say what is wrong
	}
	return net.JoinHostPort(host, DefaultPort)
}
