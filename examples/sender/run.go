package main

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/maildns/maildns/mx"
	"github.com/maildns/maildns/resolver"
)

// run is the whole program after flag parsing: set up, pre-flight, plan,
// report. It returns an error only when the run cannot be set up or
// -strict stops it; the decisions for the domains are output, not errors.
func run(ctx context.Context, o options, stdin io.Reader, stdout, stderr io.Writer) error {
	groups, bad, err := loadRecipients(o, stdin, stderr)
	if err != nil {
		return err
	}
	id, err := senderIdentity(o)
	if err != nil {
		return err
	}

	// DNS: the demo server or the configured upstreams.
	upstreams := o.upstreams
	if o.demo {
		srv, err := startDemo(demoKey())
		if err != nil {
			return err
		}
		defer srv.Close()
		upstreams = []string{srv.Addr()}
		fmt.Fprintf(stdout, "sender: demo mode: DNS server on %s serving the bundled demo zone\n", srv.Addr())
	} else {
		fmt.Fprintf(stdout, "sender: upstreams %s\n", strings.Join(upstreams, ", "))
	}
	res, err := resolver.New(resolverConfig(o, upstreams))
	if err != nil {
		return err
	}
	defer res.Close()

	m := newMetrics(res.Stats)
	if o.metrics != "" {
		stop, err := serveMetrics(o.metrics, m, stderr)
		if err != nil {
			return err
		}
		defer stop()
	}

	checks := preflight(ctx, res, id, o.timeout)
	m.recordChecks(checks)
	failed := false
	for _, c := range checks {
		fmt.Fprintln(stdout, "pre-flight:", c.Line)
		failed = failed || !c.Skipped && !c.OK
	}
	if failed && o.strict {
		return errors.New("pre-flight check failed, stopping (-strict)")
	}

	start := time.Now()
	p := &planner{
		Lookuper:      new(mx.Lookuper),
		Resolver:      res,
		Concurrency:   o.concurrency,
		Timeout:       o.timeout,
		Progress:      stderr,
		ProgressEvery: o.progressEvery,
		OnDone:        m.recordOutcome,
	}
	outs := p.planAll(ctx, groups)
	elapsed := time.Since(start)
	printOutcomes(stdout, outs)
	printSummary(stdout, outs, bad, elapsed)
	printStats(stdout, res.Stats())

	if o.hold {
		fmt.Fprintln(stderr, "sender: run complete; serving metrics until interrupted")
		<-ctx.Done()
	}
	return nil
}

// loadRecipients reads the recipient list chosen by o: the file, standard
// input, or in demo mode without -recipients the bundled list.
func loadRecipients(o options, stdin io.Reader, stderr io.Writer) ([]*domainGroup, int, error) {
	var in io.Reader
	switch {
	case o.recipients == "" && o.demo:
		in = strings.NewReader(demoRecipients)
	case o.recipients == "" || o.recipients == "-":
		in = stdin
	default:
		f, err := os.Open(o.recipients)
		if err != nil {
			return nil, 0, err
		}
		defer f.Close()
		in = f
	}
	return readRecipients(in, stderr)
}

// senderIdentity assembles the identity the pre-flight checks check: the
// flags, with the demo sender's values for those not given in demo mode.
func senderIdentity(o options) (identity, error) {
	id := identity{From: o.from, Helo: o.helo, Selector: o.selector}
	ip := o.ip
	if o.demo {
		if id.From == "" {
			id.From = demoFrom
		}
		if ip == "" {
			ip = demoIP
		}
		if id.Selector == "" {
			id.Selector = demoSelector
		}
	}
	if ip != "" {
		a, err := netip.ParseAddr(ip)
		if err != nil {
			return id, fmt.Errorf("-ip: %w", err)
		}
		id.IP = a.Unmap()
	}
	var signer crypto.Signer
	switch {
	case o.dkimKey != "":
		s, err := loadSigner(o.dkimKey)
		if err != nil {
			return id, fmt.Errorf("-dkim-key: %w", err)
		}
		signer = s
	case o.demo:
		signer = demoKey()
	}
	id.Signer = signer
	return id, nil
}

// resolverConfig is the resolver's configuration for o. Each attempt gets
// a quarter of the per-domain timeout (at most the library default), so
// that a lookup's three attempts end before the domain's deadline and the
// failure reported is the resolver's own (timeout, SERVFAIL).
func resolverConfig(o options, upstreams []string) resolver.Config {
	return resolver.Config{
		Upstreams: upstreams,
		Timeout:   min(resolver.DefaultTimeout, o.timeout/4),
	}
}

// serveMetrics serves m on addr at /metrics until the returned function
// is called.
func serveMetrics(addr string, m *metrics, stderr io.Writer) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("-metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(stderr, "sender: metrics:", err)
		}
	}()
	fmt.Fprintf(stderr, "sender: metrics on http://%s/metrics\n", ln.Addr())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	}, nil
}

// printSummary writes the count of domains and recipients per decision.
func printSummary(w io.Writer, outs []outcome, bad int, elapsed time.Duration) {
	t := tallyOutcomes(outs)
	recipients := 0
	for _, o := range outs {
		recipients += len(o.Group.Recipients)
	}
	parts := make([]string, len(decisions))
	for i, d := range decisions {
		parts[i] = fmt.Sprintf("%s %d (%s)", d, t.domains[d], plural(t.recipients[d], "recipient"))
	}
	fmt.Fprintf(w, "summary: %s, %s planned in %s: %s",
		plural(len(outs), "domain"), plural(recipients, "recipient"), elapsed.Round(time.Millisecond), strings.Join(parts, ", "))
	if bad > 0 {
		fmt.Fprintf(w, "; %d lines skipped", bad)
	}
	fmt.Fprintln(w)
}

// printStats writes the resolver's counters.
func printStats(w io.Writer, s resolver.Stats) {
	fmt.Fprintf(w, "stats: %d lookups: %d cache hits (%d negative), %d misses, %d coalesced, %d stale served\n",
		s.Lookups, s.CacheHits, s.NegativeHits, s.CacheMisses, s.Coalesced, s.StaleServed)
	fmt.Fprintf(w, "stats: %d upstream queries: %d retries (%d refused by the retry budget), %d rate-limit waits, %d timeouts, %d SERVFAIL, %d TCP fallbacks; %d cache evictions\n",
		s.UpstreamQueries, s.Retries, s.RetriesDenied, s.RateLimitWaits, s.Timeouts, s.ServFails, s.TCPFallbacks, s.Evictions)
	for _, u := range s.Upstreams {
		state := "up"
		if u.Down {
			state = "down"
		}
		ceiling := "no ceiling found"
		if u.Ceiling > 0 {
			ceiling = fmt.Sprintf("ceiling %.0f/s", u.Ceiling)
		}
		fmt.Fprintf(w, "stats: upstream %s: %d queries, %d replies, %d lost, %d failures, srtt %s, rto %s, paced at %.0f/s (%s), %s\n",
			u.Addr, u.Queries, u.Replies, u.Lost, u.Failures, u.SRTT.Round(time.Microsecond), u.RTO, u.Rate, ceiling, state)
	}
}
