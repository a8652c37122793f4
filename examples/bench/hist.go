package main

import (
	"math/bits"
	"sync"
	"sync/atomic"
	"time"
)

// histBuckets is the number of buckets of a histogram: values below 16ns
// exactly, then 8 buckets per power of two (12.5% resolution) up to 2^63.
const histBuckets = 16 + 60*8

// A histogram counts durations in logarithmic buckets, like HDR
// histograms with 3 significant bits. Record is lock-free and safe for
// simultaneous use; read it once recording is over.
type histogram struct {
	counts [histBuckets]atomic.Int64
}

// bucketOf returns the bucket that counts d.
func bucketOf(d time.Duration) int {
	v := uint64(max(d, 0))
	if v < 16 {
		return int(v)
	}
	e := bits.Len64(v) - 1 // v is in [2^e, 2^(e+1))
	sub := int(v>>(e-3)) & 7
	return 16 + (e-4)*8 + sub
}

// bucketValue returns the middle of bucket i.
func bucketValue(i int) time.Duration {
	if i < 16 {
		return time.Duration(i)
	}
	e := (i-16)/8 + 4
	sub := uint64((i - 16) % 8)
	lo := (8 + sub) << (e - 3)
	return time.Duration(lo + (uint64(1)<<(e-3))/2)
}

// Record counts one duration.
func (h *histogram) Record(d time.Duration) { h.counts[bucketOf(d)].Add(1) }

// Count returns the number of durations recorded.
func (h *histogram) Count() int64 {
	var n int64
	for i := range h.counts {
		n += h.counts[i].Load()
	}
	return n
}

// Merge adds o's counts to h.
func (h *histogram) Merge(o *histogram) {
	for i := range h.counts {
		if c := o.counts[i].Load(); c != 0 {
			h.counts[i].Add(c)
		}
	}
}

// Quantile returns the q-quantile (0 < q <= 1) of the recorded durations,
// to the resolution of the buckets; 0 when nothing was recorded.
func (h *histogram) Quantile(q float64) time.Duration {
	n := h.Count()
	if n == 0 {
		return 0
	}
	rank := int64(q*float64(n) + 0.5)
	rank = min(max(rank, 1), n)
	var seen int64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			return bucketValue(i)
		}
	}
	return bucketValue(histBuckets - 1)
}

// A timeline holds one histogram per step of time since its start, for
// percentiles over time. It is safe for simultaneous use.
type timeline struct {
	start time.Time
	step  time.Duration
	mu    sync.Mutex // protects secs' growth
	secs  atomic.Pointer[[]*histogram]
}

// newTimeline returns a timeline of steps of step from start.
func newTimeline(start time.Time, step time.Duration) *timeline {
	t := &timeline{start: start, step: step}
	s := make([]*histogram, 0)
	t.secs.Store(&s)
	return t
}

// Record counts d in the histogram of the step now falls in.
func (t *timeline) Record(now time.Time, d time.Duration) {
	i := max(int(now.Sub(t.start)/t.step), 0)
	secs := *t.secs.Load()
	if i >= len(secs) {
		secs = t.grow(i)
	}
	secs[i].Record(d)
}

// grow makes sure step i has a histogram and returns them all.
func (t *timeline) grow(i int) []*histogram {
	t.mu.Lock()
	defer t.mu.Unlock()
	secs := *t.secs.Load()
	if i < len(secs) {
		return secs
	}
	grown := make([]*histogram, i+1)
	copy(grown, secs)
	for j := len(secs); j <= i; j++ {
		grown[j] = new(histogram)
	}
	t.secs.Store(&grown)
	return grown
}

// Steps returns the histograms, one per step.
func (t *timeline) Steps() []*histogram { return *t.secs.Load() }
