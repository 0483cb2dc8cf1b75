package registry

import (
	"maps"
	"math"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rosterhq/roster/api"
)

// Limits of a registration (design.md, "Identity" and "Leases at failover").
const (
	// MaxServiceNameLen is the longest service name: one DNS label.
	MaxServiceNameLen = 63
	// MaxIDLen is the longest instance id in bytes. Ids are printable ASCII
	// (0x21-0x7e) without '/', and neither "." nor "..", so that they are
	// one URL path segment and one DNS-safe token of a log line.
	MaxIDLen = 128
	// MaxAddressLen is the longest hostname (RFC 1123).
	MaxAddressLen = 253
	// MaxTags is the most tags one instance carries.
	MaxTags = 64
	// MaxTagLen is the longest tag in bytes.
	MaxTagLen = 512
	// MaxMetaKeys is the most meta keys one instance carries.
	MaxMetaKeys = 64
	// MaxMetaKeyLen is the longest meta key in bytes.
	MaxMetaKeyLen = 128
	// MaxMetaValueLen is the longest meta value in bytes.
	MaxMetaValueLen = 512
	// MaxOutput is the longest health output in bytes. A registration with a
	// longer one is refused; a status update's output is cut to this length
	// (at a UTF-8 boundary) so that a chatty heartbeat never fails.
	MaxOutput = 4096
	// MaxWeight is the highest weight; the lowest is 1 (0 means "default 1").
	MaxWeight = 65535
	// MinTTL and MaxTTL bound a lease's TTL; 0 means no lease.
	MinTTL = time.Second
	MaxTTL = 10 * time.Minute
	// MinDeregisterAfter is the lowest deregister_after outside dev mode;
	// DevMinDeregisterAfter the lowest in dev mode.
	MinDeregisterAfter    = time.Minute
	DevMinDeregisterAfter = time.Second
	// MaxDeregisterAfter is the highest deregister_after: a week, so that
	// critical_since + deregister_after never overflows (leave it empty to
	// keep a critical instance until it is deregistered).
	MaxDeregisterAfter = 7 * 24 * time.Hour
	// TombstonePeriod is how long a deregistered id stays tombstoned.
	TombstonePeriod = 10 * time.Minute
	// OutputWriteInterval is how often a change of output alone is written
	// (Consul's check_update_interval).
	OutputWriteInterval = 5 * time.Minute
)

// Validate checks a registration against the rules of design.md (service
// name, id, address, port, weight, TTL bounds, tags, meta) and normalises
// it (service name lowercased, weight defaulted to 1, status defaulted to
// passing, empty tags and meta made nil). minDeregister is the lowest
// deregister_after allowed (1m; 1s in dev mode). Errors are
// *ValidationError naming the JSON field.
func Validate(inst *Instance, minDeregister time.Duration) error {
	if err := ValidateServiceName(inst.Service); err != nil {
		return err
	}
	inst.Service = lower(inst.Service)
	if err := ValidateID(inst.ID); err != nil {
		return err
	}
	if err := validateAddress(inst.Address); err != nil {
		return err
	}
	if inst.Port < 1 || inst.Port > 65535 {
		return invalid("port", "must be 1-65535, got %d", inst.Port)
	}
	switch {
	case inst.Weight == 0:
		inst.Weight = 1
	case inst.Weight < 0 || inst.Weight > MaxWeight:
		return invalid("weight", "must be 1-%d, got %d", MaxWeight, inst.Weight)
	}
	if inst.Status == "" {
		inst.Status = api.StatusPassing
	} else if !inst.Status.Valid() {
		return invalid("status", "must be passing, warning or critical, got %q", inst.Status)
	}
	if len(inst.Output) > MaxOutput {
		return invalid("output", "longer than %d bytes", MaxOutput)
	}
	if !utf8.ValidString(inst.Output) {
		return invalid("output", "not valid UTF-8")
	}
	if inst.TTL != 0 && (inst.TTL < MinTTL || inst.TTL > MaxTTL) {
		return invalid("ttl", "must be empty or between %s and %s, got %s", MinTTL, MaxTTL, inst.TTL)
	}
	if inst.DeregisterAfter != 0 && (inst.DeregisterAfter < minDeregister || inst.DeregisterAfter > MaxDeregisterAfter) {
		return invalid("deregister_after", "must be empty or between %s and %s, got %s",
			minDeregister, MaxDeregisterAfter, inst.DeregisterAfter)
	}
	if err := validateTags(inst.Tags); err != nil {
		return err
	}
	if len(inst.Tags) == 0 {
		inst.Tags = nil
	}
	if err := validateMeta(inst.Meta); err != nil {
		return err
	}
	if len(inst.Meta) == 0 {
		inst.Meta = nil
	}
	return nil
}

// ValidateServiceName checks a service name: an RFC 1123 DNS label of 1-63
// letters, digits and hyphens, not starting or ending with a hyphen
// (case-insensitive; callers lowercase it).
func ValidateServiceName(name string) error {
	if name == "" {
		return invalid("service", "must not be empty")
	}
	if len(name) > MaxServiceNameLen {
		return invalid("service", "longer than %d characters", MaxServiceNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return invalid("service", "%q: only letters, digits and hyphens are allowed", name)
		}
	}
	if name[0] == '-' || name[len(name)-1] == '-' {
		return invalid("service", "%q: a DNS label must not start or end with a hyphen", name)
	}
	return nil
}

// ValidateID checks an instance id: 1-128 bytes of printable ASCII
// (0x21-0x7e) other than '/', and neither "." nor "..".
func ValidateID(id string) error {
	if id == "" {
		return invalid("id", "must not be empty")
	}
	if len(id) > MaxIDLen {
		return invalid("id", "longer than %d bytes", MaxIDLen)
	}
	if id == "." || id == ".." {
		return invalid("id", "%q is not allowed", id)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x21 || c > 0x7e || c == '/' {
			return invalid("id", "%q: only printable ASCII without '/' or spaces is allowed", id)
		}
	}
	return nil
}

// validateAddress accepts an IPv4 or IPv6 address without zone, or an RFC
// 1123 hostname of at most 253 bytes whose last label is not all digits.
func validateAddress(addr string) error {
	if addr == "" {
		return invalid("address", "must not be empty")
	}
	if ip, err := netip.ParseAddr(addr); err == nil {
		if ip.Zone() != "" {
			return invalid("address", "%q: IPv6 zones are not allowed", addr)
		}
		return nil
	}
	if len(addr) > MaxAddressLen {
		return invalid("address", "hostname longer than %d bytes", MaxAddressLen)
	}
	digitsOnly := false
	for label := range strings.SplitSeq(addr, ".") {
		if label == "" || len(label) > 63 {
			return invalid("address", "%q is neither an IP address nor a hostname", addr)
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return invalid("address", "%q: a hostname label must not start or end with a hyphen", addr)
		}
		digitsOnly = true
		for i := 0; i < len(label); i++ {
			c := label[i]
			switch {
			case c >= '0' && c <= '9':
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '-':
				digitsOnly = false
			default:
				return invalid("address", "%q is neither an IP address nor a hostname", addr)
			}
		}
	}
	if digitsOnly {
		return invalid("address", "%q is neither an IP address nor a hostname", addr)
	}
	return nil
}

func validateTags(tags []string) error {
	if len(tags) > MaxTags {
		return invalid("tags", "more than %d tags", MaxTags)
	}
	for _, t := range tags {
		switch {
		case t == "":
			return invalid("tags", "a tag must not be empty")
		case len(t) > MaxTagLen:
			return invalid("tags", "a tag is longer than %d bytes", MaxTagLen)
		case !utf8.ValidString(t):
			return invalid("tags", "a tag is not valid UTF-8")
		case hasControl(t):
			return invalid("tags", "tag %q contains a control character", t)
		}
	}
	return nil
}

func validateMeta(meta map[string]string) error {
	if len(meta) > MaxMetaKeys {
		return invalid("meta", "more than %d keys", MaxMetaKeys)
	}
	for k, v := range meta {
		if metaEntryErr(k, v) != nil {
			// Report the first bad key in sorted order, so that every server
			// applying this registration gives the same error.
			keys := slices.Sorted(maps.Keys(meta))
			for _, k := range keys {
				if err := metaEntryErr(k, meta[k]); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func metaEntryErr(k, v string) error {
	switch {
	case k == "":
		return invalid("meta", "a key must not be empty")
	case len(k) > MaxMetaKeyLen:
		return invalid("meta", "a key is longer than %d bytes", MaxMetaKeyLen)
	case len(v) > MaxMetaValueLen:
		return invalid("meta", "the value of %q is longer than %d bytes", k, MaxMetaValueLen)
	case !utf8.ValidString(k) || !utf8.ValidString(v):
		return invalid("meta", "key or value of %q is not valid UTF-8", k)
	case hasControl(k):
		return invalid("meta", "key %q contains a control character", k)
	}
	return nil
}

// hasControl reports whether s holds a C0 or C1 control character or DEL.
func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r >= 0x7f && r < 0xa0 {
			return true
		}
	}
	return false
}

// ValidateStored checks an instance as it is stored (read from a snapshot
// or a backup): every rule of a registration, already normalised (service
// lowercase, weight at least 1, a status). A backup that passes its checksum is still outside input.
func ValidateStored(in *Instance) error {
	v := *in
	if err := Validate(&v, DevMinDeregisterAfter); err != nil {
		return err
	}
	switch {
	case v.Service != in.Service:
		return invalid("service", "%q is not lowercase", in.Service)
	case in.Weight < 1:
		return invalid("weight", "must be 1-%d, got %d", MaxWeight, in.Weight)
	case in.Status == "":
		return invalid("status", "must be passing, warning or critical, got \"\"")
	case in.Maintenance != CleanOutput(in.Maintenance):
		return invalid("maintenance", "longer than %d bytes or not UTF-8", MaxOutput)
	}
	return nil
}

// CleanOutput is a health output as the catalog stores it: cut to MaxOutput
// bytes on a rune boundary, invalid UTF-8 replaced.
func CleanOutput(s string) string {
	return strings.ToValidUTF8(truncateUTF8(s, MaxOutput), "\uFFFD")
}

// ValidateStatus refuses a status other than passing, warning or critical
// (empty is allowed: it means passing), naming field.
func ValidateStatus(field string, s api.Status) error {
	if s != "" && !s.Valid() {
		return invalid(field, "must be passing, warning or critical, got %q", s)
	}
	return nil
}

// SatAdd adds a duration to a unix-nanosecond time, saturating instead of
// overflowing (a critical_since plus a huge deregister_after).
func SatAdd(t int64, d time.Duration) int64 {
	if d > 0 && t > math.MaxInt64-int64(d) {
		return math.MaxInt64
	}
	return t + int64(d)
}

// lower lowercases an ASCII name without allocating when it already is.
func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

// truncateUTF8 cuts s to at most n bytes without splitting a rune.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
