package main

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/maildns/maildns/resolver"
)

// statsCollector is a prometheus.Collector that exports a Resolver's
// counters. It reads Stats on every scrape, so the resolver's hot path
// pays nothing for the export. It is safe for simultaneous use if the
// stats function is (Resolver.Stats is).
type statsCollector struct {
	stats func() resolver.Stats

	counters []statsCounter // process-wide counters

	upstreamQueries  *prometheus.Desc
	upstreamFailures *prometheus.Desc
	upstreamLost     *prometheus.Desc
	upstreamSRTT     *prometheus.Desc
	upstreamRTO      *prometheus.Desc
	upstreamReplies  *prometheus.Desc
	upstreamRate     *prometheus.Desc
	upstreamCeiling  *prometheus.Desc
	upstreamDown     *prometheus.Desc
}

// statsCounter maps one Stats field to one counter.
type statsCounter struct {
	desc  *prometheus.Desc
	value func(*resolver.Stats) uint64
}

// newStatsCollector returns a collector of the counters stats returns.
func newStatsCollector(stats func() resolver.Stats) *statsCollector {
	counter := func(name, help string, v func(*resolver.Stats) uint64) statsCounter {
		return statsCounter{desc: prometheus.NewDesc("maildns_"+name, help, nil, nil), value: v}
	}
	up := []string{"upstream"}
	return &statsCollector{
		stats: stats,
		counters: []statsCounter{
			counter("lookups_total", "Lookups, direct or through the net.Resolver-compatible methods.",
				func(s *resolver.Stats) uint64 { return s.Lookups }),
			counter("cache_hits_total", "Lookups answered from the cache (fresh, negative or remembered failure).",
				func(s *resolver.Stats) uint64 { return s.CacheHits }),
			counter("cache_misses_total", "Lookups that needed an upstream resolution, their own or a coalesced one.",
				func(s *resolver.Stats) uint64 { return s.CacheMisses }),
			counter("negative_hits_total", "Cache hits on NXDOMAIN or NODATA.",
				func(s *resolver.Stats) uint64 { return s.NegativeHits }),
			counter("coalesced_total", "Lookups that shared another lookup's upstream resolution.",
				func(s *resolver.Stats) uint64 { return s.Coalesced }),
			counter("stale_served_total", "Expired answers served because resolution failed (RFC 8767).",
				func(s *resolver.Stats) uint64 { return s.StaleServed }),
			counter("retries_total", "Attempts after the first within one lookup, hedges included.",
				func(s *resolver.Stats) uint64 { return s.Retries }),
			counter("retries_denied_total", "Retries refused by the retry budget.",
				func(s *resolver.Stats) uint64 { return s.RetriesDenied }),
			counter("rate_limit_waits_total", "Queries that waited for an upstream's pacing.",
				func(s *resolver.Stats) uint64 { return s.RateLimitWaits }),
			counter("timeouts_total", "Attempts with no reply within the timeout.",
				func(s *resolver.Stats) uint64 { return s.Timeouts }),
			counter("servfails_total", "SERVFAIL replies received.",
				func(s *resolver.Stats) uint64 { return s.ServFails }),
			counter("tcp_fallbacks_total", "Truncated UDP replies fetched again over TCP.",
				func(s *resolver.Stats) uint64 { return s.TCPFallbacks }),
			counter("evictions_total", "Cache entries evicted to make room.",
				func(s *resolver.Stats) uint64 { return s.Evictions }),
		},
		upstreamQueries: prometheus.NewDesc("maildns_upstream_queries_total",
			"Queries sent to the upstream (UDP and TCP, health probes included).", up, nil),
		upstreamFailures: prometheus.NewDesc("maildns_upstream_failures_total",
			"Timeouts, network errors, malformed replies and refusals from the upstream.", up, nil),
		upstreamLost: prometheus.NewDesc("maildns_upstream_lost_total",
			"Queries to the upstream with no reply within its retransmission timeout (most answered by a hedge).", up, nil),
		upstreamSRTT: prometheus.NewDesc("maildns_upstream_srtt_seconds",
			"Smoothed round-trip time of the upstream's replies (RFC 6298).", up, nil),
		upstreamRTO: prometheus.NewDesc("maildns_upstream_rto_seconds",
			"Retransmission timeout of the upstream: how long a query waits before it is hedged.", up, nil),
		upstreamReplies: prometheus.NewDesc("maildns_upstream_replies_total",
			"Replies of any kind from the upstream; queries minus replies were lost.", up, nil),
		upstreamRate: prometheus.NewDesc("maildns_upstream_rate_qps",
			"Queries per second the upstream's pacer allows now (found, or QPSPerUpstream).", up, nil),
		upstreamCeiling: prometheus.NewDesc("maildns_upstream_ceiling_qps",
			"Packet rate above which the upstream was found to drop queries; 0: none found.", up, nil),
		upstreamDown: prometheus.NewDesc("maildns_upstream_down",
			"1 while the upstream is down (consecutive failures, or silent), else 0.", up, nil),
	}
}

// Describe sends the descriptors of every metric the collector exports.
func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, sc := range c.counters {
		ch <- sc.desc
	}
	ch <- c.upstreamQueries
	ch <- c.upstreamFailures
	ch <- c.upstreamLost
	ch <- c.upstreamSRTT
	ch <- c.upstreamRTO
	ch <- c.upstreamReplies
	ch <- c.upstreamRate
	ch <- c.upstreamCeiling
	ch <- c.upstreamDown
}

// Collect reads one Stats snapshot and sends its values.
func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	for _, sc := range c.counters {
		ch <- prometheus.MustNewConstMetric(sc.desc, prometheus.CounterValue, float64(sc.value(&s)))
	}
	for _, u := range s.Upstreams {
		ch <- prometheus.MustNewConstMetric(c.upstreamQueries, prometheus.CounterValue, float64(u.Queries), u.Addr)
		ch <- prometheus.MustNewConstMetric(c.upstreamFailures, prometheus.CounterValue, float64(u.Failures), u.Addr)
		ch <- prometheus.MustNewConstMetric(c.upstreamLost, prometheus.CounterValue, float64(u.Lost), u.Addr)
		ch <- prometheus.MustNewConstMetric(c.upstreamSRTT, prometheus.GaugeValue, u.SRTT.Seconds(), u.Addr)
		ch <- prometheus.MustNewConstMetric(c.upstreamRTO, prometheus.GaugeValue, u.RTO.Seconds(), u.Addr)
		ch <- prometheus.MustNewConstMetric(c.upstreamReplies, prometheus.CounterValue, float64(u.Replies), u.Addr)
		ch <- prometheus.MustNewConstMetric(c.upstreamRate, prometheus.GaugeValue, u.Rate, u.Addr)
		ch <- prometheus.MustNewConstMetric(c.upstreamCeiling, prometheus.GaugeValue, u.Ceiling, u.Addr)
		down := 0.0
		if u.Down {
			down = 1
		}
		ch <- prometheus.MustNewConstMetric(c.upstreamDown, prometheus.GaugeValue, down, u.Addr)
	}
}

// metrics is the sender's Prometheus registry: the resolver's counters,
// the decisions taken and the pre-flight results, plus the Go runtime and
// process collectors. Its methods are safe for simultaneous use.
type metrics struct {
	reg        *prometheus.Registry
	domains    *prometheus.CounterVec // by decision
	recipients *prometheus.CounterVec // by decision
	preflight  *prometheus.GaugeVec   // by check: 1 passed, 0 failed
}

// newMetrics returns a registry exporting stats and the sender's own
// metrics.
func newMetrics(stats func() resolver.Stats) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		domains: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "maildns_sender_domains_total",
			Help: "Recipient domains planned, by decision (deliver, defer, bounce).",
		}, []string{"decision"}),
		recipients: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "maildns_sender_recipients_total",
			Help: "Recipients planned, by the decision for their domain.",
		}, []string{"decision"}),
		preflight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "maildns_sender_preflight_ok",
			Help: "Result of the last pre-flight check (spf, dkim): 1 passed, 0 failed. Absent when skipped.",
		}, []string{"check"}),
	}
	for _, d := range decisions {
		// Export zeros from the start, so rates work from the first scrape.
		m.domains.WithLabelValues(d)
		m.recipients.WithLabelValues(d)
	}
	m.reg.MustRegister(
		newStatsCollector(stats),
		m.domains, m.recipients, m.preflight,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// recordChecks records pre-flight results.
func (m *metrics) recordChecks(checks []check) {
	for _, c := range checks {
		if c.Skipped {
			continue
		}
		v := 0.0
		if c.OK {
			v = 1
		}
		m.preflight.WithLabelValues(c.Name).Set(v)
	}
}

// recordOutcome counts one planned domain.
func (m *metrics) recordOutcome(o outcome) {
	m.domains.WithLabelValues(o.Decision).Inc()
	m.recipients.WithLabelValues(o.Decision).Add(float64(len(o.Group.Recipients)))
}

// handler serves the registry in the Prometheus exposition format.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}
