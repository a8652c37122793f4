package dnstest

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

var testZone = `
$ORIGIN example.
$TTL 300
@        IN SOA   ns.example. hostmaster.example. 1 3600 600 86400 60
@        IN NS    ns.example.
ns       IN A     192.0.2.53
www      IN A     192.0.2.1
www      IN AAAA  2001:db8::1
mail     IN MX    10 mx.example.
mx       IN A     192.0.2.25
a.b      IN A     192.0.2.2
alias    IN CNAME www
alias2   IN CNAME alias
loop1    IN CNAME loop2
loop2    IN CNAME loop1
dangling IN CNAME nothere
out      IN CNAME www.other.test.
*.wild   IN TXT   "wild"
x.wild   IN A     192.0.2.7
big      IN TXT   "` + strings.Repeat("a", 250) + `" "` + strings.Repeat("b", 250) + `"
big      IN TXT   "` + strings.Repeat("c", 250) + `"

$ORIGIN sub.example.
@        IN SOA   ns.sub.example. hostmaster.sub.example. 2 3600 600 86400 600
@        IN NS    ns.sub.example.
host     IN A     192.0.2.3
`

// query sends one question over network ("udp" or "tcp") with EDNS0
// (bufsize 1232) unless noEDNS.
func query(t *testing.T, s *Server, network, name string, qtype uint16, noEDNS bool) (*dns.Msg, error) {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	if !noEDNS {
		m.SetEdns0(1232, false)
	}
	c := &dns.Client{Net: network, Timeout: 2 * time.Second}
	r, _, err := c.Exchange(m, s.Addr())
	return r, err
}

func mustQuery(t *testing.T, s *Server, network, name string, qtype uint16) *dns.Msg {
	t.Helper()
	r, err := query(t, s, network, name, qtype, false)
	if err != nil {
		t.Fatalf("%s %s %s: %v", network, name, dns.TypeToString[qtype], err)
	}
	return r
}

// rrStrings returns the records' text with the TTLs and owner names as
// they are, sorted.
func rrStrings(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeOPT {
			continue
		}
		out = append(out, strings.ReplaceAll(rr.String(), "\t", " "))
	}
	slices.Sort(out)
	return out
}

func TestAnswers(t *testing.T) {
	s := NewServer(t, testZone)
	cases := []struct {
		name   string
		qtype  uint16
		rcode  int
		answer []string
		soa    string // owner of the SOA expected in the authority section
	}{
		{"www.example.", dns.TypeA, dns.RcodeSuccess, []string{"www.example. 300 IN A 192.0.2.1"}, ""},
		{"www.example.", dns.TypeAAAA, dns.RcodeSuccess, []string{"www.example. 300 IN AAAA 2001:db8::1"}, ""},
		{"www.example.", dns.TypeMX, dns.RcodeSuccess, nil, "example."},
		{"mail.example.", dns.TypeMX, dns.RcodeSuccess, []string{"mail.example. 300 IN MX 10 mx.example."}, ""},
		{"nope.example.", dns.TypeA, dns.RcodeNameError, nil, "example."},
		{"deep.nope.example.", dns.TypeTXT, dns.RcodeNameError, nil, "example."},
		{"b.example.", dns.TypeA, dns.RcodeSuccess, nil, "example."}, // empty non-terminal
		{"a.b.example.", dns.TypeA, dns.RcodeSuccess, []string{"a.b.example. 300 IN A 192.0.2.2"}, ""},
		{"alias.example.", dns.TypeA, dns.RcodeSuccess, []string{
			"alias.example. 300 IN CNAME www.example.",
			"www.example. 300 IN A 192.0.2.1",
		}, ""},
		{"alias2.example.", dns.TypeAAAA, dns.RcodeSuccess, []string{
			"alias.example. 300 IN CNAME www.example.",
			"alias2.example. 300 IN CNAME alias.example.",
			"www.example. 300 IN AAAA 2001:db8::1",
		}, ""},
		{"alias.example.", dns.TypeCNAME, dns.RcodeSuccess, []string{"alias.example. 300 IN CNAME www.example."}, ""},
		{"alias.example.", dns.TypeMX, dns.RcodeSuccess, []string{"alias.example. 300 IN CNAME www.example."}, "example."},
		{"dangling.example.", dns.TypeA, dns.RcodeNameError, []string{"dangling.example. 300 IN CNAME nothere.example."}, "example."},
		{"out.example.", dns.TypeA, dns.RcodeSuccess, []string{"out.example. 300 IN CNAME www.other.test."}, ""},
		{"loop1.example.", dns.TypeA, dns.RcodeServerFailure, nil, ""},
		{"host.sub.example.", dns.TypeA, dns.RcodeSuccess, []string{"host.sub.example. 300 IN A 192.0.2.3"}, ""},
		{"nope.sub.example.", dns.TypeA, dns.RcodeNameError, nil, "sub.example."},
		{"sub.example.", dns.TypeTXT, dns.RcodeSuccess, nil, "sub.example."},
		{"any.wild.example.", dns.TypeTXT, dns.RcodeSuccess, []string{`any.wild.example. 300 IN TXT "wild"`}, ""},
		{"a.b.wild.example.", dns.TypeTXT, dns.RcodeSuccess, []string{`a.b.wild.example. 300 IN TXT "wild"`}, ""},
		{"any.wild.example.", dns.TypeA, dns.RcodeSuccess, nil, "example."},
		{"x.wild.example.", dns.TypeTXT, dns.RcodeSuccess, nil, "example."}, // existing name: no synthesis
		{"y.x.wild.example.", dns.TypeTXT, dns.RcodeNameError, nil, "example."},
		{"www.other.test.", dns.TypeA, dns.RcodeRefused, nil, ""},
		{"example.", dns.TypeSOA, dns.RcodeSuccess, []string{"example. 300 IN SOA ns.example. hostmaster.example. 1 3600 600 86400 60"}, ""},
	}
	for _, c := range cases {
		for _, network := range []string{"udp", "tcp"} {
			what := fmt.Sprintf("%s %s %s", network, c.name, dns.TypeToString[c.qtype])
			r := mustQuery(t, s, network, c.name, c.qtype)
			if r.Rcode != c.rcode {
				t.Errorf("%q: rcode %s, want %s", what, dns.RcodeToString[r.Rcode], dns.RcodeToString[c.rcode])
			}
			if got := rrStrings(r.Answer); !slices.Equal(got, c.answer) {
				t.Errorf("%q: answer %q, want %q", what, got, c.answer)
			}
			var soa string
			for _, rr := range r.Ns {
				if rr.Header().Rrtype == dns.TypeSOA {
					soa = rr.Header().Name
				}
			}
			if soa != c.soa || (c.soa == "" && len(r.Ns) != 0) {
				t.Errorf("%q: authority %v, want the SOA of %q", what, r.Ns, c.soa)
			}
			wantAA := c.rcode != dns.RcodeRefused
			if r.Authoritative != wantAA || !r.RecursionAvailable || !r.Response {
				t.Errorf("%q: AA=%v RA=%v QR=%v, want AA=%v RA=true QR=true", what, r.Authoritative, r.RecursionAvailable, r.Response, wantAA)
			}
		}
	}
}

func TestNegativeSOATTL(t *testing.T) {
	s := NewServer(t, testZone)
	cases := []struct {
		name string
		ttl  uint32
	}{
		{"nope.example.", 60},      // SOA TTL 300, MINIMUM 60
		{"nope.sub.example.", 300}, // SOA TTL 300, MINIMUM 600
	}
	for _, c := range cases {
		r := mustQuery(t, s, "udp", c.name, dns.TypeA)
		if len(r.Ns) != 1 || r.Ns[0].Header().Ttl != c.ttl {
			t.Errorf("%q: authority %v, want one SOA with TTL %d", c.name, r.Ns, c.ttl)
		}
	}
}

func TestHeaderAndEDNS(t *testing.T) {
	s := NewServer(t, testZone)
	c := &dns.Client{Timeout: 2 * time.Second}

	m := new(dns.Msg)
	m.SetQuestion("WwW.ExAmPlE.", dns.TypeA)
	m.RecursionDesired = false
	r, _, err := c.Exchange(m, s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if r.RecursionDesired {
		t.Errorf("RD=1 in the reply to a query with RD=0")
	}
	if len(r.Question) != 1 || r.Question[0] != m.Question[0] {
		t.Errorf("question %v, want %v", r.Question, m.Question)
	}
	if len(r.Answer) != 1 || r.Answer[0].Header().Name != "WwW.ExAmPlE." {
		t.Errorf("answer %v, want one record owned by the name as asked", r.Answer)
	}
	if r.IsEdns0() != nil {
		t.Errorf("OPT in the reply to a query without EDNS0")
	}

	m.SetEdns0(4096, true)
	m.RecursionDesired = true
	r, _, err = c.Exchange(m, s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if !r.RecursionDesired {
		t.Errorf("RD=0 in the reply to a query with RD=1")
	}
	if opt := r.IsEdns0(); opt == nil || opt.UDPSize() != ServerUDPSize || !opt.Do() {
		t.Errorf("OPT %v, want size %d with DO", opt, ServerUDPSize)
	}

	m.IsEdns0().SetVersion(1)
	r, _, err = c.Exchange(m, s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if r.Rcode != dns.RcodeBadVers {
		t.Errorf("EDNS version 1: rcode %s, want BADVERS", dns.RcodeToString[r.Rcode])
	}
}

func TestTruncation(t *testing.T) {
	s := NewServer(t, testZone)
	// big.example. TXT is about 800 bytes: over 512, under 1232.
	r, err := query(t, s, "udp", "big.example.", dns.TypeTXT, true)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Truncated || len(r.Answer) != 0 || len(r.Ns) != 0 || len(r.Extra) != 0 {
		t.Errorf("no EDNS0: TC=%v answer %d, want TC=1 and empty sections", r.Truncated, len(r.Answer))
	}
	r = mustQuery(t, s, "udp", "big.example.", dns.TypeTXT)
	if r.Truncated || len(r.Answer) != 2 {
		t.Errorf("EDNS0 1232: TC=%v answer %d, want TC=0 and 2 records", r.Truncated, len(r.Answer))
	}
	r, err = query(t, s, "tcp", "big.example.", dns.TypeTXT, true)
	if err != nil {
		t.Fatal(err)
	}
	if r.Truncated || len(r.Answer) != 2 {
		t.Errorf("TCP: TC=%v answer %d, want TC=0 and 2 records", r.Truncated, len(r.Answer))
	}
}

func TestFaultRcode(t *testing.T) {
	s := NewServer(t, testZone)
	for _, rcode := range []int{dns.RcodeServerFailure, dns.RcodeRefused, dns.RcodeFormatError, dns.RcodeNotImplemented} {
		s.SetFault("www.example", Fault{Rcode: rcode})
		for _, network := range []string{"udp", "tcp"} {
			r := mustQuery(t, s, network, "www.example.", dns.TypeA)
			if r.Rcode != rcode || len(r.Answer)+len(r.Ns) != 0 {
				t.Errorf("%q: rcode %s with %d records, want %s and none", network+" "+dns.RcodeToString[rcode],
					dns.RcodeToString[r.Rcode], len(r.Answer)+len(r.Ns), dns.RcodeToString[rcode])
			}
		}
	}
	// Other names are not affected.
	if r := mustQuery(t, s, "udp", "mail.example.", dns.TypeMX); r.Rcode != dns.RcodeSuccess {
		t.Errorf("mail.example.: rcode %s, want NOERROR", dns.RcodeToString[r.Rcode])
	}
}

func TestFaultSelection(t *testing.T) {
	s := NewServer(t, testZone)
	s.SetFault("*", Fault{Rcode: dns.RcodeServerFailure})
	s.SetFault("WWW.example.", Fault{Rcode: dns.RcodeRefused})
	cases := []struct {
		name  string
		rcode int
	}{
		{"www.example.", dns.RcodeRefused},
		{"mail.example.", dns.RcodeServerFailure},
		{"www.other.test.", dns.RcodeServerFailure},
	}
	for _, c := range cases {
		if r := mustQuery(t, s, "udp", c.name, dns.TypeA); r.Rcode != c.rcode {
			t.Errorf("%q: rcode %s, want %s", c.name, dns.RcodeToString[r.Rcode], dns.RcodeToString[c.rcode])
		}
	}
	s.SetFault("www.example.", Fault{Rcode: dns.RcodeNotImplemented}) // replaces
	if r := mustQuery(t, s, "udp", "www.example.", dns.TypeA); r.Rcode != dns.RcodeNotImplemented {
		t.Errorf("replaced fault: rcode %s, want NOTIMP", dns.RcodeToString[r.Rcode])
	}
	s.SetFault("*", Fault{})
	if r := mustQuery(t, s, "udp", "mail.example.", dns.TypeMX); r.Rcode != dns.RcodeSuccess {
		t.Errorf("zero fault for *: rcode %s, want NOERROR", dns.RcodeToString[r.Rcode])
	}
	s.ClearFaults()
	if r := mustQuery(t, s, "udp", "www.example.", dns.TypeA); r.Rcode != dns.RcodeSuccess {
		t.Errorf("after ClearFaults: rcode %s, want NOERROR", dns.RcodeToString[r.Rcode])
	}
}

func TestFaultDrop(t *testing.T) {
	s := NewServer(t, testZone)
	s.SetFault("www.example.", Fault{Drop: true})
	c := &dns.Client{Timeout: 200 * time.Millisecond}
	m := new(dns.Msg).SetQuestion("www.example.", dns.TypeA)
	for _, network := range []string{"udp", "tcp"} {
		c.Net = network
		_, _, err := c.Exchange(m, s.Addr())
		var nerr net.Error
		if !errors.As(err, &nerr) || !nerr.Timeout() {
			t.Errorf("%s: error %v, want a timeout", network, err)
		}
	}
	if n := s.QueryCount("www.example.", dns.TypeA); n != 2 {
		t.Errorf("dropped queries counted %d, want 2", n)
	}
	if n := s.Dropped(); n != 2 {
		t.Errorf("Dropped() = %d, want 2", n)
	}
	if n := s.RateLimited(); n != 0 {
		t.Errorf("RateLimited() = %d, want 0", n)
	}
}

// blast sends n UDP queries for name from one socket, in bursts small
// enough for the socket buffers, and returns how many replies arrive until
// quiet after the last one is sent.
func blast(t *testing.T, s *Server, name string, n int, quiet time.Duration) int {
	t.Helper()
	conn, err := net.Dial("udp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	got := make(chan int, 1)
	go func() {
		buf := make([]byte, 1500)
		k := 0
		for {
			if _, err := conn.Read(buf); err != nil {
				got <- k
				return
			}
			k++
		}
	}()
	base := s.Queries()
	const burst = 25
	for i := range n {
		m := new(dns.Msg).SetQuestion(name, dns.TypeA)
		m.Id = uint16(i)
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Write(b); err != nil {
			t.Fatal(err)
		}
		if (i+1)%burst == 0 || i == n-1 {
			waitQueries(t, s, base+int64(i+1))
		}
	}
	conn.SetReadDeadline(time.Now().Add(quiet))
	return <-got
}

// waitQueries waits until s has counted n queries.
func waitQueries(t *testing.T, s *Server, n int64) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); s.Queries() < n; {
		if time.Now().After(deadline) {
			t.Fatalf("counted %d queries, want %d", s.Queries(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestFaultDropRate(t *testing.T) {
	s := NewServer(t, testZone)
	s.SetFault("www.example.", Fault{DropRate: 0.5})
	got := blast(t, s, "www.example.", 400, 300*time.Millisecond)
	if got < 120 || got > 280 {
		t.Errorf("DropRate 0.5: %d of 400 answered, want about 200", got)
	}
}

func TestRateLimit(t *testing.T) {
	s := NewServer(t, testZone)
	s.SetRateLimit(20, 10)
	got := blast(t, s, "www.example.", 200, 300*time.Millisecond)
	if got < 10 || got > 40 {
		t.Errorf("limit 20/s burst 10: %d of 200 answered at once, want about 10", got)
	}
	if lim, drop := s.RateLimited(), s.Dropped(); lim != drop || lim != 200-int64(got) {
		t.Errorf("RateLimited() = %d, Dropped() = %d, want both %d", lim, drop, 200-got)
	}
	s.SetRateLimit(0, 0)
	if got := blast(t, s, "www.example.", 50, 300*time.Millisecond); got != 50 {
		t.Errorf("limit removed: %d of 50 answered", got)
	}
}

func TestFaultDelay(t *testing.T) {
	s := NewServer(t, testZone)
	const delay = 300 * time.Millisecond
	s.SetFault("www.example.", Fault{Delay: delay})
	for _, network := range []string{"udp", "tcp"} {
		var wg sync.WaitGroup
		var slow time.Duration
		wg.Go(func() {
			start := time.Now()
			if r := mustQuery(t, s, network, "www.example.", dns.TypeA); len(r.Answer) != 1 {
				t.Errorf("%s: delayed answer %v, want one record", network, r.Answer)
			}
			slow = time.Since(start)
		})
		time.Sleep(20 * time.Millisecond)
		start := time.Now()
		mustQuery(t, s, network, "mail.example.", dns.TypeMX)
		if fast := time.Since(start); fast > delay/2 {
			t.Errorf("%s: another query took %v while one was delayed", network, fast)
		}
		wg.Wait()
		if slow < delay {
			t.Errorf("%s: delayed query answered after %v, want at least %v", network, slow, delay)
		}
	}
}

func TestFaultTruncate(t *testing.T) {
	s := NewServer(t, testZone)
	s.SetFault("www.example.", Fault{Truncate: true})
	r := mustQuery(t, s, "udp", "www.example.", dns.TypeA)
	if !r.Truncated || len(r.Answer) != 0 || r.IsEdns0() == nil {
		t.Errorf("UDP: TC=%v answer %v, want TC=1, no records, OPT kept", r.Truncated, r.Answer)
	}
	r = mustQuery(t, s, "tcp", "www.example.", dns.TypeA)
	if r.Truncated || len(r.Answer) != 1 {
		t.Errorf("TCP: TC=%v answer %v, want the full answer", r.Truncated, r.Answer)
	}
}

func TestFaultOversize(t *testing.T) {
	s := NewServer(t, testZone)
	cases := []struct {
		name    string
		qtype   uint16
		oversz  int
		noEDNS  bool
		network string
		tc      bool
		answer  int
	}{
		{"big.example.", dns.TypeTXT, 10, false, "udp", true, 0},
		{"big.example.", dns.TypeTXT, 10, false, "tcp", false, 12},
		{"www.example.", dns.TypeA, 40, true, "udp", true, 0},
		{"www.example.", dns.TypeA, 40, false, "udp", false, 41},
		{"www.example.", dns.TypeA, 100, false, "udp", true, 0},
		{"www.example.", dns.TypeA, 100, false, "tcp", false, 101},
		{"www.example.", dns.TypeAAAA, 100, false, "tcp", false, 101},
		{"mail.example.", dns.TypeMX, 20, false, "tcp", false, 1},
	}
	for _, c := range cases {
		what := fmt.Sprintf("%s %s Oversize %d noEDNS %v", c.network, c.name, c.oversz, c.noEDNS)
		s.SetFault(c.name, Fault{Oversize: c.oversz})
		r, err := query(t, s, c.network, c.name, c.qtype, c.noEDNS)
		if err != nil {
			t.Fatalf("%q: %v", what, err)
		}
		if r.Truncated != c.tc || len(r.Answer) != c.answer {
			t.Errorf("%q: TC=%v with %d answers, want TC=%v with %d", what, r.Truncated, len(r.Answer), c.tc, c.answer)
		}
	}
}

// rawExchange sends m over UDP and returns the first n replies as read.
func rawExchange(t *testing.T, s *Server, m *dns.Msg, n int) [][]byte {
	t.Helper()
	conn, err := net.Dial("udp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(b); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	var out [][]byte
	for range n {
		buf := make([]byte, 4096)
		k, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("reply %d: %v", len(out)+1, err)
		}
		out = append(out, buf[:k])
	}
	return out
}

func TestFaultSpoof(t *testing.T) {
	s := NewServer(t, testZone)
	cases := []struct {
		fault     Fault
		sameID    bool
		bogusName string
	}{
		{Fault{SpoofID: true}, false, "www.example."},
		{Fault{SpoofQuestion: true}, true, "spoofed.invalid."},
	}
	for _, c := range cases {
		s.SetFault("www.example.", c.fault)
		m := new(dns.Msg).SetQuestion("www.example.", dns.TypeA)
		replies := rawExchange(t, s, m, 2)
		var bogus, real dns.Msg
		if err := bogus.Unpack(replies[0]); err != nil {
			t.Fatalf("%+v: bogus reply: %v", c.fault, err)
		}
		if err := real.Unpack(replies[1]); err != nil {
			t.Fatalf("%+v: real reply: %v", c.fault, err)
		}
		if (bogus.Id == m.Id) != c.sameID || bogus.Question[0].Name != c.bogusName ||
			len(bogus.Answer) != 1 || !strings.HasSuffix(bogus.Answer[0].String(), "6.6.6.6") {
			t.Errorf("%+v: first reply %v, want the bogus one", c.fault, &bogus)
		}
		if real.Id != m.Id || real.Question[0] != m.Question[0] || len(real.Answer) != 1 ||
			real.Answer[0].(*dns.A).A.String() != "192.0.2.1" {
			t.Errorf("%+v: second reply %v, want the real one", c.fault, &real)
		}
		// Over TCP there is no spoofing.
		if r := mustQuery(t, s, "tcp", "www.example.", dns.TypeA); len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "192.0.2.1" {
			t.Errorf("%+v: TCP answer %v, want the real one", c.fault, r.Answer)
		}
	}
	// miekg's client skips replies with the wrong ID.
	s.SetFault("www.example.", Fault{SpoofID: true})
	if r := mustQuery(t, s, "udp", "www.example.", dns.TypeA); len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "192.0.2.1" {
		t.Errorf("client: answer %v, want the real one", r.Answer)
	}
}

func TestFaultMalformed(t *testing.T) {
	s := NewServer(t, testZone)
	s.SetFault("www.example.", Fault{Malformed: true})
	m := new(dns.Msg).SetQuestion("www.example.", dns.TypeA)
	b := rawExchange(t, s, m, 1)[0]
	if len(b) < 2 || uint16(b[0])<<8|uint16(b[1]) != m.Id {
		t.Errorf("reply % x does not start with ID %#04x", b, m.Id)
	}
	if err := new(dns.Msg).Unpack(b); err == nil {
		t.Errorf("reply % x unpacks", b)
	}
	for _, network := range []string{"udp", "tcp"} {
		if _, err := query(t, s, network, "www.example.", dns.TypeA, false); err == nil {
			t.Errorf("%s: no error from the client", network)
		}
	}
}

func TestCounters(t *testing.T) {
	s := NewServer(t, testZone)
	mustQuery(t, s, "udp", "www.example.", dns.TypeA)
	mustQuery(t, s, "udp", "WWW.example.", dns.TypeA)
	mustQuery(t, s, "tcp", "www.example.", dns.TypeAAAA)
	mustQuery(t, s, "udp", "www.other.test.", dns.TypeA) // refused, still counted
	cases := []struct {
		name  string
		qtype uint16
		want  int64
	}{
		{"www.example.", dns.TypeA, 2},
		{"www.example", dns.TypeAAAA, 1},
		{"WWW.EXAMPLE.", 0, 3},
		{"www.example.", dns.TypeMX, 0},
		{"www.other.test.", dns.TypeA, 1},
		{"nope.example.", 0, 0},
	}
	for _, c := range cases {
		if got := s.QueryCount(c.name, c.qtype); got != c.want {
			t.Errorf("QueryCount(%q, %d) = %d, want %d", c.name, c.qtype, got, c.want)
		}
	}
	if got := s.Queries(); got != 4 {
		t.Errorf("Queries() = %d, want 4", got)
	}
	if got := s.TCPQueries(); got != 1 {
		t.Errorf("TCPQueries() = %d, want 1", got)
	}
	var sum int64
	for _, n := range s.PerSecond() {
		sum += n
	}
	if sum != 4 {
		t.Errorf("PerSecond() %v sums to %d, want 4", s.PerSecond(), sum)
	}

	// Messages that are not queries are counted as received.
	conn, err := net.Dial("udp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	conn.Write([]byte{1, 2, 3})
	conn.Close()
	waitQueries(t, s, 5)

	s.ResetCounts()
	if s.Queries() != 0 || s.TCPQueries() != 0 || s.QueryCount("www.example.", 0) != 0 {
		t.Errorf("after ResetCounts: %d queries, %d TCP, %d www", s.Queries(), s.TCPQueries(), s.QueryCount("www.example.", 0))
	}
	if ps := s.PerSecond(); len(ps) != 1 || ps[0] != 0 {
		t.Errorf("after ResetCounts: PerSecond() = %v, want [0]", ps)
	}
}

func TestPerSecond(t *testing.T) {
	start := time.Unix(1000, 0)
	p := newPerSecond(start)
	p.add(start)
	p.add(start.Add(999 * time.Millisecond))
	p.add(start.Add(2 * time.Second))
	p.add(start.Add(600 * time.Second)) // beyond the first chunk
	got := p.snapshot(start.Add(600*time.Second + time.Millisecond))
	if len(got) != 601 || got[0] != 2 || got[1] != 0 || got[2] != 1 || got[600] != 1 {
		t.Errorf("snapshot: len %d, [0]=%d [1]=%d [2]=%d [600]=%d; want 601, 2, 0, 1, 1",
			len(got), got[0], got[1], got[2], got[600])
	}
}

func TestAddRecordsRemoveName(t *testing.T) {
	s := NewServer(t, testZone)
	if err := s.AddRecords("new.example. 60 IN A 192.0.2.9\nwww.example. 300 IN A 192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	if r := mustQuery(t, s, "udp", "new.example.", dns.TypeA); len(r.Answer) != 1 {
		t.Errorf("added name: answer %v", r.Answer)
	}
	if r := mustQuery(t, s, "udp", "www.example.", dns.TypeA); len(r.Answer) != 1 {
		t.Errorf("re-added record duplicated: answer %v", r.Answer)
	}

	s.RemoveName("NEW.example")
	if r := mustQuery(t, s, "udp", "new.example.", dns.TypeA); r.Rcode != dns.RcodeNameError {
		t.Errorf("removed name: rcode %s, want NXDOMAIN", dns.RcodeToString[r.Rcode])
	}
	s.RemoveName("a.b.example.")
	if r := mustQuery(t, s, "udp", "b.example.", dns.TypeA); r.Rcode != dns.RcodeNameError {
		t.Errorf("former empty non-terminal: rcode %s, want NXDOMAIN", dns.RcodeToString[r.Rcode])
	}

	// A new zone, then a name in it.
	if err := s.AddRecords(`$ORIGIN other.test.
@ 300 IN SOA ns hostmaster 1 3600 600 86400 60
www 300 IN A 192.0.2.10`); err != nil {
		t.Fatal(err)
	}
	if r := mustQuery(t, s, "udp", "out.example.", dns.TypeA); len(r.Answer) != 2 {
		t.Errorf("CNAME into a new zone: answer %v, want CNAME and A", r.Answer)
	}
	s.RemoveName("other.test.")
	if r := mustQuery(t, s, "udp", "www.other.test.", dns.TypeA); r.Rcode != dns.RcodeRefused {
		t.Errorf("removed zone apex: rcode %s, want REFUSED", dns.RcodeToString[r.Rcode])
	}

	for _, bad := range []string{
		"www.elsewhere. 300 IN A 192.0.2.1",
		"www.example. 300 IN A 192.0.2.300",
		"relative 300 IN A 192.0.2.1",
	} {
		if err := s.AddRecords(bad); err == nil || !strings.HasPrefix(err.Error(), "dnstest: ") {
			t.Errorf("AddRecords(%q) = %v, want a dnstest error", bad, err)
		}
	}
}

func TestStartErrors(t *testing.T) {
	for _, zone := range []string{
		"www.example. 300 IN A 192.0.2.1", // no SOA
		"example. 300 IN SOA broken",
	} {
		if s, err := Start(zone); err == nil {
			s.Close()
			t.Errorf("Start(%q) succeeded", zone)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	s := NewServer(t, testZone)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := range 50 {
				network := "udp"
				if j%10 == 0 {
					network = "tcp"
				}
				if _, err := query(t, s, network, fmt.Sprintf("n%d.example.", j%5), dns.TypeA, false); err != nil {
					t.Error(err)
					return
				}
			}
		})
		wg.Go(func() {
			for j := range 50 {
				name := fmt.Sprintf("n%d.example.", j%5)
				switch j % 4 {
				case 0:
					s.AddRecords(fmt.Sprintf("%s 60 IN A 192.0.2.%d", name, i))
				case 1:
					s.RemoveName(name)
				case 2:
					s.SetFault(name, Fault{Rcode: dns.RcodeServerFailure})
				case 3:
					s.ClearFaults()
					s.QueryCount(name, 0)
					s.PerSecond()
				}
			}
		})
	}
	wg.Wait()
	if s.Queries() != 200 {
		t.Errorf("Queries() = %d, want 200", s.Queries())
	}
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	s, err := Start(testZone)
	if err != nil {
		t.Fatal(err)
	}
	s.SetFault("www.example.", Fault{Delay: time.Hour})
	s.SetFault("mail.example.", Fault{SpoofID: true, Delay: time.Hour})
	mustQuery(t, s, "tcp", "mx.example.", dns.TypeA)
	// Leave delayed replies pending over UDP and TCP, and an idle TCP
	// connection open.
	for _, name := range []string{"www.example.", "mail.example."} {
		for _, network := range []string{"udp", "tcp"} {
			conn, err := dns.Dial(network, s.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if err := conn.WriteMsg(new(dns.Msg).SetQuestion(name, dns.TypeA)); err != nil {
				t.Fatal(err)
			}
		}
	}
	idle, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	waitQueries(t, s, 5)

	start := time.Now()
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %v", d)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines after Close, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := query(t, s, "tcp", "www.example.", dns.TypeA, false); err == nil {
		t.Errorf("query after Close answered")
	}
}

func BenchmarkServeUDP(b *testing.B) {
	s := NewServer(b, testZone)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		conn, err := dns.Dial("udp", s.Addr())
		if err != nil {
			b.Error(err)
			return
		}
		defer conn.Close()
		m := new(dns.Msg).SetQuestion("alias.example.", dns.TypeA)
		for pb.Next() {
			if err := conn.WriteMsg(m); err != nil {
				b.Error(err)
				return
			}
			if _, err := conn.ReadMsg(); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func TestSetAuthenticated(t *testing.T) {
	s := NewServer(t, testZone)
	ask := func(name string, ad bool) bool {
		t.Helper()
		m := new(dns.Msg).SetQuestion(name, dns.TypeA)
		m.AuthenticatedData = ad
		r, err := dns.Exchange(m, s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		return r.AuthenticatedData
	}
	if ask("www.example.", true) {
		t.Error("AD before SetAuthenticated")
	}
	s.SetAuthenticated("Example")
	if !ask("www.example.", true) || !ask("nx.example.", true) {
		t.Error("no AD for an answer and a denial in the zone")
	}
	if ask("www.example.", false) {
		t.Error("AD without AD or DO asked")
	}
}
