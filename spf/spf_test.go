package spf

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// *net.Resolver must keep satisfying Resolver.
var _ Resolver = (*net.Resolver)(nil)

// run checks sender (or helo) from ip against zone and returns the verdict
// and the queries made.
func run(t *testing.T, zone map[string][]string, ip, helo, sender string) (Verdict, []string) {
	t.Helper()
	f := newFake(t, zone)
	c := Checker{Resolver: f, Receiver: "mx.receiver.example", Now: fixedNow}
	v := c.Check(context.Background(), netip.MustParseAddr(ip), helo, sender)
	return v, f.Queries()
}

func TestResultString(t *testing.T) {
	cases := []struct {
		r    Result
		want string
	}{
		{None, "none"}, {Neutral, "neutral"}, {Pass, "pass"}, {Fail, "fail"},
		{SoftFail, "softfail"}, {TempError, "temperror"}, {PermError, "permerror"},
		{0, "Result(0)"}, {99, "Result(99)"},
	}
	for _, c := range cases {
		if got := c.r.String(); got != c.want {
			t.Errorf("%d: got %q, want %q", c.r, got, c.want)
		}
	}
}

func TestCheck(t *testing.T) {
	zone := map[string][]string{
		"example.com":      {"TXT v=spf1 ip4:192.0.2.0/24 ~all"},
		"fail.example.com": {"TXT v=spf1 ip4:192.0.2.1 -all"},
		"neutral.example":  {"TXT v=spf1 ?all"},
		"helo.example.com": {"TXT v=spf1 a -all", "A 192.0.2.9"},
	}
	cases := []struct {
		ip, helo, sender string
		want             Result
	}{
		{"192.0.2.7", "helo.example.com", "alice@example.com", Pass},
		{"198.51.100.1", "helo.example.com", "alice@example.com", SoftFail},
		{"198.51.100.1", "helo.example.com", "alice@fail.example.com", Fail},
		{"192.0.2.1", "helo.example.com", "alice@FAIL.Example.COM.", Pass},
		{"192.0.2.1", "helo.example.com", "bob@neutral.example", Neutral},
		{"192.0.2.1", "helo.example.com", "bob@nowhere.example", None},
		// The HELO identity, for a null sender.
		{"192.0.2.9", "helo.example.com", "", Pass},
		{"192.0.2.8", "helo.example.com", "", Fail},
		// Not a checkable domain (§4.3): None, without a lookup.
		{"192.0.2.1", "[192.0.2.1]", "", None},
		{"192.0.2.1", "localhost", "", None},
		{"192.0.2.1", "h.example", "x@a..example.com", None},
		{"192.0.2.1", "h.example", "x@" + strings.Repeat("a", 64) + ".example.com", None},
		{"192.0.2.1", "h.example", "x@" + strings.Repeat("abcdefghi.", 26) + "com", None},
		{"192.0.2.1", "h.example", "x@example.123", None},
		{"192.0.2.1", "h.example", "x@exa mple.com", None},
	}
	for _, c := range cases {
		f := newFake(t, zone)
		got, err := Check(context.Background(), f, netip.MustParseAddr(c.ip), c.helo, c.sender)
		if got != c.want || err != nil {
			t.Errorf("%s %q %q: got %v, %v, want %v", c.ip, c.helo, c.sender, got, err, c.want)
		}
		if c.want == None && !strings.Contains(c.sender, "nowhere") {
			if q := f.Queries(); len(q) != 0 {
				t.Errorf("%q %q: invalid domain queried: %v", c.helo, c.sender, q)
			}
		}
	}
}

func TestVerdict(t *testing.T) {
	zone := map[string][]string{
		"example.com":       {"TXT v=spf1 include:_spf.example.com redirect=other.example.com"},
		"_spf.example.com":  {"TXT v=spf1 ip4:192.0.2.0/28 -all"},
		"other.example.com": {"TXT v=spf1 ip6:2001:db8::/32 -all exp=why.example.com"},
		"why.example.com":   {"TXT %{i} is not one of %{d}'s senders"},
		"helo.example.com":  {"TXT v=spf1 ip4:192.0.2.200"},
	}
	v, _ := run(t, zone, "192.0.2.5", "helo.example.com", "a@example.com")
	if v.Result != Pass || v.Mechanism != "include:_spf.example.com" || v.Err != nil || v.Explanation != "" {
		t.Errorf("include: got %+v", v)
	}
	if v.Domain != "example.com" || v.Identity != IdentityMailFrom || v.Sender != "a@example.com" ||
		v.Helo != "helo.example.com" || v.IP != netip.MustParseAddr("192.0.2.5") || v.Receiver != "mx.receiver.example" {
		t.Errorf("inputs: got %+v", v)
	}

	v, _ = run(t, zone, "2001:db8::1", "helo.example.com", "a@example.com")
	if v.Result != Pass || v.Mechanism != "ip6:2001:db8::/32" {
		t.Errorf("redirect: got %+v", v)
	}
	v, _ = run(t, zone, "198.51.100.1", "helo.example.com", "a@example.com")
	if v.Result != Fail || v.Mechanism != "-all" || v.Explanation != "198.51.100.1 is not one of other.example.com's senders" {
		t.Errorf("redirect fail: got %+v", v)
	}

	// IPv4-mapped IPv6 clients are IPv4 clients (§5).
	v, _ = run(t, zone, "::ffff:192.0.2.5", "helo.example.com", "a@example.com")
	if v.Result != Pass || v.IP != netip.MustParseAddr("192.0.2.5") {
		t.Errorf("mapped: got %+v", v)
	}

	v, _ = run(t, zone, "192.0.2.5", "helo.example.com", "")
	if v.Result != Neutral || v.Mechanism != "default" || v.Identity != IdentityHELO || v.Domain != "helo.example.com" {
		t.Errorf("helo default: got %+v", v)
	}
}

func TestRecordSelection(t *testing.T) {
	cases := []struct {
		name string
		txt  []string
		want Result
		err  error
	}{
		{"one", []string{"TXT v=spf1 +all"}, Pass, nil},
		{"case", []string{"TXT V=SpF1 +ALL"}, Pass, nil},
		{"others ignored", []string{"TXT google-site-verification=x", "TXT v=spf1 +all", "TXT v=spf10 -all"}, Pass, nil},
		{"version alone", []string{"TXT v=spf1"}, Neutral, nil},
		{"no space after version", []string{"TXT v=spf1+all"}, None, nil},
		{"strings joined", []string{"TXT v=spf1 ip4:192.0.2.1|/32 -all"}, Pass, nil},
		{"strings joined without space", []string{"TXT v=spf1|+all"}, None, nil},
		{"two records", []string{"TXT v=spf1 +all", "TXT v=spf1 -all"}, PermError, ErrMultipleRecords},
		{"two identical", []string{"TXT v=spf1 +all", "TXT v=spf1 +all"}, PermError, ErrMultipleRecords},
		{"no SPF", []string{"TXT hello"}, None, nil},
		{"tab after version", []string{"TXT v=spf1\t-all"}, None, nil},
		{"no TXT", []string{"A 192.0.2.1"}, None, nil},
		{"spf2.0 is not SPF", []string{"TXT spf2.0/pra +all"}, None, nil},
	}
	for _, c := range cases {
		v, _ := run(t, map[string][]string{"example.com": c.txt}, "192.0.2.1", "h.example.com", "a@example.com")
		if v.Result != c.want || !errors.Is(v.Err, c.err) {
			t.Errorf("%s: got %v (%v), want %v (%v)", c.name, v.Result, v.Err, c.want, c.err)
		}
	}
}

func TestSyntaxErrors(t *testing.T) {
	cases := []string{
		"v=spf1 ip4:192.0.2.1 -all moo", // after a matching term
		"v=spf1 ip4:192.0.2.1 foo:bar",
		"v=spf1 -all.",
		"v=spf1 all:x",
		"v=spf1 a:",
		"v=spf1 a:example",
		"v=spf1 a:example.com.:80",
		"v=spf1 a:example.123",
		"v=spf1 a:example.-com",
		"v=spf1 a/33",
		"v=spf1 a//129",
		"v=spf1 a/24/64",
		"v=spf1 a/024",
		"v=spf1 mx/",
		"v=spf1 ptr/24",
		"v=spf1 include",
		"v=spf1 include:example.net/24",
		"v=spf1 exists",
		"v=spf1 ip4",
		"v=spf1 ip4:192.0.2",
		"v=spf1 ip4:192.0.2.01",
		"v=spf1 ip4:192.0.2.1/33",
		"v=spf1 ip4:192.0.2.1//32",
		"v=spf1 ip4:2001:db8::1",
		"v=spf1 ip6:192.0.2.1",
		"v=spf1 ip6:2001:db8::1/129",
		"v=spf1 ip6:fe80::1%eth0",
		"v=spf1 redirect=a.example redirect=b.example",
		"v=spf1 exp=a.example exp=b.example",
		"v=spf1 exp=",
		"v=spf1 redirect=",
		"v=spf1 redirect:a.example.com",
		"v=spf1 1up=x",
		"v=spf1 =x",
		"v=spf1 foo=%x",
		"v=spf1 a:%{r}.example.com",
		"v=spf1 exists:%{c}.example.com",
		"v=spf1 exp=%{t}.example.com",
		"v=spf1 a:%{d0}.example.com",
		"v=spf1 a:%{d}x",
		"v=spf1 -all\tip4:192.0.2.1",
		"v=spf1 a:caf\xc3\xa9.example.com",
		"v=spf1 \x80all",
	}
	for _, txt := range cases {
		v, _ := run(t, map[string][]string{"example.com": {"TXT " + txt}}, "192.0.2.1", "h.example.com", "a@example.com")
		var se *SyntaxError
		if v.Result != PermError || !errors.As(v.Err, &se) {
			t.Errorf("%q: got %v (%v), want permerror with a *SyntaxError", txt, v.Result, v.Err)
			continue
		}
		if se.Domain != "example.com" || !strings.HasPrefix(v.Err.Error(), "spf: syntax error") {
			t.Errorf("%q: error %q", txt, v.Err)
		}
	}

	// Unknown modifiers are ignored, whatever macros they hold.
	for _, txt := range []string{
		"v=spf1 default=deny +all",
		"v=spf1 moo.cow-far_out=man:dog/cat +all",
		"v=spf1 x=%{c}%{r}%{t}%{l} +all",
		"v=spf1 +all ra=postmaster",
	} {
		v, _ := run(t, map[string][]string{"example.com": {"TXT " + txt}}, "192.0.2.1", "h.example.com", "a@example.com")
		if v.Result != Pass {
			t.Errorf("%q: got %v (%v), want pass", txt, v.Result, v.Err)
		}
	}
}

func TestCIDR(t *testing.T) {
	zone := map[string][]string{
		"host.example.com": {"A 192.0.2.10", "AAAA 2001:db8:1:2::10"},
		"mx.example.com":   {"MX 10 host.example.com"},
	}
	cases := []struct {
		mech, ip string
		want     Result
	}{
		{"a:host.example.com", "192.0.2.10", Pass},
		{"a:host.example.com", "192.0.2.11", Neutral},
		{"a:host.example.com/24", "192.0.2.11", Pass},
		{"a:host.example.com/24", "192.0.3.11", Neutral},
		{"a:host.example.com//64", "2001:db8:1:2::99", Pass},
		{"a:host.example.com//64", "2001:db8:1:3::99", Neutral},
		{"a:host.example.com/24//64", "192.0.2.99", Pass},
		{"a:host.example.com/24//64", "2001:db8:1:2::99", Pass},
		{"a:host.example.com/32//128", "2001:db8:1:2::10", Pass},
		{"a:host.example.com/0", "198.51.100.1", Pass},
		{"a:host.example.com//0", "198.51.100.1", Neutral}, // the /0 is for IPv6
		{"a:host.example.com//0", "::ffff:198.51.100.1", Neutral},
		{"mx:mx.example.com/24", "192.0.2.99", Pass},
		{"mx:mx.example.com//48", "2001:db8:1:ffff::1", Pass},
		{"mx:mx.example.com//48", "2001:db8:2::1", Neutral},
		{"ip4:192.0.2.128/25", "192.0.2.200", Pass},
		{"ip4:192.0.2.128/25", "192.0.2.100", Neutral},
		{"ip4:192.0.2.129/25", "192.0.2.200", Pass}, // host bits ignored
		{"ip4:0.0.0.0/0", "203.0.113.1", Pass},
		{"ip4:0.0.0.0/0", "2001:db8::1", Neutral},
		{"ip4:192.0.2.1", "::ffff:192.0.2.1", Pass},
		{"ip6:2001:db8::/32", "2001:db8:ffff::1", Pass},
		{"ip6:::/0", "192.0.2.1", Neutral},
		{"ip6:::ffff:192.0.2.1", "::ffff:192.0.2.1", Neutral}, // the client is IPv4
		{"ip6:::/0", "2001:db8::1", Pass},
		{"IP4:192.0.2.1", "192.0.2.1", Pass},
		{"A:HOST.EXAMPLE.COM", "192.0.2.10", Pass},
	}
	for _, c := range cases {
		z := map[string][]string{"example.com": {"TXT v=spf1 " + c.mech}}
		for k, v := range zone {
			z[k] = v
		}
		v, _ := run(t, z, c.ip, "h.example.com", "a@example.com")
		if v.Result != c.want {
			t.Errorf("%q from %s: got %v (%v), want %v", c.mech, c.ip, v.Result, v.Err, c.want)
		}
	}
}

func TestAddressFamily(t *testing.T) {
	zone := map[string][]string{
		"example.com":                {"TXT v=spf1 a mx a:other.example.com exists:%{ir}.list.example.com -all", "MX 10 mx.example.com"},
		"mx.example.com":             {"AAAA 2001:db8::25"},
		"1.2.0.192.list.example.com": {"A 127.0.0.2"},
	}
	// IPv4 client: only A queries. Names with no A are void lookups,
	// the IPv6-only MX host included (as pyspf and Mail::SPF count
	// them): the third, other.example.com, ends the check before the
	// exists.
	v, q := run(t, zone, "192.0.2.1", "h.example.com", "a@example.com")
	if v.Result != PermError || !errors.Is(v.Err, ErrTooManyVoidLookups) {
		t.Errorf("IPv4: got %v (%v) by %q", v.Result, v.Err, v.Mechanism)
	}
	want := []string{
		"TXT example.com.", "A example.com.", "MX example.com.", "A mx.example.com.",
		"A other.example.com.",
	}
	if !slices.Equal(q, want) {
		t.Errorf("IPv4 queries:\n got %q\nwant %q", q, want)
	}

	v, q = run(t, zone, "2001:db8::25", "h.example.com", "a@example.com")
	if v.Result != Pass || v.Mechanism != "mx" {
		t.Errorf("IPv6: got %v (%v) by %q", v.Result, v.Err, v.Mechanism)
	}
	want = []string{"TXT example.com.", "AAAA example.com.", "MX example.com.", "AAAA mx.example.com."}
	if !slices.Equal(q, want) {
		t.Errorf("IPv6 queries:\n got %q\nwant %q", q, want)
	}

	// exists looks up A even for an IPv6 client (§5.7).
	z := map[string][]string{
		"example.com":   {"TXT v=spf1 exists:e.example.com -all"},
		"e.example.com": {"A 127.0.0.2"},
	}
	v, q = run(t, z, "2001:db8::1", "h.example.com", "a@example.com")
	if v.Result != Pass || !slices.Equal(q, []string{"TXT example.com.", "A e.example.com."}) {
		t.Errorf("exists from IPv6: got %v, queries %q", v.Result, q)
	}
}

func TestLookupLimit(t *testing.T) {
	cases := []struct {
		name string
		zone map[string][]string
		want Result
		err  error
	}{
		{"ten terms", map[string][]string{
			"example.com": {"TXT v=spf1 a a a a a a a a a a ip4:192.0.2.1", "A 198.51.100.1"},
		}, Pass, nil},
		{"eleven terms", map[string][]string{
			"example.com": {"TXT v=spf1 a a a a a a a a a a a ip4:192.0.2.1", "A 198.51.100.1"},
		}, PermError, ErrTooManyLookups},
		{"terms after a match are not counted", map[string][]string{
			"example.com": {"TXT v=spf1 ip4:192.0.2.1 a a a a a a a a a a a", "A 198.51.100.1"},
		}, Pass, nil},
		{"include and redirect count", map[string][]string{
			"example.com":   {"TXT v=spf1 include:i.example.com a a a a a redirect=r.example.com", "A 198.51.100.1"},
			"i.example.com": {"TXT v=spf1 a a a", "A 198.51.100.1"},
			"r.example.com": {"TXT v=spf1 a +all", "A 198.51.100.1"},
		}, PermError, ErrTooManyLookups},
		{"include and redirect at the limit", map[string][]string{
			"example.com":   {"TXT v=spf1 include:i.example.com a a a a redirect=r.example.com", "A 198.51.100.1"},
			"i.example.com": {"TXT v=spf1 a a a", "A 198.51.100.1"},
			"r.example.com": {"TXT v=spf1 a +all", "A 198.51.100.1"},
		}, Pass, nil},
		{"include loop", map[string][]string{
			"example.com": {"TXT v=spf1 include:example.com -all"},
		}, PermError, ErrTooManyLookups},
		{"include ping-pong", map[string][]string{
			"example.com":   {"TXT v=spf1 include:b.example.com -all"},
			"b.example.com": {"TXT v=spf1 include:example.com -all"},
		}, PermError, ErrTooManyLookups},
		{"redirect loop", map[string][]string{
			"example.com": {"TXT v=spf1 redirect=example.com"},
		}, PermError, ErrTooManyLookups},
		{"redirect via macro", map[string][]string{
			"example.com": {"TXT v=spf1 redirect=x.%{d}"},
		}, PermError, ErrNoRecord},
		{"ptr and exists count", map[string][]string{
			"example.com":            {"TXT v=spf1 ptr ptr ptr ptr ptr ptr ptr ptr ptr ptr exists:e.example.com"},
			"e.example.com":          {"A 198.51.100.1"},
			"1.2.0.192.in-addr.arpa": {"PTR other.example.net"},
		}, PermError, ErrTooManyLookups},
	}
	for _, c := range cases {
		v, q := run(t, c.zone, "192.0.2.1", "h.example.com", "a@example.com")
		if v.Result != c.want || !errors.Is(v.Err, c.err) {
			t.Errorf("%s: got %v (%v), want %v (%v)", c.name, v.Result, v.Err, c.want, c.err)
		}
		// At most the initial TXT, 10 terms of at most 1+10 queries, %{p}
		// and one exp.
		if len(q) > 1+10*11+11+1 {
			t.Errorf("%s: %d queries", c.name, len(q))
		}
	}

	// A loop makes exactly one TXT query per counted term.
	_, q := run(t, map[string][]string{"example.com": {"TXT v=spf1 include:example.com -all"}},
		"192.0.2.1", "h.example.com", "a@example.com")
	if len(q) != 11 {
		t.Errorf("include loop: %d queries, want 11: %q", len(q), q)
	}

	// The limit is configurable, up to 100.
	f := newFake(t, map[string][]string{"example.com": {"TXT v=spf1 redirect=example.com"}})
	c := Checker{Resolver: f, MaxLookups: 1000}
	v := c.Check(context.Background(), netip.MustParseAddr("192.0.2.1"), "h.example.com", "a@example.com")
	if !errors.Is(v.Err, ErrTooManyLookups) || len(f.Queries()) != 101 {
		t.Errorf("MaxLookups 1000: got %v (%v)", v.Result, v.Err)
	}
	c = Checker{Resolver: f, MaxLookups: 3}
	v = c.Check(context.Background(), netip.MustParseAddr("192.0.2.1"), "h.example.com", "a@example.com")
	if !errors.Is(v.Err, ErrTooManyLookups) || len(f.Queries()) != 4 {
		t.Errorf("MaxLookups 3: got %v (%v)", v.Result, v.Err)
	}
}

func TestVoidLookups(t *testing.T) {
	cases := []struct {
		name   string
		record string
		want   Result
		err    error
	}{
		{"two", "a:nx1.example.com mx:nx2.example.com ?all", Neutral, nil},
		{"three", "a:nx1.example.com mx:nx2.example.com exists:nx3.example.com ?all", PermError, ErrTooManyVoidLookups},
		{"nodata counts", "a:aaaa.example.com a:nx1.example.com a:txt.example.com ?all", PermError, ErrTooManyVoidLookups},
		{"empty ptr counts", "ptr ptr ptr ?all", PermError, ErrTooManyVoidLookups},
		{"MX hosts count", "mx:mx.example.com ?all", PermError, ErrTooManyVoidLookups},
		{"two MX hosts", "mx:two.example.com ?all", Neutral, nil},
		{"null MX is not void", "mx:null.example.com mx:null.example.com mx:null.example.com ?all", Neutral, nil},
		{"exp does not count", "a:nx1.example.com a:nx2.example.com exp=nx3.example.com -all", Fail, nil},
		{"unusable names do not query", "a:a..example.com a:a..example.com a:a..example.com a:%{l}.example.com ?all", Neutral, nil},
	}
	zone := map[string][]string{
		"aaaa.example.com": {"AAAA 2001:db8::1"},
		"txt.example.com":  {"TXT hello"},
		"mx.example.com":   {"MX 1 nx1.example.com", "MX 2 nx2.example.com", "MX 3 nx3.example.com", "MX 4 nx4.example.com"},
		"two.example.com":  {"MX 1 nx1.example.com", "MX 2 nx2.example.com"},
		"null.example.com": {"MX 0 ."},
	}
	for _, c := range cases {
		z := map[string][]string{"example.com": {"TXT v=spf1 " + c.record}}
		for k, v := range zone {
			z[k] = v
		}
		v, _ := run(t, z, "192.0.2.1", "h.example.com", "a@example.com")
		if v.Result != c.want || !errors.Is(v.Err, c.err) {
			t.Errorf("%s: got %v (%v), want %v (%v)", c.name, v.Result, v.Err, c.want, c.err)
		}
	}

	f := newFake(t, map[string][]string{"example.com": {"TXT v=spf1 a:nx1.example.com a:nx2.example.com a:nx3.example.com -all"}})
	c := Checker{Resolver: f, MaxVoidLookups: 3}
	if v := c.Check(context.Background(), netip.MustParseAddr("192.0.2.1"), "h", "a@example.com"); v.Result != Fail {
		t.Errorf("MaxVoidLookups 3: got %v (%v)", v.Result, v.Err)
	}
}

// TestPTRValidationVoids: the address lookups that validate PTR names are
// void lookups too when they find nothing, as pyspf counts them.
func TestPTRValidationVoids(t *testing.T) {
	z := map[string][]string{
		"example.com":            {"TXT v=spf1 ptr:example.org ?all"},
		"1.2.0.192.in-addr.arpa": {"PTR a.example.org", "PTR b.example.org", "PTR c.example.org"},
	}
	v, q := run(t, z, "192.0.2.1", "h.example.com", "a@example.com")
	if v.Result != PermError || !errors.Is(v.Err, ErrTooManyVoidLookups) {
		t.Errorf("three PTR names without addresses: got %v (%v), queries %q", v.Result, v.Err, q)
	}
	z["c.example.org"] = []string{"A 192.0.2.1"}
	z["1.2.0.192.in-addr.arpa"] = []string{"PTR a.example.org", "PTR c.example.org"}
	if v, _ := run(t, z, "192.0.2.1", "h.example.com", "a@example.com"); v.Result != Pass {
		t.Errorf("one void, then the name that validates: got %v (%v)", v.Result, v.Err)
	}
}

func TestMXLimit(t *testing.T) {
	mxs := func(n int) []string {
		var lines []string
		for i := range n {
			lines = append(lines, "MX "+strconv.Itoa(i)+" h"+strconv.Itoa(i)+".example.com")
		}
		return lines
	}
	zone := map[string][]string{
		"ten.example.com":    mxs(10),
		"eleven.example.com": mxs(11),
	}
	// Every host has an address (a host without one is a void lookup);
	// only the last matches.
	for i := range 11 {
		zone["h"+strconv.Itoa(i)+".example.com"] = []string{"A 192.0.2.99"}
	}
	zone["h9.example.com"] = []string{"A 192.0.2.1"}
	z := map[string][]string{"example.com": {"TXT v=spf1 mx:ten.example.com -all"}}
	for k, v := range zone {
		z[k] = v
	}
	v, q := run(t, z, "192.0.2.1", "h.example.com", "a@example.com")
	if v.Result != Pass || len(q) != 12 {
		t.Errorf("ten MX: got %v (%v), %d queries", v.Result, v.Err, len(q))
	}
	z["example.com"] = []string{"TXT v=spf1 mx:eleven.example.com -all"}
	v, q = run(t, z, "192.0.2.1", "h.example.com", "a@example.com")
	if v.Result != PermError || !errors.Is(v.Err, ErrTooManyMX) || len(q) != 2 {
		t.Errorf("eleven MX: got %v (%v), %d queries", v.Result, v.Err, len(q))
	}

	// A hostile record: ten mx terms, each with ten hosts that exist
	// and do not match, is the most DNS work the RFC allows: 1 +
	// 10*(1+10) queries. (Hosts that do not exist stop it at the third.)
	z["example.com"] = []string{"TXT v=spf1 " + strings.Repeat("mx:ten.example.com ", 10) + "mx:ten.example.com -all"}
	z["h9.example.com"] = []string{"A 192.0.2.99"}
	v, q = run(t, z, "192.0.2.1", "h.example.com", "a@example.com")
	if v.Result != PermError || !errors.Is(v.Err, ErrTooManyLookups) || len(q) != 1+10*11 {
		t.Errorf("ten mx terms: got %v (%v), %d queries", v.Result, v.Err, len(q))
	}
	delete(z, "h0.example.com")
	delete(z, "h1.example.com")
	delete(z, "h2.example.com")
	v, q = run(t, z, "192.0.2.1", "h.example.com", "a@example.com")
	if v.Result != PermError || !errors.Is(v.Err, ErrTooManyVoidLookups) || len(q) != 5 {
		t.Errorf("ten mx terms, hosts missing: got %v (%v), %d queries", v.Result, v.Err, len(q))
	}
}

func TestPTR(t *testing.T) {
	ptrs := []string{}
	for i := range 10 {
		ptrs = append(ptrs, "PTR other"+strconv.Itoa(i)+".example.net")
	}
	zone := map[string][]string{
		"example.com":            {"TXT v=spf1 ptr -all"},
		"sub.example.com":        {"TXT v=spf1 ptr:mail.example.com -all"},
		"1.2.0.192.in-addr.arpa": append(slices.Clone(ptrs), "PTR mail.example.com"),
		"2.2.0.192.in-addr.arpa": {"PTR mail.example.com", "PTR fake.example.com"},
		"3.2.0.192.in-addr.arpa": {"PTR MAIL.Example.COM."},
		"4.2.0.192.in-addr.arpa": {"PTR fake.example.com", "PTR example.com"},
		"5.2.0.192.in-addr.arpa": {"TIMEOUT"},
		"mail.example.com":       {"A 192.0.2.1", "A 192.0.2.2", "A 192.0.2.3"},
		"fake.example.com":       {"A 198.51.100.1"},
	}
	zone["example.com"] = append(zone["example.com"], "A 192.0.2.4")
	cases := []struct {
		ip, sender string
		want       Result
		validated  int // A queries
	}{
		{"192.0.2.1", "a@example.com", Fail, 0},     // the 11th name is ignored; the others are not under example.com
		{"192.0.2.2", "a@example.com", Pass, 1},     // mail.example.com validates
		{"192.0.2.3", "a@example.com", Pass, 1},     // case and trailing dot do not matter
		{"192.0.2.4", "a@example.com", Pass, 2},     // fake.example.com does not validate; example.com does
		{"192.0.2.5", "a@example.com", Fail, 0},     // a DNS error means no match (§5.5)
		{"192.0.2.2", "a@sub.example.com", Pass, 1}, // ptr:target
		{"192.0.2.4", "a@sub.example.com", Fail, 0}, // example.com is not under mail.example.com
		{"2001:db8::1", "a@example.com", Fail, 0},   // void
	}
	for _, c := range cases {
		v, q := run(t, zone, c.ip, "h.example.com", c.sender)
		if v.Result != c.want || v.Err != nil {
			t.Errorf("%s %s: got %v (%v), want %v", c.ip, c.sender, v.Result, v.Err, c.want)
		}
		n := 0
		for _, s := range q {
			if strings.HasPrefix(s, "A ") {
				n++
			}
		}
		if n != c.validated {
			t.Errorf("%s %s: %d A queries, want %d: %q", c.ip, c.sender, n, c.validated, q)
		}
	}
}

func TestTempError(t *testing.T) {
	zone := map[string][]string{
		"timeout.example.com":  {"TIMEOUT"},
		"servfail.example.com": {"SERVFAIL"},
		"inc.example.com":      {"TXT v=spf1 a:timeout.example.com -all"},
		"mx.example.com":       {"MX 10 timeout.example.com"},
		"exp.example.com":      {"TXT v=spf1 -all exp=timeout.example.com"},
	}
	cases := []struct {
		name    string
		record  string
		want    Result
		timeout bool
	}{
		{"a", "a:timeout.example.com -all", TempError, true},
		{"a servfail", "a:servfail.example.com -all", TempError, false},
		{"mx", "mx:servfail.example.com -all", TempError, false},
		{"mx host", "mx:mx.example.com -all", TempError, true},
		{"exists", "exists:timeout.example.com -all", TempError, true},
		{"include", "include:inc.example.com -all", TempError, true},
		{"include target", "include:servfail.example.com -all", TempError, false},
		{"redirect target", "redirect=timeout.example.com", TempError, true},
		{"after a match", "+all a:timeout.example.com", Pass, false},
		{"exp is ignored", "redirect=exp.example.com", Fail, false},
	}
	for _, c := range cases {
		z := map[string][]string{"example.com": {"TXT v=spf1 " + c.record}}
		for k, v := range zone {
			z[k] = v
		}
		v, _ := run(t, z, "192.0.2.1", "h.example.com", "a@example.com")
		if v.Result != c.want {
			t.Errorf("%s: got %v (%v), want %v", c.name, v.Result, v.Err, c.want)
			continue
		}
		if c.want != TempError {
			continue
		}
		var le *LookupError
		var de *net.DNSError
		if !errors.As(v.Err, &le) || !errors.As(v.Err, &de) || de.IsTimeout != c.timeout {
			t.Errorf("%s: error %#v", c.name, v.Err)
		}
		if !strings.HasPrefix(v.Err.Error(), "spf: ") {
			t.Errorf("%s: error %q", c.name, v.Err)
		}
	}

	// The domain's own TXT lookup.
	v, _ := run(t, zone, "192.0.2.1", "h.example.com", "a@timeout.example.com")
	if v.Result != TempError {
		t.Errorf("top-level timeout: got %v (%v)", v.Result, v.Err)
	}
}

// blockingResolver answers nothing until the context ends.
type blockingResolver struct{}

func (blockingResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	<-ctx.Done()
	return nil, &net.DNSError{Err: ctx.Err().Error(), Name: name, IsTimeout: true}
}

func (blockingResolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func (blockingResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func (blockingResolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func TestContext(t *testing.T) {
	ip := netip.MustParseAddr("192.0.2.1")

	c := Checker{Resolver: blockingResolver{}, Timeout: 10 * time.Millisecond}
	v := c.Check(context.Background(), ip, "h.example.com", "a@example.com")
	var de *net.DNSError
	if v.Result != TempError || !errors.As(v.Err, &de) || !de.IsTimeout {
		t.Errorf("Timeout: got %v (%v)", v.Result, v.Err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f := newFake(t, map[string][]string{"example.com": {"TXT v=spf1 +all"}})
	res, err := Check(ctx, f, ip, "h.example.com", "a@example.com")
	if res != TempError || !errors.Is(err, context.Canceled) || len(f.Queries()) != 0 {
		t.Errorf("canceled: got %v (%v)", res, err)
	}
}

func TestInvalidIP(t *testing.T) {
	f := newFake(t, nil)
	res, err := Check(context.Background(), f, netip.Addr{}, "h.example.com", "a@example.com")
	if res != TempError || !errors.Is(err, ErrInvalidIP) {
		t.Errorf("got %v (%v)", res, err)
	}
}

func TestIncludeResults(t *testing.T) {
	cases := []struct {
		inner string
		want  Result
		err   error
	}{
		{"v=spf1 +all", Pass, nil},
		{"v=spf1 -all", SoftFail, nil},
		{"v=spf1 ~all", SoftFail, nil},
		{"v=spf1 ?all", SoftFail, nil},
		{"v=spf1", SoftFail, nil},
		{"v=spf1 moo", PermError, anyError},
		{"not spf", PermError, ErrNoRecord},
	}
	for _, c := range cases {
		z := map[string][]string{
			"example.com":   {"TXT v=spf1 include:i.example.com ~all"},
			"i.example.com": {"TXT " + c.inner},
		}
		v, _ := run(t, z, "192.0.2.1", "h.example.com", "a@example.com")
		if v.Result != c.want || !errIs(v.Err, c.err) {
			t.Errorf("%q: got %v (%v), want %v", c.inner, v.Result, v.Err, c.want)
		}
	}
	z := map[string][]string{"example.com": {"TXT v=spf1 include:nx.example.com ~all"}}
	if v, _ := run(t, z, "192.0.2.1", "h.example.com", "a@example.com"); !errors.Is(v.Err, ErrNoRecord) {
		t.Errorf("include of NXDOMAIN: got %v (%v)", v.Result, v.Err)
	}
	z = map[string][]string{"example.com": {"TXT v=spf1 redirect=nx.example.com"}}
	if v, _ := run(t, z, "192.0.2.1", "h.example.com", "a@example.com"); v.Result != PermError || !errors.Is(v.Err, ErrNoRecord) {
		t.Errorf("redirect to NXDOMAIN: got %v (%v)", v.Result, v.Err)
	}
}

func TestExplanation(t *testing.T) {
	zone := map[string][]string{
		"why.example.com":        {"TXT %{l} from %{c} (%{i}, %{v}) is not allowed by %{o}/%{d} to %{r} at %{t}; see %{H}"},
		"two.example.com":        {"TXT one", "TXT two"},
		"bad.example.com":        {"TXT bad %{x} macro"},
		"latin.example.com":      {"TXT caf\xe9"},
		"multi.example.com":      {"TXT part one, |part two"},
		"empty.example.com":      {"TXT "},
		"inc.example.com":        {"TXT v=spf1 -all exp=inner.example.com"},
		"inner.example.com":      {"TXT inner"},
		"long.example.com":       {"TXT " + strings.Repeat("%{s}", 100)},
		"ptr.example.com":        {"TXT %{p}"},
		"1.2.0.192.in-addr.arpa": {"PTR mail.example.com"},
		"mail.example.com":       {"A 192.0.2.1"},
	}
	cases := []struct {
		record, sender, want string
	}{
		{"-all exp=why.example.com", "alice@example.com",
			"alice from 192.0.2.1 (192.0.2.1, in-addr) is not allowed by example.com/example.com to mx.receiver.example at 1700000000; see h.example.com"},
		{"-all exp=two.example.com", "a@example.com", ""},
		{"-all exp=bad.example.com", "a@example.com", ""},
		{"-all exp=latin.example.com", "a@example.com", ""},
		{"-all exp=multi.example.com", "a@example.com", "part one, part two"},
		{"-all exp=empty.example.com", "a@example.com", ""},
		{"-all exp=nx.example.com", "a@example.com", ""},
		{"-all exp=why..example.com", "a@example.com", ""},
		{"~all exp=why.example.com", "a@example.com", ""}, // only for fail
		{"include:inc.example.com -all", "a@example.com", ""},
		{"-all exp=%{l}.example.com", "why@example.com", "why from 192.0.2.1 (192.0.2.1, in-addr) is not allowed by example.com/example.com to mx.receiver.example at 1700000000; see h.example.com"},
		{"-all exp=ptr.example.com", "a@example.com", "mail.example.com"},
		{"-all exp=why.example.com", "bad\r\nline@example.com", "bad??line from 192.0.2.1 (192.0.2.1, in-addr) is not allowed by example.com/example.com to mx.receiver.example at 1700000000; see h.example.com"},
		{"-all exp=long.example.com", strings.Repeat("x", 1000) + "@example.com", ""}, // too long
	}
	for _, c := range cases {
		z := map[string][]string{"example.com": {"TXT v=spf1 " + c.record}}
		for k, v := range zone {
			z[k] = v
		}
		v, _ := run(t, z, "192.0.2.1", "h.example.com", c.sender)
		if v.Explanation != c.want || v.Err != nil {
			t.Errorf("%q: got %v %q (%v), want %q", c.record, v.Result, v.Explanation, v.Err, c.want)
		}
	}

	// The explanation lookup happens once, and only for Fail.
	z := map[string][]string{"example.com": {"TXT v=spf1 -all exp=why.example.com"}, "why.example.com": zone["why.example.com"]}
	_, q := run(t, z, "192.0.2.1", "h.example.com", "a@example.com")
	if !slices.Equal(q, []string{"TXT example.com.", "TXT why.example.com."}) {
		t.Errorf("queries %q", q)
	}
	z["example.com"] = []string{"TXT v=spf1 ?all exp=why.example.com"}
	if _, q := run(t, z, "192.0.2.1", "h.example.com", "a@example.com"); len(q) != 1 {
		t.Errorf("neutral: queries %q", q)
	}
}

func TestHostileRecords(t *testing.T) {
	long := strings.Repeat("x", 2000)
	cases := []struct {
		name   string
		record string
		sender string
		want   Result
		err    error
	}{
		{"expansion too long", "a:" + strings.Repeat("%{l}", 40) + ".example.com -all", long + "@example.com", PermError, ErrExpansionTooLong},
		{"expansion truncated to 253", "a:" + strings.Repeat("%{l}.", 40) + "example.com -all", "abcdefgh@example.com", Fail, nil},
		{"huge part count", "exists:%{d99999999999999999999}.example.com -all", "a@example.com", Fail, nil},
		{"many terms without DNS", strings.Repeat("ip4:198.51.100.1 ", 2000) + "-all", "a@example.com", Fail, nil},
		{"many terms, then an error", strings.Repeat("ip4:192.0.2.1 ", 2000) + "moo", "a@example.com", PermError, anyError},
	}
	for _, c := range cases {
		v, q := run(t, map[string][]string{"example.com": {"TXT v=spf1 " + c.record}}, "192.0.2.1", "h.example.com", c.sender)
		if v.Result != c.want || !errIs(v.Err, c.err) {
			t.Errorf("%s: got %v (%v), want %v (%v)", c.name, v.Result, v.Err, c.want, c.err)
		}
		if len(q) > 2 {
			t.Errorf("%s: %d queries", c.name, len(q))
		}
	}

	// %{p} costs one PTR lookup and at most 10 validations per check,
	// however often it appears.
	z := map[string][]string{
		"example.com":            {"TXT v=spf1 " + strings.Repeat("exists:%{p}.%{p}.%{p}.x.example.com ", 9) + "-all"},
		"1.2.0.192.in-addr.arpa": {"PTR a.example.net", "PTR b.example.net", "PTR c.example.net"},
		"a.example.net":          {"A 192.0.2.1"},
		"b.example.net":          {"A 192.0.2.1"},
		"c.example.net":          {"A 192.0.2.1"},
	}
	v, q := run(t, z, "192.0.2.1", "h.example.com", "a@example.com")
	ptr := 0
	for _, s := range q {
		if strings.HasPrefix(s, "PTR") {
			ptr++
		}
	}
	if v.Result != PermError || ptr != 1 || len(q) > 1+1+1+9 {
		t.Errorf("%%{p}: got %v (%v), %d queries: %q", v.Result, v.Err, len(q), q)
	}
}

// anyError in a table means "some error".
var anyError = errors.New("any error")

// errIs is errors.Is, with anyError matching every non-nil error.
func errIs(err, target error) bool {
	if target == anyError {
		return err != nil
	}
	return errors.Is(err, target)
}

func BenchmarkCheck(b *testing.B) {
	f := newFake(b, map[string][]string{
		"example.com":      {"TXT v=spf1 ip4:198.51.100.0/24 include:_spf.example.net mx -all exp=why.%{d}"},
		"_spf.example.net": {"TXT v=spf1 a:out.example.net ip6:2001:db8::/32 ~all"},
		"out.example.net":  {"A 203.0.113.1"},
		"why.example.com":  {"TXT %{i} is not allowed to send for %{d}"},
		"mx.example.com":   {"A 203.0.113.25"},
	})
	f.zone["example.com"].rrs = append(f.zone["example.com"].rrs, fakeRR{typ: "MX", val: "mx.example.com", pref: 10})
	f.quiet = true
	c := Checker{Resolver: f, Receiver: "mx.example.org"}
	ip := netip.MustParseAddr("192.0.2.1")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if v := c.Check(context.Background(), ip, "mail.example.org", "alice@example.com"); v.Result != Fail {
				b.Fatalf("got %v (%v)", v.Result, v.Err)
			}
		}
	})
}
