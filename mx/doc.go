// Package mx turns a recipient domain into a delivery plan: the ordered
// list of mail hosts and addresses a mail transfer agent should try
// (RFC 5321 §5.1), and, when there is none, a clear answer to the
// question every MTA has to ask: bounce or defer?
//
// It is called by the delivery path of an MTA, once per recipient domain
// and delivery attempt, on top of a caching resolver such as
// *resolver.Resolver (any type with its Lookup method will do):
//
//	plan, err := mx.Lookup(ctx, r, "bücher.example")
//	switch {
//	case err == nil:
//		for _, h := range plan.Hosts {
//			for _, addr := range h.Addrs {
//				// connect to addr, say EHLO to h.Name, ...
//			}
//		}
//	case mx.IsTemporary(err):
//		// defer: 451 4.4.3, try again later
//	default:
//		// bounce: for an *mx.Error, SMTPCode() and EnhancedCode()
//	}
//
// # Building the plan
//
// The domain is converted to an A-label (IDNA2008, the lookup profile of
// golang.org/x/net/idna): "bücher.example" is looked up as
// "xn--bcher-kva.example.". An invalid name fails with ErrBadDomain before
// any query is sent.
//
// Its MX records are sorted by preference; hosts of equal preference are
// shuffled to spread the load (RFC 5321 §5.1). A domain whose only MX
// record is "0 ." accepts no mail (null MX, RFC 7505): ErrNullMX. A "."
// among other MX records is ignored. A name listed twice is kept once, at
// its lowest preference. An MX record naming an IP address ("10
// 192.0.2.5.") names no host: it stays in the plan, without addresses,
// with Host.Err wrapping ErrAddressLiteral, and is never connected to.
// Only the first Lookuper.MaxHosts hosts (default 10) are considered.
//
// A domain with no MX records (NODATA) is its own mail host, at
// preference 0, if it has an address (implicit MX, Plan.Implicit). A
// domain that does not exist (NXDOMAIN) never gets an implicit MX:
// ErrNoSuchDomain.
//
// The A and AAAA records of every host are looked up concurrently; CNAMEs
// are followed by the resolver, and the addresses at the end of the chain
// are used. A host whose lookups fail stays in the plan with Host.Err set,
// and the other hosts are still planned. The addresses of each host are
// ordered by Lookuper.Family: by default IPv6 and IPv4 alternated, IPv6
// first. An address already listed for an earlier host is not listed
// again. The whole plan holds at most Lookuper.AddressLimit addresses
// (default 5, like Postfix's smtp_mx_address_limit); hosts after the limit
// is reached are left out.
//
// A plan costs exactly the queries it needs: one MX query, then one A and
// one AAAA query per distinct host (only A with IPv4Only, only AAAA with
// IPv6Only). The resolver caches them all, so the next plan for the same
// domain costs none.
//
// An expired answer that the resolver served because its upstreams failed
// (RFC 8767) is used, and the plan is marked Stale.
//
// # Errors
//
// Every error returned is an *Error, whose message starts with "mx: ". It
// wraps one of the sentinel errors of this package (test with errors.Is)
// and the cause: the resolver's error, or the errors of the hosts tried.
// IsTemporary tells defer from bounce; SMTPCode and EnhancedCode give the
// reply code (RFC 5321, RFC 7504) and enhanced status code (RFC 3463,
// RFC 7505) an MTA should report:
//
//	error            when                                         action  reply
//	ErrNullMX        the only MX record is "0 ." (RFC 7505)       bounce  556 5.1.10
//	ErrNoSuchDomain  the domain does not exist (NXDOMAIN)         bounce  550 5.1.2
//	ErrNoMailHost    no MX host (nor the implicit MX) has an      bounce  550 5.1.2
//	                 address, and no lookup failed temporarily
//	ErrBadDomain     the name is invalid; nothing was sent        bounce  553 5.1.3
//	ErrLookupFailed  a lookup failed (timeout, SERVFAIL, network  defer   451 4.4.3
//	                 error, cancelled context) and no host has
//	                 an address
//
// A plan is returned, with a nil error, as soon as one host has an
// address, even if the lookups of other hosts failed: the MTA delivers to
// what it can reach, as it would if those hosts refused connections.
//
// A Host.Err is an *Error about that host, wrapping ErrHostNotFound,
// ErrNoAddress, ErrAddressLiteral, ErrBadDomain or ErrLookupFailed.
package mx
