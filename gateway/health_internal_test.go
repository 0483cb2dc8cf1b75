package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"testing"
	"time"
)

type failingTransport struct{}

func (failingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	<-r.Context().Done()
	return nil, r.Context().Err()
}

type okTransport struct{}

func (okTransport) RoundTrip(*http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody}, nil
}

func TestContactTrackerCountsTimeoutsButNotCancels(t *testing.T) {
	ct := &contactTracker{base: failingTransport{}, log: slog.New(slog.DiscardHandler)}
	send := func(ctx context.Context) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://10.0.0.1:8500/v1/services", nil)
		_, _ = ct.RoundTrip(req)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	send(ctx) // the gateway stopping its own watch
	if h := ct.health(); !h.Reachable {
		t.Fatalf("a canceled watch made the registry unreachable: %+v", h)
	}
	ctx, cancel = context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	send(ctx) // a server that never answered a blocking query
	if h := ct.health(); h.Reachable || h.Error == "" || !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("a timed-out query left the registry reachable: %+v", h)
	}
	ct.base = okTransport{}
	send(context.Background())
	if h := ct.health(); !h.Reachable || h.LastContact == nil || h.Error != "" {
		t.Fatalf("an answer did not make it fresh again: %+v", h)
	}
}
