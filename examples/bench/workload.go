package main

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// zoneApex is the zone the generated recipient domains live in.
const zoneApex = "test."

// A domainKind is what a recipient domain publishes, and so what an MTA
// should decide for it.
type domainKind uint8

const (
	kindOwn      domainKind = iota // MX to one or two hosts of its own
	kindProvider                   // MX to a shared mail provider's hosts
	kindImplicit                   // no MX, an address: implicit MX
	kindNX                         // the domain does not exist
	kindNullMX                     // "MX 0 ." (RFC 7505)
	kindNoHost                     // MX to a host that does not exist
)

var kindNames = [...]string{"own", "provider", "implicit", "nxdomain", "nullmx", "nohost"}

// String returns the kind's name, such as "nullmx".
func (k domainKind) String() string { return kindNames[k] }

// deliverable reports whether mail to a domain of kind k can be delivered;
// the others must bounce.
func (k domainKind) deliverable() bool { return k <= kindImplicit }

// The mix of domain kinds, in percent of the domains: mostly domains with
// their own or a provider's MX, a tail of typos (NXDOMAIN), null MX,
// implicit MX and broken MX targets.
var kindMix = []struct {
	kind    domainKind
	percent int
}{
	{kindOwn, 62}, {kindProvider, 25}, {kindImplicit, 3},
	{kindNX, 6}, {kindNullMX, 2}, {kindNoHost, 2},
}

// providers is the number of shared mail providers; their popularity
// falls off as 1/rank, as a few providers host most domains.
const providers = 20

// zipfS is the exponent of the Zipf distribution of recipient domains.
const zipfS = 1.1

// A workload is the generated zone and message sequence every peer runs.
// It is read-only once built.
type workload struct {
	Domains  []domainInfo
	Messages []int32 // domain index of each message
	Zone     string  // master-file text served by the test server
	TTL      time.Duration
	Pairs    int // distinct (name, type) questions over all domains
}

// domainInfo is one recipient domain.
type domainInfo struct {
	Name string // FQDN, "d000042.test."
	Kind domainKind
	// Pairs are the ids of the (name, type) questions a delivery plan
	// for the domain needs (RFC 5321 §5.1 as mx plans it: the MX query,
	// then A and AAAA of every host, or of the domain itself for an
	// implicit MX). A name that does not exist counts once, whatever the
	// types asked: its NXDOMAIN answers them all.
	Pairs []int32
}

// newWorkload generates n domains and m messages addressed to them, with
// record TTLs of ttl, from a fixed seed: the same arguments give the same
// workload.
func newWorkload(n, m int, ttl time.Duration, seed uint64) *workload {
	rng := rand.New(rand.NewPCG(seed, 0x6d61696c646e73))
	w := &workload{Domains: make([]domainInfo, n), TTL: ttl}
	pairIDs := make(map[string]int32)
	pair := func(name, qtype string) int32 {
		k := name + " " + qtype
		id, ok := pairIDs[k]
		if !ok {
			id = int32(len(pairIDs))
			pairIDs[k] = id
		}
		return id
	}

	var z strings.Builder
	secs := max(int(ttl/time.Second), 1)
	fmt.Fprintf(&z, "$ORIGIN %s\n$TTL %d\n", zoneApex, secs)
	fmt.Fprintf(&z, "@ SOA ns.%s hostmaster.%s 1 3600 600 86400 %d\n", zoneApex, zoneApex, secs)
	fmt.Fprintf(&z, "@ NS ns.%s\nns A 192.0.2.53\n", zoneApex)

	// Providers: two hosts at equal preference, with IPv4 and IPv6.
	provHosts := make([][]string, providers)
	var provWeights []float64
	for p := range providers {
		for h := 1; h <= 2; h++ {
			host := fmt.Sprintf("mx%d.p%02d.%s", h, p, zoneApex)
			provHosts[p] = append(provHosts[p], host)
			fmt.Fprintf(&z, "%s A 10.255.%d.%d\n%s AAAA fd00:ffff::%x:%x\n", host, p, h, host, p, h)
		}
		provWeights = append(provWeights, 1/float64(p+1))
	}
	pickProvider := func() int {
		var total float64
		for _, wt := range provWeights {
			total += wt
		}
		x := rng.Float64() * total
		for p, wt := range provWeights {
			if x < wt {
				return p
			}
			x -= wt
		}
		return providers - 1
	}
	pickKind := func() domainKind {
		x := rng.IntN(100)
		for _, km := range kindMix {
			if x < km.percent {
				return km.kind
			}
			x -= km.percent
		}
		return kindOwn
	}

	for i := range w.Domains {
		label := fmt.Sprintf("d%07d", i)
		name := label + "." + zoneApex
		d := domainInfo{Name: name, Kind: pickKind()}
		a := func(host string, v6 bool) {
			fmt.Fprintf(&z, "%s A 10.%d.%d.%d\n", host, i>>16&0xff, i>>8&0xff, i&0xff)
			if v6 {
				fmt.Fprintf(&z, "%s AAAA fd00::%x:%x\n", host, i>>16, i&0xffff)
			}
			d.Pairs = append(d.Pairs, pair(host, "A"), pair(host, "AAAA"))
		}
		switch d.Kind {
		case kindOwn:
			d.Pairs = append(d.Pairs, pair(name, "MX"))
			hosts := 1 + rng.IntN(2)
			for h := 1; h <= hosts; h++ {
				host := fmt.Sprintf("mx%d.%s", h, name)
				fmt.Fprintf(&z, "%s MX %d %s\n", name, 10*h, host)
				a(host, rng.IntN(2) == 0)
			}
		case kindProvider:
			d.Pairs = append(d.Pairs, pair(name, "MX"))
			for _, host := range provHosts[pickProvider()] {
				fmt.Fprintf(&z, "%s MX 10 %s\n", name, host)
				d.Pairs = append(d.Pairs, pair(host, "A"), pair(host, "AAAA"))
			}
		case kindImplicit:
			d.Pairs = append(d.Pairs, pair(name, "MX"))
			a(name, false)
		case kindNX:
			d.Pairs = append(d.Pairs, pair(name, "NX"))
		case kindNullMX:
			fmt.Fprintf(&z, "%s MX 0 .\n", name)
			d.Pairs = append(d.Pairs, pair(name, "MX"))
		case kindNoHost:
			host := "mail." + name // not in the zone
			fmt.Fprintf(&z, "%s MX 10 %s\n", name, host)
			d.Pairs = append(d.Pairs, pair(name, "MX"), pair(host, "NX"))
		}
		w.Domains[i] = d
	}
	w.Zone = z.String()
	w.Pairs = len(pairIDs)

	// Messages: recipient domains drawn from a Zipf distribution, in a
	// random order of popularity (domain 0 is not the most popular).
	rank := rng.Perm(n)
	zipf := rand.NewZipf(rng, zipfS, 1, uint64(n-1))
	w.Messages = make([]int32, m)
	for i := range w.Messages {
		w.Messages[i] = int32(rank[zipf.Uint64()])
	}
	return w
}

// minQueries returns the fewest upstream queries that could have answered
// the messages that completed, given when each was started: a perfect
// cache that asks each question once and again only after its TTL has
// expired. started[i] is message i's start time since the run began, or
// -1 if it did not complete.
func (w *workload) minQueries(started []time.Duration) int64 {
	fetched := make([]time.Duration, w.Pairs)
	for i := range fetched {
		fetched[i] = -1
	}
	var n int64
	for i, t := range started {
		if t < 0 {
			continue
		}
		for _, p := range w.Domains[w.Messages[i]].Pairs {
			if f := fetched[p]; f < 0 || t >= f+w.TTL {
				fetched[p] = t
				n++
			}
		}
	}
	return n
}
