package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMeasure runs a tiny benchmark, maildns and net.Resolver under no
// fault and an outage, and checks the results, the table, the JSON and
// the plot.
func TestMeasure(t *testing.T) {
	cfg, err := parseFlags([]string{"-domains", "60", "-messages", "400", "-concurrency", "8",
		"-deadline", "600ms", "-max-run", "15s", "-outage", "300ms",
		"-peers", "maildns,net", "-profiles", "none,outage"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var progress bytes.Buffer
	rep, err := measure(context.Background(), cfg, "bench test", &progress)
	if err != nil {
		t.Fatalf("measure: %v\n%s", err, progress.String())
	}
	if len(rep.Results) != 4 {
		t.Fatalf("got %d results, want 4", len(rep.Results))
	}
	byKey := make(map[string]*result)
	for _, r := range rep.Results {
		byKey[r.Profile+"/"+r.Peer] = r
		if r.Messages != 400 || r.Capped {
			t.Errorf("%s/%s: %d messages (capped %v), want all 400", r.Profile, r.Peer, r.Messages, r.Capped)
		}
		if r.Delivered+r.Bounced+r.Failed != r.Messages {
			t.Errorf("%s/%s: decisions %d+%d+%d do not add up to %d", r.Profile, r.Peer, r.Delivered, r.Bounced, r.Failed, r.Messages)
		}
		if r.Rate <= 0 || r.P50 <= 0 || r.P50 > r.P99 || r.P99 > r.P999 {
			t.Errorf("%s/%s: rate %v, percentiles %v %v %v", r.Profile, r.Peer, r.Rate, r.P50, r.P99, r.P999)
		}
		// A perfect cache's count is a floor for a peer that deferred
		// nothing; one that defers a message without asking (a failure
		// remembered, RFC 9520) may stay below it.
		if r.MinQueries <= 0 || r.Failed == 0 && r.UpstreamQueries < r.MinQueries {
			t.Errorf("%s/%s: %d upstream queries, minimum %d, %d deferred", r.Profile, r.Peer, r.UpstreamQueries, r.MinQueries, r.Failed)
		}
		if len(r.UpstreamQPS) == 0 || len(r.P99Series) == 0 {
			t.Errorf("%s/%s: empty time series", r.Profile, r.Peer)
		}
		if (r.Stale != nil) != (r.Peer == peerMaildns) {
			t.Errorf("%s/%s: stale %v: want a count for maildns only", r.Profile, r.Peer, r.Stale)
		}
	}
	for _, peer := range []string{peerMaildns, peerNet} {
		r := byKey["none/"+peer]
		if r.Failed != 0 || r.Wrong != 0 || r.Bounced == 0 || r.Delivered == 0 {
			t.Errorf("none/%s: delivered %d bounced %d failed %d wrong %d; want no failures, some of each decision",
				peer, r.Delivered, r.Bounced, r.Failed, r.Wrong)
		}
		if o := byKey["outage/"+peer]; o.FaultStart <= 0 || o.FaultEnd <= o.FaultStart {
			t.Errorf("outage/%s: fault window %v-%v", peer, o.FaultStart, o.FaultEnd)
		}
	}
	// The cache shows: maildns asks about what a perfect cache asks (the A
	// and AAAA of a missing host are both sent, as they go out together),
	// net.Resolver asks for every message.
	m, n := byKey["none/"+peerMaildns], byKey["none/"+peerNet]
	if float64(m.UpstreamQueries) > 1.2*float64(m.MinQueries)+5 {
		t.Errorf("maildns sent %d queries, a perfect cache %d", m.UpstreamQueries, m.MinQueries)
	}
	if n.QueriesPerMsg < 2 {
		t.Errorf("net sent %.2f queries per message, want one per question", n.QueriesPerMsg)
	}
	if byKey["outage/"+peerMaildns].Wrong != 0 {
		t.Errorf("maildns took wrong decisions during the outage")
	}

	var table bytes.Buffer
	writeTable(&table, rep)
	out := table.String()
	for _, want := range []string{
		"maildns bench: 60 domains, 400 messages (Zipf s=1.1), concurrency 8, deadline 600ms",
		"\nmachine: ", "\ncommand: bench test\n",
		"\nprofile none: no faults\n", "\nprofile outage: no query answered for 300ms\n",
		"peer  messages  lookups/s  p50  p99  p99.9  q/msg  min q/msg  failed  wrong  stale  dropped  answered/s  peak MB  live MB",
		"\nq/msg: ", "\nmaildns: ", "\nnet: ",
	} {
		if !strings.Contains(strings.Join(strings.Fields(out), " "), strings.Join(strings.Fields(want), " ")) {
			t.Errorf("table lacks %q", want)
		}
	}
	rows := 0
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) < 13 || f[0] != peerMaildns && f[0] != peerNet {
			continue
		}
		if _, err := strconv.Atoi(strings.TrimSuffix(f[1], "*")); err == nil {
			rows++
		}
	}
	if rows != 4 {
		t.Errorf("table has %d peer rows of 13 columns or more, want 4:\n%s", rows, out)
	}

	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var decoded map[string]any
	if err := json.Unmarshal(b, &decoded); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"command", "machine", "config", "peers", "profiles", "results"} {
		if _, ok := decoded[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
	res0 := decoded["results"].([]any)[0].(map[string]any)
	for _, k := range []string{"peer", "profile", "lookups_per_s", "p50_ms", "p99_ms", "p999_ms",
		"upstream_queries_per_message", "min_upstream_queries_per_message", "failed", "stale",
		"peak_heap_bytes", "upstream_qps", "p99_ms_series", "maildns_stats"} {
		if _, ok := res0[k]; !ok {
			t.Errorf("JSON result lacks %q", k)
		}
	}

	for _, name := range []string{"bench.svg", "bench.png"} {
		file := filepath.Join(t.TempDir(), name)
		if err := writePlot(file, rep); err != nil {
			t.Fatalf("writePlot %s: %v", name, err)
		}
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		switch name {
		case "bench.svg":
			if !bytes.Contains(data, []byte("<svg")) || !bytes.Contains(data, []byte("outage: upstream queries/s")) {
				t.Errorf("%s is not the expected SVG", name)
			}
		case "bench.png":
			if !bytes.HasPrefix(data, []byte("\x89PNG")) {
				t.Errorf("%s is not a PNG", name)
			}
		}
	}
	if err := writePlot(filepath.Join(t.TempDir(), "bench.txt"), rep); err == nil {
		t.Errorf("writePlot accepted a .txt file")
	}
}

func TestHistogram(t *testing.T) {
	var h histogram
	if h.Quantile(0.5) != 0 {
		t.Errorf("empty histogram: got a quantile")
	}
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Millisecond)
	}
	cases := []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Millisecond}, {0.99, 990 * time.Millisecond}, {0.999, 999 * time.Millisecond}, {1, time.Second}}
	for _, c := range cases {
		got := h.Quantile(c.q)
		if got < c.want*7/8 || got > c.want*9/8 {
			t.Errorf("quantile %v: got %v, want %v within 12.5%%", c.q, got, c.want)
		}
	}
	// Buckets are ordered and each value falls in the bucket whose middle
	// is within 1/16 of it.
	prev := -1
	for _, d := range []time.Duration{0, 1, 15, 16, 17, 31, 32, 1000, time.Millisecond, time.Second, time.Hour, 1 << 62} {
		b := bucketOf(d)
		if b < prev || b >= histBuckets {
			t.Errorf("bucketOf(%d) = %d after %d", d, b, prev)
		}
		prev = b
		if v := bucketValue(b); d >= 16 && (v < d-d/16-1 || v > d+d/16+1) {
			t.Errorf("bucketValue(bucketOf(%d)) = %d", d, v)
		}
	}
}

func TestWorkload(t *testing.T) {
	w := newWorkload(1000, 5000, time.Minute, 7)
	if w2 := newWorkload(1000, 5000, time.Minute, 7); w2.Zone != w.Zone || !slices.Equal(w2.Messages, w.Messages) {
		t.Errorf("the same seed gave different workloads")
	}
	kinds := make(map[domainKind]int)
	for _, d := range w.Domains {
		kinds[d.Kind]++
		if len(d.Pairs) == 0 {
			t.Errorf("%s has no questions", d.Name)
		}
	}
	for _, km := range kindMix {
		if got := kinds[km.kind]; got < km.percent*10/2 || got > km.percent*10*2 {
			t.Errorf("%v: %d domains of 1000, want about %d%%", km.kind, got, km.percent)
		}
	}
	// Zipf: the most popular domain gets far more than its share.
	counts := make(map[int32]int)
	for _, m := range w.Messages {
		counts[m]++
	}
	top := 0
	for _, c := range counts {
		top = max(top, c)
	}
	if top < 100 {
		t.Errorf("most popular domain has %d of 5000 messages; not Zipf-like", top)
	}

	// The minimum: every question once, and again after its TTL.
	started := make([]time.Duration, len(w.Messages))
	distinct := make(map[int32]bool)
	for i, m := range w.Messages {
		for _, p := range w.Domains[m].Pairs {
			distinct[p] = true
		}
		started[i] = time.Duration(i) * time.Millisecond // 5s in all
	}
	if got := w.minQueries(started); got != int64(len(distinct)) {
		t.Errorf("minQueries within one TTL: got %d, want %d distinct questions", got, len(distinct))
	}
	for i := range started {
		started[i] = time.Duration(i) * time.Minute // every message after the TTL
	}
	total := 0
	for _, m := range w.Messages {
		total += len(w.Domains[m].Pairs)
	}
	if got := w.minQueries(started); got != int64(total) {
		t.Errorf("minQueries with every answer expired: got %d, want %d", got, total)
	}
	started[0] = -1
	if got := w.minQueries(started); got != int64(total-len(w.Domains[w.Messages[0]].Pairs)) {
		t.Errorf("minQueries counted a message that did not complete")
	}
}

func TestParseFlags(t *testing.T) {
	c, err := parseFlags([]string{"-quick", "-messages", "123"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Domains != quickDefaults.Domains || c.Messages != 123 || c.MaxRun != quickDefaults.MaxRun || c.Outage != quickDefaults.Outage {
		t.Errorf("-quick -messages 123: got %+v", c)
	}
	if !slices.Equal(c.Peers, allPeers) || !slices.Equal(c.Profiles, profileNames()) || len(c.Profiles) != 7 {
		t.Errorf("default peers %q and profiles %q", c.Peers, c.Profiles)
	}
	c, err = parseFlags(nil, io.Discard)
	if err != nil || c.Domains != defaults.Domains || c.Messages != defaults.Messages {
		t.Errorf("defaults: got %+v, %v", c, err)
	}
	for _, args := range [][]string{
		{"-peers", "maildns,bind"}, {"-profiles", "earthquake"}, {"-domains", "0"},
		{"-fault-at", "2"}, {"-ttl", "0s"}, {"extra"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}

func TestShifts(t *testing.T) {
	cfg := config{MaxRun: 15 * time.Second}
	prof := profiles(cfg)[6]
	if prof.Name != "ceiling-shift" || prof.ceilingAt(cfg, 2*time.Second) != 1024 ||
		prof.ceilingAt(cfg, 7*time.Second) != 400 || prof.ceilingAt(cfg, 12*time.Second) != 1024 {
		t.Fatalf("%s: ceilings %v", prof.Name, prof.Ceilings)
	}
	// One-second steps: 1000/s sent, 600 of them dropped the second after
	// the drop to 400/s, 400/s from then on, a climb back after the rise.
	res := &result{Step: 1, Seconds: 15,
		UpstreamQPS: []float64{1000, 1000, 1000, 1000, 1000, 1000, 400, 400, 400, 400, 500, 930, 1000, 1000, 1000},
		DroppedQPS:  []float64{0, 0, 0, 0, 0, 600, 0, 0, 20, 0, 0, 0, 0, 0, 0},
	}
	sh := shifts(cfg, prof, res)
	if len(sh) != 2 {
		t.Fatalf("got %+v", sh)
	}
	if s := sh[0]; s.At != 5 || s.From != 1024 || s.To != 400 || s.DroppedPct != 2.5 || s.AnsweredQPS != 390 {
		t.Errorf("the drop: %+v", s)
	}
	if s := sh[1]; s.At != 10 || s.ReachedAfter != 2 || s.DroppedPct != 0 || s.AnsweredQPS != 1000 {
		t.Errorf("the rise: %+v", s)
	}
	if got := answeredMedian(res); got != 500 {
		t.Errorf("answered median %v, want 500", got)
	}
}
