package registry

import (
	"time"

	"github.com/rosterhq/roster/api"
)

// Instance is one registered instance as the catalog holds it. Instances
// handed out by the catalog share their Tags and Meta with the catalog's
// state: treat them as read-only.
type Instance struct {
	Service         string
	ID              string
	Address         string
	Port            int
	Tags            []string
	Meta            map[string]string
	Weight          int
	Status          api.Status
	Output          string
	TTL             time.Duration // 0: no lease
	DeregisterAfter time.Duration // 0: never removed automatically
	// CriticalSince is the leader's wall clock (unix nanoseconds) when the
	// instance turned critical; 0 while it is not critical.
	CriticalSince int64
	CreateIndex   uint64
	ModifyIndex   uint64
	// Maintenance is the reason an operator put the instance in
	// maintenance; empty when it is not. It survives re-registrations and
	// heartbeats: only a maintenance command sets or clears it.
	Maintenance string
}

// Health is the instance's effective status, the one discovery uses:
// critical while it is in maintenance, else the status its registration
// and heartbeats set (Status, which the lease table keeps acting on).
func (i *Instance) Health() api.Status {
	if i.Maintenance != "" {
		return api.StatusCritical
	}
	return i.Status
}

// ToAPI converts an instance to its wire form. Nil tags and meta become
// empty ones (so JSON shows [] and {}), a zero TTL or DeregisterAfter
// becomes "", and the status shown is the effective one (Health).
func (i Instance) ToAPI() api.Instance {
	tags := i.Tags
	if tags == nil {
		tags = []string{}
	}
	meta := i.Meta
	if meta == nil {
		meta = map[string]string{}
	}
	return api.Instance{
		Service:         i.Service,
		ID:              i.ID,
		Address:         i.Address,
		Port:            i.Port,
		Tags:            tags,
		Meta:            meta,
		Weight:          i.Weight,
		Status:          i.Health(),
		Output:          i.Output,
		TTL:             durationString(i.TTL),
		DeregisterAfter: durationString(i.DeregisterAfter),
		CreateIndex:     i.CreateIndex,
		ModifyIndex:     i.ModifyIndex,
		Maintenance:     i.Maintenance,
	}
}

func durationString(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

// sameData reports whether two instances hold the same registration and
// health data, ignoring the indexes. Nil and empty tags or meta are equal.
func sameData(a, b *Instance) bool {
	if a.Service != b.Service || a.ID != b.ID || a.Address != b.Address ||
		a.Port != b.Port || a.Weight != b.Weight || a.Status != b.Status ||
		a.Output != b.Output || a.TTL != b.TTL ||
		a.DeregisterAfter != b.DeregisterAfter || a.CriticalSince != b.CriticalSince ||
		a.Maintenance != b.Maintenance {
		return false
	}
	if len(a.Tags) != len(b.Tags) || len(a.Meta) != len(b.Meta) {
		return false
	}
	for k, t := range a.Tags {
		if b.Tags[k] != t {
			return false
		}
	}
	return sameMeta(a.Meta, b.Meta)
}

// sameMeta reports whether two meta maps of the same length hold the same
// keys and values.
func sameMeta(a, b map[string]string) bool {
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// hasTag reports whether the instance carries tag (exact match).
func (i *Instance) hasTag(tag string) bool {
	for _, t := range i.Tags {
		if t == tag {
			return true
		}
	}
	return false
}
