// Command bench runs one mail-sending DNS workload through maildns and
// through what a sender would use instead, side by side, under upstream
// faults, and reports throughput, latency, upstream load and failures.
//
// The workload is the DNS half of sending mail: messages addressed to
// recipient domains drawn from a Zipf distribution (a few domains get
// most of the mail, most get little), each needing the domain's MX
// records and its mail hosts' addresses. The domains, generated from a
// fixed seed, are served by an in-process authoritative server
// (internal/dnstest) playing the upstream: most have their own or a shared
// provider's MX hosts, a tail does not exist, publishes a null MX, has
// only an address (implicit MX) or names an MX host that does not exist.
//
// The peers:
//
//	maildns      resolver.Resolver with mx.Lookup
//	net          net.Resolver (pure Go) querying the upstream directly:
//	             LookupMX, then LookupNetIP for each host
//	net+unbound  the same through a local Unbound cache, started by the
//	             harness (skipped with a note if unbound is not installed)
//	ncruces      net.Resolver with the cache of github.com/ncruces/go-dns
//
// Each peer runs every fault profile against the same server, reset in
// between, and starts with a cold cache:
//
//	none       no faults
//	loss20     20% of queries dropped
//	servfail   every query answered SERVFAIL for -burst
//	outage     no query answered for -outage
//	ratelimit  the upstream answers at most 1024 queries/s and drops the
//	           rest, like a cloud VPC resolver
//	ceiling+loss   the same ceiling, and 10% of what is under it dropped
//	ceiling-shift  a ceiling of 1024, then 400, then 1024 queries/s, a
//	           third of -max-run each
//
// The servfail and outage windows open once -fault-at of the messages
// have been started, or -fault-at of -max-run has passed, whichever is
// first. -concurrency workers send the messages one after another, each
// with a deadline of -deadline; a run ends when every message is planned
// or after -max-run.
//
// For each peer and profile the report gives: lookups/s (messages planned
// per second), latency percentiles of a message's plan, upstream queries
// per message against the minimum (what a perfect cache would send: each
// question once per TTL), messages that failed (deferred: no decision),
// wrong decisions, plans built on stale data, the share of queries the
// upstream dropped, its answered queries per second, and peak memory (the
// Go heap's growth during the run, plus Unbound's peak RSS). For
// ceiling-shift it also gives, for each change, the share dropped from 3s
// after it on and, for the rise, when the queries sent came back to 0.9 ×
// the ceiling. A line on stderr starts each run, and another every 10s of
// it.
//
// Usage:
//
//	bench [-quick] [-json] [-plot FILE.svg] [flags]
//
//	-quick            a small run: finishes in under two minutes on 2 CPUs
//	                  (the default run: within 10 minutes)
//	-json             print JSON instead of the table
//	-plot FILE.svg    draw latency percentiles and upstream queries/s
//	                  over time, per profile and peer
//	-domains N        recipient domains (default 20000; quick 500)
//	-messages N       messages (default 200000; quick 20000)
//	-concurrency N    messages in flight (default 64)
//	-deadline D       per-message deadline (default 5s; quick 1s)
//	-ttl D            record TTL in the zone (default 5m); answers expire,
//	                  and stale ones can be served, only in runs longer
//	                  than this (try -quick -ttl 1s)
//	-max-run D        longest run per peer and profile (default 20s; quick 2s)
//	-outage D         length of the outage (default 5s; quick 1s)
//	-burst D          length of the SERVFAIL burst (default 3s; quick 500ms)
//	-fault-at F       when the fault window opens (default 0.2)
//	-peers LIST       comma-separated peers (default all)
//	-profiles LIST    comma-separated profiles (default all)
//	-maildns-qps Q    maildns QPSPerUpstream, a hard cap (default: the
//	                  library's, a rate found per upstream from 1000/s)
//	-seed N           workload seed (default 1)
//
// Example:
//
//	cd examples && go run ./bench -quick -plot ../docs/bench.svg
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/maildns/maildns/dnstest"
)

// config is the benchmark's settings.
type config struct {
	Domains     int           `json:"domains"`
	Messages    int           `json:"messages"`
	Concurrency int           `json:"concurrency"`
	Deadline    time.Duration `json:"deadline_ns"`
	TTL         time.Duration `json:"ttl_ns"`
	MaxRun      time.Duration `json:"max_run_ns"`
	Outage      time.Duration `json:"outage_ns"`
	Burst       time.Duration `json:"servfail_burst_ns"`
	FaultAt     float64       `json:"fault_at"`
	QPS         float64       `json:"maildns_qps"`
	Seed        uint64        `json:"seed"`
	Peers       []string      `json:"peers"`
	Profiles    []string      `json:"profiles"`
	Quick       bool          `json:"quick"`

	JSON bool   `json:"-"`
	Plot string `json:"-"`
	// TempDir holds the Unbound configurations.
	TempDir string `json:"-"`
}

// defaults and quickDefaults are the sizes of a full and a -quick run.
var (
	defaults = config{
		Domains: 20_000, Messages: 200_000, Concurrency: 64,
		Deadline: 5 * time.Second, TTL: 5 * time.Minute, MaxRun: 20 * time.Second,
		Outage: 5 * time.Second, Burst: 3 * time.Second, FaultAt: 0.2, Seed: 1,
	}
	quickDefaults = config{
		Domains: 500, Messages: 20_000, Concurrency: 64,
		Deadline: time.Second, TTL: 5 * time.Minute, MaxRun: 2 * time.Second,
		Outage: time.Second, Burst: 500 * time.Millisecond, FaultAt: 0.2, Seed: 1,
	}
)

// errUsage marks command-line errors: exit status 2.
var errUsage = errors.New("usage error")

// parseFlags parses the command line (without the program name).
func parseFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	var peers, profs string
	d := defaults
	fs.BoolVar(&c.Quick, "quick", false, "a small run that finishes in under two minutes")
	fs.BoolVar(&c.JSON, "json", false, "print JSON instead of the table")
	fs.StringVar(&c.Plot, "plot", "", "write an SVG plot of latency and upstream queries/s over time to `file`")
	fs.IntVar(&c.Domains, "domains", d.Domains, "recipient domains (quick: 500)")
	fs.IntVar(&c.Messages, "messages", d.Messages, "messages (quick: 20000)")
	fs.IntVar(&c.Concurrency, "concurrency", d.Concurrency, "messages in flight")
	fs.DurationVar(&c.Deadline, "deadline", d.Deadline, "deadline of one message's lookups (quick: 1s)")
	fs.DurationVar(&c.TTL, "ttl", d.TTL, "TTL of the zone's records, negative answers included")
	fs.DurationVar(&c.MaxRun, "max-run", d.MaxRun, "longest run of one peer under one profile (quick: 2s)")
	fs.DurationVar(&c.Outage, "outage", d.Outage, "length of the outage profile's outage (quick: 1s)")
	fs.DurationVar(&c.Burst, "burst", d.Burst, "length of the servfail profile's SERVFAIL burst (quick: 500ms)")
	fs.Float64Var(&c.FaultAt, "fault-at", d.FaultAt, "fraction of the messages (or of -max-run) after which the fault window opens")
	fs.Float64Var(&c.QPS, "maildns-qps", 0, "maildns QPSPerUpstream, a hard cap (0: the library default, a rate found per upstream)")
	fs.Uint64Var(&c.Seed, "seed", d.Seed, "seed of the generated workload")
	fs.StringVar(&peers, "peers", strings.Join(allPeers, ","), "comma-separated `peers`")
	fs.StringVar(&profs, "profiles", strings.Join(profileNames(), ","), "comma-separated fault `profiles`")
	if err := fs.Parse(args); err != nil {
		return c, fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	if c.Quick {
		set := make(map[string]bool)
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		q := quickDefaults
		fill := func(name string, dst, v any) {
			if set[name] {
				return
			}
			switch dst := dst.(type) {
			case *int:
				*dst = v.(int)
			case *time.Duration:
				*dst = v.(time.Duration)
			}
		}
		fill("domains", &c.Domains, q.Domains)
		fill("messages", &c.Messages, q.Messages)
		fill("deadline", &c.Deadline, q.Deadline)
		fill("ttl", &c.TTL, q.TTL)
		fill("max-run", &c.MaxRun, q.MaxRun)
		fill("outage", &c.Outage, q.Outage)
		fill("burst", &c.Burst, q.Burst)
	}
	c.Peers = splitList(peers)
	c.Profiles = splitList(profs)
	for _, p := range c.Peers {
		if !slices.Contains(allPeers, p) {
			return c, fmt.Errorf("%w: unknown peer %q (known: %s)", errUsage, p, strings.Join(allPeers, ", "))
		}
	}
	known := profiles(c)
	for _, p := range c.Profiles {
		if !slices.ContainsFunc(known, func(k profile) bool { return k.Name == p }) {
			return c, fmt.Errorf("%w: unknown profile %q", errUsage, p)
		}
	}
	switch {
	case c.Domains < 1 || c.Messages < 1 || c.Concurrency < 1:
		return c, fmt.Errorf("%w: -domains, -messages and -concurrency must be positive", errUsage)
	case c.Deadline <= 0 || c.TTL < time.Second || c.MaxRun <= 0:
		return c, fmt.Errorf("%w: -deadline and -max-run must be positive, -ttl at least 1s", errUsage)
	case c.FaultAt < 0 || c.FaultAt > 1:
		return c, fmt.Errorf("%w: -fault-at must be between 0 and 1", errUsage)
	case len(c.Peers) == 0 || len(c.Profiles) == 0:
		return c, fmt.Errorf("%w: no peers or no profiles", errUsage)
	}
	return c, nil
}

// seriesStep is the time step of the time series: a second, or less
// when runs are short.
func (c config) seriesStep() time.Duration {
	switch {
	case c.MaxRun < 20*time.Second:
		return 100 * time.Millisecond
	case c.MaxRun < 2*time.Minute:
		return 250 * time.Millisecond
	}
	return time.Second
}

// profileNames lists the profiles in report order.
func profileNames() []string {
	var names []string
	for _, p := range profiles(defaults) {
		names = append(names, p.Name)
	}
	return names
}

// splitList splits a comma-separated list, dropping empty and repeated
// entries.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// main parses the flags, runs the benchmark and exits: status 2 for a
// usage error, 1 if the benchmark fails.
func main() {
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", strings.TrimPrefix(err.Error(), errUsage.Error()+": "))
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd := "bench " + strings.Join(os.Args[1:], " ")
	if err := run(ctx, cfg, strings.TrimSpace(cmd), os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		stop()
		os.Exit(1)
	}
}

// run measures and writes the report (and the plot).
func run(ctx context.Context, cfg config, command string, stdout, stderr io.Writer) error {
	rep, err := measure(ctx, cfg, command, stderr)
	if err != nil {
		return err
	}
	if cfg.JSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		writeTable(stdout, rep)
	}
	if cfg.Plot != "" {
		if err := writePlot(cfg.Plot, rep); err != nil {
			return fmt.Errorf("plot: %w", err)
		}
		fmt.Fprintf(stderr, "bench: plot written to %s\n", cfg.Plot)
	}
	return nil
}

// measure generates the workload and runs every peer under every
// profile, writing a line per run to progress.
func measure(ctx context.Context, cfg config, command string, progress io.Writer) (*report, error) {
	tmp, err := os.MkdirTemp("", "maildns-bench")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	cfg.TempDir = tmp

	t0 := time.Now()
	w := newWorkload(cfg.Domains, cfg.Messages, cfg.TTL, cfg.Seed)
	srv, err := dnstest.Start(w.Zone)
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	fmt.Fprintf(progress, "bench: %d domains (%d distinct questions), %d messages, zone served on %s (%s)\n",
		len(w.Domains), w.Pairs, len(w.Messages), srv.Addr(), time.Since(t0).Round(time.Millisecond))

	rep := newReport(cfg, command)
	var profs []profile
	for _, p := range profiles(cfg) {
		if slices.Contains(cfg.Profiles, p.Name) {
			profs = append(profs, p)
		}
	}
	peers := cfg.Peers
	if slices.Contains(peers, peerUnbound) && unboundPath() == "" {
		rep.Skipped = append(rep.Skipped, peerUnbound+": unbound is not installed (apt-get install unbound)")
		peers = slices.DeleteFunc(slices.Clone(peers), func(p string) bool { return p == peerUnbound })
	}
	total, k := len(profs)*len(peers), 0
	for _, prof := range profs {
		rep.Profiles = append(rep.Profiles, profileInfo{Name: prof.Name, Desc: prof.Desc})
		for _, peer := range peers {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			k++
			fmt.Fprintf(progress, "bench: [%d/%d] %s under %s (at most %s; %s so far)\n",
				k, total, peer, prof.Name, cfg.MaxRun, time.Since(t0).Round(time.Second))
			res, err := runOne(ctx, cfg, w, srv, peer, prof, progress)
			if err != nil {
				if peer == peerUnbound {
					rep.Skipped = append(rep.Skipped, fmt.Sprintf("%s under %s: %v", peer, prof.Name, err))
					continue
				}
				return nil, fmt.Errorf("%s under %s: %w", peer, prof.Name, err)
			}
			rep.Results = append(rep.Results, res)
			fmt.Fprintf(progress, "bench: %-9s %-11s %8d messages in %5.1fs: %8.0f/s, p99 %s, %.2f upstream queries/message\n",
				prof.Name, peer, res.Messages, res.Seconds, res.Rate, fmtMS(res.P99), res.QueriesPerMsg)
		}
	}
	return rep, nil
}
