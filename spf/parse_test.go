package spf

import (
	"errors"
	"net/netip"
	"testing"
)

func TestParseRecord(t *testing.T) {
	rec, err := parseRecord("V=SPF1  +a -mx:mail.example.com/24 ~ptr:%{d2}  ?ip4:192.0.2.0/24 " +
		"ip6:2001:DB8::/32 a//64 MX:m.example.com/26//48 include:_spf.example.com exists:%{ir}.x.example.com " +
		"Redirect=r.example.com EXP=why.%{d} ra=postmaster -ALL ")
	if err != nil {
		t.Fatal(err)
	}
	want := []mechanism{
		{term: "+a", qual: Pass, kind: kindA, bits4: 32, bits6: 128},
		{term: "-mx:mail.example.com/24", qual: Fail, kind: kindMX, spec: "mail.example.com", bits4: 24, bits6: 128},
		{term: "~ptr:%{d2}", qual: SoftFail, kind: kindPTR, spec: "%{d2}", bits4: 32, bits6: 128},
		{term: "?ip4:192.0.2.0/24", qual: Neutral, kind: kindIP4, prefix: netip.MustParsePrefix("192.0.2.0/24"), bits4: 32, bits6: 128},
		{term: "ip6:2001:DB8::/32", qual: Pass, kind: kindIP6, prefix: netip.MustParsePrefix("2001:db8::/32"), bits4: 32, bits6: 128},
		{term: "a//64", qual: Pass, kind: kindA, bits4: 32, bits6: 64},
		{term: "MX:m.example.com/26//48", qual: Pass, kind: kindMX, spec: "m.example.com", bits4: 26, bits6: 48},
		{term: "include:_spf.example.com", qual: Pass, kind: kindInclude, spec: "_spf.example.com", bits4: 32, bits6: 128},
		{term: "exists:%{ir}.x.example.com", qual: Pass, kind: kindExists, spec: "%{ir}.x.example.com", bits4: 32, bits6: 128},
		{term: "-ALL", qual: Fail, kind: kindAll, bits4: 32, bits6: 128},
	}
	if len(rec.mechs) != len(want) {
		t.Fatalf("got %d mechanisms, want %d: %+v", len(rec.mechs), len(want), rec.mechs)
	}
	for i := range want {
		if rec.mechs[i] != want[i] {
			t.Errorf("mechanism %d: got %+v, want %+v", i, rec.mechs[i], want[i])
		}
	}
	if rec.redirect != "r.example.com" || rec.exp != "why.%{d}" {
		t.Errorf("modifiers: redirect %q, exp %q", rec.redirect, rec.exp)
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		record, term string
	}{
		{"v=spf1 -all moo", "moo"},
		{"v=spf1 a:foo.example.com:80", "a:foo.example.com:80"},
		{"v=spf1 exp=a.example.com exp=b.example.com", "exp=b.example.com"},
		{"v=spf1 x=%{", "x=%{"},
		{"v=spf1 a:%{z}.example.com", "a:%{z}.example.com"},
		{"spf1 -all", ""},
	}
	for _, c := range cases {
		_, err := parseRecord(c.record)
		var se *SyntaxError
		if !errors.As(err, &se) || se.Term != c.term {
			t.Errorf("%q: got %v, want a *SyntaxError at %q", c.record, err, c.term)
		}
	}
}

func TestSplitDualCIDR(t *testing.T) {
	cases := []struct {
		in, head     string
		bits4, bits6 int
		ok           bool
	}{
		{"", "", 32, 128, true},
		{"/24", "", 24, 128, true},
		{"//64", "", 32, 64, true},
		{"/24//64", "", 24, 64, true},
		{":example.com/0//0", ":example.com", 0, 0, true},
		{":foo:bar/baz.example.com", ":foo:bar/baz.example.com", 32, 128, true},
		{":example.com/", ":example.com/", 32, 128, true},
		{":example.com//", ":example.com//", 32, 128, true},
		{"/24/64", "/24", 64, 128, false},
		{"/33", "", 0, 0, false},
		{"//129", "", 0, 0, false},
		{"/024", "", 0, 0, false},
		{"//064", "", 0, 0, false},
		{"/00", "", 0, 0, false},
		{"/99999999999999999999", "", 0, 0, false},
	}
	for _, c := range cases {
		head, b4, b6, ok := splitDualCIDR(c.in)
		if ok != c.ok || (ok && (head != c.head || b4 != c.bits4 || b6 != c.bits6)) {
			t.Errorf("%q: got %q %d %d %v, want %q %d %d %v", c.in, head, b4, b6, ok, c.head, c.bits4, c.bits6, c.ok)
		}
	}
}

func TestDomainSpec(t *testing.T) {
	cases := []struct {
		spec string
		ok   bool
	}{
		{"example.com", true},
		{"example.com.", true},
		{"_spf.example.com", true},
		{"foo:bar/baz.example.com", true},
		{"example.xn--zckzah", true},
		{"example.1-2", true},
		{"%{d}", true},
		{"%{d}.", false},
		{"%{d}.com", true},
		{"%{ir}.%{v}._spf.%{d2}", true},
		{"foo%%", true}, // ends in a macro-expand
		{"a..example.com", true},
		{"", false},
		{"com", false},
		{"com.", false},
		{".com", true},
		{"example.123", false},
		{"example.-com", false},
		{"example.com-", false},
		{"example.c_m", false},
		{"example.com/24", false},
		{"%{d}x", false},
		{"example.com..", false},
	}
	for _, c := range cases {
		err := checkDomainSpec("t", c.spec)
		if (err == nil) != c.ok {
			t.Errorf("%q: got %v, want ok=%v", c.spec, err, c.ok)
		}
	}
}

func TestValidDomain(t *testing.T) {
	cases := []struct {
		d  string
		ok bool
	}{
		{"example.com", true},
		{"_spf.example.com", true},
		{"a.b", true},
		{"example", false},
		{"", false},
		{"[192.0.2.1]", false},
		{"192.0.2.1", false},
		{"a..example.com", false},
		{".example.com", false},
		{"example.com.", false}, // callers strip one trailing dot first
		{"ex ample.com", false},
		{"caf\xc3\xa9.example", false},
	}
	for _, c := range cases {
		if got := validDomain(c.d); got != c.ok {
			t.Errorf("%q: got %v, want %v", c.d, got, c.ok)
		}
	}
}
