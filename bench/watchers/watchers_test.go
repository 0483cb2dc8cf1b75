package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/testkit"
)

func TestParseHead(t *testing.T) {
	raw := "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\ncontent-length: 42\r\n" +
		"X-Roster-Index: 17\r\nConnection: close\r\n\r\n{body"
	h, n, err := parseHead([]byte(raw))
	if err != nil || n != strings.Index(raw, "{body") {
		t.Fatalf("parseHead: n=%d err=%v", n, err)
	}
	if h != (head{status: 200, length: 42, index: 17, close: true}) {
		t.Fatalf("head %+v", h)
	}
	if _, n, err := parseHead([]byte(raw[:30])); n != 0 || err != nil {
		t.Fatalf("partial head: n=%d err=%v, want 0, nil", n, err)
	}
	if _, _, err := parseHead([]byte("SSH-2.0\r\n\r\n")); err == nil {
		t.Fatal("a non-HTTP answer parsed")
	}
}

// The ids of a chunked event stream are found however the bytes are split
// across reads (chunk sizes, CRLFs and lines cut anywhere).
func TestEventParserFindsIDsAcrossSplits(t *testing.T) {
	events := []string{
		"event: instances\nid: 7\ndata: {\"index\":7}\n\n",
		": keep-alive\n\n",
		"event: instances\nid: 12\ndata: " + strings.Repeat("x", 100) + "\n\n",
		"event: instances\nid: 18446744073709551615\ndata: {\"id: 9\":1}\n\n",
	}
	var stream bytes.Buffer
	for _, e := range events {
		fmt.Fprintf(&stream, "%x\r\n%s\r\n", len(e), e)
	}
	want := "7,12,18446744073709551615"
	for step := 1; step <= stream.Len(); step++ {
		var got []string
		p := eventParser{chunked: true, onID: func(n uint64) { got = append(got, fmt.Sprint(n)) }}
		b := stream.Bytes()
		for len(b) > 0 {
			k := min(step, len(b))
			if err := p.feed(b[:k]); err != nil {
				t.Fatalf("step %d: %v", step, err)
			}
			b = b[k:]
		}
		if s := strings.Join(got, ","); s != want {
			t.Fatalf("step %d: ids %s, want %s", step, s, want)
		}
	}
	p := eventParser{chunked: true, onID: func(uint64) {}}
	if err := p.feed([]byte("0\r\n\r\n")); err == nil {
		t.Fatal("the last chunk did not end the stream")
	}
}

// The tool measures both kinds of watchers against a real dev server.
func TestRunAgainstADevServer(t *testing.T) {
	n := testkit.StartDev(t)
	for _, mode := range []string{"sse", "blocking"} {
		t.Run(mode, func(t *testing.T) {
			var out bytes.Buffer
			c := config{addr: n.HTTPAddr(), mode: mode, service: "bench-" + mode, watchers: 20, changes: 3,
				warmup: 1, seed: 3, parallel: 4, gap: time.Millisecond, timeout: 20 * time.Second}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := run(ctx, c, &out); err != nil {
				t.Fatalf("run: %v\n%s", err, out.String())
			}
			for _, want := range []string{"connected 20 watchers", "change  3 index", "all 60 deliveries, from the write's acknowledgement: p50="} {
				if !strings.Contains(out.String(), want) {
					t.Fatalf("output lacks %q:\n%s", want, out.String())
				}
			}
		})
	}
}
