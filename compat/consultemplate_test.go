package compat

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	consul "github.com/hashicorp/consul/api"

	"github.com/rosterhq/roster/internal/retry"
	"github.com/rosterhq/roster/testkit"
)

// consulTemplateVersion is the consul-template release the test builds
// from the Go module proxy (cached by the build cache after the first run).
const consulTemplateVersion = "v0.41.1"

// buildConsulTemplate installs consul-template into a temporary directory
// and returns its path.
func buildConsulTemplate(t *testing.T) string {
	t.Helper()
	goBin := needTool(t, "go", "needed to build consul-template "+consulTemplateVersion)
	dir := t.TempDir()
	start := time.Now()
	cmd := exec.Command(goBin, "install", "github.com/hashicorp/consul-template@"+consulTemplateVersion)
	// Outside this module, with its own dependencies, as a user installs it.
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=-buildvcs=false", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		msg := fmt.Sprintf("go install consul-template: %v\n%s", err, out)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Logf("built consul-template %s in %v", consulTemplateVersion, time.Since(start).Round(time.Millisecond))
	return filepath.Join(dir, "consul-template")
}

// consul-template renders {{ range service "web" }} from Roster, once and
// then again on every change, with no setting beyond its Consul address.
func TestConsulTemplateRendersServices(t *testing.T) {
	bin := buildConsulTemplate(t)
	n := testkit.StartDev(t)
	c := consulClient(t, n)
	register := func(id, addr string, status string) {
		t.Helper()
		err := c.Agent().ServiceRegister(&consul.AgentServiceRegistration{
			ID: id, Name: "web", Tags: []string{"v1"}, Address: addr, Port: 8080,
			Check: &consul.AgentServiceCheck{TTL: "1m", Status: status},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	register("web-1", "10.0.0.1", consul.HealthPassing)
	register("web-2", "10.0.0.2", consul.HealthCritical)

	dir := t.TempDir()
	in, out := filepath.Join(dir, "upstreams.ctmpl"), filepath.Join(dir, "upstreams.conf")
	tmpl := `{{ range service "web" }}server {{ .ID }} {{ .Address }}:{{ .Port }} tags={{ join "," .Tags }}
{{ end }}`
	if err := os.WriteFile(in, []byte(tmpl), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"-consul-addr", n.HTTPAddr(), "-template", in + ":" + out, "-log-level", "warn"}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, bin, append(args, "-once")...).CombinedOutput(); err != nil {
		t.Fatalf("consul-template -once: %v\n%s", err, out)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), "server web-1 10.0.0.1:8080 tags=v1\n"; got != want {
		t.Fatalf("rendered %q, want %q (healthy instances only)", got, want)
	}

	// Watching: a check turning passing re-renders the file.
	var stderr testkit.LogBuffer
	live := exec.Command(bin, args...)
	live.Stderr = &stderr
	if err := live.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = live.Process.Kill()
		_ = live.Wait()
	})
	if err := c.Agent().PassTTL("service:web-2", ""); err != nil {
		t.Fatal(err)
	}
	want := "server web-1 10.0.0.1:8080 tags=v1\nserver web-2 10.0.0.2:8080 tags=v1\n"
	retry.Eventually(t, 20*time.Second, func() error {
		b, err := os.ReadFile(out)
		if err != nil {
			return err
		}
		if string(b) != want {
			return fmt.Errorf("rendered %q, want %q; consul-template says: %s", b, want, strings.TrimSpace(stderr.String()))
		}
		return nil
	})
}
