package dane

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/miekg/dns"

	"github.com/maildns/maildns/mx"
	"github.com/maildns/maildns/resolver"
)

// tlsaFake answers TLSA lookups from a table; other names are NXDOMAIN.
type tlsaFake struct {
	answers map[string]*resolver.Answer
	errs    map[string]error
	asked   []string
}

func (f *tlsaFake) Lookup(_ context.Context, name string, qtype uint16) (*resolver.Answer, error) {
	f.asked = append(f.asked, name)
	if err, ok := f.errs[name]; ok {
		return nil, err
	}
	if a, ok := f.answers[name]; ok {
		return a, nil
	}
	return &resolver.Answer{Name: name, Type: qtype, Rcode: dns.RcodeNameError, Authenticated: true}, nil
}

func tlsaAnswer(secure bool, records ...string) *resolver.Answer {
	a := &resolver.Answer{Type: dns.TypeTLSA, Authenticated: secure}
	for _, r := range records {
		rr, err := dns.NewRR(r)
		if err != nil {
			panic(err)
		}
		a.Records = append(a.Records, rr)
	}
	return a
}

func TestHostPolicy(t *testing.T) {
	const ee = "_25._tcp.mx.example.com. 300 IN TLSA 3 1 1 0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20"
	const pkix = "_25._tcp.mx.example.com. 300 IN TLSA 1 1 1 0102"
	plan := &mx.Plan{Domain: "example.com.", Authenticated: true}
	host := mx.Host{Name: "mx.example.com.", Canonical: "mx.example.com.", Authenticated: true}
	cnamed := mx.Host{Name: "mx.example.com.", Canonical: "mail.provider.net.", Authenticated: true}
	servfail := &resolver.LookupError{Err: resolver.ErrServerFailure}

	for _, c := range []struct {
		name    string
		plan    *mx.Plan
		host    mx.Host
		answers map[string]*resolver.Answer
		errs    map[string]error
		want    Status
		base    string
		names   []string
		err     error
	}{
		{name: "insecure MX", plan: &mx.Plan{Domain: "example.com."}, host: host, want: NotApplicable},
		{name: "insecure host", plan: plan, host: mx.Host{Name: "mx.example.com.", Canonical: "mx.example.com."}, want: NotApplicable},
		{name: "usable", plan: plan, host: host, answers: map[string]*resolver.Answer{"_25._tcp.mx.example.com.": tlsaAnswer(true, ee, pkix)},
			want: Authenticated, base: "mx.example.com.", names: []string{"mx.example.com.", "example.com."}},
		{name: "unusable only", plan: plan, host: host, answers: map[string]*resolver.Answer{"_25._tcp.mx.example.com.": tlsaAnswer(true, pkix)},
			want: UnusableOnly, base: "mx.example.com."},
		{name: "secure denial", plan: plan, host: host, want: NoTLSA},
		{name: "insecure TLSA", plan: plan, host: host, answers: map[string]*resolver.Answer{"_25._tcp.mx.example.com.": tlsaAnswer(false, ee)}, want: NotApplicable},
		{name: "bogus", plan: plan, host: host, errs: map[string]error{"_25._tcp.mx.example.com.": servfail}, err: ErrIndeterminate},
		{name: "at the expanded name", plan: plan, host: cnamed,
			answers: map[string]*resolver.Answer{"_25._tcp.mail.provider.net.": tlsaAnswer(true, ee)},
			want:    Authenticated, base: "mail.provider.net.", names: []string{"mail.provider.net.", "mx.example.com.", "example.com."}},
		{name: "none at the expanded name, at the original", plan: plan, host: cnamed,
			answers: map[string]*resolver.Answer{"_25._tcp.mx.example.com.": tlsaAnswer(true, ee)},
			want:    Authenticated, base: "mx.example.com."},
		{name: "expanded name insecure, original", plan: plan, host: cnamed,
			answers: map[string]*resolver.Answer{"_25._tcp.mail.provider.net.": tlsaAnswer(false, ee), "_25._tcp.mx.example.com.": tlsaAnswer(true, pkix)},
			want:    UnusableOnly, base: "mx.example.com."},
		{name: "expanded name bogus", plan: plan, host: cnamed, errs: map[string]error{"_25._tcp.mail.provider.net.": servfail}, err: ErrIndeterminate},
	} {
		f := &tlsaFake{answers: c.answers, errs: c.errs}
		p, err := HostPolicy(context.Background(), f, c.plan, c.host)
		if c.err != nil {
			if !errors.Is(err, c.err) || !errors.Is(err, resolver.ErrServerFailure) {
				t.Errorf("%s: error %v, want %v", c.name, err, c.err)
			}
			continue
		}
		if err != nil || p.Status != c.want || c.base != "" && p.Base != c.base || c.names != nil && !slices.Equal(p.Names, c.names) {
			t.Errorf("%s: %+v, %v; want %v at %q, names %q", c.name, p, err, c.want, c.base, c.names)
		}
		if c.want == NotApplicable && (!c.plan.Authenticated || !c.host.Authenticated) && len(f.asked) != 0 {
			t.Errorf("%s: asked %q, want no TLSA lookup", c.name, f.asked)
		}
	}
}
