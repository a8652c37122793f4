package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maildns/maildns/dane"
	"github.com/maildns/maildns/mx"
)

// The decisions a sender makes for a domain.
const (
	decisionDeliver = "deliver"
	decisionDefer   = "defer"
	decisionBounce  = "bounce"
)

// decisions lists the decisions in report order.
var decisions = []string{decisionDeliver, decisionDefer, decisionBounce}

// An outcome is the result of planning one domain.
type outcome struct {
	Group    *domainGroup
	Plan     *mx.Plan // nil unless Decision is deliver
	Err      error    // nil when Decision is deliver
	Decision string   // decisionDeliver, decisionDefer or decisionBounce
	// DANE is, for a delivery, each host's DANE status (RFC 7672), in
	// the order of Plan.Hosts: what the connection to it must be.
	DANE []string
}

// replyCode returns the SMTP reply and enhanced status codes for a defer
// or bounce.
func (o outcome) replyCode() (int, string) {
	var me *mx.Error
	if errors.As(o.Err, &me) {
		return me.SMTPCode(), me.EnhancedCode()
	}
	if o.Decision == decisionDefer {
		return 451, "4.4.3"
	}
	return 550, "5.1.2"
}

// decide turns the result of mx.Lookup into a decision.
func decide(plan *mx.Plan, err error) string {
	switch {
	case err == nil && plan != nil:
		return decisionDeliver
	case mx.IsTemporary(err):
		return decisionDefer
	default:
		return decisionBounce
	}
}

// A planner plans the domains of a recipient list concurrently.
type planner struct {
	Lookuper    *mx.Lookuper
	Resolver    mx.Resolver
	Concurrency int           // domains planned at once
	Timeout     time.Duration // for one domain's plan

	// Progress, if not nil, receives a progress line every
	// ProgressEvery while planning runs (none for a list planned faster
	// than that).
	Progress      io.Writer
	ProgressEvery time.Duration

	// OnDone, if not nil, is called with each outcome as it is decided,
	// from several goroutines at once.
	OnDone func(outcome)
}

// planAll builds the delivery plan of every group and returns the
// outcomes in the order of groups. Domains left when ctx ends are
// deferred.
func (p *planner) planAll(ctx context.Context, groups []*domainGroup) []outcome {
	out := make([]outcome, len(groups))
	var next, done atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range min(p.Concurrency, len(groups)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(groups) {
					return
				}
				g := groups[i]
				dctx, cancel := context.WithTimeout(ctx, p.Timeout)
				plan, err := p.Lookuper.Lookup(dctx, p.Resolver, g.Key)
				out[i] = outcome{Group: g, Plan: plan, Err: err, Decision: decide(plan, err)}
				if plan != nil {
					out[i].DANE = daneStatus(dctx, p.Resolver, plan)
				}
				cancel()
				if p.OnDone != nil {
					p.OnDone(out[i])
				}
				done.Add(1)
			}
		}()
	}
	finished := make(chan struct{})
	var pwg sync.WaitGroup
	if p.ProgressEvery > 0 && p.Progress != nil {
		pwg.Add(1)
		go func() {
			defer pwg.Done()
			t := time.NewTicker(p.ProgressEvery)
			defer t.Stop()
			for {
				select {
				case <-finished:
					return
				case <-t.C:
					n := done.Load()
					fmt.Fprintf(p.Progress, "sender: progress: %d/%d domains planned (%.0f%%) in %s\n",
						n, len(groups), 100*float64(n)/float64(len(groups)), time.Since(start).Round(time.Second))
				}
			}
		}()
	}
	wg.Wait()
	close(finished)
	pwg.Wait()
	return out
}

// printOutcomes writes one block per domain: the decision line, then for
// a delivery the hosts in order with their addresses.
//
//	acme.example: deliver (3 recipients)
//	  10 mx1.acme.example: 2001:db8:11::1 192.0.2.11
//	nullmx.example: bounce 556 5.1.10 (1 recipient): domain accepts no mail (null MX)
func printOutcomes(w io.Writer, outs []outcome) {
	for _, o := range outs {
		g := o.Group
		var notes []string
		notes = append(notes, plural(len(g.Recipients), "recipient"))
		if g.Key != g.Display {
			notes = append(notes, "looked up as "+g.Key)
		}
		if o.Decision != decisionDeliver {
			code, enh := o.replyCode()
			fmt.Fprintf(w, "%s: %s %d %s (%s): %s\n", g.Display, o.Decision, code, enh,
				strings.Join(notes, ", "), reason(o.Err))
			continue
		}
		if o.Plan.Implicit {
			notes = append(notes, "implicit MX")
		}
		if o.Plan.Stale {
			notes = append(notes, "stale DNS data")
		}
		fmt.Fprintf(w, "%s: %s (%s)\n", g.Display, o.Decision, strings.Join(notes, ", "))
		for i, h := range o.Plan.Hosts {
			name := strings.TrimSuffix(h.Name, ".")
			if h.Err != nil {
				fmt.Fprintf(w, "  %d %s: no address: %s\n", h.Preference, name, reason(h.Err))
				continue
			}
			addrs := make([]string, len(h.Addrs))
			for i, a := range h.Addrs {
				addrs[i] = a.String()
			}
			line := fmt.Sprintf("  %d %s: %s", h.Preference, name, strings.Join(addrs, " "))
			if i < len(o.DANE) && o.DANE[i] != "" {
				line += " (DANE: " + o.DANE[i] + ")"
			}
			fmt.Fprintln(w, line)
		}
	}
}

// reason prints an mx error without its "mx: name.: " prefix, which the
// line it is printed on already says.
func reason(err error) string {
	var me *mx.Error
	if errors.As(err, &me) && me == err {
		return strings.TrimPrefix(me.Error(), "mx: "+me.Domain+": ")
	}
	return err.Error()
}

// plural returns "1 recipient", "2 recipients".
func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// tally counts domains and recipients per decision.
type tally struct {
	domains    map[string]int
	recipients map[string]int
}

// tallyOutcomes counts outs per decision.
func tallyOutcomes(outs []outcome) tally {
	t := tally{domains: make(map[string]int), recipients: make(map[string]int)}
	for _, o := range outs {
		t.domains[o.Decision]++
		t.recipients[o.Decision] += len(o.Group.Recipients)
	}
	return t
}

// daneStatus returns, for each host of plan with addresses, what DANE
// requires of the connection to it; "" where it does not apply (the MX
// answer or the host's addresses are not DNSSEC-validated), which is most
// hosts on today's Internet and every unsigned one here.
func daneStatus(ctx context.Context, r mx.Resolver, plan *mx.Plan) []string {
	out := make([]string, len(plan.Hosts))
	for i, h := range plan.Hosts {
		if h.Err != nil {
			continue
		}
		p, err := dane.HostPolicy(ctx, r, plan, h)
		switch {
		case err != nil:
			out[i] = "TLSA lookup failed: defer 4.7.5"
		case p.Status == dane.Authenticated:
			out[i] = fmt.Sprintf("authenticated TLS, %s at %s", plural(len(p.Records), "TLSA record"), strings.TrimSuffix(p.Base, "."))
		case p.Status == dane.UnusableOnly:
			out[i] = "mandatory TLS, TLSA records unusable"
		case p.Status == dane.NoTLSA:
			out[i] = "no TLSA records: opportunistic TLS"
		}
	}
	return out
}
