package httpapi

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"

	"github.com/rosterhq/roster/api"
	"reflect"
	"testing"
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
