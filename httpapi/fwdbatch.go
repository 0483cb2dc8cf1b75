package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/store"
)

// Batched forwarding of writes (issue #18). A follower used to forward each
// write as its own HTTP request; under load the leader then parsed and
// answered as many requests again as its own clients sent. Now the writes a
// follower forwards while earlier ones are on their way to the leader are
// sent together as one PUT /v1/cluster/forward, over the same pooled
// keep-alive connections. The leader runs each write through its own router
// exactly as if the client had sent it there (the client's token, body,
// limits and validation), concurrently, so the store's batcher coalesces
// them into few Raft entries, and streams back each write's whole answer as
// soon as it has it. The follower then answers each client as before, once
// its own state has applied that write's index.

// ForwardBatchPath is the internal route a follower sends its batches of
// forwarded writes to; only the leader takes it, only from a server.
const ForwardBatchPath = "/v1/cluster/forward"

const (
	// DefaultForwardBatches is how many batches of forwarded writes a
	// follower may have on their way to the leader at once (sent, and not
	// yet taken: the leader answers the headers once it has read a batch).
	// A write finding fewer goes at once (never waiting to gather more);
	// past that, writes queue and go together in the next batch.
	DefaultForwardBatches = 2
	// maxForwardBatch caps the writes of one batch.
	maxForwardBatch = 256
	// ndjsonCT is the batch answer's type: one JSON object per line.
	ndjsonCT = "application/x-ndjson"
)

// fwdItem is one forwarded write in a batch: the client's request as the
// follower received it (end-to-end headers only, with the client's token)
// and the client's address, which the leader counts rate limits against.
type fwdItem struct {
	Method string      `json:"method"`
	URI    string      `json:"uri"`
	Header http.Header `json:"header,omitempty"`
	Client string      `json:"client"`
	Body   []byte      `json:"body,omitempty"`
}

// fwdBatch is the body of PUT /v1/cluster/forward.
type fwdBatch struct {
	Writes []fwdItem `json:"writes"`
}

// fwdAnswer is one line of the batch answer: the whole answer the leader
// gave to write I of the batch, and Term, the term of the leader's log
// entry at the answer's index (X-Roster-Index), which lets the follower
// apply that entry without waiting for the leader's next AppendEntries
// (Store.WaitLeaderApplied).
type fwdAnswer struct {
	I      int         `json:"i"`
	Status int         `json:"status"`
	Header http.Header `json:"header,omitempty"`
	Body   []byte      `json:"body,omitempty"`
	Term   uint64      `json:"term,omitempty"`
}

// fwdWaiter is a forwarded write waiting for its answer.
type fwdWaiter struct {
	ctx  context.Context
	item fwdItem
	size int
	done chan fwdResult // buffered: the sender never blocks on a departed waiter
}

// fwdResult is a write's answer from the leader, or why there is none.
type fwdResult struct {
	answer fwdAnswer
	err    error
}

// writeBatcher sends the writes a follower forwards. A write that finds
// fewer than max batches on their way to the leader starts one at once;
// others queue, and each sender, once the leader has taken its batch (the
// answer's headers are back), takes what queued meanwhile. A batch's
// answers are read apart, so writes queue at the follower for about a
// round trip to the leader, not for a whole Raft round: the leader's own
// batcher coalesces the batches into log entries.
type writeBatcher struct {
	h        *Handler
	max      int
	maxBytes int

	mu      sync.Mutex
	queue   []*fwdWaiter
	senders int
	closed  bool
	wg      sync.WaitGroup
}

func newWriteBatcher(h *Handler) *writeBatcher {
	return &writeBatcher{h: h, max: h.cfg.ForwardBatches, maxBytes: int(forwardBatchBytes(h.cfg.MaxBodyBytes))}
}

// forwardBatchBytes caps the client bodies, paths and headers of one batch:
// a write is at most maxBody, so a batch always takes at least one.
func forwardBatchBytes(maxBody int64) int64 { return 4 * maxBody }

// forwardBatchLimit caps the body of PUT /v1/cluster/forward: the batch's
// bytes in base64 plus the JSON around each write.
func forwardBatchLimit(maxBody int64) int64 {
	return forwardBatchBytes(maxBody)*2 + maxForwardBatch*4096
}

// submit queues a write and waits for its answer or for ctx to end.
func (b *writeBatcher) submit(ctx context.Context, item fwdItem) fwdResult {
	size := len(item.Body) + len(item.URI)
	for k, vv := range item.Header {
		for _, v := range vv {
			size += len(k) + len(v)
		}
	}
	wt := &fwdWaiter{ctx: ctx, item: item, size: size, done: make(chan fwdResult, 1)}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return fwdResult{err: errShuttingDown}
	}
	b.queue = append(b.queue, wt)
	if b.senders < b.max {
		b.senders++
		b.wg.Add(1)
		go b.run()
	}
	b.mu.Unlock()
	select {
	case res := <-wt.done:
		return res
	case <-ctx.Done():
		return fwdResult{err: ctx.Err()}
	}
}

// run sends batches until the queue is empty.
func (b *writeBatcher) run() {
	defer b.wg.Done()
	for {
		b.mu.Lock()
		batch := b.takeLocked()
		if len(batch) == 0 {
			b.senders--
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
		if read := b.h.sendWrites(batch); read != nil {
			b.wg.Add(1)
			go func() {
				defer b.wg.Done()
				read()
			}()
		}
	}
}

// takeLocked takes the next batch off the queue: up to maxForwardBatch
// writes and maxBytes (at least one write), skipping writes whose client
// is gone. b.mu is held.
func (b *writeBatcher) takeLocked() []*fwdWaiter {
	n, size := 0, 0
	var batch []*fwdWaiter
	for _, wt := range b.queue {
		if len(batch) == maxForwardBatch || len(batch) > 0 && size+wt.size > b.maxBytes {
			break
		}
		n++
		if wt.ctx.Err() != nil {
			continue
		}
		size += wt.size
		batch = append(batch, wt)
	}
	rest := copy(b.queue, b.queue[n:])
	clear(b.queue[rest:])
	b.queue = b.queue[:rest]
	return batch
}

// close fails the writes still queued with 503 and waits for the batches
// in flight (their requests end with the handler's base context).
func (b *writeBatcher) close() {
	b.mu.Lock()
	b.closed = true
	pending := b.queue
	b.queue = nil
	b.mu.Unlock()
	for _, wt := range pending {
		wt.done <- fwdResult{err: errShuttingDown}
	}
	b.wg.Wait()
}

// forwardBatched forwards r, a write, to the leader in the next batch and
// answers it as forward does: the leader's answer, held until this server
// has applied the index it carries.
func (h *Handler) forwardBatched(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get(api.HeaderForwarded) != "" {
		h.writeError(w, errForwardedTwice)
		return
	}
	if l := h.store.Leader(); !l.Known || l.HTTPAddr == "" {
		h.writeError(w, store.ErrNoLeader)
		return
	}
	var body []byte
	if r.Body != nil && r.Body != http.NoBody {
		var err error
		if body, err = h.readBody(w, r); err != nil {
			h.writeError(w, err)
			return
		}
	}
	item := fwdItem{Method: r.Method, URI: r.URL.RequestURI(), Header: make(http.Header, len(r.Header)), Client: clientKey(r), Body: body}
	for k, vv := range r.Header {
		if !hopHeaders[k] && k != "Content-Length" && k != api.HeaderForwarded && k != headerClient {
			item.Header[k] = vv
		}
	}
	h.metrics.forwarded[forwardWrite].Inc()
	res := h.fwd.submit(r.Context(), item)
	if res.err != nil {
		h.writeError(w, res.err)
		return
	}
	a := res.answer
	if index, ok := answerIndex(a.Header); ok {
		if err := h.waitLeaderApplied(r.Context(), index, a.Term); err != nil {
			h.writeError(w, err)
			return
		}
	}
	if a.Status == http.StatusTooManyRequests {
		h.tarpit(r.Context()) // the leader did not (see tarpit)
	}
	copyHeaders(w.Header(), a.Header)
	h.setLeaderHeaders(w.Header())
	w.WriteHeader(a.Status)
	_, _ = w.Write(a.Body)
}

// answerIndex is the index an answer carries (X-Roster-Index), if any.
func answerIndex(hdr http.Header) (uint64, bool) {
	s := hdr.Get(api.HeaderIndex)
	if s == "" {
		return 0, false
	}
	index, err := strconv.ParseUint(s, 10, 64)
	return index, err == nil
}

// batchKey marks the context of a write run from a forwarded batch.
type batchKey struct{}

// inForwardBatch reports whether ctx is a write's from a forwarded batch.
func inForwardBatch(ctx context.Context) bool {
	return ctx.Value(batchKey{}) != nil
}

// sendWrites sends one batch to the leader and returns, once the leader has
// taken it, read: it delivers each write's answer as its line arrives
// (nil when every write has its answer already). Writes left without a
// line (the leader went away mid-batch) get 503: they may or may not have
// been applied, as with any write whose answer was lost, and a client
// retries them idempotently.
func (h *Handler) sendWrites(batch []*fwdWaiter) (read func()) {
	return h.sendWriteBatch(batch, true)
}

// sendWriteBatch is sendWrites, in the binary form if binaryOK and the leader
// has answered in it.
func (h *Handler) sendWriteBatch(batch []*fwdWaiter, binaryOK bool) (read func()) {
	delivered := 0
	deliver := func(i int, res fwdResult) {
		if i >= 0 && i < len(batch) && batch[i] != nil {
			batch[i].done <- res
			batch[i] = nil
			delivered++
		}
	}
	failRest := func(err error) {
		for i := range batch {
			deliver(i, fwdResult{err: err})
		}
	}
	leader := h.store.Leader()
	if !leader.Known || leader.HTTPAddr == "" {
		failRest(store.ErrNoLeader)
		return nil
	}
	req := fwdBatch{Writes: make([]fwdItem, len(batch))}
	for i, wt := range batch {
		req.Writes[i] = wt.item
	}
	// Binary to a leader that has answered in binary (fwdwire.go), JSON
	// to any other.
	ct := jsonCTHdr
	var body []byte
	binaryBatch := false
	if p := h.fwdBinary.Load(); binaryOK && p != nil && *p == leader.HTTPAddr {
		ct, body, binaryBatch = fwdBinaryCTHdr, encodeFwdBatch(req.Writes), true
	} else {
		var err error
		if body, err = json.Marshal(req); err != nil {
			failRest(fmt.Errorf("encode forwarded writes: %w", err))
			return nil
		}
	}
	ctx, cancel := context.WithTimeout(h.baseCtx, h.cfg.ForwardTimeout)
	out, err := http.NewRequestWithContext(ctx, http.MethodPut, h.scheme+"://"+leader.HTTPAddr+ForwardBatchPath, bytes.NewReader(body))
	if err != nil {
		cancel()
		failRest(fmt.Errorf("forward writes to leader %s: %w", leader.HTTPAddr, err))
		return nil
	}
	out.Header["Content-Type"] = ct
	out.Header["Accept"] = fwdAcceptHdr
	out.Header[api.HeaderForwarded] = forwardedHdrOnce
	h.metrics.forwarded[forwardWriteBatch].Inc()
	unanswered := func(err error) error {
		h.metrics.forwardErrors.Inc()
		h.log.Warn("forward writes to leader failed", "leader", leader.HTTPAddr, "writes", len(batch)-delivered, "err", err)
		return &apiError{status: http.StatusServiceUnavailable, code: codeNoLeader,
			msg: fmt.Sprintf("forward to leader %s: %v", leader.HTTPAddr, err)}
	}
	resp, err := h.client.Do(out)
	if err != nil {
		cancel()
		failRest(unanswered(err))
		return nil
	}
	if resp.StatusCode == http.StatusBadRequest && binaryBatch {
		// A leader of an earlier version at the address that answered in
		// binary before (a downgrade) refuses the whole binary batch as
		// malformed, having run none of it: send it again in JSON.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, h.cfg.MaxBodyBytes))
		resp.Body.Close()
		cancel()
		h.fwdBinary.Store(nil)
		h.log.Warn("the leader refused a binary batch of forwarded writes: sending them in JSON", "leader", leader.HTTPAddr)
		return h.sendWriteBatch(batch, false)
	}
	respCT := resp.Header.Get("Content-Type")
	binaryAnswers := strings.HasPrefix(respCT, fwdBinaryCT)
	if resp.StatusCode != http.StatusOK || !binaryAnswers && !strings.HasPrefix(respCT, ndjsonCT) {
		// The leader refused the whole batch (it is no longer the leader,
		// it is shutting down): each write gets that answer.
		defer cancel()
		defer resp.Body.Close()
		data, err := io.ReadAll(io.LimitReader(resp.Body, h.cfg.MaxBodyBytes))
		if err != nil {
			failRest(unanswered(err))
			return nil
		}
		hdr := resp.Header.Clone()
		hdr.Del("Content-Length")
		for i := range batch {
			deliver(i, fwdResult{answer: fwdAnswer{Status: resp.StatusCode, Header: hdr, Body: data}})
		}
		return nil
	}
	dec := json.NewDecoder(resp.Body)
	next := func() (a fwdAnswer, err error) {
		err = dec.Decode(&a)
		return a, err
	}
	if binaryAnswers {
		if p := h.fwdBinary.Load(); p == nil || *p != leader.HTTPAddr {
			h.fwdBinary.Store(&leader.HTTPAddr)
		}
		br := bufio.NewReader(resp.Body)
		limit := forwardBatchLimit(h.cfg.MaxBodyBytes)
		next = func() (fwdAnswer, error) { return readFwdAnswer(br, limit) }
	}
	return func() {
		defer cancel()
		defer resp.Body.Close()
		for delivered < len(batch) {
			a, err := next()
			if err != nil {
				if errors.Is(err, io.EOF) {
					err = io.ErrUnexpectedEOF
				}
				failRest(unanswered(fmt.Errorf("answer cut short: %w", err)))
				return
			}
			deliver(a.I, fwdResult{answer: a})
		}
	}
}

// SetRoot names the handler of the whole server when other front ends
// share it (consulapi's Mount calls it): the leader runs each write of a
// forwarded batch through root, so a Consul API write gets the Consul
// API's answer. Until it is called, batched writes go to h alone.
func (h *Handler) SetRoot(root http.Handler) {
	h.root.Store(&root)
}

// forwardedWrites answers PUT /v1/cluster/forward on the leader: it runs
// every write of the batch through the server's router as the request its
// client sent, concurrently, and streams each write's whole answer (one
// JSON line) as soon as it is ready. Only a server of the cluster may send
// it; each write is authorized with its own client's token.
func (h *Handler) forwardedWrites(w http.ResponseWriter, r *http.Request) {
	if !h.fromMember(r) {
		h.writeError(w, &apiError{status: http.StatusForbidden, code: codeDenied,
			msg: "only a server of this cluster forwards writes to " + ForwardBatchPath})
		return
	}
	if !h.store.IsLeader() {
		h.writeError(w, errForwardedTwice)
		return
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, forwardBatchLimit(h.cfg.MaxBodyBytes)))
	if err != nil {
		var mbe *http.MaxBytesError
		if !errors.As(err, &mbe) {
			err = &apiError{status: http.StatusRequestTimeout, code: codeInvalid, field: "body",
				msg: "the request body was not received in time: " + err.Error()}
		}
		h.writeError(w, err)
		return
	}
	var batch fwdBatch
	if strings.HasPrefix(r.Header.Get("Content-Type"), fwdBinaryCT) {
		batch.Writes, err = decodeFwdBatch(data)
	} else {
		err = json.Unmarshal(data, &batch)
	}
	if err != nil {
		h.writeError(w, invalidf("body", "malformed batch of forwarded writes: %v", err))
		return
	}
	if n := len(batch.Writes); n == 0 || n > maxForwardBatch {
		h.writeError(w, invalidf("writes", "a batch holds 1 to %d writes, not %d", maxForwardBatch, n))
		return
	}
	root := http.Handler(h)
	if p := h.root.Load(); p != nil {
		root = *p
	}
	// The writes run apart from this request's context (its values are the
	// batch route's), canceled with it.
	ctx, cancel := context.WithCancel(context.WithValue(h.baseCtx, batchKey{}, true))
	defer cancel()
	stop := context.AfterFunc(r.Context(), cancel)
	defer stop()

	answers := make(chan fwdAnswer, len(batch.Writes))
	for i := range batch.Writes {
		h.workers.run(func() { answers <- h.serveForwarded(ctx, root, r.RemoteAddr, i, &batch.Writes[i]) })
	}
	binaryOut := strings.Contains(r.Header.Get("Accept"), fwdBinaryCT)
	hdr := w.Header()
	hdr["Content-Type"] = []string{ndjsonCT}
	if binaryOut {
		hdr["Content-Type"] = fwdBinaryCTHdr
	}
	h.setReadHeaders(hdr, h.store.Catalog().Index())
	w.WriteHeader(http.StatusOK)
	// The headers go at once: they tell the follower the batch is taken,
	// and it sends the next.
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	var buf []byte
	encode := func(a *fwdAnswer) error {
		if !binaryOut {
			return enc.Encode(a)
		}
		buf = appendFwdAnswer(buf[:0], a)
		_, err := bw.Write(buf)
		return err
	}
	// The writes of one log entry are answered together, each by its own
	// handler as the entry wakes them: answers are sent answerGather after
	// the first unsent one, so that they go in one write, not one each.
	gather := time.NewTimer(answerGather)
	gather.Stop()
	defer gather.Stop()
	flush := func() {
		if bw.Flush() == nil {
			_ = rc.Flush()
		}
	}
	var unsent <-chan time.Time    // gather's channel while answers wait to be sent
	var lastIndex, lastTerm uint64 // most answers of a batch share an entry
	for left := len(batch.Writes); left > 0; {
		select {
		case <-unsent:
			flush()
			unsent = nil
		case a := <-answers:
			left--
			if index, ok := answerIndex(a.Header); ok {
				if index != lastIndex {
					lastIndex, lastTerm = index, h.store.EntryTerm(index)
				}
				a.Term = lastTerm
			}
			if err := encode(&a); err != nil {
				continue // the follower is gone: let the rest finish, unread
			}
			if unsent == nil {
				gather.Reset(answerGather)
				unsent = gather.C
			}
		}
	}
	flush()
}

// answerGather is the longest an answer of a forwarded batch waits for
// others before it is sent: a fraction of the Raft round it completes,
// and long enough for the handlers one log entry woke to answer.
const answerGather = 200 * time.Microsecond

// serveForwarded runs one forwarded write through root as the request its
// client sent to the follower, and records the whole answer.
func (h *Handler) serveForwarded(ctx context.Context, root http.Handler, remote string, i int, it *fwdItem) fwdAnswer {
	rec := &recorder{header: make(http.Header, 8)}
	path, _, _ := strings.Cut(it.URI, "?")
	if !strings.HasPrefix(it.URI, "/") || path == ForwardBatchPath || it.Method == http.MethodGet || it.Method == http.MethodHead {
		h.writeError(rec, invalidf(fmt.Sprintf("writes[%d]", i), "%s %s is not a write a follower forwards", it.Method, it.URI))
		return rec.answer(i)
	}
	req, err := http.NewRequestWithContext(ctx, it.Method, it.URI, bytes.NewReader(it.Body))
	if err != nil {
		h.writeError(rec, invalidf(fmt.Sprintf("writes[%d]", i), "forwarded write: %v", err))
		return rec.answer(i)
	}
	for k, vv := range it.Header {
		if !hopHeaders[k] {
			req.Header[k] = vv
		}
	}
	req.Header[api.HeaderForwarded] = forwardedHdrOnce
	req.Header[headerClient] = []string{it.Client}
	req.RemoteAddr = remote
	if len(it.Body) == 0 {
		req.Body = http.NoBody
	}
	root.ServeHTTP(rec, req)
	return rec.answer(i)
}

// recorder keeps the answer a handler writes for a forwarded write.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (rw *recorder) Header() http.Header { return rw.header }

func (rw *recorder) WriteHeader(status int) {
	if rw.status == 0 {
		rw.status = status
	}
}

func (rw *recorder) Write(p []byte) (int, error) {
	rw.WriteHeader(http.StatusOK)
	return rw.body.Write(p)
}

func (rw *recorder) answer(i int) fwdAnswer {
	rw.WriteHeader(http.StatusOK)
	return fwdAnswer{I: i, Status: rw.status, Header: rw.header, Body: rw.body.Bytes()}
}
