package registry

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/rosterhq/roster/api"
)

// CommandVersion is the command encoding this build writes and the newest it
// reads. An entry is [version][type][payload]; integers are varints and
// strings are length-prefixed, so a registration encodes in well under a
// microsecond.
const CommandVersion = 1

// The command types of version 1. Values are part of the log format: never
// renumber them.
const (
	cmdRegister   byte = 1
	cmdDeregister byte = 2
	cmdStatus     byte = 3
	cmdReap       byte = 4
	cmdBatch      byte = 5
)

// command is a decoded log entry.
type command struct {
	typ     byte
	now     int64
	inst    Instance       // cmdRegister
	service string         // cmdDeregister
	id      string         // cmdDeregister
	updates []StatusUpdate // cmdStatus
	ids     []string       // cmdReap
	sub     []command      // cmdBatch
	token   Token          // cmdACLSet, cmdACLBootstrap
	// resetIndex is the bootstrap index an operator reset allows to redo
	// (cmdACLBootstrap).
	resetIndex uint64
	enable     bool   // cmdMaintenance
	reason     string // cmdMaintenance
}

// Command encoders. Each returns the bytes to replicate. `now` is the
// leader's wall clock in unix nanoseconds, carried so Apply stays
// deterministic.

// EncodeRegister encodes a registration (register or replace). The instance
// should have passed Validate; Apply validates again and refuses it
// otherwise. Indexes and CriticalSince are not encoded: Apply sets them.
func EncodeRegister(inst Instance, now int64) []byte {
	b := make([]byte, 0, 64+registerSize(&inst))
	b = append(b, CommandVersion, cmdRegister)
	b = binary.AppendVarint(b, now)
	return appendRegistration(b, &inst)
}

// EncodeDeregister encodes a deregistration; it tombstones the id. An empty
// service matches whichever service holds the id (the Consul API
// deregisters by id alone).
func EncodeDeregister(service, id string, now int64) []byte {
	b := make([]byte, 0, 16+len(service)+len(id))
	b = append(b, CommandVersion, cmdDeregister)
	b = binary.AppendVarint(b, now)
	b = appendString(b, service)
	return appendString(b, id)
}

// EncodeStatus encodes a batch of status updates (heartbeat status changes,
// lease expiries). An empty Status means passing.
func EncodeStatus(updates []StatusUpdate, now int64) []byte {
	n := 16
	for i := range updates {
		n += 8 + len(updates[i].ID) + len(updates[i].Status) + len(updates[i].Output)
	}
	b := make([]byte, 0, n)
	b = append(b, CommandVersion, cmdStatus)
	b = binary.AppendVarint(b, now)
	b = binary.AppendUvarint(b, uint64(len(updates)))
	for i := range updates {
		u := &updates[i]
		b = appendString(b, u.ID)
		b = appendString(b, string(u.Status))
		b = appendString(b, u.Output)
		b = appendBool(b, u.KeepOutput)
	}
	return b
}

// EncodeReap encodes the removal of instances whose deregister_after passed
// (not tombstoned: their owners may register again). Apply removes only the
// ids that are still critical.
func EncodeReap(ids []string, now int64) []byte {
	n := 16
	for _, id := range ids {
		n += 2 + len(id)
	}
	b := make([]byte, 0, n)
	b = append(b, CommandVersion, cmdReap)
	b = binary.AppendVarint(b, now)
	return appendStrings(b, ids)
}

// EncodeBatch encodes several commands into one log entry (registrations
// coalesced by the leader); Result.Errs holds each one's error. A batch
// inside a batch is refused by Apply.
func EncodeBatch(cmds [][]byte) []byte {
	n := 8
	for _, c := range cmds {
		n += 4 + len(c)
	}
	b := make([]byte, 0, n)
	b = append(b, CommandVersion, cmdBatch)
	b = binary.AppendUvarint(b, uint64(len(cmds)))
	for _, c := range cmds {
		b = binary.AppendUvarint(b, uint64(len(c)))
		b = append(b, c...)
	}
	return b
}

// registerSize estimates the encoded size of a registration.
func registerSize(inst *Instance) int {
	n := len(inst.Service) + len(inst.ID) + len(inst.Address) + len(inst.Status) + len(inst.Output) + 40
	for _, t := range inst.Tags {
		n += len(t) + 2
	}
	for k, v := range inst.Meta {
		n += len(k) + len(v) + 4
	}
	return n
}

// appendRegistration writes the fields a client controls. Meta is written in
// key order so that the same registration always encodes to the same bytes.
func appendRegistration(b []byte, inst *Instance) []byte {
	b = appendString(b, inst.Service)
	b = appendString(b, inst.ID)
	b = appendString(b, inst.Address)
	b = binary.AppendVarint(b, int64(inst.Port))
	b = binary.AppendVarint(b, int64(inst.Weight))
	b = appendStrings(b, inst.Tags)
	b = binary.AppendUvarint(b, uint64(len(inst.Meta)))
	if len(inst.Meta) > 0 {
		keys := make([]string, 0, len(inst.Meta))
		for k := range inst.Meta {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			b = appendString(b, k)
			b = appendString(b, inst.Meta[k])
		}
	}
	b = appendString(b, string(inst.Status))
	b = appendString(b, inst.Output)
	b = binary.AppendVarint(b, int64(inst.TTL))
	return binary.AppendVarint(b, int64(inst.DeregisterAfter))
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendStrings(b []byte, ss []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(ss)))
	for _, s := range ss {
		b = appendString(b, s)
	}
	return b
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// subsPool holds the sub-command slices of decoded batches for reuse: a
// batch entry's commands (about 400 bytes each, an instance among them) live
// only while Apply runs, and allocating them was a tenth of what a follower
// allocated per registration it applied.
var subsPool sync.Pool

// takeSubs is an empty slice for n sub-commands, from subsPool if it has one.
func takeSubs(n int) []command {
	if p, ok := subsPool.Get().(*[]command); ok && cap(*p) >= n {
		return (*p)[:0]
	}
	return make([]command, 0, max(n, 32))
}

// releaseSubs returns a batch's sub-commands to subsPool, zeroed so that the
// pool keeps nothing they point to alive. Nothing may use them after.
func releaseSubs(subs []command) {
	if cap(subs) == 0 || cap(subs) > maxPooledSubs {
		return
	}
	subs = subs[:cap(subs)]
	clear(subs)
	subs = subs[:0]
	subsPool.Put(&subs)
}

// maxPooledSubs bounds the slices kept: the largest batch the leader writes
// (256 commands) and some.
const maxPooledSubs = 512

// decodeCommand decodes one log entry. Errors wrap ErrUnknownVersion (a
// version or type this build does not know, anywhere in a batch) or
// ErrCorrupt (a truncated or malformed payload).
func decodeCommand(data []byte, nested bool) (command, error) {
	if len(data) < 2 {
		return command{}, fmt.Errorf("command of %d bytes: %w", len(data), ErrCorrupt)
	}
	if data[0] != CommandVersion {
		return command{}, fmt.Errorf("command version %d (this server knows %d): %w", data[0], CommandVersion, ErrUnknownVersion)
	}
	cmd := command{typ: data[1]}
	d := decoder{b: data[2:]}
	switch cmd.typ {
	case cmdRegister:
		cmd.now = d.varint()
		d.registration(&cmd.inst)
	case cmdDeregister:
		cmd.now = d.varint()
		cmd.service = d.str()
		cmd.id = d.str()
	case cmdStatus:
		cmd.now = d.varint()
		n := d.count(4)
		cmd.updates = make([]StatusUpdate, n)
		for i := range cmd.updates {
			u := &cmd.updates[i]
			u.ID = d.str()
			u.Status = status(d.bytes())
			u.Output = d.str()
			u.KeepOutput = d.bool()
		}
	case cmdReap:
		cmd.now = d.varint()
		cmd.ids = d.strs()
	case cmdACLSet:
		d.token(&cmd.token)
	case cmdACLBootstrap:
		cmd.resetIndex = d.uvarint()
		d.token(&cmd.token)
	case cmdACLDelete:
		cmd.id = d.str()
	case cmdMaintenance:
		cmd.now = d.varint()
		d.maintenance(&cmd)
	case cmdBatch:
		if nested {
			return command{}, fmt.Errorf("batch inside a batch: %w", ErrCorrupt)
		}
		n := d.count(3)
		cmd.sub = takeSubs(n)
		for range n {
			raw := d.bytes()
			if d.err != nil {
				break
			}
			sub, err := decodeCommand(raw, true)
			if err != nil {
				return command{}, fmt.Errorf("batch entry %d: %w", len(cmd.sub), err)
			}
			cmd.sub = append(cmd.sub, sub)
		}
	default:
		return command{}, fmt.Errorf("command type %d (version %d): %w", cmd.typ, data[0], ErrUnknownVersion)
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%d trailing bytes", len(d.b))
	}
	if d.err != nil {
		return command{}, fmt.Errorf("command type %d: %v: %w", cmd.typ, d.err, ErrCorrupt)
	}
	return cmd, nil
}

// decoder reads the varint-and-string encoding; the first error sticks and
// later reads return zero values.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("truncated or malformed %s", what)
	}
	d.b = nil
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("integer")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("integer")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// int reads a signed varint that must fit an int32 (ports and weights).
func (d *decoder) int() int {
	v := d.varint()
	if v < math.MinInt32 || v > math.MaxInt32 {
		d.fail("small integer")
		return 0
	}
	return int(v)
}

// count reads a length that is plausible for the remaining bytes, given the
// smallest encoding of one element, so a corrupt length never allocates
// much.
func (d *decoder) count(minSize int) int {
	n := d.uvarint()
	if n > uint64(len(d.b)/minSize) {
		d.fail("count")
		return 0
	}
	return int(n)
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail("string")
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

// str copies, so decoded state never aliases the log entry's buffer.
func (d *decoder) str() string { return string(d.bytes()) }

func (d *decoder) strs() []string {
	n := d.count(1)
	if n == 0 {
		return nil
	}
	ss := make([]string, n)
	for i := range ss {
		ss[i] = d.str()
	}
	return ss
}

func (d *decoder) bool() bool {
	if len(d.b) == 0 {
		d.fail("bool")
		return false
	}
	v := d.b[0]
	d.b = d.b[1:]
	if v > 1 {
		d.fail("bool")
	}
	return v == 1
}

func (d *decoder) registration(inst *Instance) {
	inst.Service = d.str()
	inst.ID = d.str()
	inst.Address = d.str()
	inst.Port = d.int()
	inst.Weight = d.int()
	inst.Tags = d.strs()
	if n := d.count(2); n > 0 {
		inst.Meta = make(map[string]string, n)
		for range n {
			k := d.str()
			inst.Meta[k] = d.str()
		}
	}
	inst.Status = status(d.bytes())
	inst.Output = d.str()
	inst.TTL = time.Duration(d.varint())
	inst.DeregisterAfter = time.Duration(d.varint())
}

// status returns the shared constant for a known status, so that 100k
// decoded instances do not hold 100k copies of "passing".
func status(b []byte) api.Status {
	switch string(b) {
	case "":
		return ""
	case string(api.StatusPassing):
		return api.StatusPassing
	case string(api.StatusWarning):
		return api.StatusWarning
	case string(api.StatusCritical):
		return api.StatusCritical
	}
	return api.Status(b)
}
