package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/registry"
)

// instanceList encodes GET /v1/services/{service}/instances: the bytes of
// encoding/json.Marshal(api.InstanceList), built by the catalog's views
// one run of instances at a time and kept with them (registry.Encoder), so
// that a lookup after a change encodes only what changed.
type instanceList struct{}

// AppendHead implements registry.Encoder.
func (instanceList) AppendHead(b []byte, v *registry.ServiceView, _ registry.Filter) []byte {
	b = append(b, `{"service":`...)
	b = appendJSON(b, v.Name)
	b = append(b, `,"index":`...)
	b = strconv.AppendUint(b, v.Index, 10)
	return append(b, `,"instances":[`...)
}

// AppendInstance implements registry.Encoder.
func (instanceList) AppendInstance(b []byte, in *registry.Instance) []byte {
	return appendJSON(b, in.ToAPI())
}

// AppendTail implements registry.Encoder.
func (instanceList) AppendTail(b []byte, _ *registry.ServiceView, _ registry.Filter) []byte {
	return append(b, "]}"...)
}

// serviceList encodes GET /v1/services: encoding/json.Marshal(api.ServiceList).
type serviceList struct{}

// AppendList implements registry.ListEncoder.
func (serviceList) AppendList(b []byte, v *registry.ServicesView) []byte {
	list := api.ServiceList{Index: v.Index, Services: v.Services}
	if list.Services == nil {
		list.Services = []api.ServiceSummary{}
	}
	return appendJSON(b, list)
}

// appendJSON appends the encoding of x, which holds only strings, numbers,
// slices and maps of strings: encoding cannot fail.
func appendJSON(b []byte, x any) []byte {
	out, err := json.Marshal(x)
	if err != nil {
		panic("httpapi: encoding " + err.Error())
	}
	return append(b, out...)
}

// encodeList encodes the instances of view that pass q's filters, in the
// shape of the cached list (used with a tag filter, which is not cached).
func encodeList(view *registry.ServiceView, q listQuery) []byte {
	var enc instanceList
	b := enc.AppendHead(nil, view, q.filter)
	for i, in := range view.Select(q.filter, q.tag) {
		if i > 0 {
			b = append(b, ',')
		}
		b = enc.AppendInstance(b, &in)
	}
	return enc.AppendTail(b, view, q.filter)
}

// listBody is the answer of a listing under q: the view's cached encoding
// when there is no tag filter, else a fresh one.
func listBody(view *registry.ServiceView, q listQuery) registry.Encoded {
	if q.tag == "" {
		return view.Encode(instanceList{}, q.filter)
	}
	b := encodeList(view, q)
	return registry.Encoded{Parts: [][]byte{b}, Len: len(b)}
}

// writeEncoded answers a pre-encoded answer of one or more parts.
func (h *Handler) writeEncoded(w http.ResponseWriter, status int, e registry.Encoded) {
	hdr := w.Header()
	hdr["Content-Type"] = jsonCTHdr
	hdr["Content-Length"] = h.hdrs.length(e.Len)
	w.WriteHeader(status)
	_, _ = e.WriteTo(w)
}
