package httpapi

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/rosterhq/roster/api"
)

func wireItems() []fwdItem {
	return []fwdItem{
		{Method: "PUT", URI: "/v1/services/web/instances/a?x=1", Client: "10.0.0.1",
			Header: http.Header{"Content-Type": {"application/json"}, "X-Roster-Token": {"t1", "t2"}},
			Body:   []byte(`{"address":"10.0.0.1","port":80}`)},
		{Method: "DELETE", URI: "/v1/services/web/instances/b", Client: "::1"},
	}
}

// A batch and its answers read back as they were written, and a batch
// cut anywhere, or claiming more than it holds, is refused.
func TestForwardWireRoundTripsAndRefusesDamage(t *testing.T) {
	items := wireItems()
	data := encodeFwdBatch(items)
	got, err := decodeFwdBatch(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, items) {
		t.Fatalf("decoded %+v, want %+v", got, items)
	}
	first := len(encodeFwdBatch(items[:1]))
	for n := range len(data) {
		if n == len(fwdMagic) || n == first {
			continue // whole writes: the magic alone is an empty batch (the handler refuses it), then the first write
		}
		if _, err := decodeFwdBatch(data[:n]); err == nil {
			t.Fatalf("a batch cut at %d of %d bytes decoded", n, len(data))
		}
	}
	bad := append([]byte(fwdMagic), 0xff, 0xff, 0xff, 0xff, 0x0f) // a method of 4 GiB
	if _, err := decodeFwdBatch(bad); !errors.Is(err, errFwdWire) {
		t.Fatalf("an oversized length: %v", err)
	}

	answers := []fwdAnswer{
		{I: 1, Status: 200, Term: 7, Header: http.Header{api.HeaderIndex: {"42"}, "Content-Type": {"application/json"}}, Body: []byte(`{"id":"a"}`)},
		{I: 0, Status: 409, Term: 0, Body: []byte(`{"error":"x"}`)},
	}
	var stream []byte
	for i := range answers {
		stream = appendFwdAnswer(stream, &answers[i])
	}
	br := bufio.NewReader(bytes.NewReader(stream))
	for i := range answers {
		a, err := readFwdAnswer(br, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a, answers[i]) {
			t.Fatalf("answer %d read as %+v, want %+v", i, a, answers[i])
		}
	}
	if _, err := readFwdAnswer(br, 1<<20); err != io.EOF {
		t.Fatalf("after the last answer: %v, want io.EOF", err)
	}
	for n := 1; n < len(stream); n++ {
		br := bufio.NewReader(bytes.NewReader(stream[:n]))
		var err error
		for err == nil {
			_, err = readFwdAnswer(br, 1<<20)
		}
		if n != len(appendFwdAnswer(nil, &answers[0])) && err == io.EOF {
			t.Fatalf("a stream cut at %d of %d bytes ended cleanly", n, len(stream))
		}
	}
	if _, err := readFwdAnswer(bufio.NewReader(bytes.NewReader(stream)), 4); !errors.Is(err, errFwdWire) {
		t.Fatalf("a field over the limit: %v", err)
	}
}

// FuzzForwardBatchWire: any bytes either decode to writes that encode and
// decode to the same writes, or are refused; never a panic.
func FuzzForwardBatchWire(f *testing.F) {
	f.Add(encodeFwdBatch(wireItems()))
	f.Add([]byte(fwdMagic))
	f.Add([]byte("RFW1\x03PUT\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		items, err := decodeFwdBatch(data)
		if err != nil {
			return
		}
		again, err := decodeFwdBatch(encodeFwdBatch(items))
		if err != nil {
			t.Fatalf("re-encoded batch refused: %v", err)
		}
		if len(again) != len(items) {
			t.Fatalf("re-encoded batch has %d writes, not %d", len(again), len(items))
		}
		for i := range items {
			a, b := items[i], again[i]
			if a.Method != b.Method || a.URI != b.URI || a.Client != b.Client || !bytes.Equal(a.Body, b.Body) || len(a.Header) != len(b.Header) {
				t.Fatalf("write %d changed: %+v vs %+v", i, a, b)
			}
		}
	})
}

// A follower that has seen a leader answer in binary sends it binary
// batches; a leader of an earlier version at that address (a downgrade)
// refuses them as malformed, having run nothing, and the follower sends
// the same batch again in JSON and keeps to JSON.
func TestForwardFallsBackToJSONForAnOlderLeader(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	old := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Content-Type"))
		mu.Unlock()
		var batch fwdBatch
		if err := json.NewDecoder(r.Body).Decode(&batch); err != nil {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":"malformed batch of forwarded writes","code":"invalid","field":"body"}`))
			return
		}
		w.Header().Set("Content-Type", ndjsonCT)
		enc := json.NewEncoder(w)
		for i := range batch.Writes {
			_ = enc.Encode(fwdAnswer{I: i, Status: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte(`{"old":true}`)})
		}
	}))
	defer old.Close()
	leaderAddr := strings.TrimPrefix(old.URL, "http://")
	f := startNode(t, newFollowerStore(newFakeCluster(), leaderAddr), nil)
	f.h.fwdBinary.Store(&leaderAddr) // it answered in binary before
	for i := range 2 {
		req, err := http.NewRequest(http.MethodPut, f.srv.URL+fmt.Sprintf("/v1/services/web/instances/w-%d", i), strings.NewReader(`{"address":"10.0.0.1","port":80}`))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(body) != `{"old":true}` {
			t.Fatalf("write %d through the follower: %d %s", i, resp.StatusCode, body)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{fwdBinaryCT, "application/json", "application/json"}
	if !reflect.DeepEqual(seen, want) {
		t.Fatalf("the old leader saw batches of %q, want %q", seen, want)
	}
}
