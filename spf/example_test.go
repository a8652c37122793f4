package spf_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"

	"github.com/maildns/maildns/spf"
)

// staticResolver answers from fixed records, keyed by absolute name. In
// production, use *net.Resolver or the maildns resolver instead.
type staticResolver struct {
	txt  map[string][]string
	addr map[string][]netip.Addr
}

func notFound(name string) error {
	return &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func (s staticResolver) LookupTXT(_ context.Context, name string) ([]string, error) {
	if txt, ok := s.txt[name]; ok {
		return txt, nil
	}
	return nil, notFound(name)
}

func (s staticResolver) LookupNetIP(_ context.Context, network, host string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, a := range s.addr[host] {
		if network == "ip" || a.Is4() == (network == "ip4") {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return nil, notFound(host)
	}
	return out, nil
}

func (s staticResolver) LookupMX(_ context.Context, name string) ([]*net.MX, error) {
	return nil, notFound(name)
}

func (s staticResolver) LookupAddr(_ context.Context, addr string) ([]string, error) {
	return nil, notFound(addr)
}

var resolver = staticResolver{
	txt: map[string][]string{
		"example.com.":      {"v=spf1 ip4:192.0.2.0/24 include:_spf.example.net -all exp=why.example.com"},
		"_spf.example.net.": {"v=spf1 a:out.example.net -all"},
		"why.example.com.":  {"%{i} is not one of %{d}'s mail servers"},
	},
	addr: map[string][]netip.Addr{
		"out.example.net.": {netip.MustParseAddr("198.51.100.25")},
	},
}

func ExampleCheck() {
	ctx := context.Background()
	for _, ip := range []string{"192.0.2.10", "198.51.100.25", "203.0.113.9"} {
		res, err := spf.Check(ctx, resolver, netip.MustParseAddr(ip), "mail.example.org", "alice@example.com")
		fmt.Println(ip, res, err)
	}
	// Output:
	// 192.0.2.10 pass <nil>
	// 198.51.100.25 pass <nil>
	// 203.0.113.9 fail <nil>
}

func ExampleChecker_Check() {
	c := spf.Checker{Resolver: resolver, Receiver: "mx.example.org"}
	v := c.Check(context.Background(), netip.MustParseAddr("203.0.113.9"), "mail.example.org", "alice@example.com")
	fmt.Println(v.Result, v.Mechanism)
	fmt.Println(v.Explanation)
	fmt.Println(v.ReceivedSPF())
	// Output:
	// fail -all
	// 203.0.113.9 is not one of example.com's mail servers
	// Received-SPF: fail (mx.example.org: domain of alice@example.com does not designate 203.0.113.9 as permitted sender) receiver=mx.example.org; client-ip=203.0.113.9; envelope-from="alice@example.com"; helo=mail.example.org; identity=mailfrom; mechanism=-all
}
