package httpapi

import (
	"net/http"
	"strings"
	"testing"
)

// TestRootSendsBrowsersToTheUI: a browser opening / lands on /ui/; an API
// client or script asking for / keeps getting the JSON 404.
func TestRootSendsBrowsersToTheUI(t *testing.T) {
	n := startDev(t, nil)
	n.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	for _, c := range []struct {
		path, accept, wantType string
		want                   int
	}{
		{"/", "text/html,application/xhtml+xml,*/*;q=0.8", "text/html", http.StatusFound},
		{"/ui", "text/html", "text/html", http.StatusFound},
		{"/", "application/json", "application/json", http.StatusNotFound},
		{"/", "", "application/json", http.StatusNotFound},
	} {
		var hdr []string
		if c.accept != "" {
			hdr = []string{"Accept", c.accept}
		}
		a := n.do(http.MethodGet, c.path, "", hdr...)
		if a.status != c.want || !strings.HasPrefix(a.header.Get("Content-Type"), c.wantType) {
			t.Errorf("GET %s Accept %q: %d %s, want %d %s", c.path, c.accept, a.status, a.header.Get("Content-Type"), c.want, c.wantType)
		}
		if c.want == http.StatusFound && a.header.Get("Location") != "/ui/" {
			t.Errorf("GET %s redirects to %q, want /ui/", c.path, a.header.Get("Location"))
		}
	}
}

// TestUIFilesAreServedFromTheBinary: the page, its script and its style
// come with their types and a policy that allows nothing from elsewhere.
func TestUIFilesAreServedFromTheBinary(t *testing.T) {
	n := startDev(t, nil)
	for path, typ := range map[string]string{
		"/ui/":          "text/html",
		"/ui/app.js":    "text/javascript",
		"/ui/style.css": "text/css",
	} {
		a := n.must(http.StatusOK, http.MethodGet, path, "")
		if !strings.HasPrefix(a.header.Get("Content-Type"), typ) {
			t.Errorf("%s: Content-Type %q, want %s", path, a.header.Get("Content-Type"), typ)
		}
		if csp := a.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("%s: Content-Security-Policy %q", path, csp)
		}
	}
	if a := n.do(http.MethodGet, "/ui/nope.js", ""); a.status != http.StatusNotFound {
		t.Errorf("/ui/nope.js: %s, want 404", a)
	}
}
