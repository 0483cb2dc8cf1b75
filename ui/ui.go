// Package ui serves Roster's operator web UI: plain HTML, CSS and JavaScript
// embedded in the binary, which read and act through the native HTTP API
// from the browser.
package ui

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

// Prefix is the path the UI is served under.
const Prefix = "/ui/"

//go:embed static
var static embed.FS

// contentSecurityPolicy lets the page load only its own files and talk only
// to the server that served it: nothing inline, nothing from elsewhere.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// Handler serves the UI's files for paths under Prefix. Answers are
// revalidated on every load (no-cache), so that a new binary's UI replaces
// the old one at once; the files are a few kilobytes.
func Handler() http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		// "static" is embedded above: fs.Sub fails only for an invalid name.
		panic("ui: " + err.Error())
	}
	files := http.StripPrefix(strings.TrimSuffix(Prefix, "/"), http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hdr := w.Header()
		hdr.Set("Content-Security-Policy", contentSecurityPolicy)
		hdr.Set("X-Content-Type-Options", "nosniff")
		hdr.Set("Referrer-Policy", "no-referrer")
		hdr.Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}

// WantsHTML reports whether a request comes from a browser navigating to a
// page (its Accept names text/html), as opposed to an API client or a
// script, which keep getting JSON answers.
func WantsHTML(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept") {
		if strings.Contains(v, "text/html") {
			return true
		}
	}
	return false
}

// Redirect sends a browser to the UI.
func Redirect(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, Prefix, http.StatusFound)
}
