package mx

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/miekg/dns"

	"github.com/maildns/maildns/resolver"
)

// fakeResolver answers from an in-memory zone, like a recursive resolver
// would: CNAME chains followed, NXDOMAIN for names without records, NODATA
// for names without records of the type asked. It counts the queries.
type fakeResolver struct {
	records  map[string][]dns.RR // by lower-case owner name
	fail     map[key]error       // queries that fail
	answers  map[key]*resolver.Answer
	stale    map[key]bool // answers served stale
	mu       sync.Mutex   // protects queries
	queries  map[key]int
	typeSeen map[uint16]int
}

type key struct {
	name  string
	qtype uint16
}

// newFake parses zone, one record per line in presentation format
// ("mx1.example.com. A 192.0.2.1"); blank lines are ignored.
func newFake(zone string) *fakeResolver {
	f := &fakeResolver{
		records:  make(map[string][]dns.RR),
		fail:     make(map[key]error),
		answers:  make(map[key]*resolver.Answer),
		stale:    make(map[key]bool),
		queries:  make(map[key]int),
		typeSeen: make(map[uint16]int),
	}
	for line := range strings.Lines(zone) {
		if strings.TrimSpace(line) == "" {
			continue
		}
		rr, err := dns.NewRR(line)
		if err != nil {
			panic(fmt.Sprintf("fake zone: %q: %v", line, err))
		}
		f.add(rr)
	}
	return f
}

func (f *fakeResolver) add(rr dns.RR) {
	name := strings.ToLower(rr.Header().Name)
	f.records[name] = append(f.records[name], rr)
}

func (f *fakeResolver) Lookup(ctx context.Context, name string, qtype uint16) (*resolver.Answer, error) {
	k := key{strings.ToLower(name), qtype}
	f.mu.Lock()
	f.queries[k]++
	f.typeSeen[qtype]++
	f.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err, ok := f.fail[k]; ok {
		return nil, err
	}
	if ans, ok := f.answers[k]; ok {
		return ans, nil
	}
	ans := &resolver.Answer{Name: k.name, Type: qtype, Stale: f.stale[k]}
	cur := k.name
	for range 8 {
		var found []dns.RR
		var cname *dns.CNAME
		for _, rr := range f.records[cur] {
			if rr.Header().Rrtype == qtype {
				found = append(found, rr)
			} else if c, ok := rr.(*dns.CNAME); ok {
				cname = c
			}
		}
		if len(found) > 0 || cname == nil {
			ans.Records = append(ans.Records, found...)
			break
		}
		ans.Records = append(ans.Records, cname)
		cur = strings.ToLower(cname.Target)
	}
	if len(f.records[cur]) == 0 {
		ans.Rcode = dns.RcodeNameError
	}
	return ans, nil
}

// count returns the number of queries sent and the (name, type) pairs
// asked more than once.
func (f *fakeResolver) count() (n int, repeated []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, c := range f.queries {
		n += c
		if c > 1 {
			repeated = append(repeated, k.name+" "+dns.TypeToString[k.qtype])
		}
	}
	slices.Sort(repeated)
	return n, repeated
}

// timeout is the error a *resolver.Resolver returns when no upstream
// answers.
func timeout(name string, qtype uint16) error {
	return &resolver.LookupError{Name: name, Type: qtype, Upstream: "192.0.2.53:53", Err: resolver.ErrTimeout}
}

// render prints a plan on one line: "[implicit] [stale] pref name addrs;
// ...", with "!Sentinel" for a host's error.
func render(p *Plan) string {
	var parts []string
	if p.Implicit {
		parts = append(parts, "implicit")
	}
	if p.Stale {
		parts = append(parts, "stale")
	}
	for _, h := range p.Hosts {
		s := fmt.Sprintf("%d %s", h.Preference, h.Name)
		for _, a := range h.Addrs {
			s += " " + a.String()
		}
		if h.Err != nil {
			s += " !" + sentinelName(h.Err)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

var sentinels = []struct {
	err  error
	name string
}{
	{ErrNullMX, "ErrNullMX"},
	{ErrNoSuchDomain, "ErrNoSuchDomain"},
	{ErrNoMailHost, "ErrNoMailHost"},
	{ErrBadDomain, "ErrBadDomain"},
	{ErrLookupFailed, "ErrLookupFailed"},
	{ErrHostNotFound, "ErrHostNotFound"},
	{ErrNoAddress, "ErrNoAddress"},
	{ErrAddressLiteral, "ErrAddressLiteral"},
}

// sentinelName names the sentinel of an *Error (its Err field, not those
// of its causes, hence the type assertion and == rather than errors.As and
// errors.Is).
func sentinelName(err error) string {
	e, ok := err.(*Error)
	if !ok {
		return fmt.Sprintf("not an *Error: %T %v", err, err)
	}
	for _, s := range sentinels {
		if e.Err == s.err {
			return s.name
		}
	}
	return fmt.Sprintf("unknown sentinel %v", e.Err)
}

func addrList(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}
