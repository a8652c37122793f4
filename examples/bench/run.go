package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/maildns/maildns/dnstest"
)

// A profile is a fault pattern applied to the upstream during a run.
type profile struct {
	Name string
	Desc string
	// DropRate and RateLimit apply for the whole run.
	DropRate  float64
	RateLimit float64 // queries per second; 0: none
	// Ceilings, if set, replace RateLimit: the run's time limit (-max-run)
	// is cut into len(Ceilings) equal parts, each with its own limit.
	Ceilings []float64
	// Window, if set, is a fault applied for WindowLen once the run is
	// under way (see config.FaultAt).
	Window    *dnstest.Fault
	WindowLen time.Duration
}

// rateLimitBurst is the burst of the rate-limit profile's token bucket:
// a tenth of a second's worth.
const rateLimitBurst = 100

// profiles returns the fault profiles, with the window lengths of cfg.
func profiles(cfg config) []profile {
	return []profile{
		{Name: "none", Desc: "no faults"},
		{Name: "loss20", Desc: "20% of queries dropped (packet loss)", DropRate: 0.2},
		{Name: "servfail", Desc: fmt.Sprintf("every query answered SERVFAIL for %s", cfg.Burst),
			Window: &dnstest.Fault{Rcode: dns.RcodeServerFailure}, WindowLen: cfg.Burst},
		{Name: "outage", Desc: fmt.Sprintf("no query answered for %s", cfg.Outage),
			Window: &dnstest.Fault{Drop: true}, WindowLen: cfg.Outage},
		{Name: "ratelimit", Desc: "upstream answers at most 1024 queries/s, drops the rest", RateLimit: 1024},
		{Name: "ceiling+loss", Desc: "upstream answers at most 1024 queries/s, and 10% of those are dropped", RateLimit: 1024, DropRate: 0.1},
		{Name: "ceiling-shift", Desc: fmt.Sprintf("upstream answers at most 1024, then 400, then 1024 queries/s, %s each", (cfg.MaxRun / 3).Round(10*time.Millisecond)),
			Ceilings: []float64{1024, 400, 1024}},
	}
}

// ceilingAt returns the profile's rate limit at d into the run (0: none).
func (p profile) ceilingAt(cfg config, d time.Duration) float64 {
	if len(p.Ceilings) == 0 {
		return p.RateLimit
	}
	part := cfg.MaxRun / time.Duration(len(p.Ceilings))
	return p.Ceilings[min(int(d/part), len(p.Ceilings)-1)]
}

// A result is the measurement of one peer under one profile.
type result struct {
	Peer    string `json:"peer"`
	Profile string `json:"profile"`

	Messages int64   `json:"messages"`      // messages whose plan completed
	Capped   bool    `json:"capped"`        // the run hit config.MaxRun before the last message
	Seconds  float64 `json:"seconds"`       // wall time of the run
	Rate     float64 `json:"lookups_per_s"` // completed messages per second

	P50  float64 `json:"p50_ms"`
	P99  float64 `json:"p99_ms"`
	P999 float64 `json:"p999_ms"`

	UpstreamQueries int64   `json:"upstream_queries"`
	Dropped         int64   `json:"upstream_dropped"` // queries the upstream dropped (fault or rate limit)
	QueriesPerMsg   float64 `json:"upstream_queries_per_message"`
	MinQueries      int64   `json:"min_upstream_queries"` // a perfect cache's, TTLs included
	MinPerMsg       float64 `json:"min_upstream_queries_per_message"`

	Delivered int64  `json:"delivered"`
	Failed    int64  `json:"failed"` // deferred: no decision could be reached
	Bounced   int64  `json:"bounced"`
	Wrong     int64  `json:"wrong"`           // bounced a deliverable domain or planned delivery to one that must bounce
	Stale     *int64 `json:"stale,omitempty"` // plans that used expired data; maildns only

	PeakHeapBytes   uint64 `json:"peak_heap_bytes"`             // in-process heap in use above the baseline, sampled
	LiveHeapBytes   uint64 `json:"live_heap_bytes"`             // live heap above the baseline after the run
	UnboundRSSBytes uint64 `json:"unbound_rss_bytes,omitempty"` // peak RSS of the Unbound process

	FaultStart float64 `json:"fault_start_s,omitempty"`
	FaultEnd   float64 `json:"fault_end_s,omitempty"`

	// Time series, one value per Step seconds of the run.
	Step        float64   `json:"series_step_s"`
	UpstreamQPS []float64 `json:"upstream_qps"`
	DroppedQPS  []float64 `json:"upstream_dropped_qps"`
	Ceilings    []float64 `json:"ceiling_qps_series,omitempty"` // the upstream's rate limit in each step
	P50Series   []float64 `json:"p50_ms_series"`
	P99Series   []float64 `json:"p99_ms_series"`

	// AnsweredQPS is the median of the upstream's answered queries per
	// second over the steps after the first answeredAfter.
	AnsweredQPS float64 `json:"answered_qps"`
	// Shifts describes how the peer met each change of ceiling.
	Shifts []shift `json:"ceiling_shifts,omitempty"`

	// Maildns holds the maildns resolver's counters at the end of its runs.
	Maildns map[string]uint64 `json:"maildns_stats,omitempty"`
}

// memSampleEvery is how often the heap is sampled for its peak.
const memSampleEvery = 50 * time.Millisecond

// A trial is one run of the workload through one client under one
// profile. Its counters are updated by the workers concurrently.
type trial struct {
	cfg  config
	w    *workload
	srv  *dnstest.Server
	cl   client
	peer string
	prof profile

	start time.Time
	next  atomic.Int64 // index of the next message to start
	// started holds, for each message that completed, when it started
	// (since start); -1 for the others. Each worker writes the entries of
	// its own messages.
	started []time.Duration
	overall histogram
	tl      *timeline

	delivered, failed, bounced, wrong, stale atomic.Int64
}

// runOne runs the workload through peer under prof, against srv, and
// measures it. srv's faults and counters are reset before and after.
func runOne(ctx context.Context, cfg config, w *workload, srv *dnstest.Server, peer string, prof profile, progress io.Writer) (*result, error) {
	srv.ClearFaults()
	srv.SetRateLimit(0, 0)
	cl, err := newClient(peer, peerSetup{Upstream: srv.Addr(), Deadline: cfg.Deadline, QPS: cfg.QPS, TempDir: cfg.TempDir})
	if err != nil {
		return nil, err
	}
	defer cl.Close()

	runtime.GC()
	var mstats runtime.MemStats
	runtime.ReadMemStats(&mstats)
	baseHeap, baseLive := mstats.HeapInuse, mstats.HeapAlloc

	srv.ResetCounts()
	if prof.DropRate > 0 {
		srv.SetFault("*", dnstest.Fault{DropRate: prof.DropRate})
	}
	if c := prof.ceilingAt(cfg, 0); c > 0 {
		srv.SetRateLimit(c, rateLimitBurst)
	}
	defer func() {
		srv.ClearFaults()
		srv.SetRateLimit(0, 0)
	}()

	t := &trial{cfg: cfg, w: w, srv: srv, cl: cl, peer: peer, prof: prof, started: make([]time.Duration, len(w.Messages))}
	for i := range t.started {
		t.started[i] = -1
	}
	step := cfg.seriesStep()
	t.start = time.Now()
	t.tl = newTimeline(t.start, step)
	runCtx, cancel := context.WithTimeout(ctx, cfg.MaxRun)
	defer cancel()

	done := make(chan struct{}) // closed when the workers are done
	var bg sync.WaitGroup
	smp := &sampler{srv: srv, step: step}
	bg.Add(4)
	go func() { defer bg.Done(); smp.run(done) }()
	var faultStart, faultEnd time.Duration
	go func() { defer bg.Done(); faultStart, faultEnd = t.faultWindow(done) }()
	go func() { defer bg.Done(); t.shiftCeilings(done) }()
	go func() { defer bg.Done(); t.progress(done, progress) }()

	var wg sync.WaitGroup
	for range cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.worker(runCtx)
		}()
	}
	wg.Wait()
	elapsed := time.Since(t.start)
	close(done)
	bg.Wait()
	finalQueries, finalDropped := srv.Queries(), srv.Dropped()
	// What the peer keeps: the live heap after a collection, before the
	// client is closed.
	runtime.GC()
	runtime.ReadMemStats(&mstats)

	n := t.overall.Count()
	res := &result{
		Peer:            peer,
		Profile:         prof.Name,
		Messages:        n,
		Capped:          n < int64(len(w.Messages)),
		Seconds:         elapsed.Seconds(),
		Rate:            float64(n) / elapsed.Seconds(),
		P50:             ms(t.overall.Quantile(0.50)),
		P99:             ms(t.overall.Quantile(0.99)),
		P999:            ms(t.overall.Quantile(0.999)),
		UpstreamQueries: finalQueries,
		Dropped:         finalDropped,
		MinQueries:      w.minQueries(t.started),
		Delivered:       t.delivered.Load(),
		Failed:          t.failed.Load(),
		Bounced:         t.bounced.Load(),
		Wrong:           t.wrong.Load(),
		PeakHeapBytes:   smp.peakHeap - min(baseHeap, smp.peakHeap),
		LiveHeapBytes:   mstats.HeapAlloc - min(baseLive, mstats.HeapAlloc),
		FaultStart:      faultStart.Seconds(),
		FaultEnd:        faultEnd.Seconds(),
		Step:            step.Seconds(),
		UpstreamQPS:     perSecond(smp.queryCounts, finalQueries, step, elapsed),
		DroppedQPS:      perSecond(smp.dropCounts, finalDropped, step, elapsed),
	}
	if prof.RateLimit > 0 || len(prof.Ceilings) > 0 {
		for i := range res.UpstreamQPS {
			res.Ceilings = append(res.Ceilings, prof.ceilingAt(cfg, time.Duration(i)*step+step/2))
		}
	}
	res.AnsweredQPS = answeredMedian(res)
	res.Shifts = shifts(cfg, prof, res)
	if n > 0 {
		res.QueriesPerMsg = float64(res.UpstreamQueries) / float64(n)
		res.MinPerMsg = float64(res.MinQueries) / float64(n)
	}
	for _, h := range t.tl.Steps() {
		res.P50Series = append(res.P50Series, ms(h.Quantile(0.50)))
		res.P99Series = append(res.P99Series, ms(h.Quantile(0.99)))
	}
	switch c := cl.(type) {
	case *maildnsClient:
		stale := t.stale.Load()
		res.Stale = &stale
		st := c.Stats()
		res.Maildns = map[string]uint64{
			"lookups": st.Lookups, "cache_hits": st.CacheHits, "cache_misses": st.CacheMisses,
			"coalesced": st.Coalesced, "stale_served": st.StaleServed, "upstream_queries": st.UpstreamQueries,
			"retries": st.Retries, "retries_denied": st.RetriesDenied, "rate_limit_waits": st.RateLimitWaits,
			"timeouts": st.Timeouts, "servfails": st.ServFails, "evictions": st.Evictions,
		}
		if len(st.Upstreams) == 1 {
			u := st.Upstreams[0]
			res.Maildns["upstream_rate_qps"] = uint64(u.Rate)
			res.Maildns["upstream_ceiling_qps"] = uint64(u.Ceiling)
		}
	case *netClient:
		res.UnboundRSSBytes = c.PeakRSS()
	}
	return res, nil
}

// worker plans messages one after another until none is left or ctx
// (the run's time limit) ends. A message cut short by the end of the run
// is not counted.
func (t *trial) worker(ctx context.Context) {
	for ctx.Err() == nil {
		i := int(t.next.Add(1) - 1)
		if i >= len(t.w.Messages) {
			return
		}
		d := &t.w.Domains[t.w.Messages[i]]
		t0 := time.Now()
		mctx, cancel := context.WithTimeout(ctx, t.cfg.Deadline)
		v := t.cl.Plan(mctx, d.Name)
		cancel()
		t1 := time.Now()
		if ctx.Err() != nil {
			return
		}
		t.started[i] = t0.Sub(t.start)
		t.overall.Record(t1.Sub(t0))
		t.tl.Record(t1, t1.Sub(t0))
		switch v.Decision {
		case decisionDeliver:
			t.delivered.Add(1)
			if !d.Kind.deliverable() {
				t.wrong.Add(1)
			}
		case decisionBounce:
			t.bounced.Add(1)
			if d.Kind.deliverable() {
				t.wrong.Add(1)
			}
		default:
			t.failed.Add(1)
		}
		if v.Stale {
			t.stale.Add(1)
		}
	}
}

// faultWindow applies the profile's window fault, if it has one, and
// returns when it was on (since the start; zeros if it never was). The
// window opens once FaultAt of the messages have been started or FaultAt
// of MaxRun has passed, whichever comes first, so that fast and slow
// peers alike meet it early in their run; it closes after WindowLen or
// when done is closed.
func (t *trial) faultWindow(done <-chan struct{}) (from, to time.Duration) {
	if t.prof.Window == nil {
		return 0, 0
	}
	atMessage := int64(t.cfg.FaultAt * float64(len(t.w.Messages)))
	atTime := time.Duration(t.cfg.FaultAt * float64(t.cfg.MaxRun))
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for t.next.Load() < atMessage && time.Since(t.start) < atTime {
		select {
		case <-done:
			return 0, 0
		case <-tick.C:
		}
	}
	t.srv.SetFault("*", *t.prof.Window)
	from = time.Since(t.start)
	timer := time.NewTimer(t.prof.WindowLen)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
	}
	t.srv.ClearFaults()
	return from, time.Since(t.start)
}

// shiftCeilings moves the upstream's rate limit from one of the
// profile's Ceilings to the next, until done is closed.
func (t *trial) shiftCeilings(done <-chan struct{}) {
	n := len(t.prof.Ceilings)
	part := t.cfg.MaxRun / time.Duration(max(n, 1))
	for i := 1; i < n; i++ {
		timer := time.NewTimer(time.Until(t.start.Add(time.Duration(i) * part)))
		select {
		case <-done:
			timer.Stop()
			return
		case <-timer.C:
		}
		t.srv.SetRateLimit(t.prof.Ceilings[i], rateLimitBurst)
	}
}

// progressEvery is how often a long run reports how far it is.
const progressEvery = 10 * time.Second

// progress writes a line to w every progressEvery until done is closed.
func (t *trial) progress(done <-chan struct{}, w io.Writer) {
	tick := time.NewTicker(progressEvery)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
			fmt.Fprintf(w, "bench:   %s %s: %d of %d messages started after %s\n", t.prof.Name, t.peer,
				min(t.next.Load(), int64(len(t.w.Messages))), len(t.w.Messages), time.Since(t.start).Round(time.Second))
		}
	}
}

// A sampler records, until done is closed, the upstream's query and drop
// counts at the end of each step and the peak of the heap in use. Read
// its fields once run has returned.
type sampler struct {
	srv  *dnstest.Server
	step time.Duration

	queryCounts []int64 // cumulative, at the end of each step
	dropCounts  []int64 // cumulative, at the end of each step
	peakHeap    uint64  // HeapInuse
}

// run samples until done is closed.
func (s *sampler) run(done <-chan struct{}) {
	steps := time.NewTicker(s.step)
	defer steps.Stop()
	mem := time.NewTicker(memSampleEvery)
	defer mem.Stop()
	var ms runtime.MemStats
	for {
		select {
		case <-done:
			return
		case <-steps.C:
			s.queryCounts = append(s.queryCounts, s.srv.Queries())
			s.dropCounts = append(s.dropCounts, s.srv.Dropped())
		case <-mem.C:
			runtime.ReadMemStats(&ms)
			s.peakHeap = max(s.peakHeap, ms.HeapInuse)
		}
	}
}

// perSecond turns the cumulative query counts at the end of each step
// (and final, at elapsed) into rates per second for each step, the last,
// partial step included.
func perSecond(counts []int64, final int64, step, elapsed time.Duration) []float64 {
	var out []float64
	var prev int64
	for _, c := range counts {
		out = append(out, float64(c-prev)/step.Seconds())
		prev = c
	}
	if rest := elapsed - time.Duration(len(counts))*step; rest > step/10 {
		out = append(out, float64(final-prev)/rest.Seconds())
	}
	return out
}

// ms converts d to fractional milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// answeredAfter is how much of a run's start answeredMedian leaves out.
const answeredAfter = 5 * time.Second

// answeredMedian returns the median of the upstream's answered queries per
// second over the full steps of res after answeredAfter (0 if none).
func answeredMedian(res *result) float64 {
	var v []float64
	from := int(answeredAfter.Seconds() / res.Step)
	for i := from; i < len(res.UpstreamQPS) && float64(i+1)*res.Step <= res.Seconds; i++ {
		v = append(v, res.UpstreamQPS[i]-res.DroppedQPS[i])
	}
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	return v[len(v)/2]
}

// A shift is how a peer met one change of the upstream's ceiling.
type shift struct {
	At   float64 `json:"at_s"`
	From float64 `json:"from_qps"` // the ceiling before and after, queries/s
	To   float64 `json:"to_qps"`
	// DroppedPct and AnsweredQPS cover from shiftSettle after the change
	// to the next change or the end of the run.
	DroppedPct  float64 `json:"dropped_pct"`
	AnsweredQPS float64 `json:"answered_qps"`
	// ReachedAfter is when, after the change, the queries sent first came
	// to 0.9 × To in one step; -1: never (only for rises).
	ReachedAfter float64 `json:"reached_after_s"`
}

// shiftSettle is the time a peer is given to adapt to a new ceiling.
const shiftSettle = 3 * time.Second

// shifts measures res around each change of prof's ceiling.
func shifts(cfg config, prof profile, res *result) []shift {
	n := len(prof.Ceilings)
	if n < 2 {
		return nil
	}
	part := (cfg.MaxRun / time.Duration(n)).Seconds()
	var out []shift
	for i := 1; i < n; i++ {
		at := float64(i) * part
		if at >= res.Seconds {
			break
		}
		sh := shift{At: at, From: prof.Ceilings[i-1], To: prof.Ceilings[i], ReachedAfter: -1}
		end := min(at+part, res.Seconds)
		var sent, dropped float64
		steps := 0
		for k, q := range res.UpstreamQPS {
			t0, t1 := float64(k)*res.Step, float64(k+1)*res.Step
			if t0 >= at && sh.ReachedAfter < 0 && sh.To > sh.From && q >= 0.9*sh.To {
				sh.ReachedAfter = t1 - at
			}
			if t0 >= at+shiftSettle.Seconds() && t1 <= end {
				sent += q
				dropped += res.DroppedQPS[k]
				steps++
			}
		}
		if steps > 0 && sent > 0 {
			sh.DroppedPct = 100 * dropped / sent
			sh.AnsweredQPS = (sent - dropped) / float64(steps)
		}
		out = append(out, sh)
	}
	return out
}
