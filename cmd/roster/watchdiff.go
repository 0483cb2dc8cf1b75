package main

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/rosterhq/roster/api"
)

// instanceDiff describes the change from prev to next, one line per
// instance that was added (+), removed (-) or changed (~), ordered by id:
//
//   - web-3  10.0.0.3:8080  passing  tags v2
//   - web-1  10.0.0.1:8080
//     ~ web-2  status passing -> critical ("HTTP 503")
func instanceDiff(prev, next []api.Instance) []string {
	before := make(map[string]api.Instance, len(prev))
	for _, in := range prev {
		before[in.ID] = in
	}
	after := make(map[string]api.Instance, len(next))
	for _, in := range next {
		after[in.ID] = in
	}
	ids := slices.Collect(maps.Keys(before))
	for id := range after {
		if _, ok := before[id]; !ok {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	var out []string
	for _, id := range ids {
		old, had := before[id]
		cur, has := after[id]
		switch {
		case !had:
			line := fmt.Sprintf("+ %s  %s:%d  %s", id, cur.Address, cur.Port, cur.Status)
			if len(cur.Tags) > 0 {
				line += "  tags " + strings.Join(cur.Tags, ",")
			}
			if cur.Output != "" {
				line += fmt.Sprintf(" (%q)", cur.Output)
			}
			out = append(out, line)
		case !has:
			out = append(out, fmt.Sprintf("- %s  %s:%d", id, old.Address, old.Port))
		default:
			if changes := instanceChanges(old, cur); len(changes) > 0 {
				out = append(out, "~ "+id+"  "+strings.Join(changes, "; "))
			}
		}
	}
	return out
}

// instanceChanges names each field that differs between two versions of
// one instance.
func instanceChanges(old, cur api.Instance) []string {
	var c []string
	if old.Status != cur.Status {
		s := fmt.Sprintf("status %s -> %s", old.Status, cur.Status)
		if cur.Output != "" {
			s += fmt.Sprintf(" (%q)", cur.Output)
		}
		c = append(c, s)
	} else if old.Output != cur.Output {
		c = append(c, fmt.Sprintf("output %q -> %q", old.Output, cur.Output))
	}
	if old.Address != cur.Address || old.Port != cur.Port {
		c = append(c, fmt.Sprintf("address %s:%d -> %s:%d", old.Address, old.Port, cur.Address, cur.Port))
	}
	if !slices.Equal(old.Tags, cur.Tags) {
		c = append(c, fmt.Sprintf("tags %s -> %s", listOrNone(old.Tags), listOrNone(cur.Tags)))
	}
	if !maps.Equal(old.Meta, cur.Meta) {
		c = append(c, fmt.Sprintf("meta %s -> %s", metaString(old.Meta), metaString(cur.Meta)))
	}
	if old.Weight != cur.Weight {
		c = append(c, fmt.Sprintf("weight %d -> %d", old.Weight, cur.Weight))
	}
	if old.TTL != cur.TTL || old.DeregisterAfter != cur.DeregisterAfter {
		c = append(c, fmt.Sprintf("ttl %s/%s -> %s/%s", orDash(old.TTL), orDash(old.DeregisterAfter), orDash(cur.TTL), orDash(cur.DeregisterAfter)))
	}
	return c
}

func listOrNone(l []string) string {
	if len(l) == 0 {
		return "(none)"
	}
	return strings.Join(l, ",")
}

func metaString(m map[string]string) string {
	if len(m) == 0 {
		return "(none)"
	}
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, ",")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
