package compat

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rosterhq/roster/internal/retry"
	"github.com/rosterhq/roster/testkit"
)

// docScrapeConfig is the first yaml block of docs/prometheus.md: the
// configuration users paste.
func docScrapeConfig(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "docs", "prometheus.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindSubmatch(b)
	if m == nil {
		t.Fatal("docs/prometheus.md has no yaml block")
	}
	return string(m[1])
}

// Debian's prometheus, configured with docs/prometheus.md's http_sd_configs,
// discovers an instance registered in Roster and scrapes it.
func TestDebianPrometheusScrapesRosterTargets(t *testing.T) {
	bin := needTool(t, "prometheus", "Debian package prometheus, listed in .ci/apt-packages")
	n := testkit.StartDev(t)

	// The target: a tiny /metrics backend on loopback that counts scrapes.
	var scrapes atomic.Int64
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	backend := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scrapes.Add(1)
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintln(w, "roster_compat_test_up 1")
	}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = backend.Serve(ln) }()
	t.Cleanup(func() { _ = backend.Close() })
	port := ln.Addr().(*net.TCPAddr).Port

	body := fmt.Sprintf(`{"address":"127.0.0.1","port":%d,"tags":["metrics"],"meta":{"team":"core"}}`, port)
	req, _ := http.NewRequest(http.MethodPut, "http://"+n.HTTPAddr()+"/v1/services/exporter/instances/exporter-1", strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("register: %s", resp.Status)
	}
	// An instance without the "metrics" tag, which the config's relabelling drops.
	req, _ = http.NewRequest(http.MethodPut, "http://"+n.HTTPAddr()+"/v1/services/exporter/instances/exporter-2",
		strings.NewReader(fmt.Sprintf(`{"address":"127.0.0.1","port":%d}`, port)))
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	dir := t.TempDir()
	conf := docScrapeConfig(t)
	conf = strings.ReplaceAll(conf, "127.0.0.1:8500", n.HTTPAddr())
	conf = strings.ReplaceAll(conf, "refresh_interval: 15s", "refresh_interval: 1s")
	conf = "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n" + conf
	confPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	promAddr := freeAddr(t)
	var out testkit.LogBuffer
	cmd := exec.Command(bin, "--config.file="+confPath, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+promAddr)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})

	type target struct {
		Labels map[string]string `json:"labels"`
		Health string            `json:"health"`
	}
	var targets struct {
		Data struct {
			ActiveTargets []target `json:"activeTargets"`
		} `json:"data"`
	}
	retry.Eventually(t, 60*time.Second, func() error {
		if err := getJSON("http://"+promAddr+"/api/v1/targets", &targets); err != nil {
			return fmt.Errorf("%v; prometheus says: %s", err, tail(out.String()))
		}
		for _, tg := range targets.Data.ActiveTargets {
			if tg.Labels["instance_id"] == "exporter-1" && tg.Labels["service"] == "exporter" && tg.Health == "up" {
				return nil
			}
		}
		return fmt.Errorf("exporter-1 not up among %+v", targets.Data.ActiveTargets)
	})
	if len(targets.Data.ActiveTargets) != 1 {
		t.Errorf("active targets %+v: want exporter-1 alone (exporter-2 has no metrics tag)", targets.Data.ActiveTargets)
	}
	if scrapes.Load() == 0 {
		t.Fatal("prometheus reports the target up but the backend saw no scrape")
	}
	var query struct {
		Data struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
			} `json:"result"`
		} `json:"data"`
	}
	retry.Eventually(t, 30*time.Second, func() error {
		if err := getJSON("http://"+promAddr+"/api/v1/query?query=roster_compat_test_up", &query); err != nil {
			return err
		}
		if len(query.Data.Result) != 1 || query.Data.Result[0].Metric["instance_id"] != "exporter-1" {
			return fmt.Errorf("query answered %+v", query.Data.Result)
		}
		return nil
	})
}

func getJSON(url string, v any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// freeAddr is a loopback address with a port free at the time of asking.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return "127.0.0.1:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// tail is the end of a process's log, for failure messages.
func tail(s string) string {
	if len(s) > 2000 {
		s = s[len(s)-2000:]
	}
	return s
}
