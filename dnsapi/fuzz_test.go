package dnsapi

import (
	"encoding/binary"
	"net"
	"testing"

	"github.com/miekg/dns"
)

// FuzzServeDNS feeds arbitrary packets through the path a listener takes
// (header screening, unpacking, ServeDNS) over UDP and TCP, and checks that
// nothing panics, every answer unpacks with the request's id, and UDP
// answers fit the requester's size.
func FuzzServeDNS(f *testing.F) {
	c := newCatalog(f)
	c.fill("big", 300)
	ex := exampleCatalog(f)
	for _, in := range ex.cat.Service("web").Instances() {
		c.register(in)
	}
	for _, in := range ex.cat.Service("db").Instances() {
		c.register(in)
	}
	srv, err := New(Config{Catalog: c.cat, Logger: quietLogger(), MaxRecords: 500, UDPSize: 4096})
	if err != nil {
		f.Fatal(err)
	}

	seed := func(name string, qtype uint16, mod func(*dns.Msg)) {
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		if mod != nil {
			mod(m)
		}
		b, err := m.Pack()
		if err != nil {
			f.Fatalf("seed %s: %v", name, err)
		}
		f.Add(b)
	}
	edns := func(size uint16) func(*dns.Msg) { return func(m *dns.Msg) { m.SetEdns0(size, true) } }
	for _, name := range []string{
		"web.service.roster.", "WEB.service.Roster.", "v1.web.service.roster.", "_web._tcp.service.roster.",
		"_web._v1.service.roster.", "big.service.roster.", "db.service.roster.", "nosuch.service.roster.",
		"0a000001.addr.roster.", "20010db8000000000000000000000001.addr.roster.", "roster.", "ns.roster.",
		"service.roster.", "_tcp.service.roster.", "example.com.", ".", `a\.b.web.service.roster.`,
		`\087eb.service.roster.`, `web.service.roster\.com.`, `x\\.roster.`, "a.b.c.d.e.service.roster.",
	} {
		for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeSRV, dns.TypeANY, dns.TypeTXT, dns.TypeCNAME} {
			seed(name, qtype, nil)
		}
		seed(name, dns.TypeSRV, edns(1232))
	}
	seed("big.service.roster.", dns.TypeSRV, edns(4096))
	seed("big.service.roster.", dns.TypeA, edns(600))
	seed("web.service.roster.", dns.TypeA, func(m *dns.Msg) { m.Question = append(m.Question, m.Question[0]) })
	seed("web.service.roster.", dns.TypeA, func(m *dns.Msg) { m.Opcode = dns.OpcodeUpdate })
	seed("web.service.roster.", dns.TypeA, func(m *dns.Msg) { m.Response = true })
	seed("web.service.roster.", dns.TypeA, func(m *dns.Msg) { m.Question[0].Qclass = dns.ClassCHAOS })
	seed("web.service.roster.", dns.TypeA, func(m *dns.Msg) { m.SetEdns0(1232, false); m.IsEdns0().SetVersion(2) })
	seed("web.service.roster.", dns.TypeA, func(m *dns.Msg) { m.SetEdns0(1232, false); m.SetEdns0(512, false) })
	seed("roster.", dns.TypeAXFR, nil)
	f.Add([]byte{})
	f.Add([]byte{0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0x3f, 'a', 'b'})
	f.Add([]byte{0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c, 0, 1, 0, 1})

	tcpClient := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) >= 12 {
			action := acceptQuery(dns.Header{
				Id:      binary.BigEndian.Uint16(data),
				Bits:    binary.BigEndian.Uint16(data[2:]),
				Qdcount: binary.BigEndian.Uint16(data[4:]),
				Ancount: binary.BigEndian.Uint16(data[6:]),
				Nscount: binary.BigEndian.Uint16(data[8:]),
				Arcount: binary.BigEndian.Uint16(data[10:]),
			})
			if action == dns.MsgAccept && data[2]&0x80 != 0 {
				t.Fatalf("accepted a response")
			}
		}
		req := new(dns.Msg)
		if err := req.Unpack(data); err != nil {
			return
		}
		for _, remote := range []net.Addr{udpClient, tcpClient} {
			w := &fakeWriter{remote: remote}
			srv.ServeDNS(w, req)
			if w.msgs == 0 {
				if !req.Response {
					t.Fatalf("no answer to a query: %v", req)
				}
				continue
			}
			if w.msgs > 1 {
				t.Fatalf("%d answers to one query", w.msgs)
			}
			resp := new(dns.Msg)
			if err := resp.Unpack(w.out); err != nil {
				t.Fatalf("answer does not unpack: %v\nrequest %v", err, req)
			}
			if resp.Id != req.Id || !resp.Response {
				t.Fatalf("answer id %d response %v, request id %d", resp.Id, resp.Response, req.Id)
			}
			if _, udp := remote.(*net.UDPAddr); udp {
				limit := 512
				if opt := req.IsEdns0(); opt != nil && resp.Rcode != dns.RcodeFormatError {
					limit = min(max(int(opt.UDPSize()), 512), 4096)
				}
				if len(w.out) > limit {
					t.Fatalf("UDP answer %d bytes, requester allows %d\nrequest %v", len(w.out), limit, req)
				}
			}
			if resp.Rcode == dns.RcodeSuccess && len(req.Question) == 1 &&
				(len(resp.Question) != 1 || resp.Question[0] != req.Question[0]) {
				t.Fatalf("question %v answered as %v", req.Question, resp.Question)
			}
		}
	})
}
