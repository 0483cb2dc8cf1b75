package registry

import (
	"encoding/binary"
	"errors"
)

// ErrMaintenanceUnsupported answers a maintenance write while a server of
// the Raft configuration runs a build without the maintenance command (it
// would stop applying at the first one: design.md, "Upgrades"); 409.
var ErrMaintenanceUnsupported = errors.New("maintenance: not every server supports the maintenance command yet (upgrade every server first)")

// Maintenance mode: an operator takes an instance out of discovery without
// deregistering it. The catalog keeps the reason on the instance; Health
// reports it critical while the reason is set, whatever its heartbeats
// say, and heartbeats keep renewing its lease (its Status is untouched, so
// an unchanged heartbeat still writes nothing).

// cmdMaintenance sets or clears an instance's maintenance reason (version
// 1 of the command encoding). Never renumber. The leader writes it only once
// every server gossips that it applies it (design.md, "Upgrades").
const cmdMaintenance byte = 9

// DefaultMaintenanceReason is the reason stored when maintenance is
// enabled without one (Consul's default).
const DefaultMaintenanceReason = "maintenance mode"

// MaintenanceReason is the reason the catalog stores when maintenance is
// enabled with reason: cut and cleaned like a health output, and
// DefaultMaintenanceReason when empty.
func MaintenanceReason(reason string) string {
	if r := CleanOutput(reason); r != "" {
		return r
	}
	return DefaultMaintenanceReason
}

// EncodeMaintenance encodes turning maintenance on (enable, with reason) or
// off for the instance id. An empty service matches whichever service holds
// the id (the Consul API names instances by id alone); a service that does
// not hold it gives ErrNotFound, as does an unknown id.
func EncodeMaintenance(service, id string, enable bool, reason string, now int64) []byte {
	b := make([]byte, 0, 20+len(service)+len(id)+len(reason))
	b = append(b, CommandVersion, cmdMaintenance)
	b = binary.AppendVarint(b, now)
	b = appendString(b, service)
	b = appendString(b, id)
	b = appendBool(b, enable)
	return appendString(b, reason)
}

// maintenance decodes cmdMaintenance's payload after the time.
func (d *decoder) maintenance(cmd *command) {
	cmd.service = d.str()
	cmd.id = d.str()
	cmd.enable = d.bool()
	cmd.reason = d.str()
}

// setMaintenance applies cmdMaintenance. Setting the value an instance
// already has changes nothing and moves no ModifyIndex.
func (c *Catalog) setMaintenance(index uint64, cmd *command, res *Result) {
	service := lower(cmd.service)
	svc, ok := c.byID[cmd.id]
	if !ok || service != "" && svc != service {
		res.Err = ErrNotFound
		return
	}
	old, _ := c.get(svc, cmd.id)
	next := old
	next.Maintenance = ""
	if cmd.enable {
		next.Maintenance = MaintenanceReason(cmd.reason)
	}
	res.Instance = old
	if next.Maintenance == old.Maintenance {
		return
	}
	next.ModifyIndex = index
	c.put(&old, next)
	res.Instance = next
	res.Changed = append(res.Changed, Change{Kind: ChangeUpsert, Instance: next})
}
