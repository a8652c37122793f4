// Command sender is the DNS half of a mail sender's delivery path, built on
// maildns: it reads recipient addresses, groups them by domain, builds each
// domain's delivery plan with the mx package, and prints, per domain, the
// mail hosts and addresses in the order they would be tried and the
// decision an MTA has to make: deliver, defer (a temporary failure, 4xx)
// or bounce (a permanent one, with the SMTP reply and enhanced status
// code).
//
// Before that it runs the sender's own pre-flight checks: is the sending
// address authorized by the SPF record of the MAIL FROM domain
// (spf.Check), and is the DKIM key published in DNS the key it signs with
// (dkim.CheckSigner)? At the end it prints the resolver's counters
// (resolver.Stats).
//
// With no -upstream it runs in demo mode: an in-process DNS server on a
// loopback port serves a bundled demo zone, and a bundled recipient list
// covers every outcome (MX hosts at equal and different preferences, an
// internationalised domain, null MX, implicit MX, a domain that does not
// exist, one whose DNS answers SERVFAIL, one whose DNS does not answer,
// MX hosts without addresses, a host behind a CNAME). It needs no network:
//
//	cd examples && go run ./sender
//
// With real resolvers:
//
//	go run ./sender -upstream 127.0.0.1:53 -recipients list.txt \
//	    -from bounces@example.com -ip 192.0.2.25 \
//	    -selector s1 -dkim-key dkim.pem -metrics :9100
//
// Usage:
//
//	sender [flags]
//
//	-recipients FILE  recipient addresses, one per line ("-" or absent:
//	                  standard input; in demo mode the bundled list)
//	-upstream ADDR    recursive resolver "ip:port"; repeat the flag or give
//	                  a comma-separated list for several
//	-demo             serve the bundled demo zone in-process (the default
//	                  when no -upstream is given)
//	-concurrency N    domains planned at once (default 32)
//	-timeout D        time allowed for one domain's plan (default 10s,
//	                  2s in demo mode)
//	-from ADDR        MAIL FROM address whose domain's SPF is checked
//	-helo NAME        HELO name for the SPF check (default: -from's domain)
//	-ip ADDR          the sending IP address for the SPF check
//	-selector NAME    DKIM selector of -from's domain
//	-dkim-key FILE    PEM private key (PKCS #8, or PKCS #1 RSA) signed with
//	-strict           exit with status 1 if a pre-flight check fails
//	-metrics ADDR     serve Prometheus metrics on ADDR at /metrics
//	-hold             keep serving -metrics after the run, until interrupted
//
// Recipient lines are addresses ("user@domain" or "Name <user@domain>");
// blank lines and lines starting with "#" are skipped. Domains are grouped
// case-insensitively, internationalised ones by their A-label.
//
// Output goes to standard output; a progress line is written to standard
// error every few seconds while a long list is planned. The exit status is
// 0 when the run completes, whatever the decisions; 2 for a usage error;
// 1 when the run cannot be set up, or when -strict is given and a
// pre-flight check fails.
//
// The metrics served with -metrics come from a dedicated registry: the
// resolver's counters read from Stats on every scrape
// (maildns_lookups_total, maildns_cache_hits_total,
// maildns_upstream_queries_total{upstream}, maildns_upstream_srtt_seconds,
// ...), the sender's decisions (maildns_sender_domains_total{decision},
// maildns_sender_recipients_total{decision}), the pre-flight results
// (maildns_sender_preflight_ok{check}), and the Go runtime and process
// collectors.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// options are the command-line settings of one run.
type options struct {
	recipients  string   // file name; "" or "-" means standard input
	upstreams   []string // recursive resolvers; none means demo mode
	demo        bool     // serve the demo zone in-process
	concurrency int      // domains planned at once
	timeout     time.Duration
	from        string // MAIL FROM address for the SPF check
	helo        string // HELO name for the SPF check
	ip          string // sending address for the SPF check
	selector    string // DKIM selector
	dkimKey     string // PEM file of the DKIM signing key
	strict      bool   // pre-flight failures are fatal
	metrics     string // listen address for /metrics, "" for none
	hold        bool   // keep serving metrics after the run

	// progressEvery is the interval of the progress lines on stderr.
	progressEvery time.Duration
}

// Defaults of the flags that have one.
const (
	defaultConcurrency = 32
	defaultTimeout     = 10 * time.Second
	demoTimeout        = 2 * time.Second
	progressInterval   = 2 * time.Second
)

// errUsage marks errors in the command line: main exits with status 2.
var errUsage = errors.New("usage error")

// upstreamList is a flag.Value collecting -upstream, repeatable and
// comma-separated.
type upstreamList []string

// String returns the upstreams as a comma-separated list.
func (u *upstreamList) String() string { return strings.Join(*u, ",") }

// Set adds the upstreams of one -upstream flag, a comma-separated list.
func (u *upstreamList) Set(s string) error {
	for _, a := range strings.Split(s, ",") {
		if a = strings.TrimSpace(a); a != "" {
			*u = append(*u, a)
		}
	}
	return nil
}

// parseFlags parses the command line (without the program name). Errors
// wrap errUsage; flag's own messages and the usage text go to stderr.
func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("sender", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	var ups upstreamList
	fs.StringVar(&o.recipients, "recipients", "", "recipient `file`, one address per line (\"-\" or absent: standard input; demo mode: the bundled list)")
	fs.Var(&ups, "upstream", "recursive resolver `ip:port` (repeatable, or a comma-separated list)")
	fs.BoolVar(&o.demo, "demo", false, "serve the bundled demo zone from an in-process DNS server (default when no -upstream)")
	fs.IntVar(&o.concurrency, "concurrency", defaultConcurrency, "domains planned at once")
	fs.DurationVar(&o.timeout, "timeout", 0, "time allowed for one domain's plan (default 10s, 2s in demo mode)")
	fs.StringVar(&o.from, "from", "", "MAIL FROM `address` whose domain's SPF and DKIM are checked (demo: bounces@sender.example)")
	fs.StringVar(&o.helo, "helo", "", "HELO `name` for the SPF check (default: the domain of -from)")
	fs.StringVar(&o.ip, "ip", "", "sending IP `address` for the SPF check (demo: 192.0.2.25)")
	fs.StringVar(&o.selector, "selector", "", "DKIM `selector` of the -from domain (demo: demo)")
	fs.StringVar(&o.dkimKey, "dkim-key", "", "PEM `file` of the DKIM signing key, PKCS #8 or PKCS #1 RSA (demo: a built-in Ed25519 key)")
	fs.BoolVar(&o.strict, "strict", false, "exit with status 1 if a pre-flight check fails")
	fs.StringVar(&o.metrics, "metrics", "", "serve Prometheus metrics on `addr` (such as :9100) at /metrics")
	fs.BoolVar(&o.hold, "hold", false, "keep serving -metrics after the run until interrupted")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: sender [flags]\n\nPlans delivery for a recipient list with maildns; see go doc for details.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return o, fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	o.upstreams = ups
	if o.demo && len(o.upstreams) > 0 {
		return o, fmt.Errorf("%w: -demo and -upstream exclude each other", errUsage)
	}
	if len(o.upstreams) == 0 {
		o.demo = true
	}
	if o.concurrency < 1 {
		return o, fmt.Errorf("%w: -concurrency must be at least 1", errUsage)
	}
	if o.timeout < 0 {
		return o, fmt.Errorf("%w: -timeout must be positive", errUsage)
	}
	if o.timeout == 0 {
		o.timeout = defaultTimeout
		if o.demo {
			o.timeout = demoTimeout
		}
	}
	if o.hold && o.metrics == "" {
		return o, fmt.Errorf("%w: -hold needs -metrics", errUsage)
	}
	o.progressEvery = progressInterval
	return o, nil
}

// main parses the flags, runs, and exits with the status the package
// documentation gives.
func main() {
	opts, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sender:", strings.TrimPrefix(err.Error(), errUsage.Error()+": "))
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, opts, os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "sender:", err)
		stop()
		os.Exit(1)
	}
}
