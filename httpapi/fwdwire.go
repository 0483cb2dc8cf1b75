package httpapi

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// The binary form of a batch of forwarded writes and of its answers. The
// JSON form (fwdBatch, one fwdAnswer per line) spent a tenth of the CPU of
// a write through a follower on reflection and base64 (issue #18), so
// servers speak this between themselves, and JSON stays for servers of
// an earlier version: a follower asks for binary answers (Accept) and
// sends its batches in binary only to a leader that has answered it in
// binary. Every field is a uvarint, a string a uvarint length then its
// bytes:
//
//	batch:  fwdMagic, then per write: method, uri, client, the header's
//	        number of values, (key, value) per value, body
//	answer: i, status, term, the header's number of values, (key, value)
//	        per value, body; one after another in the answer stream
const (
	fwdBinaryCT = "application/x-roster-forward"
	fwdMagic    = "RFW1"
	// maxFwdHeaderValues caps the header values of one write or answer.
	maxFwdHeaderValues = 256
)

var (
	fwdBinaryCTHdr = []string{fwdBinaryCT}
	fwdAcceptHdr   = []string{fwdBinaryCT + ", " + ndjsonCT}
)

var errFwdWire = errors.New("malformed binary batch of forwarded writes")

func appendFwdString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendFwdBytes(b, p []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(p)))
	return append(b, p...)
}

func appendFwdHeader(b []byte, h http.Header) []byte {
	n := 0
	for _, vv := range h {
		n += len(vv)
	}
	b = binary.AppendUvarint(b, uint64(n))
	for k, vv := range h {
		for _, v := range vv {
			b = appendFwdString(appendFwdString(b, k), v)
		}
	}
	return b
}

// encodeFwdBatch is the binary body of a batch.
func encodeFwdBatch(items []fwdItem) []byte {
	size := len(fwdMagic)
	for i := range items {
		size += 32 + len(items[i].Method) + len(items[i].URI) + len(items[i].Client) + len(items[i].Body)
		for k, vv := range items[i].Header {
			for _, v := range vv {
				size += 4 + len(k) + len(v)
			}
		}
	}
	b := make([]byte, 0, size)
	b = append(b, fwdMagic...)
	for i := range items {
		it := &items[i]
		b = appendFwdString(b, it.Method)
		b = appendFwdString(b, it.URI)
		b = appendFwdString(b, it.Client)
		b = appendFwdHeader(b, it.Header)
		b = appendFwdBytes(b, it.Body)
	}
	return b
}

// fwdReader reads the fields of the binary form from data.
type fwdReader struct {
	data []byte
	err  error
}

func (r *fwdReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.data)
	if n <= 0 {
		r.err = errFwdWire
		return 0
	}
	r.data = r.data[n:]
	return v
}

func (r *fwdReader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.data)) {
		r.err = errFwdWire
		return nil
	}
	p := r.data[:n:n]
	r.data = r.data[n:]
	return p
}

func (r *fwdReader) string() string { return string(r.bytes()) }

func (r *fwdReader) header() http.Header {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > maxFwdHeaderValues {
		r.err = fmt.Errorf("%w: %d header values", errFwdWire, n)
		return nil
	}
	if n == 0 {
		return nil
	}
	h := make(http.Header, n)
	for range n {
		k := r.string()
		v := r.string()
		if r.err != nil {
			return nil
		}
		h[k] = append(h[k], v)
	}
	return h
}

// decodeFwdBatch reads a binary batch of at most maxForwardBatch writes.
func decodeFwdBatch(data []byte) ([]fwdItem, error) {
	if len(data) < len(fwdMagic) || string(data[:len(fwdMagic)]) != fwdMagic {
		return nil, fmt.Errorf("%w: no %s header", errFwdWire, fwdMagic)
	}
	r := &fwdReader{data: data[len(fwdMagic):]}
	var items []fwdItem
	for len(r.data) > 0 && r.err == nil {
		if len(items) == maxForwardBatch {
			return nil, fmt.Errorf("%w: more than %d writes", errFwdWire, maxForwardBatch)
		}
		it := fwdItem{Method: r.string(), URI: r.string(), Client: r.string(), Header: r.header()}
		if body := r.bytes(); len(body) > 0 {
			it.Body = body
		}
		items = append(items, it)
	}
	if r.err != nil {
		return nil, r.err
	}
	return items, nil
}

// appendFwdAnswer appends one answer of the binary answer stream.
func appendFwdAnswer(b []byte, a *fwdAnswer) []byte {
	b = binary.AppendUvarint(b, uint64(a.I))
	b = binary.AppendUvarint(b, uint64(a.Status))
	b = binary.AppendUvarint(b, a.Term)
	b = appendFwdHeader(b, a.Header)
	return appendFwdBytes(b, a.Body)
}

// readFwdAnswer reads the next answer of a binary answer stream; io.EOF
// when it ended between answers. No field may exceed limit bytes.
func readFwdAnswer(br *bufio.Reader, limit int64) (fwdAnswer, error) {
	var a fwdAnswer
	uv := func() (uint64, error) { return binary.ReadUvarint(br) }
	str := func() ([]byte, error) {
		n, err := uv()
		if err != nil {
			return nil, err
		}
		if n > uint64(limit) {
			return nil, fmt.Errorf("%w: a field of %d bytes", errFwdWire, n)
		}
		p := make([]byte, n)
		_, err = io.ReadFull(br, p)
		return p, err
	}
	i, err := uv()
	if err != nil {
		return a, err // io.EOF: the stream ended between answers
	}
	fail := func(err error) (fwdAnswer, error) {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return fwdAnswer{}, err
	}
	status, err := uv()
	if err != nil {
		return fail(err)
	}
	term, err := uv()
	if err != nil {
		return fail(err)
	}
	n, err := uv()
	if err != nil {
		return fail(err)
	}
	if n > maxFwdHeaderValues {
		return fail(fmt.Errorf("%w: %d header values", errFwdWire, n))
	}
	a = fwdAnswer{I: int(min(i, uint64(maxForwardBatch))), Status: int(min(status, 999)), Term: term}
	if n > 0 {
		a.Header = make(http.Header, n)
	}
	for range n {
		k, err := str()
		if err != nil {
			return fail(err)
		}
		v, err := str()
		if err != nil {
			return fail(err)
		}
		a.Header[string(k)] = append(a.Header[string(k)], string(v))
	}
	if a.Body, err = str(); err != nil {
		return fail(err)
	}
	return a, nil
}
