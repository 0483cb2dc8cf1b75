package registry

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/rosterhq/roster/api"
)

// idEncoder encodes a list as {"service":..,"index":..,"instances":[..]}
// with each instance as "id/status/port": enough to see every instance and
// every change in the bytes.
type idEncoder struct{ calls *atomic.Int64 }

func (e idEncoder) AppendHead(b []byte, v *ServiceView, f Filter) []byte {
	b = append(b, `{"service":"`...)
	b = append(b, v.Name...)
	b = append(b, `","filter":`...)
	b = strconv.AppendInt(b, int64(f), 10)
	b = append(b, `,"index":`...)
	b = strconv.AppendUint(b, v.Index, 10)
	return append(b, `,"instances":[`...)
}

func (e idEncoder) AppendInstance(b []byte, in *Instance) []byte {
	if e.calls != nil {
		e.calls.Add(1)
	}
	return fmt.Appendf(b, "%q", in.ID+"/"+string(in.Health())+"/"+strconv.Itoa(in.Port))
}

func (e idEncoder) AppendTail(b []byte, _ *ServiceView, _ Filter) []byte { return append(b, "]}"...) }

// wantEncoded is what e gives for v under f, encoded in one go.
func wantEncoded(e idEncoder, v *ServiceView, f Filter) string {
	b := e.AppendHead(nil, v, f)
	first := true
	for in := range v.All() {
		if f.Match(in.Health()) {
			if !first {
				b = append(b, ',')
			}
			first = false
			b = idEncoder{}.AppendInstance(b, in)
		}
	}
	return string(e.AppendTail(b, v, f))
}

// checkTree verifies a view's chunks: sorted, within their sizes, keyed by
// their first id, counted right.
func checkTree(t *testing.T, v *ServiceView) {
	t.Helper()
	if v.tree == nil {
		if v.n != 0 {
			t.Fatalf("%s: no tree but %d instances", v.Name, v.n)
		}
		return
	}
	n, prev := 0, ""
	v.tree.Ascend(func(c *chunk) bool {
		if len(c.insts) == 0 || len(c.insts) > maxChunk || c.lo != c.insts[0].ID {
			t.Fatalf("%s: chunk of %d from %q keyed %q", v.Name, len(c.insts), c.insts[0].ID, c.lo)
		}
		if v.tree.Len() > 1 && len(c.insts) < minChunk {
			t.Fatalf("%s: chunk of %d among %d", v.Name, len(c.insts), v.tree.Len())
		}
		for i := range c.insts {
			if c.insts[i].ID <= prev && n > 0 {
				t.Fatalf("%s: %q after %q", v.Name, c.insts[i].ID, prev)
			}
			prev = c.insts[i].ID
			n++
		}
		if fresh := newChunk(c.insts); fresh.passing != c.passing || fresh.warning != c.warning || fresh.critical != c.critical {
			t.Fatalf("%s: chunk counts %+v, recount %+v", v.Name, c, fresh)
		}
		return true
	})
	if n != v.n || n != v.Counts().Instances {
		t.Fatalf("%s: %d instances in chunks, Len %d, summary %d", v.Name, n, v.n, v.Counts().Instances)
	}
}

// TestViewsStayConsistentAcrossRandomChanges registers, changes and
// removes instances of one service at random, in entries of one to 40
// commands, and checks after each entry that the view holds exactly the
// expected instances, its encodings under every filter equal an encoding
// from scratch, and the views taken earlier still show what they showed.
func TestViewsStayConsistentAcrossRandomChanges(t *testing.T) {
	a := newApplier(t)
	rng := rand.New(rand.NewPCG(1, 2))
	want := map[string]int{} // id -> port
	type seen struct {
		v    *ServiceView
		body string
	}
	var old []seen
	statuses := []api.Status{api.StatusPassing, api.StatusWarning, api.StatusCritical}
	for round := range 300 {
		var cmds [][]byte
		for range 1 + rng.IntN(40) {
			id := fmt.Sprintf("w-%04d", rng.IntN(600))
			switch r := rng.IntN(10); {
			case r < 6 || round < 20:
				in := inst("web", id)
				in.Port = 1 + rng.IntN(60000)
				in.Status = statuses[rng.IntN(3)]
				cmds = append(cmds, EncodeRegister(in, t0))
			default:
				cmds = append(cmds, EncodeDeregister("web", id, t0))
			}
		}
		res := a.mustOK(EncodeBatch(cmds))
		for _, ch := range res.Changed {
			if ch.Kind == ChangeRemove {
				delete(want, ch.Instance.ID)
			} else {
				want[ch.Instance.ID] = ch.Instance.Port
			}
		}
		v := a.c.Service("web")
		checkTree(t, v)
		if v.Len() != len(want) {
			t.Fatalf("round %d: %d instances, want %d", round, v.Len(), len(want))
		}
		for id, port := range want {
			if in, ok := v.Get(id); !ok || in.Port != port {
				t.Fatalf("round %d: Get(%s) = %+v %v, want port %d", round, id, in, ok, port)
			}
		}
		if _, ok := v.Get("w-9999"); ok {
			t.Fatal("Get found an instance never registered")
		}
		for f := range numFilters + 1 { // one past the end: unknown filters list everything
			got := string(v.Encode(idEncoder{}, f).Bytes())
			wantF := f
			if f >= numFilters {
				wantF = FilterAny
			}
			if w := wantEncoded(idEncoder{}, v, wantF); got != w {
				t.Fatalf("round %d, filter %d:\n got %s\nwant %s", round, f, got, w)
			}
		}
		if round%10 == 0 {
			old = append(old, seen{v, string(v.Encode(idEncoder{}, FilterAny).Bytes())})
		}
	}
	for _, s := range old {
		checkTree(t, s.v)
		if got := wantEncoded(idEncoder{}, s.v, FilterAny); got != s.body {
			t.Fatalf("view at %d changed:\n got %s\nwant %s", s.v.Index, got, s.body)
		}
	}
}

// TestEncodeReencodesOnlyTheChangedChunk: after one change to a service of
// 10,000 instances, the next encoding encodes one chunk's instances, not
// the service's.
func TestEncodeReencodesOnlyTheChangedChunk(t *testing.T) {
	a := newApplier(t)
	a.idx = fillService(t, a.c, 10_000)
	var calls atomic.Int64
	enc := idEncoder{calls: &calls}
	first := a.c.Service("web").Encode(enc, FilterHealthy)
	if calls.Load() != 10_000 || first.Len != len(first.Bytes()) {
		t.Fatalf("first encoding: %d instances encoded, Len %d of %d bytes", calls.Load(), first.Len, len(first.Bytes()))
	}
	moved := benchInstance("web", 5000)
	moved.Port = 9
	a.register(moved)
	calls.Store(0)
	v := a.c.Service("web")
	got := v.Encode(enc, FilterHealthy)
	if n := calls.Load(); n == 0 || n > maxChunk {
		t.Fatalf("after one change, %d instances encoded again", n)
	}
	if string(got.Bytes()) != wantEncoded(enc, v, FilterHealthy) {
		t.Fatal("the encoding after a change is wrong")
	}
	// Cached per view: the same parts again, no encoding.
	calls.Store(0)
	if again := v.Encode(enc, FilterHealthy); &again.Parts[0][0] != &got.Parts[0][0] || calls.Load() != 0 {
		t.Fatal("the same view encoded again")
	}
}

// TestEncodeOfSmallServiceIsOnePart: the answers of small services (the
// usual lookup) are one contiguous part.
func TestEncodeOfSmallServiceIsOnePart(t *testing.T) {
	a := newApplier(t)
	for i := range 10 {
		a.register(inst("web", fmt.Sprint("w", i)))
	}
	if e := a.c.Service("web").Encode(idEncoder{}, FilterHealthy); len(e.Parts) != 1 || e.Len != len(e.Parts[0]) {
		t.Fatalf("%d parts", len(e.Parts))
	}
	empty := a.c.Service("nothing").Encode(idEncoder{}, FilterHealthy)
	if got := string(empty.Bytes()); got != `{"service":"nothing","filter":0,"index":10,"instances":[]}` {
		t.Fatalf("empty service: %s", got)
	}
	var zero ServiceView // what a front end without a catalog answers
	if zero.Len() != 0 || zero.Encode(idEncoder{}, FilterAny).Len == 0 || len(zero.Instances()) != 0 {
		t.Fatal("zero view")
	}
}

// countingWriter records the writes it gets.
type countingWriter struct {
	b      []byte
	writes int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	w.writes++
	return len(p), nil
}

// TestEncodedWriteToGathersParts: a large answer of many parts goes out in
// few writes (a socket's system calls), byte for byte.
func TestEncodedWriteToGathersParts(t *testing.T) {
	c := New()
	fillService(t, c, 30_000)
	e := c.Service("web").Encode(idEncoder{}, FilterAny)
	var w countingWriter
	n, err := e.WriteTo(&w)
	if err != nil || n != int64(e.Len) || string(w.b) != string(e.Bytes()) {
		t.Fatalf("wrote %d of %d bytes: %v", n, e.Len, err)
	}
	if max := e.Len/(128<<10) + 2; w.writes > max || len(e.Parts) < 100 {
		t.Fatalf("%d parts in %d writes, want at most %d", len(e.Parts), w.writes, max)
	}
}
