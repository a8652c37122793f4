package resolver_test

import (
	"context"
	"fmt"
	"log"
	"net"

	"github.com/maildns/maildns/dnstest"
	"github.com/maildns/maildns/resolver"
	"github.com/miekg/dns"
)

func Example() {
	// A DNS server on loopback stands in for the upstream resolver.
	srv, err := dnstest.Start(`
example.com.      300 IN SOA ns.example.com. hostmaster.example.com. 1 3600 600 86400 300
example.com.      300 IN MX  10 mx.example.com.
mx.example.com.   300 IN A   192.0.2.25
`)
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	r, err := resolver.New(resolver.Config{Upstreams: []string{srv.Addr()}})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()

	ans, err := r.Lookup(ctx, "Example.COM", dns.TypeMX)
	if err != nil {
		log.Fatal(err) // no answer could be had: defer the mail
	}
	for _, rr := range ans.Records {
		fmt.Println(rr.(*dns.MX).Mx, rr.(*dns.MX).Preference)
	}

	// NXDOMAIN and NODATA are answers, not errors.
	ans, _ = r.Lookup(ctx, "nowhere.example.com", dns.TypeMX)
	fmt.Println("nowhere:", dns.RcodeToString[ans.Rcode])
	ans, _ = r.Lookup(ctx, "example.com", dns.TypeTXT)
	fmt.Println("TXT NODATA:", ans.NoData())

	// The net.Resolver-compatible methods.
	addrs, _ := r.LookupNetIP(ctx, "ip4", "mx.example.com")
	fmt.Println(addrs)

	// The first MX lookup went upstream; the second was a cache hit.
	r.Lookup(ctx, "example.com.", dns.TypeMX)
	s := r.Stats()
	fmt.Println("lookups", s.Lookups, "upstream queries", s.UpstreamQueries)
	// Output:
	// mx.example.com. 10
	// nowhere: NXDOMAIN
	// TXT NODATA: true
	// [192.0.2.25]
	// lookups 5 upstream queries 4
}

// A *net.Resolver whose Dial is the Resolver's answers from maildns, for
// code that calls the standard library (net.LookupMX, libraries that take
// no resolver): set it as net.DefaultResolver to cover the whole program.
func ExampleResolver_Dial() {
	srv, err := dnstest.Start(`
example.com.      300 IN SOA ns.example.com. hostmaster.example.com. 1 3600 600 86400 300
example.com.      300 IN MX  10 mx.example.com.
`)
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	r, err := resolver.New(resolver.Config{Upstreams: []string{srv.Addr()}})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()

	nr := &net.Resolver{PreferGo: true, Dial: r.Dial}
	for range 3 {
		mxs, err := nr.LookupMX(context.Background(), "example.com")
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(mxs[0].Host, mxs[0].Pref)
	}
	fmt.Println("upstream queries:", srv.QueryCount("example.com", dns.TypeMX))
	// Output:
	// mx.example.com. 10
	// mx.example.com. 10
	// mx.example.com. 10
	// upstream queries: 1
}
