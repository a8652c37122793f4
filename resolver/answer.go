package resolver

import (
	"time"

	"github.com/miekg/dns"
)

// An Answer is the outcome of one lookup that reached a conclusion:
// records, NXDOMAIN or NODATA.
//
// Answers are shared between callers and with the cache: they are
// read-only, and neither the Answer nor its Records may be modified.
// Use dns.Copy on a record to change it.
type Answer struct {
	// Name is the queried name as a lower-case FQDN ("example.com.").
	Name string
	// Type is the query type (dns.TypeMX, ...).
	Type uint16
	// Rcode is dns.RcodeSuccess or dns.RcodeNameError (NXDOMAIN).
	// A success with no record of Type is NODATA (see NoData).
	Rcode int
	// Records is the answer section: the CNAME chain from Name, if any,
	// followed by the records of Type at its end. Records that do not
	// belong to that chain are removed.
	Records []dns.RR
	// TTL is how long the answer may be cached, as decided when it was
	// fetched: the smallest record TTL (or, for a negative answer, the
	// SOA-derived TTL of RFC 2308), clamped to the Config limits.
	TTL time.Duration
	// Expires is when the answer stops being fresh.
	Expires time.Time
	// Stale reports that resolution failed and this expired answer was
	// served instead (RFC 8767).
	Stale bool
	// Authenticated is the upstream's AD bit, if trusted (Config.TrustAD):
	// the upstream validated the answer with DNSSEC. The answer is then
	// secure; without it, insecure (for a negative answer too: a secure
	// denial of existence is Authenticated). A bogus answer is no answer:
	// a SERVFAIL error, with the DNSSEC ExtendedError the upstream sent.
	// Cached answers keep their status.
	Authenticated bool
	// Upstream is the upstream ("ip:port") that gave the answer; empty
	// for a special-use name answered without a query.
	Upstream string
}

// NXDomain reports whether the name does not exist.
func (a *Answer) NXDomain() bool { return a.Rcode == dns.RcodeNameError }

// NoData reports whether the name exists but has no record of the type
// asked for (after following any CNAME chain).
func (a *Answer) NoData() bool {
	if a.Rcode != dns.RcodeSuccess {
		return false
	}
	for _, rr := range a.Records {
		if rr.Header().Rrtype == a.Type {
			return false
		}
	}
	return true
}

// NotFound reports whether the answer is NXDOMAIN or NODATA: there is no
// record of that type at that name.
func (a *Answer) NotFound() bool { return a.NXDomain() || a.NoData() }
