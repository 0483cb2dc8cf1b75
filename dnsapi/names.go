package dnsapi

import (
	"encoding/hex"
	"net/netip"
	"strings"
)

// nameKind is what a name inside the domain refers to.
type nameKind uint8

const (
	nameNX      nameKind = iota // no such name: NXDOMAIN
	nameApex                    // <domain>: SOA and NS
	nameNS                      // ns.<domain>: the server's own address when known
	nameEmpty                   // an empty non-terminal: exists, holds no records
	nameService                 // a service lookup, possibly tag-filtered
	nameAddr                    // <hex-ip>.addr.<domain>
)

// parsedName is a name inside the domain, taken apart.
type parsedName struct {
	kind    nameKind
	service string     // nameService: lowercase service name
	tag     string     // nameService: tag filter, "" for none
	srvOnly bool       // nameService: the RFC 2782 form, which holds only SRV records
	addr    netip.Addr // nameAddr
}

// maxLabels is the most labels a name below the domain can have and still
// mean something (<tag>.<service>.service).
const maxLabels = 3

// parseRelative takes apart name's labels below the domain (rel is the
// lowercase name without the domain and without the dot before it; "" is the
// apex). escaped says rel may hold presentation escapes (\. or \DDD).
//
// Empty non-terminals answer NODATA, never NXDOMAIN: service.<domain>,
// addr.<domain> and _<proto>.service.<domain> (the parent of every RFC 2782
// name), so that resolvers that treat NXDOMAIN as "nothing below" (RFC 8020)
// still ask for the names beneath them.
func parseRelative(rel string, escaped bool) parsedName {
	if rel == "" {
		return parsedName{kind: nameApex}
	}
	var buf [maxLabels + 1]string
	labels, ok := splitLabels(rel, escaped, buf[:0])
	if !ok {
		return parsedName{}
	}
	n := len(labels)
	switch last := labels[n-1]; {
	case n == 1 && last == "ns":
		return parsedName{kind: nameNS}
	case n == 1 && (last == "service" || last == "addr"):
		return parsedName{kind: nameEmpty}
	case last == "addr" && n == 2:
		ip, ok := parseHexIP(labels[0])
		if !ok {
			return parsedName{}
		}
		return parsedName{kind: nameAddr, addr: ip}
	case last != "service":
		return parsedName{}
	}
	switch n {
	case 2: // <service>.service, or _<proto>.service (an empty non-terminal)
		if strings.HasPrefix(labels[0], "_") {
			return parsedName{kind: nameEmpty}
		}
		return serviceName(labels[0], "", false)
	case 3:
		first, second := labels[0], labels[1]
		if strings.HasPrefix(second, "_") {
			// RFC 2782: _<service>._<proto>; _tcp means no tag filter,
			// any other _<x> filters by tag x (Consul's rule).
			if !strings.HasPrefix(first, "_") {
				return parsedName{}
			}
			tag := second[1:]
			if tag == "tcp" {
				tag = ""
			}
			if tag == "" && second != "_tcp" {
				return parsedName{}
			}
			return serviceName(first[1:], tag, true)
		}
		if first == "" {
			return parsedName{}
		}
		return serviceName(second, first, false)
	}
	return parsedName{}
}

func serviceName(name, tag string, srvOnly bool) parsedName {
	if !validServiceLabel(name) {
		return parsedName{}
	}
	return parsedName{kind: nameService, service: name, tag: tag, srvOnly: srvOnly}
}

// validServiceLabel reports whether s can be a service name: 1-63 letters,
// digits and hyphens, already lowercase (design.md, Identity).
func validServiceLabel(s string) bool {
	if len(s) == 0 || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// splitLabels splits a relative name (no trailing dot) into labels, appending
// to buf; it fails when there are more than maxLabels. With escaped, labels
// are split on unescaped dots only and their escapes decoded, so a tag with
// a dot in it can be asked for as v1\.2.web.service.<domain>.
func splitLabels(rel string, escaped bool, buf []string) ([]string, bool) {
	if !escaped {
		for {
			if len(buf) == maxLabels {
				return nil, false
			}
			i := strings.IndexByte(rel, '.')
			if i < 0 {
				return append(buf, rel), true
			}
			buf = append(buf, rel[:i])
			rel = rel[i+1:]
		}
	}
	start := 0
	for i := 0; i <= len(rel); i++ {
		if i < len(rel) && rel[i] == '\\' {
			i++ // skip the escaped character (\DDD digits are not dots)
			continue
		}
		if i == len(rel) || rel[i] == '.' {
			if len(buf) == maxLabels {
				return nil, false
			}
			l, ok := unescapeLabel(rel[start:i])
			if !ok {
				return nil, false
			}
			buf = append(buf, l)
			start = i + 1
		}
	}
	return buf, true
}

// unescapeLabel decodes the presentation escapes of one label (\X and \DDD)
// and lowercases ASCII letters, as DNS compares names.
func unescapeLabel(s string) (string, bool) {
	if strings.IndexByte(s, '\\') < 0 {
		return s, true
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			b = append(b, c)
			continue
		}
		if i+1 >= len(s) {
			return "", false
		}
		if i+3 < len(s) && isDigit(s[i+1]) && isDigit(s[i+2]) && isDigit(s[i+3]) {
			v := int(s[i+1]-'0')*100 + int(s[i+2]-'0')*10 + int(s[i+3]-'0')
			if v > 255 {
				return "", false
			}
			c = byte(v)
			i += 3
		} else {
			c = s[i+1]
			i++
		}
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return string(b), true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// parseHexIP reads the label of an addr name: 8 hex digits for IPv4, 32 for
// IPv6.
func parseHexIP(s string) (netip.Addr, bool) {
	var b [16]byte
	switch len(s) {
	case 8:
		if _, err := hex.Decode(b[:4], []byte(s)); err != nil {
			return netip.Addr{}, false
		}
		return netip.AddrFrom4([4]byte(b[:4])), true
	case 32:
		if _, err := hex.Decode(b[:], []byte(s)); err != nil {
			return netip.Addr{}, false
		}
		return netip.AddrFrom16(b), true
	}
	return netip.Addr{}, false
}

// lowerASCII returns s with ASCII letters lowercased, without allocating
// when there are none to change. miekg/dns presents names in ASCII
// (other bytes as \DDD escapes), so this is DNS's case folding.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; c >= 'A' && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// relativeTo returns name's part below domain ("" for the apex), both
// lowercase FQDNs. ok is false when name is not in domain. escaped says name
// holds backslash escapes, which make a textual suffix unreliable ("a\.roster."
// is one label); then labels are compared one by one.
func relativeTo(name, domain string, escaped bool) (rel string, ok bool) {
	if name == domain {
		return "", true
	}
	if !strings.HasSuffix(name, domain) || len(name) <= len(domain) || name[len(name)-len(domain)-1] != '.' {
		return "", false
	}
	rel = name[:len(name)-len(domain)-1]
	if escaped {
		// The dot before the domain must not be an escaped one: count the
		// backslashes in front of it.
		n := 0
		for i := len(rel) - 1; i >= 0 && rel[i] == '\\'; i-- {
			n++
		}
		if n%2 == 1 {
			return "", false
		}
	}
	if rel == "" {
		return "", false // "..domain" is not a name
	}
	return rel, true
}
