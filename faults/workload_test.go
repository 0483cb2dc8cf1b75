//go:build faults

package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/rosterhq/roster/internal/retry"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/rosterhq/roster/api"
)

const (
	modelService = "faults" // the instances the history is about
	keepService  = "keep"   // registrations that are never deleted
	modelKeys    = 16
	opTimeout    = 2 * time.Second
	opInterval   = 20 * time.Millisecond // per client: about 50 operations/s
)

// workload is N clients registering, deregistering, heartbeating and reading
// with ?consistent against every live server, recording a history.
type workload struct {
	c       *cluster
	clients int
	start   time.Time
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	mu           sync.Mutex
	history      []porcupine.Operation
	writeAcks    []time.Duration // return times of acknowledged writes
	keepAcked    map[string]bool // keep ids whose registration was acknowledged
	ops          int
	okOps        int
	unknownOps   int
	clientErrors int
	errSamples   map[string]int
}

// startWorkload starts the clients; stop them with stop.
func startWorkload(c *cluster, clients int) *workload {
	ctx, cancel := context.WithCancel(context.Background())
	w := &workload{
		c: c, clients: clients, start: time.Now(), cancel: cancel,
		keepAcked: map[string]bool{}, errSamples: map[string]int{},
	}
	for i := range clients {
		w.wg.Add(1)
		go w.client(ctx, i)
	}
	return w
}

// stop ends the clients and waits for them.
func (w *workload) stop() {
	w.cancel()
	w.wg.Wait()
}

func (w *workload) now() int64 { return int64(time.Since(w.start)) }

func (w *workload) client(ctx context.Context, id int) {
	defer w.wg.Done()
	rng := rand.New(rand.NewPCG(uint64(id), uint64(w.start.UnixNano())))
	tick := time.NewTicker(opInterval)
	defer tick.Stop()
	for seq := 0; ; seq++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		live := w.c.live()
		n := live[rng.IntN(len(live))]
		if seq%10 == 9 {
			w.keep(ctx, n, fmt.Sprintf("keep-c%d-%d", id, seq))
			continue
		}
		in := catInput{ID: fmt.Sprintf("k%02d", rng.IntN(modelKeys))}
		switch p := rng.IntN(100); {
		case p < 35:
			in.Kind = opRegister
			in.Addr = fmt.Sprintf("10.%d.%d.%d", id, (seq>>8)&255, seq&255)
		case p < 50:
			in.Kind = opDeregister
		case p < 85:
			in.Kind = opRead
		default:
			in.Kind = opHeartbeat
		}
		w.do(ctx, id, n, in)
	}
}

// do runs one operation of the model and records it.
func (w *workload) do(ctx context.Context, client int, n *node, in catInput) {
	path := "/v1/services/" + modelService + "/instances/" + in.ID
	var method, url string
	var body any
	switch in.Kind {
	case opRegister:
		method, url = http.MethodPut, n.url(path)
		body = api.RegisterRequest{Address: in.Addr, Port: 80, TTL: "30s", DeregisterAfter: "10m"}
	case opDeregister:
		method, url = http.MethodDelete, n.url(path)
	case opRead:
		method, url = http.MethodGet, n.url(path+"?consistent")
	case opHeartbeat:
		method, url = http.MethodPut, n.url(path+"/heartbeat")
	}
	call := w.now()
	r, err := w.c.do(ctx, opTimeout, method, url, body)
	ret := w.now()

	out := catOutput{}
	record, ok := true, false
	switch {
	case err != nil:
		out.Unknown = true
	case in.Kind == opRegister || in.Kind == opDeregister:
		switch {
		case r.status == http.StatusOK || r.status == http.StatusCreated:
			ok = true
		case r.status == http.StatusBadRequest || r.status == http.StatusConflict:
			record = false // refused before any effect
		default:
			out.Unknown = true
		}
	case in.Kind == opRead:
		switch r.status {
		case http.StatusOK:
			var inst api.Instance
			if jerr := json.Unmarshal(r.body, &inst); jerr != nil {
				err = fmt.Errorf("decode read: %w", jerr)
				record = false
			} else {
				ok, out.Present, out.Addr = true, true, inst.Address
			}
		case http.StatusNotFound:
			ok = true
		default:
			record = false
		}
	case in.Kind == opHeartbeat:
		switch r.status {
		case http.StatusOK:
			ok, out.Present = true, true
		case http.StatusNotFound, http.StatusGone:
			ok = true
		default:
			record = false
		}
	}
	if out.Unknown {
		if in.Kind == opRead || in.Kind == opHeartbeat {
			record = false // a failed read has no effect: leave it out
		} else {
			ret = math.MaxInt64
		}
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	w.ops++
	if ok {
		w.okOps++
		if in.Kind == opRegister || in.Kind == opDeregister {
			w.writeAcks = append(w.writeAcks, time.Duration(ret))
		}
	} else {
		w.clientErrors++
		w.noteError(in.Kind.String(), r, err)
	}
	if out.Unknown {
		w.unknownOps++
	}
	if record {
		w.history = append(w.history, porcupine.Operation{
			ClientId: client, Input: in, Call: call, Output: out, Return: ret,
		})
	}
}

// keep registers an id that is never deleted; every acknowledged one must
// be present at the end.
func (w *workload) keep(ctx context.Context, n *node, id string) {
	r, err := w.c.do(ctx, opTimeout, http.MethodPut, n.url("/v1/services/"+keepService+"/instances/"+id),
		api.RegisterRequest{Address: "10.255.0.1", Port: 80})
	ret := time.Duration(w.now())
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ops++
	if err == nil && r.status == http.StatusOK {
		w.okOps++
		w.keepAcked[id] = true
		w.writeAcks = append(w.writeAcks, ret)
		return
	}
	w.clientErrors++
	w.noteError("keep", r, err)
}

func (w *workload) noteError(what string, r reply, err error) {
	key := what + ": transport error"
	if err == nil {
		var e api.Error
		_ = json.Unmarshal(r.body, &e)
		key = fmt.Sprintf("%s: %d %s", what, r.status, e.Code)
	}
	w.errSamples[key]++
}

// okWritesAfter counts acknowledged writes that returned after t.
func (w *workload) okWritesAfter(t time.Time) int {
	since := t.Sub(w.start)
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, a := range w.writeAcks {
		if a > since {
			n++
		}
	}
	return n
}

// waitWrites waits until n writes were acknowledged after t: the cluster
// accepts writes (again).
func (w *workload) waitWrites(t *testing.T, after time.Time, n int, d time.Duration) {
	t.Helper()
	retry.Eventually(t, d, func() error {
		if got := w.okWritesAfter(after); got < n {
			return fmt.Errorf("%d acknowledged writes since %s, want %d", got, after.Format(time.TimeOnly), n)
		}
		return nil
	})
}

// maxWriteGap is the longest time without an acknowledged write.
func (w *workload) maxWriteGap() time.Duration {
	w.mu.Lock()
	acks := append([]time.Duration(nil), w.writeAcks...)
	w.mu.Unlock()
	sort.Slice(acks, func(i, j int) bool { return acks[i] < acks[j] })
	var gap time.Duration
	for i := 1; i < len(acks); i++ {
		gap = max(gap, acks[i]-acks[i-1])
	}
	return gap
}

// finish is run after the workload stopped and the cluster converged: it
// appends a ?consistent read of every model key to the history, checks that
// every acknowledged keep registration is on every server, and checks the
// history for linearizability. It returns the verdict and the number of
// acknowledged keep registrations lost.
func (w *workload) finish(t *testing.T) (verdict string, lost int) {
	t.Helper()
	c := w.c
	leader := c.waitHealthy(60 * time.Second)
	for k := range modelKeys {
		w.do(t.Context(), w.clients, leader, catInput{Kind: opRead, ID: fmt.Sprintf("k%02d", k)})
	}
	views := c.waitConverged(60*time.Second, keepService)
	w.mu.Lock()
	for id := range w.keepAcked {
		if _, ok := views[keepService][id]; !ok {
			lost++
			t.Errorf("acknowledged registration %s/%s lost", keepService, id)
		}
	}
	history := append([]porcupine.Operation(nil), w.history...)
	w.mu.Unlock()

	res, info := porcupine.CheckOperationsVerbose(catalogModel, history, 2*time.Minute)
	switch res {
	case porcupine.Ok:
		verdict = "linearizable"
	case porcupine.Illegal:
		verdict = "NOT linearizable"
		path := filepath.Join(suite.artifacts, fmt.Sprintf("roster-faults-%s-%s.html", suite.run, unsafeName.ReplaceAllString(t.Name(), "-")))
		if err := porcupine.VisualizePath(catalogModel, info, path); err != nil {
			t.Logf("visualize: %v", err)
		}
		t.Errorf("history of %d operations is not linearizable: see %s", len(history), path)
	default:
		verdict = "unknown (checker timed out)"
		t.Errorf("linearizability check of %d operations timed out", len(history))
	}
	return verdict, lost
}

// report prints and records the fault's summary line.
func (w *workload) report(t *testing.T, fault string, mon *leaderMonitor, verdict string, lost int) {
	gap := w.maxWriteGap()
	w.mu.Lock()
	line := fmt.Sprintf("%-26s ops=%-5d ok=%-5d unknown=%-4d client_errors=%-4d no_leader=%-7s (longest %-7s) max_write_gap=%-7s lost=%d  %s",
		fault, w.ops, w.okOps, w.unknownOps, w.clientErrors,
		mon.total().Round(10*time.Millisecond), mon.longest().Round(10*time.Millisecond),
		gap.Round(10*time.Millisecond), lost, verdict)
	samples := make([]string, 0, len(w.errSamples))
	for k, v := range w.errSamples {
		samples = append(samples, fmt.Sprintf("%5d × %s", v, k))
	}
	w.mu.Unlock()
	sort.Strings(samples)
	for _, s := range samples {
		t.Logf("client error: %s", s)
	}
	t.Log(line)
	addSummary(line)
	if os.Getenv("ROSTER_FAULTS_QUIET") == "" {
		fmt.Println("FAULT " + line)
	}
}

// leaderMonitor polls /v1/cluster/leader on every live server and measures
// the time during which no majority of them agreed on a leader.
type leaderMonitor struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu         sync.Mutex
	leaderless time.Duration
	longestGap time.Duration
}

func startLeaderMonitor(c *cluster) *leaderMonitor {
	ctx, cancel := context.WithCancel(context.Background())
	m := &leaderMonitor{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		last := time.Now()
		var gap time.Duration
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			live := c.live()
			sctx, scancel := context.WithTimeout(ctx, 300*time.Millisecond)
			_, err := c.leaderOf(sctx, live, len(live)/2+1)
			scancel()
			now := time.Now()
			if ctx.Err() != nil {
				return
			}
			m.mu.Lock()
			if err != nil {
				gap += now.Sub(last)
				m.leaderless += now.Sub(last)
				m.longestGap = max(m.longestGap, gap)
			} else {
				gap = 0
			}
			m.mu.Unlock()
			last = now
		}
	}()
	return m
}

func (m *leaderMonitor) stop() {
	m.cancel()
	<-m.done
}

func (m *leaderMonitor) total() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.leaderless
}

func (m *leaderMonitor) longest() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.longestGap
}
