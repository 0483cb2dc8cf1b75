package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/client"
)

func TestErrorAnswersMapToSentinels(t *testing.T) {
	cases := []struct {
		status int
		code   string
		want   error
	}{
		{http.StatusNotFound, api.CodeNotFound, client.ErrNotRegistered},
		{http.StatusNotFound, api.CodeNotFound, client.ErrNotFound},
		{http.StatusGone, api.CodeGone, client.ErrGone},
		{http.StatusConflict, api.CodeConflict, client.ErrConflict},
		{http.StatusBadRequest, api.CodeInvalid, client.ErrInvalid},
		{http.StatusRequestEntityTooLarge, api.CodeTooLarge, client.ErrInvalid},
		{http.StatusServiceUnavailable, api.CodeNoLeader, client.ErrNoLeader},
		{http.StatusServiceUnavailable, api.CodeUnavailable, client.ErrUnavailable},
		{http.StatusTooManyRequests, api.CodeTooMany, client.ErrTooMany},
	}
	for _, tc := range cases {
		t.Run(tc.code, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", "0")
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(`{"error":"nope","code":"` + tc.code + `","field":"ttl"}`))
			}))
			defer srv.Close()
			c := newClient(t, srv.URL)
			_, err := c.Instance(context.Background(), "web", "web-1")
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want errors.Is %v", err, tc.want)
			}
			var ae *client.APIError
			if !errors.As(err, &ae) || ae.Status != tc.status || ae.Code != tc.code || ae.Field != "ttl" || ae.Message != "nope" {
				t.Fatalf("APIError = %+v", ae)
			}
			if got := client.IsInvalid(err); got != (tc.want == client.ErrInvalid) {
				t.Fatalf("IsInvalid = %v", got)
			}
		})
	}
}

func TestInvalidRegistrationFailsAtOnce(t *testing.T) {
	s := startFake(t)
	c := newClient(t, s.Addr())
	_, err := c.Register(context.Background(), client.InstanceSpec{Service: "Not_A_Label", Port: 80})
	if !client.IsInvalid(err) {
		t.Fatalf("err = %v, want invalid", err)
	}
	if n := s.Requests("PUT /v1/services/{service}/instances/{id}"); n != 1 {
		t.Fatalf("invalid registration sent %d times, want once", n)
	}
}
