package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	ncdns "github.com/ncruces/go-dns"

	"github.com/maildns/maildns/mx"
	"github.com/maildns/maildns/resolver"
)

// Peer names, as given to -peers.
const (
	peerMaildns = "maildns"
	peerNet     = "net"
	peerUnbound = "net+unbound"
	peerNcruces = "ncruces"
)

// allPeers lists the peers in report order.
var allPeers = []string{peerMaildns, peerNet, peerUnbound, peerNcruces}

// peerDescriptions say what each peer is, for the report.
var peerDescriptions = map[string]string{
	peerMaildns: "maildns resolver.Resolver with the library defaults (pacing found per upstream from 1000 queries/s, hedged after the RTO, up to 6 attempts, retry budget 0.2 credited by answers, failures remembered 5s) but Timeout = deadline/4, and mx.Lookup",
	peerNet:     "net.Resolver (PreferGo) straight to the upstream, LookupMX + LookupNetIP",
	peerUnbound: "net.Resolver through a local Unbound cache (serve-expired on)",
	peerNcruces: "net.Resolver with github.com/ncruces/go-dns NewCachingResolver (100k entries)",
}

// A verdict is what a peer decided for one message's recipient domain.
type verdict struct {
	Decision string // decisionDeliver, decisionDefer or decisionBounce
	Stale    bool   // the plan used expired data (maildns only)
}

// The decisions a sender makes.
const (
	decisionDeliver = "deliver"
	decisionDefer   = "defer"
	decisionBounce  = "bounce"
)

// A client plans deliveries the way one peer would. Plan is called from
// many goroutines at once.
type client interface {
	Plan(ctx context.Context, domain string) verdict
	// Close releases what the client started; it waits for its
	// goroutines and processes.
	Close() error
}

// peerSetup is what a peer needs to start.
type peerSetup struct {
	Upstream string        // the test server's address
	Deadline time.Duration // of one message's lookups
	QPS      float64       // maildns QPSPerUpstream; 0: the library default
	TempDir  string        // for Unbound's files
}

// newClient starts peer name against s.Upstream.
func newClient(name string, s peerSetup) (client, error) {
	switch name {
	case peerMaildns:
		return newMaildnsClient(s)
	case peerNet:
		return &netClient{r: directResolver(s.Upstream)}, nil
	case peerUnbound:
		ub, err := startUnbound(s.TempDir, s.Upstream)
		if err != nil {
			return nil, err
		}
		return &netClient{r: directResolver(ub.Addr), ub: ub}, nil
	case peerNcruces:
		r := ncdns.NewCachingResolver(directResolver(s.Upstream), ncdns.MaxCacheEntries(resolver.DefaultCacheSize))
		return &netClient{r: r}, nil
	}
	return nil, fmt.Errorf("unknown peer %q", name)
}

// maildnsClient plans with mx.Lookup over a maildns Resolver.
type maildnsClient struct {
	r *resolver.Resolver
	l mx.Lookuper
}

// maildnsTimeout is the per-attempt timeout for a message deadline: a
// quarter of it, at most the library default, so that a lookup's attempts
// fit in the deadline (what a user would set).
func maildnsTimeout(deadline time.Duration) time.Duration {
	return min(resolver.DefaultTimeout, deadline/4)
}

// newMaildnsClient returns a client with a new maildns Resolver whose only
// upstream is s.Upstream.
func newMaildnsClient(s peerSetup) (*maildnsClient, error) {
	r, err := resolver.New(resolver.Config{
		Upstreams:      []string{s.Upstream},
		Timeout:        maildnsTimeout(s.Deadline),
		QPSPerUpstream: s.QPS,
	})
	if err != nil {
		return nil, err
	}
	return &maildnsClient{r: r}, nil
}

// Plan builds the domain's delivery plan with mx.Lookup.
func (c *maildnsClient) Plan(ctx context.Context, domain string) verdict {
	plan, err := c.l.Lookup(ctx, c.r, domain)
	switch {
	case err == nil:
		return verdict{Decision: decisionDeliver, Stale: plan.Stale}
	case mx.IsTemporary(err):
		return verdict{Decision: decisionDefer}
	}
	return verdict{Decision: decisionBounce}
}

// Close closes the resolver.
func (c *maildnsClient) Close() error { return c.r.Close() }

// Stats returns the resolver's counters.
func (c *maildnsClient) Stats() resolver.Stats { return c.r.Stats() }

// directResolver returns a pure-Go net.Resolver whose queries all go to
// upstream, whatever /etc/resolv.conf says; its timeouts and attempts are
// those of /etc/resolv.conf (by default 5s and 2).
func directResolver(upstream string) *net.Resolver {
	var d net.Dialer
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, upstream)
		},
	}
}

// netClient plans the way code written for net.Resolver does: LookupMX,
// then LookupNetIP for each host concurrently; with no MX records, the
// domain's own addresses (implicit MX). net.Resolver cannot tell NXDOMAIN
// from NODATA, so a missing domain costs an address lookup too.
type netClient struct {
	r  *net.Resolver
	ub *unbound // nil unless the peer runs through Unbound
}

// Plan looks up the domain's MX records, then its hosts' addresses.
func (c *netClient) Plan(ctx context.Context, domain string) verdict {
	mxs, err := c.r.LookupMX(ctx, domain)
	var hosts []string
	switch {
	case err == nil && len(mxs) == 1 && mxs[0].Host == ".":
		return verdict{Decision: decisionBounce} // null MX
	case err == nil:
		for _, m := range mxs {
			if m.Host != "." {
				hosts = append(hosts, m.Host)
			}
		}
	case isNotFound(err):
		hosts = []string{domain}
	default:
		return verdict{Decision: decisionDefer}
	}
	if len(hosts) == 0 {
		return verdict{Decision: decisionBounce}
	}
	type result struct {
		addrs []netip.Addr
		err   error
	}
	results := make([]result, len(hosts))
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i].addrs, results[i].err = c.r.LookupNetIP(ctx, "ip", h)
		}()
	}
	wg.Wait()
	temporary := false
	for _, r := range results {
		if len(r.addrs) > 0 {
			return verdict{Decision: decisionDeliver}
		}
		if r.err != nil && !isNotFound(r.err) {
			temporary = true
		}
	}
	if temporary {
		return verdict{Decision: decisionDefer}
	}
	return verdict{Decision: decisionBounce}
}

// Close stops Unbound, if the client runs through it.
func (c *netClient) Close() error {
	if c.ub != nil {
		return c.ub.Close()
	}
	return nil
}

// PeakRSS returns the peak resident memory of the Unbound process, or 0.
func (c *netClient) PeakRSS() uint64 {
	if c.ub == nil {
		return 0
	}
	return c.ub.PeakRSS()
}

// isNotFound reports whether err is a *net.DNSError saying the name or
// the type does not exist.
func isNotFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}
