package main

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/client"
	"github.com/rosterhq/roster/internal/certs"
	"github.com/rosterhq/roster/internal/retry"
)

// TestGatewayTerminatesTLSAndTalksHTTPSToRoster: with the server's
// certificate flags, `roster gateway` serves HTTPS only on --listen, and
// with --tls-ca it follows a Roster server that serves HTTPS only and
// requires client certificates (it presents its own).
func TestGatewayTerminatesTLSAndTalksHTTPSToRoster(t *testing.T) {
	dir := t.TempDir()
	ca, _, err := certs.NewCA("test CA", 1)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	caFile := write("ca.pem", ca.CertPEM)
	c, k, err := ca.Sign(certs.Leaf{Server: true, Days: 1, IPs: []net.IP{net.ParseIP("127.0.0.1")}})
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := write("server.pem", c), write("server-key.pem", k)

	s := newServer(t, "dev", "--dev", "--tls-cert", certFile, "--tls-key", keyFile, "--tls-ca", caFile, "--tls-verify-incoming")
	s.start(t)
	tlsCfg, err := client.TLSFiles(caFile, certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsCfg}}
	do := func(method, url string, body io.Reader) (*http.Response, error) {
		req, err := http.NewRequest(method, url, body)
		if err != nil {
			return nil, err
		}
		return hc.Do(req)
	}
	retry.Eventually(t, 30*time.Second, func() error {
		resp, err := do("GET", "https://"+s.http+"/readyz", nil)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz %d", resp.StatusCode)
		}
		return nil
	})
	host, port := startEcho(t, "users-1")
	resp, err := do("PUT", "https://"+s.http+"/v1/services/users/instances/users-1",
		jsonBody(api.RegisterRequest{Address: host, Port: port}))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("register over HTTPS: %d", resp.StatusCode)
	}

	listen := freePort(t)
	startGatewayProc(t, nil, "--listen", listen, "--addr", s.http, "--route", "/users=users",
		"--tls-cert", certFile, "--tls-key", keyFile, "--tls-ca", caFile)
	retry.Eventually(t, 20*time.Second, func() error {
		resp, err := do("GET", "https://"+listen+"/users/1", nil)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || string(b) != "users-1 /users/1" {
			return fmt.Errorf("through the gateway over TLS: %d %q", resp.StatusCode, b)
		}
		if resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
			return fmt.Errorf("answer not over TLS 1.2+: %+v", resp.TLS)
		}
		return nil
	})
	// Plain HTTP to the TLS listener gets no answer from a route.
	if code, body, err := getText("http://" + listen + "/users/1"); err == nil && code == http.StatusOK {
		t.Fatalf("plain HTTP to the TLS listener answered %d %q", code, body)
	}
}

func jsonBody(v any) io.Reader {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return bytes.NewReader(b)
}
