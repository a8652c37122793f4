package resolver

import (
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// FuzzReply feeds arbitrary datagrams to the reply handling: validation
// against the query, then turning the reply into a cacheable Answer. It
// must never panic, and what it accepts must hold only records of the
// question's CNAME chain with a TTL inside the configured bounds.
//
//	go test -run '^$' -fuzz FuzzReply ./resolver/
func FuzzReply(f *testing.F) {
	q := new(dns.Msg)
	q.SetQuestion("example.com.", dns.TypeMX)
	seed := func(build func(m *dns.Msg)) {
		m := new(dns.Msg)
		m.SetReply(q)
		build(m)
		wire, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(wire)
	}
	rr := func(s string) dns.RR {
		r, err := dns.NewRR(s)
		if err != nil {
			f.Fatal(err)
		}
		return r
	}
	seed(func(m *dns.Msg) { m.Answer = []dns.RR{rr("example.com. 300 IN MX 10 mx.example.com.")} })
	seed(func(m *dns.Msg) {
		m.Answer = []dns.RR{rr("example.com. 300 IN CNAME a.example.net."), rr("a.example.net. 60 IN MX 0 .")}
	})
	seed(func(m *dns.Msg) {
		m.Rcode = dns.RcodeNameError
		m.Ns = []dns.RR{rr("com. 900 IN SOA a.gtld-servers.net. nstld.verisign-grs.com. 1 1800 900 604800 86400")}
	})
	seed(func(m *dns.Msg) { m.Truncated = true })
	seed(func(m *dns.Msg) { m.Rcode = dns.RcodeServerFailure })
	seed(func(m *dns.Msg) {
		m.Answer = []dns.RR{rr("example.com. 300 IN CNAME example.com."), rr("victim.example. 60 IN A 6.6.6.6")}
	})
	f.Add([]byte{0, 0, 0x82, 0, 0, 1})

	r := &Resolver{}
	r.cfg, _ = Config{Upstreams: []string{"127.0.0.1:53"}}.withDefaults()
	now := time.Unix(1_800_000_000, 0)
	f.Fuzz(func(t *testing.T, wire []byte) {
		if len(wire) >= 2 {
			q.Id = binary.BigEndian.Uint16(wire) // let the fuzzer past the ID check
		}
		reply, err := parseReply(q, wire, 65535)
		if err != nil {
			if reply != nil {
				t.Fatal("reply with error")
			}
			return
		}
		if reply.Rcode != dns.RcodeSuccess && reply.Rcode != dns.RcodeNameError {
			return
		}
		ans := r.makeAnswer("example.com.", dns.TypeMX, reply, now)
		if ans.TTL < 0 || ans.TTL > r.cfg.MaxTTL {
			t.Fatalf("TTL %v out of bounds", ans.TTL)
		}
		names := map[string]bool{"example.com.": true}
		for _, rr := range ans.Records {
			h := rr.Header()
			if !names[strings.ToLower(h.Name)] {
				t.Fatalf("record %v outside the chain", rr)
			}
			if c, ok := rr.(*dns.CNAME); ok {
				names[strings.ToLower(c.Target)] = true
			} else if h.Rrtype != dns.TypeMX {
				t.Fatalf("record %v of another type", rr)
			}
		}
	})
}
