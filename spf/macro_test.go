package spf

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// rfcMacros are the inputs of the examples in RFC 7208 §7.4.
func rfcMacros(ip string) *macroData {
	return &macroData{
		sender:   "strong-bad@email.example.com",
		local:    "strong-bad",
		origin:   "email.example.com",
		domain:   "email.example.com",
		helo:     "mx.example.org",
		ip:       netip.MustParseAddr(ip),
		receiver: "mx.receiver.example",
		now:      func() time.Time { return time.Unix(1234567890, 0) },
		ptr:      func() string { return "mail.email.example.com" },
	}
}

func TestMacroRFCExamples(t *testing.T) {
	cases := []struct {
		in, ip, want string
	}{
		{"%{s}", "192.0.2.3", "strong-bad@email.example.com"},
		{"%{o}", "192.0.2.3", "email.example.com"},
		{"%{d}", "192.0.2.3", "email.example.com"},
		{"%{d4}", "192.0.2.3", "email.example.com"},
		{"%{d3}", "192.0.2.3", "email.example.com"},
		{"%{d2}", "192.0.2.3", "example.com"},
		{"%{d1}", "192.0.2.3", "com"},
		{"%{dr}", "192.0.2.3", "com.example.email"},
		{"%{d2r}", "192.0.2.3", "example.email"},
		{"%{l}", "192.0.2.3", "strong-bad"},
		{"%{l-}", "192.0.2.3", "strong.bad"},
		{"%{lr}", "192.0.2.3", "strong-bad"},
		{"%{lr-}", "192.0.2.3", "bad.strong"},
		{"%{l1r-}", "192.0.2.3", "strong"},
		{"%{ir}.%{v}._spf.%{d2}", "192.0.2.3", "3.2.0.192.in-addr._spf.example.com"},
		{"%{lr-}.lp._spf.%{d2}", "192.0.2.3", "bad.strong.lp._spf.example.com"},
		{"%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "192.0.2.3", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com"},
		{"%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "192.0.2.3", "3.2.0.192.in-addr.strong.lp._spf.example.com"},
		{"%{d2}.trusted-domains.example.net", "192.0.2.3", "example.com.trusted-domains.example.net"},
		{"%{ir}.%{v}._spf.%{d2}", "2001:db8::cb01", "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com"},
	}
	for _, c := range cases {
		got, _, err := expand(c.in, modeDomain, rfcMacros(c.ip))
		if got != c.want || err != nil {
			t.Errorf("%q (%s): got %q, %v, want %q", c.in, c.ip, got, err, c.want)
		}
	}
}

func TestMacroExpand(t *testing.T) {
	cases := []struct {
		in   string
		mode macroMode
		want string
	}{
		{"plain.example.com", modeDomain, "plain.example.com"},
		{"%%%_%-", modeDomain, "% %20"},
		{"%{h}", modeDomain, "mx.example.org"},
		{"%{p}", modeDomain, "mail.email.example.com"},
		{"%{i}", modeDomain, "192.0.2.3"},
		{"%{v}", modeDomain, "in-addr"},
		{"%{D}", modeDomain, "email.example.com"},
		{"%{L}", modeDomain, "strong-bad"},
		{"%{S}", modeDomain, "strong-bad%40email.example.com"},
		{"%{d0000000000000000000000000000001}", modeDomain, "com"},
		{"%{d99999999999999999999999}", modeDomain, "email.example.com"},
		{"%{dR}", modeDomain, "com.example.email"},
		{"%{d.}", modeDomain, "email.example.com"},
		{"%{s.-+,/_=}", modeDomain, "strong.bad@email.example.com"},
		{"%{s@}", modeDomain, ""}, // "@" is no delimiter: invalid, see TestMacroErrors
		{"%{l1r+-}", modeDomain, "strong"},
		{"%{dr.}", modeDomain, "com.example.email"},
		// The exp-only letters.
		{"%{c}", modeExplain, "192.0.2.3"},
		{"%{r}", modeExplain, "mx.receiver.example"},
		{"%{t}", modeExplain, "1234567890"},
		{"%{C} %{R}", modeExplain, "192.0.2.3 mx.receiver.example"},
		{"Go away, %{l}!", modeExplain, "Go away, strong-bad!"},
		{"%{c}", modeModifier, "192.0.2.3"},
	}
	for _, c := range cases {
		got, _, err := expand(c.in, c.mode, rfcMacros("192.0.2.3"))
		if c.want == "" {
			if err == nil {
				t.Errorf("%q: got %q, want an error", c.in, got)
			}
			continue
		}
		if got != c.want || err != nil {
			t.Errorf("%q: got %q, %v, want %q", c.in, got, err, c.want)
		}
	}

	// IPv6: c is the compressed form, i the nibbles.
	d := rfcMacros("2001:db8::cb01")
	got, _, err := expand("%{c} %{i} %{v}", modeExplain, d)
	want := "2001:db8::cb01 2.0.0.1.0.d.b.8.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.c.b.0.1 ip6"
	if got != want || err != nil {
		t.Errorf("IPv6: got %q, %v, want %q", got, err, want)
	}

	// Without a receiver or a PTR callback: "unknown".
	d = rfcMacros("192.0.2.3")
	d.receiver, d.ptr = "", nil
	if got, _, _ := expand("%{r} %{p}", modeExplain, d); got != "unknown unknown" {
		t.Errorf("defaults: got %q", got)
	}
}

func TestMacroErrors(t *testing.T) {
	cases := []struct {
		in   string
		mode macroMode
	}{
		{"%", modeDomain},
		{"a%", modeDomain},
		{"%x", modeDomain},
		{"%(d)", modeDomain},
		{"%{", modeDomain},
		{"%{d", modeDomain},
		{"%{}", modeDomain},
		{"%{x}", modeDomain},
		{"%{x}", modeExplain},
		{"%{c}", modeDomain},
		{"%{r}", modeDomain},
		{"%{t}", modeDomain},
		{"%{d0}", modeDomain},
		{"%{d00}", modeDomain},
		{"%{d2rr}", modeDomain},
		{"%{dr2}", modeDomain},
		{"%{d@}", modeDomain},
		{"%{d }", modeDomain},
		{"%{1}", modeDomain},
		{"a b", modeDomain},
		{"a b", modeModifier},
		{"a\tb", modeExplain},
		{"caf\xc3\xa9", modeExplain},
		{"\x7f", modeExplain},
	}
	for _, c := range cases {
		for _, d := range []*macroData{nil, rfcMacros("192.0.2.3")} {
			_, _, err := expand(c.in, c.mode, d)
			var se *SyntaxError
			if !errors.As(err, &se) || !strings.HasPrefix(err.Error(), "spf: syntax error") {
				t.Errorf("%q (mode %d, expanding %v): got %v, want a *SyntaxError", c.in, c.mode, d != nil, err)
			}
		}
	}
}

func TestMacroLimit(t *testing.T) {
	d := rfcMacros("192.0.2.3")
	d.local = strings.Repeat("x", 1000)
	spec := strings.Repeat("%{l}", 66) + ".example.com"
	if _, _, err := expand(spec, modeDomain, d); !errors.Is(err, ErrExpansionTooLong) {
		t.Errorf("66 KB: got %v", err)
	}
	spec = strings.Repeat("%{l}", 60) + ".example.com"
	out, _, err := expand(spec, modeDomain, d)
	if err != nil || len(out) != 60000+12 {
		t.Errorf("60 KB: got %d bytes, %v", len(out), err)
	}
	// The part count does not hide the cost of reading a value.
	spec = strings.Repeat("%{l1}", 70)
	if _, _, err := expand(spec, modeDomain, d); !errors.Is(err, ErrExpansionTooLong) {
		t.Errorf("70 × %%{l1}: got %v", err)
	}
}

func TestQueryName(t *testing.T) {
	label := strings.Repeat("a", 63)
	long := strings.Repeat("abcdefghi.", 30) + "example.com" // 311 octets
	cases := []struct {
		in, want string
		ok       bool
	}{
		{"example.com", "example.com", true},
		{"example.com.", "example.com", true},
		{"a..example.com", "", false},
		{".example.com", "", false},
		{"", "", false},
		{".", "", false},
		{label + ".example.com", label + ".example.com", true},
		{label + "a.example.com", "", false},
		{long, long[60:], true},
		{long + ".", long[60:], true},
		{strings.Repeat("a", 300), "", false},
		{"single", "single", true},
	}
	for _, c := range cases {
		got, ok := queryName(c.in)
		if ok != c.ok || (ok && got != c.want) {
			t.Errorf("%q: got %q, %v, want %q, %v", c.in, got, ok, c.want, c.ok)
		}
	}
	if got, _ := queryName(long); len(got) > 253 || len(got) < 240 {
		t.Errorf("truncated to %d octets", len(got))
	}
}
