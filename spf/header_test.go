package spf

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

func TestReceivedSPF(t *testing.T) {
	ip4 := netip.MustParseAddr("192.0.2.1")
	cases := []struct {
		v    Verdict
		want string
	}{
		// RFC 7208 §9.1's first example, plus identity and mechanism.
		{Verdict{Result: Pass, Mechanism: "ip4:192.0.2.0/24", IP: ip4, Helo: "foo.example.com",
			Sender: "myname@example.com", Identity: IdentityMailFrom, Domain: "example.com", Receiver: "mybox.example.org"},
			`Received-SPF: pass (mybox.example.org: domain of myname@example.com designates 192.0.2.1 as permitted sender)` +
				` receiver=mybox.example.org; client-ip=192.0.2.1; envelope-from="myname@example.com"; helo=foo.example.com;` +
				` identity=mailfrom; mechanism="ip4:192.0.2.0/24"`},
		{Verdict{Result: Fail, Mechanism: "-all", IP: ip4, Helo: "foo.example.com",
			Sender: "myname@example.com", Identity: IdentityMailFrom},
			`Received-SPF: fail (domain of myname@example.com does not designate 192.0.2.1 as permitted sender)` +
				` client-ip=192.0.2.1; envelope-from="myname@example.com"; helo=foo.example.com; identity=mailfrom; mechanism=-all`},
		{Verdict{Result: SoftFail, Mechanism: "~all", IP: netip.MustParseAddr("2001:db8::1"), Helo: "h.example",
			Sender: "a@example.com", Identity: IdentityMailFrom},
			`Received-SPF: softfail (domain of transitioning a@example.com does not designate 2001:db8::1 as permitted sender)` +
				` client-ip="2001:db8::1"; envelope-from="a@example.com"; helo=h.example; identity=mailfrom; mechanism=~all`},
		{Verdict{Result: Neutral, Mechanism: "default", IP: ip4, Helo: "h.example", Identity: IdentityHELO},
			`Received-SPF: neutral (192.0.2.1 is neither permitted nor denied by domain of h.example)` +
				` client-ip=192.0.2.1; helo=h.example; identity=helo; mechanism=default`},
		{Verdict{Result: None, IP: ip4, Helo: "h.example", Sender: "a@example.com", Identity: IdentityMailFrom},
			`Received-SPF: none (domain of a@example.com does not designate permitted sender hosts)` +
				` client-ip=192.0.2.1; envelope-from="a@example.com"; helo=h.example; identity=mailfrom`},
		{Verdict{Result: PermError, IP: ip4, Helo: "h.example", Sender: "a@example.com", Identity: IdentityMailFrom,
			Err: fmt.Errorf("%w: more than 10", ErrTooManyLookups)},
			`Received-SPF: permerror (permanent error in processing domain of a@example.com)` +
				` client-ip=192.0.2.1; envelope-from="a@example.com"; helo=h.example; identity=mailfrom;` +
				` problem="spf: too many DNS-querying terms: more than 10"`},
		{Verdict{Result: TempError, IP: ip4, Sender: "a@example.com", Identity: IdentityMailFrom,
			Err: &LookupError{Type: "TXT", Name: "example.com", Err: fmt.Errorf(`i/o "timeout"`)}},
			`Received-SPF: temperror (temporary error in processing during lookup of a@example.com)` +
				` client-ip=192.0.2.1; envelope-from="a@example.com"; identity=mailfrom;` +
				` problem="spf: TXT lookup of \"example.com\": i/o \"timeout\""`},
	}
	for _, c := range cases {
		if got := c.v.ReceivedSPF(); got != c.want {
			t.Errorf("%v:\n got %s\nwant %s", c.v.Result, got, c.want)
		}
	}
}

func TestReceivedSPFHostile(t *testing.T) {
	v := Verdict{
		Result:   Fail,
		IP:       netip.MustParseAddr("192.0.2.1"),
		Helo:     "evil\r\nX-Injected: yes",
		Sender:   "a\"b\\c(d)\x00\xff@example.com",
		Identity: IdentityMailFrom,
	}
	got := v.ReceivedSPF()
	want := `Received-SPF: fail (domain of a"b\\c\(d\)??@example.com does not designate 192.0.2.1 as permitted sender)` +
		` client-ip=192.0.2.1; envelope-from="a\"b\\c(d)??@example.com"; helo="evil??X-Injected: yes"; identity=mailfrom`
	if got != want {
		t.Errorf("\n got %s\nwant %s", got, want)
	}
	for i := 0; i < len(got); i++ {
		if got[i] < ' ' || got[i] > '~' {
			t.Fatalf("byte %#x at %d", got[i], i)
		}
	}
	if strings.Count(got, "(") != strings.Count(got, ")") {
		t.Errorf("unbalanced comment: %s", got)
	}
}
