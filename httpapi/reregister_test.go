package httpapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/rosterhq/roster/api"
)

// TestRegisteringTheSameDataAgainMovesOnlyTheAnswersIndex holds
// docs/http-api.md to its word: a repeated registration keeps the
// instance's create and modify index and the service's index (no watcher
// wakes); only the answer's index, the Raft index of the request, moves.
func TestRegisteringTheSameDataAgainMovesOnlyTheAnswersIndex(t *testing.T) {
	n := startDevNode(t)
	base := "http://" + n.HTTPAddr()
	body := `{"address":"10.0.0.1","port":80,"tags":["a"]}`
	register := func() api.RegisterResponse {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPut, base+"/v1/services/web/instances/web-1", strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out api.RegisterResponse
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	serviceIndex := func() string {
		t.Helper()
		resp, err := http.Get(base + "/v1/services/web/instances")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.Header.Get(api.HeaderIndex)
	}
	first := register()
	before := serviceIndex()
	second := register()
	if second.CreateIndex != first.CreateIndex || second.ModifyIndex != first.ModifyIndex {
		t.Errorf("create/modify index %d/%d then %d/%d: want them kept", first.CreateIndex, first.ModifyIndex, second.CreateIndex, second.ModifyIndex)
	}
	if after := serviceIndex(); after != before {
		t.Errorf("service index %s then %s: want it kept", before, after)
	}
	if second.Index <= first.Index {
		t.Errorf("answer index %d then %d: the second request's own index should be later", first.Index, second.Index)
	}
}
