package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/registry"
)

// fuzzHandler is a leader handler over a real dev store with the rate
// limits off (a fuzzer sends far more than any client).
func fuzzHandler(f *testing.F) *Handler {
	h, err := New(Config{Store: openDevStore(f), Logger: slog.New(slog.DiscardHandler),
		WriteRate: -1, HeartbeatRate: -1})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(h.Close)
	return h
}

// FuzzWriteBodies sends arbitrary bodies and content types to every
// endpoint that reads a JSON body: nothing panics, nothing answers 500,
// and every refusal is a JSON error with a code.
func FuzzWriteBodies(f *testing.F) {
	h := fuzzHandler(f)
	paths := []string{
		"/v1/services/web/instances/w1",
		"/v1/services/web/instances/w1/heartbeat",
		"/v1/heartbeats",
	}
	f.Add(uint8(0), `{"address":"10.0.0.1","port":80,"tags":["a"],"meta":{"k":"v"},"ttl":"10s","deregister_after":"1m"}`, "application/json")
	f.Add(uint8(0), `{"address":"10.0.0.1","port":80,"Port":81}`, "")
	f.Add(uint8(0), "{\"address\":\"10.0.0.1\",\"port\":80,\"tags\":[\"\xff\"]}", "")
	f.Add(uint8(1), `{"status":"warning","output":"slow"}`, "")
	f.Add(uint8(2), `{"instances":[{"service":"web","id":"w1","status":"critical"},{"service":"web","id":"w1"}]}`, "application/json; charset=utf-8")
	f.Add(uint8(2), `{"instances":[{"service":"web","id":"w1","id":"w2"}]}`, "text/plain")
	f.Fuzz(func(t *testing.T, route uint8, body, contentType string) {
		req := httptest.NewRequest(http.MethodPut, paths[int(route)%len(paths)], strings.NewReader(body))
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("answered %d: %s", rec.Code, rec.Body)
		}
		if rec.Code >= 400 {
			var e struct{ Error, Code string }
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Code == "" || e.Error == "" {
				t.Fatalf("refusal %d is not a JSON error: %q", rec.Code, rec.Body)
			}
		}
	})
}

// FuzzListQuery parses arbitrary query strings of an instance listing:
// nothing panics and every refusal is a validation error naming a
// parameter.
func FuzzListQuery(f *testing.F) {
	h := fuzzHandler(f)
	for _, q := range []string{"status=any&tag=v1", "index=5&wait=30s", "wait=99999999999&index=1",
		"consistent", "consistent=maybe", "index=-1", "wait=10000h&index=3", "%zz"} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		req := httptest.NewRequest(http.MethodGet, "/v1/services/web/instances", io.NopCloser(strings.NewReader("")))
		req.URL.RawQuery = raw
		q, err := h.parseListQuery(req)
		if err != nil {
			var ve *registry.ValidationError
			var ae *apiError
			named := errors.As(err, &ve) && ve.Field != "" ||
				errors.As(err, &ae) && ae.status == http.StatusBadRequest && ae.field != ""
			if !named {
				t.Fatalf("query %q: %v is not a validation error naming a parameter", raw, err)
			}
			return
		}
		if q.blocking && (q.wait <= 0 || q.wait > h.cfg.MaxWait+h.cfg.MaxWait/16) {
			t.Fatalf("query %q: wait %v outside (0, MaxWait + jitter]", raw, q.wait)
		}
	})
}

// FuzzStrictDecodeIsStricter checks that the strict decoder never accepts
// a body encoding/json refuses, and that both read an accepted body alike.
func FuzzStrictDecodeIsStricter(f *testing.F) {
	f.Add(`{"address":"10.0.0.1","port":80,"tags":["a"],"meta":{"k":"v"},"weight":2,"ttl":"10s"}`)
	f.Add(`{"address":"10.0.0.1","port":80.0}`)
	f.Add(`{"address":"10.0.0.1","port":1e2,"weight":null}`)
	f.Add(`{"port":-0,"tags":null,"meta":{}}`)
	f.Fuzz(func(t *testing.T, body string) {
		var strict, loose api.RegisterRequest
		if decodeStrict([]byte(body), &strict) != nil {
			return
		}
		if err := decodeLoose([]byte(body), &loose, true); err != nil {
			t.Fatalf("strict accepted what encoding/json refuses: %v", err)
		}
		if !reflect.DeepEqual(strict, loose) {
			t.Fatalf("strict read %+v, encoding/json %+v", strict, loose)
		}
	})
}
