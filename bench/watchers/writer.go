package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// writer makes the changes through the HTTP API, over its own keep-alive
// connection, and remembers the index of the last acknowledged one.
type writer struct {
	base    string
	service string
	client  *http.Client
	rev     int64
	last    atomic.Uint64
}

func newWriter(addr, service string) *writer {
	return &writer{
		base:    "http://" + addr + "/v1/services/" + service + "/instances/",
		service: service,
		client:  &http.Client{Timeout: 30 * time.Second},
		rev:     time.Now().UnixNano(),
	}
}

func (w *writer) index() uint64 { return w.last.Load() }

// id names the service's i-th instance: ids are unique across the
// catalog, so they carry the service's name.
func (w *writer) id(i int) string { return w.service + "-" + strconv.Itoa(i) }

// seed registers the service's n instances (the first is the one change
// moves) and learns the service's index.
func (w *writer) seed(ctx context.Context, n int) error {
	for i := range n {
		body := fmt.Sprintf(`{"address":"10.0.%d.%d","port":8080,"tags":["bench","v1"],"meta":{"rev":"0"}}`, i/250, i%250+1)
		if _, err := w.put(ctx, w.id(i), body); err != nil {
			return err
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(w.base, "/"), nil)
	if err != nil {
		return err
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return fmt.Errorf("read %s: %w", w.service, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	idx, err := strconv.ParseUint(resp.Header.Get("X-Roster-Index"), 10, 64)
	if err != nil || resp.StatusCode != http.StatusOK {
		return fmt.Errorf("read %s: answered %s without a valid X-Roster-Index", w.service, resp.Status)
	}
	w.last.Store(idx)
	return nil
}

// change gives the first instance a new meta revision and returns the index the
// server acknowledged it at.
func (w *writer) change(ctx context.Context) (uint64, error) {
	w.rev++
	body := `{"address":"10.0.0.1","port":8080,"tags":["bench","v1"],"meta":{"rev":"` + strconv.FormatInt(w.rev, 10) + `"}}`
	idx, err := w.put(ctx, w.id(0), body)
	if err != nil {
		return 0, err
	}
	w.last.Store(idx)
	return idx, nil
}

func (w *writer) put(ctx context.Context, id, body string) (uint64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, w.base+id, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("register %s/%s: %w", w.service, id, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, fmt.Errorf("register %s/%s: %w", w.service, id, err)
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("register %s/%s: answered %s: %s", w.service, id, resp.Status, strings.TrimSpace(string(b)))
	}
	var res struct {
		Index uint64 `json:"index"`
	}
	if err := json.Unmarshal(b, &res); err != nil || res.Index == 0 {
		return 0, fmt.Errorf("register %s/%s: answer without an index: %s", w.service, id, strings.TrimSpace(string(b)))
	}
	return res.Index, nil
}
