package httpapi

import (
	"bufio"
	"bytes"
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

// fwdDecoder reads the fields of the binary form, batch or answer
// stream; the first error sticks, and no string may be longer than limit.
type fwdDecoder struct {
	br    *bufio.Reader
	limit uint64
	err   error
}

func (d *fwdDecoder) fail(err error) {
	if err != nil && d.err == nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF // inside a write or an answer
		}
		d.err = err
	}
}

// more reports whether another write or answer follows (false at the
// end of the input, or after an error).
func (d *fwdDecoder) more() bool {
	if d.err != nil {
		return false
	}
	if _, err := d.br.Peek(1); err != nil {
		if err != io.EOF {
			d.fail(err)
		}
		return false
	}
	return true
}

func (d *fwdDecoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, err := binary.ReadUvarint(d.br)
	d.fail(err)
	return v
}

func (d *fwdDecoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil || n == 0 {
		return nil
	}
	if n > d.limit {
		d.err = fmt.Errorf("%w: a field of %d bytes", errFwdWire, n)
		return nil
	}
	p := make([]byte, n)
	_, err := io.ReadFull(d.br, p)
	d.fail(err)
	return p
}

func (d *fwdDecoder) string() string { return string(d.bytes()) }

func (d *fwdDecoder) header() http.Header {
	n := d.uvarint()
	if d.err != nil || n == 0 {
		return nil
	}
	if n > maxFwdHeaderValues {
		d.err = fmt.Errorf("%w: %d header values", errFwdWire, n)
		return nil
	}
	h := make(http.Header, n)
	for range n {
		k, v := d.string(), d.string()
		if d.err != nil {
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
	d := &fwdDecoder{br: bufio.NewReader(bytes.NewReader(data[len(fwdMagic):])), limit: uint64(len(data))}
	var items []fwdItem
	for d.more() {
		if len(items) == maxForwardBatch {
			return nil, fmt.Errorf("%w: more than %d writes", errFwdWire, maxForwardBatch)
		}
		items = append(items, fwdItem{Method: d.string(), URI: d.string(), Client: d.string(), Header: d.header(), Body: d.bytes()})
	}
	if d.err != nil {
		return nil, d.err
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
	d := &fwdDecoder{br: br, limit: uint64(limit)}
	if !d.more() {
		if d.err != nil {
			return fwdAnswer{}, d.err
		}
		return fwdAnswer{}, io.EOF
	}
	a := fwdAnswer{I: int(min(d.uvarint(), maxForwardBatch)), Status: int(min(d.uvarint(), 999)), Term: d.uvarint()}
	a.Header = d.header()
	a.Body = d.bytes()
	if d.err != nil {
		return fwdAnswer{}, d.err
	}
	return a, nil
}
