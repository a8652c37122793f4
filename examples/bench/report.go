package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// A report is everything a benchmark run measured, as printed with -json.
type report struct {
	Command  string            `json:"command"`
	Machine  machine           `json:"machine"`
	Config   config            `json:"config"`
	Peers    map[string]string `json:"peers"`
	Profiles []profileInfo     `json:"profiles"`
	Results  []*result         `json:"results"`
	Skipped  []string          `json:"skipped,omitempty"`
}

type profileInfo struct {
	Name string `json:"name"`
	Desc string `json:"description"`
}

// machine describes where the benchmark ran.
type machine struct {
	CPUs    int    `json:"cpus"`
	CPU     string `json:"cpu"`
	Go      string `json:"go"`
	OS      string `json:"os"`
	Unbound string `json:"unbound,omitempty"`
}

// newReport returns an empty report for cfg, describing this machine.
func newReport(cfg config, command string) *report {
	r := &report{
		Command: command,
		Machine: machine{
			CPUs: runtime.NumCPU(),
			CPU:  cpuModel(),
			Go:   runtime.Version(),
			OS:   runtime.GOOS + "/" + runtime.GOARCH,
		},
		Config: cfg,
		Peers:  make(map[string]string),
	}
	if p := unboundPath(); p != "" {
		r.Machine.Unbound = unboundVersion(p)
	}
	for _, p := range cfg.Peers {
		r.Peers[p] = peerDescriptions[p]
	}
	if _, ok := r.Peers[peerMaildns]; ok && cfg.QPS > 0 {
		r.Peers[peerMaildns] += fmt.Sprintf("; -maildns-qps %g", cfg.QPS)
	}
	return r
}

// cpuModel returns the CPU model name from /proc/cpuinfo, or "".
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// writeTable prints the report as text: the settings, then one table per
// profile with a row per peer, then the notes.
func writeTable(w io.Writer, r *report) {
	c := r.Config
	fmt.Fprintf(w, "maildns bench: %d domains, %d messages (Zipf s=%.1f), concurrency %d, deadline %s, TTL %s, at most %s per run\n",
		c.Domains, c.Messages, zipfS, c.Concurrency, c.Deadline, c.TTL, c.MaxRun)
	fmt.Fprintf(w, "machine: %d CPUs (%s), %s %s", r.Machine.CPUs, r.Machine.CPU, r.Machine.Go, r.Machine.OS)
	if r.Machine.Unbound != "" {
		fmt.Fprintf(w, ", unbound %s", strings.TrimPrefix(r.Machine.Unbound, "Version "))
	}
	fmt.Fprintf(w, "\ncommand: %s\n", r.Command)
	capped := false
	for _, p := range r.Profiles {
		fmt.Fprintf(w, "\nprofile %s: %s\n", p.Name, p.Desc)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "peer\tmessages\tlookups/s\tp50\tp99\tp99.9\tq/msg\tmin q/msg\tfailed\twrong\tstale\tdropped\tanswered/s\tpeak MB\tlive MB\t")
		for _, res := range r.Results {
			if res.Profile != p.Name {
				continue
			}
			msgs := fmt.Sprint(res.Messages)
			if res.Capped {
				msgs += "*"
				capped = true
			}
			stale := "-"
			if res.Stale != nil {
				stale = fmt.Sprint(*res.Stale)
			}
			mem := fmt.Sprintf("%.1f", float64(res.PeakHeapBytes)/(1<<20))
			if res.UnboundRSSBytes > 0 {
				mem += fmt.Sprintf("+%.0f", float64(res.UnboundRSSBytes)/(1<<20))
			}
			fmt.Fprintf(tw, "%s\t%s\t%.0f\t%s\t%s\t%s\t%.2f\t%.2f\t%s\t%d\t%s\t%s\t%s\t%s\t%.1f\t\n",
				res.Peer, msgs, res.Rate, fmtMS(res.P50), fmtMS(res.P99), fmtMS(res.P999),
				res.QueriesPerMsg, res.MinPerMsg, pct(res.Failed, res.Messages), res.Wrong, stale,
				pctOf(res.Dropped, res.UpstreamQueries), answered(res.AnsweredQPS), mem,
				float64(res.LiveHeapBytes)/(1<<20))
		}
		tw.Flush()
		for _, res := range r.Results {
			if res.Profile != p.Name {
				continue
			}
			for _, sh := range res.Shifts {
				fmt.Fprintf(w, "  %s, ceiling %.0f → %.0f/s at %.1fs: ", res.Peer, sh.From, sh.To, sh.At)
				if sh.AnsweredQPS == 0 {
					fmt.Fprintf(w, "too short a run to judge (%.0fs after the change needed)\n", shiftSettle.Seconds())
					continue
				}
				fmt.Fprintf(w, "from %.0fs after on, %.1f%% dropped, %.0f answered/s",
					shiftSettle.Seconds(), sh.DroppedPct, sh.AnsweredQPS)
				if sh.To > sh.From {
					if sh.ReachedAfter >= 0 {
						fmt.Fprintf(w, "; ≥ 0.9 × %.0f sent after %.1fs", sh.To, sh.ReachedAfter)
					} else {
						fmt.Fprintf(w, "; never ≥ 0.9 × %.0f sent", sh.To)
					}
				}
				fmt.Fprintln(w)
			}
		}
	}
	fmt.Fprintln(w)
	notes := []string{
		"lookups/s: messages planned per second (MX, then the addresses of every MX host); latency is one message's plan",
		"q/msg: queries the upstream received per message; min q/msg: a perfect cache's (each question of every",
		"  completed message once per TTL; a peer that defers messages without asking can stay below it)",
		"failed: messages deferred (temporary failure or deadline); wrong: bounced a deliverable domain or the reverse",
		"stale: plans built on expired answers (RFC 8767), maildns only",
		"dropped: share of the queries the upstream received that it dropped (loss, rate limit, outage)",
		"answered/s: median of the upstream's answered queries per second over the steps after the first 5s (-: none)",
		"peak MB: growth of the Go heap in use during the run (garbage and the test server's included), +Unbound's peak RSS",
		"live MB: growth of the live Go heap after the run (after a collection, before the peer is closed): what the peer keeps",
	}
	if capped {
		notes = append(notes, fmt.Sprintf("*: the run was stopped after %s, before every message was planned", c.MaxRun))
	}
	for _, p := range allPeers {
		if d, ok := r.Peers[p]; ok {
			notes = append(notes, fmt.Sprintf("%s: %s", p, d))
		}
	}
	for _, n := range notes {
		fmt.Fprintln(w, n)
	}
	for _, s := range r.Skipped {
		fmt.Fprintln(w, "skipped:", s)
	}
}

// answered formats an answered rate; 0 means the run was too short.
func answered(qps float64) string {
	if qps == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f", qps)
}

// pctOf formats n as a percentage of total.
func pctOf(n, total int64) string {
	if total == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(n)/float64(total))
}

// pct formats n of total with its percentage.
func pct(n, total int64) string {
	if n == 0 || total == 0 {
		return fmt.Sprint(n)
	}
	return fmt.Sprintf("%d (%.1f%%)", n, 100*float64(n)/float64(total))
}

// fmtMS formats a latency in milliseconds with a suitable unit.
func fmtMS(v float64) string {
	d := time.Duration(v * float64(time.Millisecond))
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d/time.Microsecond)
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.1fms", v)
	case d < time.Second:
		return fmt.Sprintf("%.0fms", v)
	}
	return fmt.Sprintf("%.2fs", v/1000)
}
