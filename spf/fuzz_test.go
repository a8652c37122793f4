package spf

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// wildResolver answers every query: every name has the same TXT record,
// ten MX hosts, an address and a dozen PTR names, so that a fuzzed record
// can include, redirect and loop as much as it likes.
type wildResolver struct {
	record  string
	queries atomic.Int64
}

func (w *wildResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	w.queries.Add(1)
	return []string{w.record}, nil
}

func (w *wildResolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	w.queries.Add(1)
	var mxs []*net.MX
	for i := range 10 {
		mxs = append(mxs, &net.MX{Host: "mx" + strconv.Itoa(i) + ".example.com.", Pref: uint16(i)})
	}
	return mxs, nil
}

func (w *wildResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	w.queries.Add(1)
	if network == "ip6" {
		return []netip.Addr{netip.MustParseAddr("2001:db8::1")}, nil
	}
	return []netip.Addr{netip.MustParseAddr("198.51.100.1")}, nil
}

func (w *wildResolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	w.queries.Add(1)
	var names []string
	for i := range 12 {
		names = append(names, "host"+strconv.Itoa(i)+".example.com.")
	}
	return names, nil
}

// maxQueries is the most DNS work one check may do with the default
// limits: the initial TXT lookup, 10 terms of at most 1 + 10 queries (mx),
// the PTR lookup and its 10 validations (shared by ptr and %{p}), and one
// exp lookup.
const maxQueries = 1 + 10*(1+10) + 1 + 10 + 1

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"v=spf1 -all",
		"v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 a mx/24//64 ptr ~all",
		"v=spf1 include:_spf.example.com exists:%{ir}.%{l1r-}.%{d2} redirect=%{d}",
		"v=spf1 a:%{H}.bar exp=%{o}.exp.example.com -all",
		"v=spf1 moo.cow-far_out=man:dog/cat x=%{c}%% -all",
		"v=spf1 mx mx mx mx mx mx mx mx mx mx mx",
		"v=spf1 ptr:%{p} exists:%{p}.%{p} -all",
		"V=SPF1 A:FOO:BAR/BAZ.EXAMPLE.COM//64 ?ALL",
		"v=spf1 a//129 ip4:1.2.3.4/032",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rec, err := parseRecord(s)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || !strings.HasPrefix(err.Error(), "spf: syntax error") {
				t.Fatalf("%q: error %v", s, err)
			}
			return
		}
		for _, m := range rec.mechs {
			if !strings.Contains(s, m.term) {
				t.Fatalf("%q: term %q not in the record", s, m.term)
			}
			if m.spec != "" {
				if err := checkDomainSpec(m.term, m.spec); err != nil {
					t.Fatalf("%q: spec %q: %v", s, m.spec, err)
				}
			}
			if (m.kind == kindIP4 || m.kind == kindIP6) && m.prefix.Addr().Is4() != (m.kind == kindIP4) {
				t.Fatalf("%q: %q gave %v", s, m.term, m.prefix)
			}
			if m.bits4 < 0 || m.bits4 > 32 || m.bits6 < 0 || m.bits6 > 128 {
				t.Fatalf("%q: %q: CIDR %d %d", s, m.term, m.bits4, m.bits6)
			}
		}

		// Whatever the record says, with a resolver that answers
		// everything, the check ends within the RFC's DNS work.
		for _, ip := range []string{"198.51.100.1", "2001:db8::1", "192.0.2.99"} {
			w := &wildResolver{record: s}
			c := Checker{Resolver: w}
			v := c.Check(context.Background(), netip.MustParseAddr(ip), "helo.example.com", "user@example.com")
			if n := w.queries.Load(); n > maxQueries {
				t.Fatalf("%q from %s: %d queries", s, ip, n)
			}
			if (v.Err != nil) != (v.Result == TempError || v.Result == PermError) {
				t.Fatalf("%q from %s: %v with error %v", s, ip, v.Result, v.Err)
			}
		}
	})
}

func FuzzMacro(f *testing.F) {
	for _, s := range []string{
		"%{s}", "%{ir}.%{v}._spf.%{d2}", "%{l1r-}.lp.%{o}", "%{L}%%%_%-",
		"%{d99999999999999}", "%{c} %{r} %{t}", "%{p}.example.com",
		"%{x}", "%", "%{d0}", "%{dr.-+,/_=}",
	} {
		f.Add(s, "strong-bad", uint8(modeDomain))
		f.Add(s, "a.b-c+d", uint8(modeExplain))
	}
	f.Fuzz(func(t *testing.T, s, local string, m uint8) {
		mode := macroMode(m % 3)
		d := &macroData{
			sender:   local + "@example.com",
			local:    local,
			origin:   "example.com",
			domain:   "sub.example.com",
			helo:     "helo.example.org",
			ip:       netip.MustParseAddr("2001:db8::cb01"),
			receiver: "mx.example.net",
			ptr:      func() string { return "mail.example.com" },
		}
		out, tail, err := expand(s, mode, d)
		_, checkTail, checkErr := expand(s, mode, nil)
		if (checkErr == nil) != (err == nil || errors.Is(err, ErrExpansionTooLong)) {
			t.Fatalf("%q: checking gives %v, expanding %v", s, checkErr, err)
		}
		if err != nil {
			return
		}
		if tail != checkTail || !strings.HasSuffix(s, tail) {
			t.Fatalf("%q: tail %q, %q", s, tail, checkTail)
		}
		if len(out) > maxExpansion {
			t.Fatalf("%q: %d bytes", s, len(out))
		}
		if !strings.Contains(s, "%") && out != s {
			t.Fatalf("%q: literal expanded to %q", s, out)
		}
		if name, ok := queryName(out); ok && (len(name) > 253 || !validName(name)) {
			t.Fatalf("%q: query name %q", out, name)
		}
	})
}
