// Package uitest drives Roster's web UI in headless Chromium (chromedp)
// against a real in-process server. It is its own Go module so that the
// browser driver stays out of the product's go.mod.
package uitest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/internal/retry"
	"github.com/rosterhq/roster/node"
	"github.com/rosterhq/roster/testkit"
)

// browserWait bounds every wait for the page to show something.
const browserWait = 15 * time.Second

// TestUIShowsTheCatalogLive walks the UI as an operator does: the services
// page lists what is registered and picks up a new registration without a
// reload, a service's page shows an instance turning critical, the members
// page names the leader, the leases page shows the lease table, and a
// deregistration and maintenance go through the confirmation dialog. Each
// page is saved as a screenshot in $ROSTER_UI_ARTIFACTS (or a temporary
// directory).
func TestUIShowsTheCatalogLive(t *testing.T) {
	base := startServer(t)
	for _, r := range []struct {
		svc, id, addr string
		tags          []string
		ttl           string
	}{
		{"web", "web-1", "10.0.0.1", []string{"v2", "primary"}, "60s"},
		{"web", "web-2", "10.0.0.2", []string{"v2"}, "60s"},
		{"web", "web-3", "10.0.0.3", []string{"v1"}, ""},
		{"db", "db-1", "10.0.1.1", []string{"postgres"}, ""},
		{"cache", "cache-1", "10.0.2.1", nil, "30s"},
		{"cache", "cache-2", "10.0.2.2", nil, "30s"},
	} {
		register(t, base, r.svc, r.id, api.RegisterRequest{Address: r.addr, Port: 8080, Tags: r.tags, TTL: r.ttl,
			Meta: map[string]string{"zone": "eu-1"}})
	}

	ctx := browser(t)
	shots := artifactDir(t)
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		path := filepath.Join(shots, name+".png")
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot %s", path)
	}
	fail := func(what string, err error) {
		t.Helper()
		body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
		state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify({dialogOpen: document.getElementById('confirm').open, `+
			`toast: document.getElementById('toast').textContent, conn: document.getElementById('conn').textContent})`))
		t.Fatalf("%s: %v\npage state %s; it shows:\n%s", what, err, state, body)
	}
	// run runs steps with a deadline; read reads one value the same way.
	run := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, browserWait)
		defer cancel()
		if err := chromedp.Do(wctx, steps...); err != nil {
			fail(what, err)
		}
	}
	text := func(what, css string) string {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, browserWait)
		defer cancel()
		v, err := chromedp.Run(wctx, chromedp.Text(chromedp.CSS(css)))
		if err != nil {
			fail(what, err)
		}
		return v
	}
	eval := func(what, js string) int {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, browserWait)
		defer cancel()
		v, err := chromedp.Run(wctx, chromedp.Evaluate[int](js))
		if err != nil {
			fail(what, err)
		}
		return v
	}

	// The root sends a browser to /ui/, which lists the services.
	run("services page lists the registered services",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(css(`tr[data-service="cache"]`)),
		chromedp.WaitVisible(css(`tr[data-service="db"]`)),
	)
	if row := text("read web", `tr[data-service="web"]`); !strings.Contains(row, "3") || !strings.Contains(row, "primary") {
		t.Errorf("web row %q: want its 3 instances and its tags", row)
	}
	if title, err := chromedp.Run(ctx, chromedp.Title()); err != nil || title != "Services · Roster" {
		t.Errorf("title %q (%v)", title, err)
	}

	// A registration appears without a reload: a marker set in the page
	// survives (a reload would clear it).
	eval("mark the page", `window.rosterNoReload = 1`)
	register(t, base, "payments", "pay-1", api.RegisterRequest{Address: "10.0.3.1", Port: 9000,
		Status: api.StatusWarning, Output: "slow upstream"})
	run("the new service appears live", chromedp.WaitVisible(css(`tr[data-service="payments"][data-health="warning"]`)))
	if eval("read the marker", `window.rosterNoReload || 0`) != 1 {
		t.Fatal("the page reloaded to show the new service")
	}

	// The filter box narrows the list.
	run("filter by name",
		chromedp.SendKeys(css(`input[type="search"]`), "cach"),
		chromedp.WaitNotPresent(css(`tr[data-service="web"]`)),
	)
	if n := eval("count rows", `document.querySelectorAll('tbody tr').length`); n != 1 {
		t.Errorf("%d rows after filtering for cach, want 1", n)
	}
	run("clear the filter",
		chromedp.Evaluate[chromedp.Void](`{ const f = document.querySelector('input[type="search"]'); `+
			`f.value = ''; f.dispatchEvent(new Event('input')); }`),
		chromedp.WaitVisible(css(`tr[data-service="web"]`)),
	)
	shot("services")

	// A service's page: an instance turning critical changes its row live.
	run("open web",
		chromedp.Click(css(`tr[data-service="web"] a`)),
		chromedp.WaitVisible(css(`tr[data-id="web-2"][data-status="passing"]`)),
	)
	heartbeat(t, base, "web", "web-2", api.HeartbeatRequest{Status: api.StatusCritical, Output: "HTTP GET /health: 503"})
	run("web-2 turns critical", chromedp.WaitVisible(css(`tr[data-id="web-2"][data-status="critical"]`)))
	if row := text("read web-2", `tr[data-id="web-2"]`); !strings.Contains(row, "HTTP GET /health: 503") || !strings.Contains(row, "1m0s") {
		t.Errorf("web-2 row %q: want its output and TTL", row)
	}
	shot("instances")

	// Deregistering asks first; cancelling changes nothing, confirming removes.
	run("cancel a deregistration with Escape",
		chromedp.Click(css(`tr[data-id="web-3"] button`)),
		chromedp.Poll[chromedp.Void](`document.getElementById('confirm').open`),
		chromedp.KeyEvent(kb.Escape),
		chromedp.Poll[chromedp.Void](`!document.getElementById('confirm').open`),
	)
	if n := instanceCount(t, base, "web"); n != 3 {
		t.Fatalf("web has %d instances after a cancelled deregistration, want 3", n)
	}
	run("confirm a deregistration",
		chromedp.Click(css(`tr[data-id="web-3"] button`)),
		chromedp.Poll[chromedp.Void](`document.getElementById('confirm').open`),
		chromedp.Click(css(`#confirm-ok`)),
		chromedp.WaitNotPresent(css(`tr[data-id="web-3"]`)),
	)
	if n := instanceCount(t, base, "web"); n != 2 {
		t.Fatalf("web has %d instances after deregistering web-3, want 2", n)
	}

	// Maintenance goes through the same dialog, with a reason; the row shows
	// it critical with the reason, and ending it brings the status back.
	run("start maintenance",
		chromedp.Click(css(`tr[data-id="web-1"] button.maint`)),
		chromedp.Poll[chromedp.Void](`document.getElementById('confirm').open`),
		chromedp.SendKeys(css(`#confirm-reason`), "kernel upgrade"),
		chromedp.Click(css(`#confirm-ok`)),
		chromedp.WaitVisible(css(`tr[data-id="web-1"][data-status="critical"][data-maintenance="kernel upgrade"]`)),
	)
	if row := text("read web-1", `tr[data-id="web-1"]`); !strings.Contains(row, "In maintenance: kernel upgrade") || !strings.Contains(row, "End maintenance") {
		t.Errorf("web-1 row %q: want its maintenance reason and an End maintenance button", row)
	}
	run("end maintenance",
		chromedp.Click(css(`tr[data-id="web-1"] button.maint`)),
		chromedp.Poll[chromedp.Void](`document.getElementById('confirm').open`),
		chromedp.Click(css(`#confirm-ok`)),
		chromedp.WaitVisible(css(`tr[data-id="web-1"][data-status="passing"]:not([data-maintenance])`)),
	)

	// The members page shows the leader.
	run("members page shows the leader",
		chromedp.Click(css(`nav a[data-nav="members"]`)),
		chromedp.WaitVisible(css(`tr[data-role="leader"][data-healthy="true"]`)),
	)
	if row := text("read the leader", `tr[data-role="leader"]`); !strings.Contains(row, "ui-test") || !strings.Contains(row, "alive") ||
		!strings.Contains(row, "healthy") || !strings.Contains(row, "is the leader") {
		t.Errorf("leader row %q: want node ui-test, alive, healthy, is the leader", row)
	}
	retry.Eventually(t, browserWait, func() error {
		if facts := text("read raft facts", `dl.facts`); !strings.Contains(facts, "Leader") {
			return fmt.Errorf("raft facts %q", facts)
		}
		return nil
	})
	shot("members")

	run("leases page shows the lease table",
		chromedp.Click(css(`nav a[data-nav="leases"]`)),
		chromedp.WaitVisible(chromedp.Search(`//p[contains(., "This server leads")]`)),
	)
	// web-1, web-2, cache-1 and cache-2 hold leases.
	if facts := text("read leases", `dl.facts`); !regexp.MustCompile(`Leases held\s+4\b`).MatchString(facts) {
		t.Errorf("lease table %q: want 4 leases held", facts)
	}
	shot("leases")

	// On a phone, rows become labelled cards.
	run("phone layout",
		chromedp.EmulateViewport(390, 844),
		chromedp.Navigate(base+"/ui/#/services/web"),
		chromedp.WaitVisible(css(`tr[data-id="web-2"][data-status="critical"]`)),
	)
	shot("instances-phone")
}

// TestUIStaysFastWithTenThousandServices: with 10,000 services the page
// holds one page of rows (100), shows the totals, and a new registration
// reaches the page without rebuilding the rows already there.
func TestUIStaysFastWithTenThousandServices(t *testing.T) {
	if testing.Short() {
		t.Skip("registers 10,000 services")
	}
	// The catalog is a fixture, loaded as fast as the server takes it: the
	// per-client write limit (1,000/s) is off for this server.
	base := startServer(t, func(c *node.Config) { c.HTTP.WriteRate = -1 })
	const services = 10000
	work := make(chan int)
	errs := make(chan error, 32)
	for range 32 {
		go func() {
			var err error
			for i := range work {
				if err == nil {
					err = tryPut(fmt.Sprintf("%s/v1/services/svc-%05d/instances/svc-%05d-1", base, i, i),
						api.RegisterRequest{Address: "10.1.0.1", Port: 80})
				}
			}
			errs <- err
		}()
	}
	for i := range services {
		work <- i
	}
	close(work)
	for range 32 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}

	ctx := browser(t)
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	start := time.Now()
	if err := chromedp.Do(wctx,
		chromedp.Navigate(base+"/ui/"),
		chromedp.WaitVisible(chromedp.Search(`//p[contains(., "10,000 services")]`)),
		chromedp.WaitVisible(css(`tr[data-service="svc-00000"]`)),
	); err != nil {
		t.Fatalf("load the services page: %v", err)
	}
	t.Logf("services page with %d services shown in %v", services, time.Since(start))
	rows, err := chromedp.Run(wctx, chromedp.Evaluate[int](`document.querySelectorAll('tbody tr').length`))
	if err != nil || rows != 100 {
		t.Fatalf("%d rows in the document (%v), want one page of 100", rows, err)
	}
	// Tag a row that stays on the page: patching keeps the element, a
	// rebuild would drop the tag.
	if err := chromedp.Do(wctx, chromedp.Evaluate[chromedp.Void](
		`document.querySelector('tr[data-service="svc-00001"]').rosterKept = true`)); err != nil {
		t.Fatal(err)
	}
	register(t, base, "svc-00000", "svc-00000-2", api.RegisterRequest{Address: "10.1.0.2", Port: 80, Status: api.StatusCritical})
	start = time.Now()
	if err := chromedp.Do(wctx, chromedp.WaitVisible(css(`tr[data-service="svc-00000"][data-health="critical"]`))); err != nil {
		t.Fatalf("the change did not reach the page: %v", err)
	}
	t.Logf("a change reached the page in %v", time.Since(start))
	kept, err := chromedp.Run(wctx, chromedp.Evaluate[bool](
		`document.querySelector('tr[data-service="svc-00001"]').rosterKept === true`))
	if err != nil || !kept {
		t.Errorf("the rows were rebuilt for one change (kept=%v, %v)", kept, err)
	}
}

// css selects the first element matching a CSS selector.
func css(sel string) chromedp.CSS { return chromedp.CSS(sel) }

// startServer starts a dev node and returns its base URL once it leads;
// mod, when given, changes its configuration first.
func startServer(t *testing.T, mod ...func(*node.Config)) string {
	t.Helper()
	named := func(c *node.Config) { c.Store.NodeName = "ui-test" }
	return "http://" + testkit.StartDev(t, append([]func(*node.Config){named}, mod...)...).HTTPAddr()
}

// browser starts headless Chromium for the test. Without Chromium the test
// skips, except under CI=true, where a missing browser is a failure.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := os.Getenv("CHROMIUM")
	if path == "" {
		for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
			if p, err := exec.LookPath(name); err == nil {
				path = p
				break
			}
		}
	}
	if path == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium not found: install Debian's chromium (listed in .ci/apt-packages)")
		}
		t.Skip("chromium not found: install Debian's chromium to run the browser test")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // CI runs as root
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 800),
		chromedp.Flag("lang", "en-US"),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first run starts the browser; its context must be the tab's own
	// (a deadline on it would end the browser with the deadline).
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium %s: %v", path, err)
	}
	// The page's console (errors, uncaught exceptions) goes to the test log.
	lctx, stopLog := context.WithCancel(ctx)
	logged := make(chan struct{})
	msgs := chromedp.Console(lctx)
	go func() {
		defer close(logged)
		for m, err := range msgs {
			if err != nil {
				return
			}
			t.Logf("browser console: %s", m)
		}
	}()
	t.Cleanup(func() { stopLog(); <-logged })
	return ctx
}

// artifactDir is where screenshots go: $ROSTER_UI_ARTIFACTS, else a
// temporary directory of the test.
func artifactDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("ROSTER_UI_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func register(t *testing.T, base, svc, id string, req api.RegisterRequest) {
	t.Helper()
	put(t, base+"/v1/services/"+svc+"/instances/"+id, req)
}

func heartbeat(t *testing.T, base, svc, id string, req api.HeartbeatRequest) {
	t.Helper()
	put(t, base+"/v1/services/"+svc+"/instances/"+id+"/heartbeat", req)
}

func put(t *testing.T, url string, body any) {
	t.Helper()
	if err := tryPut(url, body); err != nil {
		t.Fatal(err)
	}
}

func tryPut(url string, body any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequest(http.MethodPut, url, bytes.NewReader(b))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e api.Error
		_ = json.NewDecoder(resp.Body).Decode(&e)
		return fmt.Errorf("PUT %s: %d %s", url, resp.StatusCode, e.Message)
	}
	return nil
}

func instanceCount(t *testing.T, base, svc string) int {
	t.Helper()
	resp, err := http.Get(base + "/v1/services/" + svc + "/instances?status=any")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list api.InstanceList
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	return len(list.Instances)
}
