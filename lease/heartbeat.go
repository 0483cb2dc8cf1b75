package lease

import (
	"fmt"
	"strings"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/registry"
)

// Renewals is what one batch of heartbeats decided: the status writes to
// replicate (as one entry; none when nothing changed) and one error per
// heartbeat, nil for a renewal.
type Renewals struct {
	Updates []registry.StatusUpdate
	Errs    []error
}

// CheckHeartbeat refuses a heartbeat that cannot be applied whatever the
// catalog holds: an id is required and the status, when given, is
// passing, warning or critical. The error is a *registry.ValidationError
// naming the field. Front ends call it while decoding (a follower checks
// before gathering heartbeats into a batch); Heartbeats calls it again.
func CheckHeartbeat(hb api.BatchHeartbeat) error {
	if hb.ID == "" {
		return &registry.ValidationError{Field: "id", Reason: "is required"}
	}
	return registry.ValidateStatus("status", hb.Status)
}

// Heartbeats is the heartbeat rule (design.md, "Writes" and "Leases"), the
// one place it is decided: heartbeats in, the status updates to write and
// one error per heartbeat out. The caller (the replication layer, which has
// confirmed it leads) writes Updates and answers Errs; it writes nothing
// else. Given the catalog, the table and its clock, the result is
// deterministic.
//
//   - Before Promote the whole call is store.ErrNotArmed (after Demote
//     store.ErrNotLeader); a heartbeat that fails CheckHeartbeat refuses
//     the whole call (a *registry.ValidationError) and renews nothing.
//   - A batch naming one instance more than once is applied as if in
//     order: the last mention wins and every mention answers as it does.
//   - refuse (nil: allow all) may refuse a heartbeat by its lowercased
//     service (ACLs); that error is the heartbeat's own, the rest go on.
//   - An id the catalog does not hold under that service is
//     registry.ErrGone when deregistered within registry.TombstonePeriod,
//     else registry.ErrNotFound (never registered, or expired and reaped).
//   - A renewal extends the lease to now + TTL. A missing status means
//     passing. An unchanged status writes nothing; a status change is
//     written at once; an output change alone at most once per
//     registry.OutputWriteInterval.
func (l *Lessor) Heartbeats(cat *registry.Catalog, hbs []api.BatchHeartbeat, refuse func(service string) error) (Renewals, error) {
	for i := range hbs {
		if err := CheckHeartbeat(hbs[i]); err != nil {
			return Renewals{}, fmt.Errorf("heartbeat %s/%s: %w", hbs[i].Service, hbs[i].ID, err)
		}
	}
	l.mu.Lock()
	err := l.armedErr()
	l.mu.Unlock()
	if err != nil {
		return Renewals{}, err
	}
	nowT := l.cfg.Now()
	tombstoneSince := nowT.UnixNano() - int64(registry.TombstonePeriod)
	now := l.tick(nowT)

	// Read the catalog first: never while holding l.mu (Reset takes the
	// locks the other way).
	res := Renewals{Errs: make([]error, len(hbs))}
	last := lastMentions(hbs)
	insts := make([]registry.Instance, len(hbs))
	for i := range hbs {
		if last != nil && last[i] != i {
			continue
		}
		svc := strings.ToLower(hbs[i].Service)
		if refuse != nil {
			if err := refuse(svc); err != nil {
				res.Errs[i] = err
				continue
			}
		}
		in, ok := cat.Instance(hbs[i].ID)
		if !ok || in.Service != svc {
			res.Errs[i] = registry.ErrNotFound
			if cat.Tombstoned(hbs[i].ID, tombstoneSince) {
				res.Errs[i] = registry.ErrGone
			}
			continue
		}
		insts[i] = in
	}

	l.mu.Lock()
	if err := l.armedErr(); err != nil { // demoted meanwhile
		l.mu.Unlock()
		return Renewals{}, err
	}
	for i, hb := range hbs {
		if res.Errs[i] != nil || last != nil && last[i] != i {
			continue
		}
		status := hb.Status
		if status == "" {
			status = api.StatusPassing
		}
		if l.renewLocked(&insts[i], status, registry.CleanOutput(hb.Output), now) {
			res.Updates = append(res.Updates, registry.StatusUpdate{ID: hb.ID, Status: status, Output: hb.Output})
		}
	}
	l.mu.Unlock()
	for i := range last {
		res.Errs[i] = res.Errs[last[i]]
	}
	return res, nil
}

// renewLocked renews the registered instance in (as the catalog holds it)
// and reports whether the renewal must be written. Called with l.mu held.
func (l *Lessor) renewLocked(in *registry.Instance, status api.Status, output string, now tick) bool {
	if le := l.leases[in.ID]; le != nil {
		if le.ttl > 0 && !le.critical() {
			l.armTTL(le, now+tick(le.ttl))
			l.renewed(le, now)
		}
		return decideWrite(le.status.api(), le.output, status, output, &le.outputAt, now)
	}
	at := l.outputs[in.ID]
	write := decideWrite(in.Status, in.Output, status, output, &at, now)
	if at != 0 {
		l.outputs[in.ID] = at
	}
	return write
}

// lastMentions maps each heartbeat of a batch to the position of the last
// one naming the same instance, or is nil when no instance is named twice.
func lastMentions(hbs []api.BatchHeartbeat) []int {
	if len(hbs) < 2 {
		return nil
	}
	type key struct{ service, id string }
	at := make(map[key]int, len(hbs))
	for i, hb := range hbs {
		at[key{strings.ToLower(hb.Service), hb.ID}] = i
	}
	if len(at) == len(hbs) {
		return nil
	}
	last := make([]int, len(hbs))
	for i, hb := range hbs {
		last[i] = at[key{strings.ToLower(hb.Service), hb.ID}]
	}
	return last
}
