package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rosterhq/roster/internal/retry"
	"github.com/rosterhq/roster/node"
	"github.com/rosterhq/roster/testkit"
)

func runVerb(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestKeygenPrintsA32ByteBase64Key(t *testing.T) {
	code, out, errOut := runVerb(t, "keygen")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(out))
	if err != nil || len(key) != 32 {
		t.Fatalf("keygen printed %q (%d bytes, %v)", out, len(key), err)
	}
	_, again, _ := runVerb(t, "keygen")
	if again == out {
		t.Fatal("two keygens printed the same key")
	}
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(data)
	if b == nil {
		t.Fatalf("%s holds no PEM", path)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestTLSVerbsMakeACAAndCertificatesItSigned: `roster tls ca create` then
// `roster tls cert create --server/--client` write files in the directory
// that chain to the CA, with the names asked for; nothing is overwritten.
func TestTLSVerbsMakeACAAndCertificatesItSigned(t *testing.T) {
	dir := t.TempDir()
	if code, _, errOut := runVerb(t, "tls", "cert", "create", "--server", "--dir", dir); code != exitError || !strings.Contains(errOut, "roster tls ca create first") {
		t.Fatalf("cert without a CA: exit %d, %q", code, errOut)
	}
	if code, out, errOut := runVerb(t, "tls", "ca", "create", "--dir", dir); code != exitOK || !strings.Contains(out, "roster-ca.pem") {
		t.Fatalf("ca create: exit %d, %q %q", code, out, errOut)
	}
	if code, _, errOut := runVerb(t, "tls", "ca", "create", "--dir", dir); code != exitError || !strings.Contains(errOut, "already exists") {
		t.Fatalf("second ca create: exit %d, %q", code, errOut)
	}
	for i := range 2 {
		if code, _, errOut := runVerb(t, "tls", "cert", "create", "--server", "--dir", dir, "--dns", "s1.example", "--ip", "10.1.2.3"); code != exitOK {
			t.Fatalf("server cert %d: exit %d, %q", i, code, errOut)
		}
	}
	if code, _, errOut := runVerb(t, "tls", "cert", "create", "--client", "--dir", dir); code != exitOK {
		t.Fatalf("client cert: exit %d, %q", code, errOut)
	}
	for _, bad := range [][]string{
		{"tls", "cert", "create", "--dir", dir},
		{"tls", "cert", "create", "--server", "--client", "--dir", dir},
		{"tls", "cert", "create", "--server", "--ip", "nope", "--dir", dir},
		{"tls", "nonsense"},
	} {
		if code, _, _ := runVerb(t, bad...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", bad, code, exitUsage)
		}
	}

	ca := readCert(t, filepath.Join(dir, "roster-ca.pem"))
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	for _, tc := range []struct {
		file string
		eku  x509.ExtKeyUsage
	}{
		{"roster-server-0.pem", x509.ExtKeyUsageServerAuth},
		{"roster-server-1.pem", x509.ExtKeyUsageClientAuth},
		{"roster-client-0.pem", x509.ExtKeyUsageClientAuth},
	} {
		c := readCert(t, filepath.Join(dir, tc.file))
		if _, err := c.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{tc.eku}}); err != nil {
			t.Errorf("%s: %v", tc.file, err)
		}
		if _, err := tls.LoadX509KeyPair(filepath.Join(dir, tc.file), filepath.Join(dir, strings.TrimSuffix(tc.file, ".pem")+"-key.pem")); err != nil {
			t.Errorf("%s and its key: %v", tc.file, err)
		}
	}
	srv := readCert(t, filepath.Join(dir, "roster-server-0.pem"))
	if err := srv.VerifyHostname("s1.example"); err != nil {
		t.Error(err)
	}
	if err := srv.VerifyHostname("10.1.2.3"); err != nil {
		t.Error(err)
	}
	if st, _ := os.Stat(filepath.Join(dir, "roster-ca-key.pem")); st.Mode().Perm() != 0o600 {
		t.Errorf("the CA key is %v, want 0600", st.Mode().Perm())
	}
}

// TestSIGHUPReloadsCertificates: the server's SIGHUP handler re-reads the
// certificate files (the watcher is set slow here so only SIGHUP can do it).
func TestSIGHUPReloadsCertificates(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{{"tls", "ca", "create"}, {"tls", "cert", "create", "--server"}} {
		if code, _, errOut := runVerb(t, append(args, "--dir", dir)...); code != exitOK {
			t.Fatal(errOut)
		}
	}
	file := func(n string) string { return filepath.Join(dir, n) }
	cfg := testkit.DevConfig()
	cfg.Security = node.SecurityConfig{TLSCert: file("roster-server-0.pem"), TLSKey: file("roster-server-0-key.pem"),
		TLSCA: file("roster-ca.pem"), TLSReloadInterval: time.Hour}
	n := testkit.Start(t, cfg)
	stop := reloadOnHUP(n)
	defer stop()

	pool := x509.NewCertPool()
	pool.AddCert(readCert(t, file("roster-ca.pem")))
	serial := func() string {
		c, err := tls.Dial("tcp", n.HTTPAddr(), &tls.Config{RootCAs: pool})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	before := serial()
	if code, _, errOut := runVerb(t, "tls", "cert", "create", "--server", "--dir", dir); code != exitOK {
		t.Fatal(errOut)
	}
	for _, suffix := range []string{".pem", "-key.pem"} {
		if err := os.Rename(file("roster-server-1"+suffix), file("roster-server-0"+suffix)); err != nil {
			t.Fatal(err)
		}
	}
	want := readCert(t, file("roster-server-0.pem")).SerialNumber.String()
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	retry.Eventually(t, 5*time.Second, func() error {
		if got := serial(); got != want {
			return &reloadErr{got: got, before: before}
		}
		return nil
	})
}

type reloadErr struct{ got, before string }

func (e *reloadErr) Error() string { return "still serving " + e.got + " (before: " + e.before + ")" }

// TestSecurityQuickStartAsDocumented runs the quick start of
// docs/security.md as a user pastes it (with free ports in place of the
// documented ones): a CA and certificates, three servers with TLS, gossip
// encryption and ACLs, the bootstrap token, a token limited to web.
func TestSecurityQuickStartAsDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "security.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "<!-- quickstart:start -->\n```sh\n")
	script, _, ok2 := strings.Cut(rest, "```\n<!-- quickstart:end -->")
	if !ok || !ok2 {
		t.Fatal("docs/security.md has no quick start block")
	}
	ports := map[string]string{}
	script = regexp.MustCompile(`127\.0\.0\.1:8\d\d\d`).ReplaceAllStringFunc(script, func(a string) string {
		if _, ok := ports[a]; !ok {
			ports[a] = freePort(t)
		}
		return ports[a]
	})
	if len(ports) != 12 {
		t.Fatalf("the quick start uses %d addresses, want 12", len(ports))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-eu", "-c", script)
	cmd.Dir = t.TempDir()
	env := []string{"PATH=" + filepath.Dir(rosterBin) + ":" + os.Getenv("PATH"), "HOME=" + cmd.Dir}
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var out testkit.LogBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// The servers run in the script's process group.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	})
	err = cmd.Wait()
	logs := func() string {
		var b strings.Builder
		for _, s := range []string{"s1", "s2", "s3"} {
			data, _ := os.ReadFile(filepath.Join(cmd.Dir, "roster-secure", s+".log"))
			fmt.Fprintf(&b, "--- %s.log:\n%s\n", s, tail(string(data), 2048))
		}
		return b.String()
	}
	if err != nil {
		t.Fatalf("the quick start failed: %v\n%s\n%s", err, out.String(), logs())
	}
	got := out.String()
	for _, want := range []string{"web-1", "orders refused for the web token, as it should be", "permission denied: needs service:write:orders", "web deploys"} {
		if !strings.Contains(got, want) {
			t.Errorf("the quick start's output lacks %q:\n%s", want, got)
		}
	}
	if !strings.Contains(logs(), `component=audit`) {
		t.Errorf("no audit records in the servers' logs")
	}
}

// TestKeyringVerb: roster keyring list/install/use/remove drive the gossip
// key manager of the server at --addr.
func TestKeyringVerb(t *testing.T) {
	_, key, _ := runVerb(t, "keygen")
	_, next, _ := runVerb(t, "keygen")
	key, next = strings.TrimSpace(key), strings.TrimSpace(next)
	n := testkit.StartDev(t, func(c *node.Config) { c.Security = node.SecurityConfig{GossipKey: key} })
	addr := "--addr=" + n.HTTPAddr()
	code, out, errOut := runVerb(t, "keyring", "list", addr)
	if code != exitOK || !strings.Contains(out, key+"  installed on 1/1, primary on 1") {
		t.Fatalf("keyring list: %d %q %q", code, out, errOut)
	}
	for _, op := range []string{"install", "use", "remove"} {
		k := next
		if op == "remove" {
			k = key
		}
		if code, out, errOut := runVerb(t, "keyring", op, k, addr); code != exitOK {
			t.Fatalf("keyring %s: %d %q %q", op, code, out, errOut)
		}
	}
	code, out, _ = runVerb(t, "keyring", "list", addr)
	if code != exitOK || strings.Contains(out, key) || !strings.Contains(out, next+"  installed on 1/1, primary on 1") {
		t.Fatalf("keyring list after the rotation: %d %q", code, out)
	}
	if code, _, errOut := runVerb(t, "keyring", "install", "not-a-key", addr); code != exitUsage || !strings.Contains(errOut, "base64") {
		t.Fatalf("installing a bad key: %d %q", code, errOut)
	}
}
