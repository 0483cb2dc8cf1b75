package registry

import (
	"encoding/json"
	"slices"
	"sync"

	"github.com/rosterhq/roster/api"
)

// Filter selects instances by status for a listing.
type Filter uint8

// The status filters of a listing.
const (
	FilterHealthy  Filter = iota // passing and warning (the HTTP default)
	FilterPassing                // passing only (the DNS default)
	FilterWarning                // warning only
	FilterCritical               // critical only
	FilterAny                    // every instance
	numFilters
)

// Match reports whether an instance with status s passes the filter (pass
// Instance.Health, so an instance in maintenance counts as critical). An
// unknown filter matches everything, like FilterAny.
func (f Filter) Match(s api.Status) bool {
	switch f {
	case FilterHealthy:
		return s == api.StatusPassing || s == api.StatusWarning
	case FilterPassing:
		return s == api.StatusPassing
	case FilterWarning:
		return s == api.StatusWarning
	case FilterCritical:
		return s == api.StatusCritical
	default:
		return true
	}
}

// ServiceView is an immutable picture of one service at one index. Readers
// share it without locks; the catalog replaces it on every change.
type ServiceView struct {
	Name  string
	Index uint64
	// Instances sorted by id. Never modify.
	Instances []Instance

	summary api.ServiceSummary // counts and tags, for the service list
	enc     [numFilters]lazyJSON
}

// lazyJSON is an encoding built once, on first use.
type lazyJSON struct {
	once sync.Once
	b    []byte
}

func newServiceView(name string, index uint64, insts []Instance) *ServiceView {
	v := &ServiceView{Name: name, Index: index, Instances: insts}
	v.summary = summarize(name, insts)
	return v
}

// JSON returns the encoded api.InstanceList for the given status filter,
// built once per view on first use and shared after that: the bytes equal
// encoding/json.Marshal of the list and must not be modified. An unknown
// filter encodes every instance.
func (v *ServiceView) JSON(f Filter) []byte {
	if f >= numFilters {
		f = FilterAny
	}
	e := &v.enc[f]
	e.once.Do(func() {
		list := api.InstanceList{Service: v.Name, Index: v.Index, Instances: make([]api.Instance, 0, len(v.Instances))}
		for i := range v.Instances {
			if f.Match(v.Instances[i].Health()) {
				list.Instances = append(list.Instances, v.Instances[i].ToAPI())
			}
		}
		b, err := json.Marshal(list)
		if err != nil {
			// Strings and maps of strings always encode; reaching this is a bug.
			panic("registry: encoding an instance list: " + err.Error())
		}
		e.b = b
	})
	return e.b
}

// Select returns the instances matching the filter and, when tag is not
// empty, carrying that tag (case-sensitive exact match), sorted by id. With
// FilterAny and no tag it returns the view's own slice: never modify it.
func (v *ServiceView) Select(f Filter, tag string) []Instance {
	if f >= FilterAny && tag == "" {
		return v.Instances
	}
	var out []Instance
	for i := range v.Instances {
		in := &v.Instances[i]
		if f.Match(in.Health()) && (tag == "" || in.hasTag(tag)) {
			out = append(out, *in)
		}
	}
	return out
}

// Counts returns the service's instance counts by status and its tags, as
// the service list shows them.
func (v *ServiceView) Counts() api.ServiceSummary {
	s := v.summary
	s.Tags = slices.Clone(s.Tags)
	return s
}

// lookup finds an instance by id with a binary search.
func (v *ServiceView) lookup(id string) (int, bool) {
	if v == nil {
		return 0, false
	}
	return slices.BinarySearchFunc(v.Instances, id, func(in Instance, id string) int {
		return cmpString(in.ID, id)
	})
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// summarize counts instances by effective status (Health) and collects the sorted set of tags.
func summarize(name string, insts []Instance) api.ServiceSummary {
	s := api.ServiceSummary{Name: name, Instances: len(insts)}
	var tags []string
	for i := range insts {
		switch insts[i].Health() {
		case api.StatusPassing:
			s.Passing++
		case api.StatusWarning:
			s.Warning++
		case api.StatusCritical:
			s.Critical++
		}
		tags = append(tags, insts[i].Tags...)
	}
	slices.Sort(tags)
	s.Tags = slices.Compact(tags)
	if s.Tags == nil {
		s.Tags = []string{}
	}
	return s
}

func sameSummary(a, b *api.ServiceSummary) bool {
	return a.Name == b.Name && a.Instances == b.Instances && a.Passing == b.Passing &&
		a.Warning == b.Warning && a.Critical == b.Critical && slices.Equal(a.Tags, b.Tags)
}

// ServicesView is an immutable picture of the service list.
type ServicesView struct {
	Index    uint64
	Services []api.ServiceSummary // sorted by name

	enc lazyJSON
}

// JSON returns the encoded api.ServiceList, built once per view. The bytes
// equal encoding/json.Marshal of the list and must not be modified.
func (v *ServicesView) JSON() []byte {
	v.enc.once.Do(func() {
		list := api.ServiceList{Index: v.Index, Services: v.Services}
		if list.Services == nil {
			list.Services = []api.ServiceSummary{}
		}
		b, err := json.Marshal(list)
		if err != nil {
			panic("registry: encoding the service list: " + err.Error())
		}
		v.enc.b = b
	})
	return v.enc.b
}
