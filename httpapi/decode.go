package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/rosterhq/roster/registry"
)

// decodeBody decodes the request's JSON body into dst, capped at
// MaxBodyBytes. Unknown fields (names match exactly), keys given twice,
// invalid UTF-8, wrong types, malformed JSON and data after the object are
// 400s naming the field; a Content-Type that is not JSON is 415; an empty
// body is an error only when required.
func (h *Handler) decodeBody(w http.ResponseWriter, r *http.Request, dst any, required bool) error {
	return h.decode(w, r, dst, required, true)
}

// decode is decodeBody with unknown fields allowed and the JSON read as
// encoding/json reads it (any Content-Type, names matched loosely) unless
// strict: the Consul subset's foreign clients send bodies that way.
func (h *Handler) decode(w http.ResponseWriter, r *http.Request, dst any, required, strict bool) error {
	if strict {
		if err := checkJSONContentType(r); err != nil {
			return err
		}
	}
	data, err := h.readBody(w, r)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		if required {
			return invalidf("body", "request body is required")
		}
		return nil
	}
	if !strict {
		return decodeLoose(data, dst, false)
	}
	strictErr := decodeStrict(data, dst)
	if strictErr == nil {
		return nil
	}
	// Explain the refusal in encoding/json's terms where it refuses too
	// (syntax, types, unknown fields); what only the strict rules refuse
	// gets their own message.
	if err := decodeLoose(data, reflect.New(reflect.TypeOf(dst).Elem()).Interface(), true); err != nil {
		return err
	}
	return strictErr
}

// decodeLoose decodes with encoding/json, refusing unknown fields when
// disallowUnknown: the Consul subset's reading, and the native API's
// explanation of a refusal.
func decodeLoose(data []byte, dst any, disallowUnknown bool) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if disallowUnknown {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(dst); err != nil {
		return jsonError(err)
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return invalidf("body", "unexpected data after the JSON object")
	}
	return nil
}

// jsonError turns a decoding error into a 400 that names the field.
func jsonError(err error) error {
	var mbe *http.MaxBytesError
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &mbe):
		return err
	case errors.As(err, &se):
		return invalidf("body", "malformed JSON at byte %d: %s", se.Offset, strings.TrimPrefix(se.Error(), "json: "))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return invalidf("body", "malformed JSON: the body ends in the middle of a value")
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			return invalidf("body", "the body must be a JSON object, not %s", jsonKind(te.Value))
		}
		return invalidf(field, "%s must be %s, not %s", field, typeWords(te.Type), jsonKind(te.Value))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field, uerr := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		if uerr != nil {
			field = strings.TrimPrefix(err.Error(), "json: unknown field ")
		}
		return invalidf(field, "unknown field %q", field)
	default:
		return invalidf("body", "cannot decode the body: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
}

// jsonKind names the JSON value the decoder met ("string", "number 1.5").
func jsonKind(v string) string {
	switch {
	case v == "object" || v == "array":
		return "an " + v
	case v == "":
		return "this value"
	default:
		return "a " + v
	}
}

// typeWords says in words what Go type a field expects.
func typeWords(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "a boolean"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Pointer:
		return typeWords(t.Elem())
	default:
		return t.String()
	}
}

// serviceVar returns the {service} path variable validated and lowercased.
func serviceVar(r *http.Request) (string, error) {
	return serviceName(mux.Vars(r)["service"], "service")
}

// serviceName validates a service name and lowercases it; a failure names
// field.
func serviceName(name, field string) (string, error) {
	if err := registry.ValidateServiceName(name); err != nil {
		var ve *registry.ValidationError
		if errors.As(err, &ve) {
			return "", &registry.ValidationError{Field: field, Reason: ve.Reason}
		}
		return "", invalidf(field, "invalid service name %q: %v", name, err)
	}
	return strings.ToLower(name), nil
}

// listQuery is the parsed query of a listing: filters, consistency and
// blocking parameters.
type listQuery struct {
	filter     registry.Filter
	tag        string
	consistent bool
	// blocking is set by ?index=N with N > 0; index=0 answers at once.
	blocking bool
	index    uint64
	wait     time.Duration
}

// parseListQuery reads ?status, ?tag, ?consistent, ?index and ?wait. Bad
// values are 400s naming the parameter.
func (h *Handler) parseListQuery(r *http.Request) (listQuery, error) {
	q := listQuery{filter: registry.FilterHealthy}
	if r.URL.RawQuery == "" {
		return q, nil
	}
	vals := r.URL.Query()
	if s := vals.Get("status"); s != "" {
		switch strings.ToLower(s) {
		case "passing":
			q.filter = registry.FilterPassing
		case "warning":
			q.filter = registry.FilterWarning
		case "critical":
			q.filter = registry.FilterCritical
		case "any", "all":
			q.filter = registry.FilterAny
		case "healthy":
			q.filter = registry.FilterHealthy
		default:
			return q, invalidf("status", "status must be passing, warning, critical, healthy or any, not %q", s)
		}
	}
	q.tag = vals.Get("tag")
	if vals.Has("consistent") {
		q.consistent = true
		if s := vals.Get("consistent"); s != "" {
			b, err := strconv.ParseBool(s)
			if err != nil {
				return q, invalidf("consistent", "consistent must be empty or a boolean, not %q", s)
			}
			q.consistent = b
		}
	}
	if vals.Has("wait") {
		d, err := parseWait(vals.Get("wait"))
		if err != nil {
			return q, err
		}
		q.wait = d
	}
	if vals.Has("index") {
		s := vals.Get("index")
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return q, invalidf("index", "index must be a non-negative integer, not %q", s)
		}
		q.index = n
		q.blocking = n > 0
	}
	if q.blocking {
		q.wait = h.blockingWait(q.wait)
	}
	return q, nil
}

// parseWait accepts a Go duration ("30s", "5m") or plain seconds ("30").
// Both forms saturate instead of overflowing, so a huge wait is capped like
// any wait above MaxWait.
func parseWait(s string) (time.Duration, error) {
	if s != "" && strings.Trim(s, "0123456789") == "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || n > uint64(math.MaxInt64/int64(time.Second)) {
			return math.MaxInt64, nil
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, invalidf("wait", "wait must be a non-negative duration such as 30s or 5m, not %q", s)
	}
	return d, nil
}

// blockingWait caps a requested wait at MaxWait (also the default) and adds
// up to 1/16 of jitter so that watchers started together do not return
// together.
func (h *Handler) blockingWait(d time.Duration) time.Duration {
	if d <= 0 || d > h.cfg.MaxWait {
		d = h.cfg.MaxWait
	}
	if j := int64(d / 16); j > 0 {
		d += time.Duration(rand.Int64N(j))
	}
	return d
}

// wantsEventStream reports whether the request asks for Server-Sent Events.
func wantsEventStream(r *http.Request) bool {
	for _, v := range r.Header["Accept"] {
		if strings.Contains(v, "text/event-stream") {
			return true
		}
	}
	return false
}

// parseDuration parses a request's duration field; empty means zero.
func parseDuration(field, s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, &registry.ValidationError{Field: field, Reason: fmt.Sprintf("%q is not a duration such as 10s or 1m", s)}
	}
	return d, nil
}
