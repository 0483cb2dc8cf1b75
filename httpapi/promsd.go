package httpapi

import (
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/rosterhq/roster/registry"
)

// Prometheus HTTP service discovery (design.md, "Contract: Prometheus HTTP
// service discovery"): GET /v1/prometheus/sd answers
// [{"targets":["<address>:<port>"],"labels":{...}}], one target group per
// instance, so that Prometheus's http_sd_configs (and every agent speaking
// that protocol) discovers Roster's instances directly.

// The label names of a target group.
const (
	sdLabelService  = "__meta_roster_service"
	sdLabelID       = "__meta_roster_instance_id"
	sdLabelTags     = "__meta_roster_tags"
	sdLabelStatus   = "__meta_roster_status"
	sdLabelWeight   = "__meta_roster_weight"
	sdLabelMetaPref = "__meta_roster_meta_"
)

// prometheusSD answers GET /v1/prometheus/sd: ?service= (repeatable; none
// means every service), ?tag= and ?status= as on the instance listing
// (default passing and warning). Without ?tag each service's part is
// encoded once per change and reused by every poll after it; the plain
// poll of every service reuses its whole answer while no service changed.
func (h *Handler) prometheusSD(w http.ResponseWriter, r *http.Request) {
	q, err := h.parseListQuery(r)
	if err != nil {
		h.writeError(w, err)
		return
	}
	cat := h.store.Catalog()
	var names []string
	if r.URL.RawQuery != "" {
		for _, s := range r.URL.Query()["service"] {
			name, err := serviceName(s, "service")
			if err != nil {
				h.writeError(w, err)
				return
			}
			names = append(names, name)
		}
	}
	all := names == nil
	index := uint64(0)
	if all {
		list := cat.Services()
		index = list.Index
		names = make([]string, len(list.Services))
		for i := range list.Services {
			names[i] = list.Services[i].Name
		}
	}
	limited := restricted(r)
	if limited {
		names = readable(r, names)
	}
	views := make([]*registry.ServiceView, len(names))
	for i, name := range names {
		views[i] = cat.Service(name)
		index = max(index, views[i].Index)
	}
	plain := all && r.URL.RawQuery == "" && !limited
	if plain {
		if a := h.sdAll.Load(); a != nil && slices.Equal(a.views, views) {
			h.setReadHeaders(w.Header(), index)
			h.writeBody(w, http.StatusOK, a.body)
			return
		}
	}
	parts := make([]registry.Encoded, 0, len(views))
	size := 3
	for _, view := range views {
		var part registry.Encoded
		if q.tag == "" {
			part = view.Encode(sdTargets{}, q.filter)
		} else {
			b := encodeSD(nil, view.Select(q.filter, q.tag))
			part = registry.Encoded{Parts: [][]byte{b}, Len: len(b)}
		}
		if part.Len > 0 {
			parts = append(parts, part)
			size += part.Len + 1
		}
	}
	body := make([]byte, 0, size)
	body = append(body, '[')
	for i, part := range parts {
		if i > 0 {
			body = append(body, ',')
		}
		for _, p := range part.Parts {
			body = append(body, p...)
		}
	}
	body = append(body, ']', '\n')
	if plain {
		h.sdAll.Store(&sdAnswer{views: views, body: body})
	}
	h.setReadHeaders(w.Header(), index)
	h.writeBody(w, http.StatusOK, body)
}

// sdAnswer is the encoded answer of the plain poll of every service, valid
// while every service's current view is still the one it was built from.
type sdAnswer struct {
	views []*registry.ServiceView
	body  []byte
}

// sdTargets encodes a service's target groups, comma-separated and
// without brackets (nothing when none match): the fragment each view keeps
// (registry.Encoder), so a poll after a change encodes only what changed.
type sdTargets struct{}

// AppendHead implements registry.Encoder.
func (sdTargets) AppendHead(b []byte, _ *registry.ServiceView, _ registry.Filter) []byte { return b }

// AppendInstance implements registry.Encoder.
func (sdTargets) AppendInstance(b []byte, in *registry.Instance) []byte {
	return appendSDGroup(b, in)
}

// AppendTail implements registry.Encoder.
func (sdTargets) AppendTail(b []byte, _ *registry.ServiceView, _ registry.Filter) []byte { return b }

// sdGroup is one target group of the HTTP SD format.
type sdGroup struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

// encodeSD appends the target groups of insts, comma-separated, to b.
func encodeSD(b []byte, insts []registry.Instance) []byte {
	for i := range insts {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendSDGroup(b, &insts[i])
	}
	return b
}

// appendSDGroup appends the target group of one instance to b.
func appendSDGroup(b []byte, in *registry.Instance) []byte {
	labels := make(map[string]string, 5+len(in.Meta))
	labels[sdLabelService] = in.Service
	labels[sdLabelID] = in.ID
	labels[sdLabelTags] = "," + strings.Join(in.Tags, ",") + ","
	labels[sdLabelStatus] = string(in.Health())
	labels[sdLabelWeight] = strconv.Itoa(in.Weight)
	for k, v := range in.Meta {
		labels[sdLabelMetaPref+sanitizeLabelName(k)] = v
	}
	return appendJSON(b, sdGroup{
		Targets: []string{net.JoinHostPort(in.Address, strconv.Itoa(in.Port))},
		Labels:  labels,
	})
}

// sanitizeLabelName makes s a valid Prometheus label name suffix: every
// byte outside [a-zA-Z0-9_] becomes '_' (what Prometheus's own service
// discovery does to Consul meta keys).
func sanitizeLabelName(s string) string {
	ok := true
	for i := 0; i < len(s); i++ {
		if !labelByte(s[i]) {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	b := []byte(s)
	for i := range b {
		if !labelByte(b[i]) {
			b[i] = '_'
		}
	}
	return string(b)
}

func labelByte(c byte) bool {
	return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}
