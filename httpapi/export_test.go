package httpapi

import (
	"sort"

	"github.com/gorilla/mux"
)

// Routes lists the handler's routes as "METHOD /path/{template}", for the
// OpenAPI coverage test in package httpapi_test.
func Routes(h *Handler) []string {
	var out []string
	_ = h.router.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, err := route.GetPathTemplate()
		if err != nil {
			return nil
		}
		methods, _ := route.GetMethods()
		for _, m := range methods {
			out = append(out, m+" "+tpl)
		}
		return nil
	})
	sort.Strings(out)
	return out
}

// The binary form of forwarded batches (fwdwire.go), for the cluster
// tests in package httpapi_test.
type (
	// ForwardItem is one write of a batch.
	ForwardItem = fwdItem
	// ForwardAnswer is one answer of a batch.
	ForwardAnswer = fwdAnswer
)

// ForwardBinaryCT is the binary form's content type.
const ForwardBinaryCT = fwdBinaryCT

// EncodeForwardBatch is encodeFwdBatch.
var EncodeForwardBatch = encodeFwdBatch

// ReadForwardAnswer is readFwdAnswer.
var ReadForwardAnswer = readFwdAnswer
