// Package docs_test checks that the user docs' links lead somewhere: every
// relative link names a file that exists and every #anchor a heading of
// that file.
package docs_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var (
	link    = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	heading = regexp.MustCompile(`(?m)^#{1,6} (.+)$`)
)

// anchor is GitHub's heading anchor: lower case, punctuation dropped,
// spaces as hyphens.
func anchor(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(h)) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		}
	}
	return b.String()
}

func TestDocLinksResolve(t *testing.T) {
	files, _ := filepath.Glob("*.md")
	files = append(files, "../README.md")
	anchors := map[string]map[string]bool{}
	anchorsOf := func(path string) map[string]bool {
		if a, ok := anchors[path]; ok {
			return a
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		a := map[string]bool{}
		for _, m := range heading.FindAllStringSubmatch(string(b), -1) {
			a[anchor(m[1])] = true
		}
		anchors[path] = a
		return a
	}
	checked := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range link.FindAllStringSubmatch(string(b), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			checked++
			file, frag, _ := strings.Cut(target, "#")
			path := filepath.Join(filepath.Dir(f), file)
			if file == "" {
				path = f
			}
			if _, err := os.Stat(path); err != nil {
				t.Errorf("%s links to %s, which does not exist", f, target)
				continue
			}
			if frag != "" && strings.HasSuffix(path, ".md") && !anchorsOf(path)[frag] {
				t.Errorf("%s links to %s: %s has no heading #%s", f, target, path, frag)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no relative links found: is the pattern broken?")
	}
}

// TestClientSnippetsAreCompiledExamples: every line of every Go snippet in
// client.md appears in one of the client's Example functions, which go test
// compiles and runs, so a snippet cannot drift from the API.
func TestClientSnippetsAreCompiledExamples(t *testing.T) {
	doc, err := os.ReadFile("client.md")
	if err != nil {
		t.Fatal(err)
	}
	var examples strings.Builder
	for _, f := range []string{"../client/example_test.go", "../client/example_docs_test.go"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		examples.Write(b)
	}
	lines := map[string]bool{}
	for _, l := range strings.Split(examples.String(), "\n") {
		lines[strings.Join(strings.Fields(l), " ")] = true
	}
	snippets := regexp.MustCompile("(?s)```go\n(.*?)```").FindAllStringSubmatch(string(doc), -1)
	if len(snippets) < 5 {
		t.Fatalf("only %d Go snippets in client.md", len(snippets))
	}
	for _, s := range snippets {
		if strings.HasPrefix(s[1], "import") || strings.HasPrefix(s[1], "func Test") {
			continue // how to import the packages, or a test of the reader's own
		}
		for _, l := range strings.Split(s[1], "\n") {
			l = strings.Join(strings.Fields(l), " ")
			if l != "" && !lines[l] {
				t.Errorf("client.md snippet line %q is in no Example of client/", l)
			}
		}
	}
}
