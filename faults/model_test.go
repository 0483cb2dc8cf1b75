//go:build faults

package faults

import (
	"fmt"
	"sort"

	"github.com/anishathalye/porcupine"
)

// The model is the catalog seen as a map from instance id to address: what
// a client observes through register, deregister, heartbeat and a
// ?consistent read of one instance.

type opKind uint8

const (
	opRegister opKind = iota
	opDeregister
	opRead
	opHeartbeat
)

func (k opKind) String() string {
	return [...]string{"register", "deregister", "read", "heartbeat"}[k]
}

// catInput is an operation's input.
type catInput struct {
	Kind opKind
	ID   string
	Addr string // register only
}

// catOutput is what the client saw. Unknown marks a write whose outcome the
// client could not learn (timeout, connection error, 5xx): it may or may not
// have taken effect, so it is recorded with a return time of +infinity.
type catOutput struct {
	Present bool   // read and heartbeat: the instance exists
	Addr    string // read: its address
	Unknown bool
}

// catalogModel checks a history one instance id at a time; the state is the
// instance's address, "" when absent.
var catalogModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byID := map[string][]porcupine.Operation{}
		for _, op := range history {
			id := op.Input.(catInput).ID
			byID[id] = append(byID[id], op)
		}
		ids := make([]string, 0, len(byID))
		for id := range byID {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		out := make([][]porcupine.Operation, 0, len(ids))
		for _, id := range ids {
			out = append(out, byID[id])
		}
		return out
	},
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		addr := state.(string)
		in, out := input.(catInput), output.(catOutput)
		switch in.Kind {
		case opRegister:
			return true, in.Addr
		case opDeregister:
			return true, ""
		case opRead:
			if out.Present != (addr != "") {
				return false, addr
			}
			return !out.Present || out.Addr == addr, addr
		case opHeartbeat:
			return out.Present == (addr != ""), addr
		}
		return false, addr
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(catInput), output.(catOutput)
		res := "absent"
		switch {
		case out.Unknown:
			res = "unknown"
		case in.Kind == opRegister || in.Kind == opDeregister:
			res = "ok"
		case out.Present && in.Kind == opRead:
			res = out.Addr
		case out.Present:
			res = "present"
		}
		if in.Kind == opRegister {
			return fmt.Sprintf("register(%s, %s) -> %s", in.ID, in.Addr, res)
		}
		return fmt.Sprintf("%s(%s) -> %s", in.Kind, in.ID, res)
	},
	DescribeState: func(state any) string {
		if state.(string) == "" {
			return "absent"
		}
		return state.(string)
	},
}
