package mx_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/miekg/dns"

	"github.com/maildns/maildns/mx"
	"github.com/maildns/maildns/resolver"
)

// zoneResolver answers from a map of records, and NXDOMAIN for names it
// does not know. A *resolver.Resolver would be used in production.
type zoneResolver map[string][]string

func (z zoneResolver) Lookup(ctx context.Context, name string, qtype uint16) (*resolver.Answer, error) {
	rrs, ok := z[name]
	ans := &resolver.Answer{Name: name, Type: qtype}
	if !ok {
		ans.Rcode = dns.RcodeNameError
	}
	for _, s := range rrs {
		rr, err := dns.NewRR(name + " 300 IN " + s)
		if err != nil {
			return nil, err
		}
		if rr.Header().Rrtype == qtype {
			ans.Records = append(ans.Records, rr)
		}
	}
	return ans, nil
}

func Example() {
	r := zoneResolver{
		"xn--bcher-kva.example.": {"MX 10 mx1.example.net.", "MX 20 mx2.example.net."},
		"mx1.example.net.":       {"A 192.0.2.1", "AAAA 2001:db8::1"},
		"mx2.example.net.":       {"A 192.0.2.2"},
		"example.org.":           {"MX 0 ."},
	}
	ctx := context.Background()

	plan, err := mx.Lookup(ctx, r, "bücher.example")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("deliver to", plan.Domain)
	for _, h := range plan.Hosts {
		fmt.Println(h.Preference, h.Name, h.Addrs)
	}

	for _, domain := range []string{"example.org", "nowhere.example"} {
		_, err = mx.Lookup(ctx, r, domain)
		var e *mx.Error
		if errors.As(err, &e) {
			fmt.Printf("temporary=%v %d %s %v\n", mx.IsTemporary(err), e.SMTPCode(), e.EnhancedCode(), err)
		}
	}
	// Output:
	// deliver to xn--bcher-kva.example.
	// 10 mx1.example.net. [2001:db8::1 192.0.2.1]
	// 20 mx2.example.net. [192.0.2.2]
	// temporary=false 556 5.1.10 mx: example.org.: domain accepts no mail (null MX)
	// temporary=false 550 5.1.2 mx: nowhere.example.: no such domain
}

func ExampleLookuper() {
	r := zoneResolver{
		"example.com.":     {"MX 10 mx1.example.com.", "MX 20 mx2.example.com."},
		"mx1.example.com.": {"A 192.0.2.1", "A 192.0.2.11", "AAAA 2001:db8::1"},
		"mx2.example.com.": {"A 192.0.2.2", "AAAA 2001:db8::2"},
	}
	l := &mx.Lookuper{
		Family:       mx.IPv4Only, // A queries only
		AddressLimit: 2,
		Rand:         rand.New(rand.NewPCG(1, 1)), // reproducible shuffle
	}
	plan, err := l.Lookup(context.Background(), r, "example.com")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, h := range plan.Hosts {
		fmt.Println(h.Preference, h.Name, h.Addrs)
	}
	// Output:
	// 10 mx1.example.com. [192.0.2.1 192.0.2.11]
}
