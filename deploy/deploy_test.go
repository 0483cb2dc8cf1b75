// Package deploy_test checks the monitoring files shipped in deploy/: the
// Grafana dashboard and the Prometheus alerting rules use only series that a
// live server exports, their queries parse, and every alert has a passing
// promtool unit test.
package deploy_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/internal/retry"
	"github.com/rosterhq/roster/testkit"
)

// seriesName matches the metric names a query or rule can use: Roster's
// own, the Go and process collectors', and Prometheus's up.
var seriesName = regexp.MustCompile(`\b(?:roster|go|process)_[a-zA-Z0-9_]+\b|\bup\b`)

// generated are series Prometheus makes itself, never on a server's page.
var generated = map[string]bool{"up": true}

type dashboard struct {
	Panels []struct {
		Title   string `json:"title"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile("grafana/roster.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("grafana/roster.json: %v", err)
	}
	return d
}

// TestDashboardAndAlertsUseOnlyExportedSeries scrapes a live server (with a
// data directory, so the bbolt series exist) and checks that every series
// name used by a dashboard panel or an alerting rule is on its page.
func TestDashboardAndAlertsUseOnlyExportedSeries(t *testing.T) {
	exported := scrape(t, startServer(t))

	used := map[string][]string{} // series -> where
	for _, p := range readDashboard(t).Panels {
		for _, tg := range p.Targets {
			for _, name := range seriesName.FindAllString(tg.Expr, -1) {
				used[name] = append(used[name], "panel "+p.Title)
			}
		}
	}
	rules, err := os.ReadFile("prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range seriesName.FindAllString(string(rules), -1) {
		used[name] = append(used[name], "prometheus/alerts.yml")
	}
	if len(used) < 20 {
		t.Fatalf("only %d series found in the dashboard and rules: is the pattern broken?", len(used))
	}
	var missing []string
	for name, where := range used {
		if !exported[name] && !generated[name] {
			missing = append(missing, fmt.Sprintf("%s (used by %s)", name, strings.Join(where[:1], ", ")))
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("series not exported by a live server: %s", m)
	}
}

// TestAlertRulesPassPromtool runs promtool check rules and the unit tests
// of alerts_test.yml, and checks that each alert has a test.
func TestAlertRulesPassPromtool(t *testing.T) {
	promtool := needPromtool(t)
	run(t, promtool, "check", "rules", "prometheus/alerts.yml")
	run(t, promtool, "test", "rules", "prometheus/alerts_test.yml")

	rules, _ := os.ReadFile("prometheus/alerts.yml")
	tests, _ := os.ReadFile("prometheus/alerts_test.yml")
	alerts := regexp.MustCompile(`(?m)^\s*- alert: (\S+)`).FindAllStringSubmatch(string(rules), -1)
	if len(alerts) == 0 {
		t.Fatal("no alerts in prometheus/alerts.yml")
	}
	for _, a := range alerts {
		if !strings.Contains(string(tests), "alertname: "+a[1]+"\n") {
			t.Errorf("alert %s has no unit test in prometheus/alerts_test.yml", a[1])
		}
	}
}

// TestDashboardQueriesParse hands every panel's query to promtool as a
// recording rule (Grafana's variables replaced by values), so a query that
// is not valid PromQL fails here instead of on an operator's screen.
func TestDashboardQueriesParse(t *testing.T) {
	promtool := needPromtool(t)
	vars := strings.NewReplacer("$__rate_interval", "5m", "$job", ".*", "$instance", ".*")
	var b strings.Builder
	b.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	n := 0
	for _, p := range readDashboard(t).Panels {
		for _, tg := range p.Targets {
			n++
			q, _ := json.Marshal(vars.Replace(tg.Expr)) // a JSON string is a YAML string
			fmt.Fprintf(&b, "      - record: dashboard:panel_%d\n        expr: %s\n", n, q)
		}
	}
	if n == 0 {
		t.Fatal("the dashboard has no queries")
	}
	path := filepath.Join(t.TempDir(), "dashboard_rules.yml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, promtool, "check", "rules", path)
}

func needPromtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool not found: install Debian's prometheus package (listed in .ci/apt-packages)")
		}
		t.Skip("promtool not found: install Debian's prometheus package to check the rules")
	}
	return p
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// startServer starts a single server with a data directory (it bootstraps
// itself), waits for it to lead, and registers an instance with a lease.
func startServer(t *testing.T) string {
	t.Helper()
	cfg := testkit.Loopback("deploy")
	cfg.Store.DataDir = t.TempDir()
	n := testkit.Start(t, cfg)
	base := "http://" + n.HTTPAddr()
	retry.Eventually(t, 15*time.Second, func() error {
		a, err := testkit.Request(http.MethodPut, base+"/v1/services/web/instances/web-1", `{"address":"10.0.0.1","port":80,"ttl":"30s"}`)
		if err == nil && a.Status != http.StatusOK {
			err = fmt.Errorf("register: %d %s", a.Status, a.Body)
		}
		return err
	})
	return base
}

// scrape reads a server's /metrics and returns the series names on it
// (histograms as their _bucket, _sum and _count series).
func scrape(t *testing.T, base string) map[string]bool {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	names := map[string]bool{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			names[line[:i]] = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return names
}
