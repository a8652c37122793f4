package dnstest_test

import (
	"fmt"
	"log"

	"github.com/miekg/dns"

	"github.com/maildns/maildns/dnstest"
)

func Example() {
	s, err := dnstest.Start(`
$ORIGIN example.
$TTL 300
@    IN SOA ns.example. hostmaster.example. 1 3600 600 86400 60
mail IN MX  10 mx.example.
mx   IN A   192.0.2.25
`)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	c := new(dns.Client)
	for _, q := range []struct {
		name  string
		qtype uint16
	}{
		{"mail.example.", dns.TypeMX},
		{"mx.example.", dns.TypeA},
		{"nope.example.", dns.TypeA},
	} {
		r, _, err := c.Exchange(new(dns.Msg).SetQuestion(q.name, q.qtype), s.Addr())
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(dns.RcodeToString[r.Rcode])
		for _, rr := range r.Answer {
			fmt.Println(rr)
		}
	}
	fmt.Println(s.Queries(), "queries")
	// Output:
	// NOERROR
	// mail.example.	300	IN	MX	10 mx.example.
	// NOERROR
	// mx.example.	300	IN	A	192.0.2.25
	// NXDOMAIN
	// 3 queries
}
