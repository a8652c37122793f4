package dnstest

import (
	"fmt"
	"strings"
	"sync"

	"github.com/miekg/dns"
)

// AddRecords parses zone (master-file text, as for Start) and adds its
// records to the server's data. Records already present are not
// duplicated; an SOA replaces the SOA at its name, which may start a new
// zone. Every record must be inside a zone, counting the SOAs in zone
// itself; otherwise, or if zone does not parse, nothing is added.
func (s *Server) AddRecords(zone string) error { return s.data.add(zone) }

// RemoveName removes all records at name (case-insensitive, the trailing
// dot optional), so that it answers NXDOMAIN, or NODATA if names below it
// remain. Removing a zone's apex removes its SOA and with it the zone.
func (s *Server) RemoveName(name string) { s.data.remove(dns.CanonicalName(name)) }

// maxChain is the most CNAMEs followed for one query; a longer chain is
// answered SERVFAIL, as recursive resolvers do for CNAME loops.
const maxChain = 8

// zoneInfo is a zone's apex data.
type zoneInfo struct {
	// neg is the SOA for negative answers, its TTL lowered to the SOA
	// MINIMUM field if that is smaller (RFC 2308 section 3).
	neg *dns.SOA
}

// node holds the RRsets at one owner name. RRs are never modified once
// stored, so they may be handed out after the lock is released.
type node map[uint16][]dns.RR

// store is the server's zone data; it is safe for simultaneous use.
type store struct {
	mu    sync.RWMutex        // protects the fields below
	names map[string]node     // lower-case owner name → RRsets
	zones map[string]zoneInfo // lower-case apex → zone
	// below counts, for every proper ancestor of an owner name, the owner
	// names beneath it; a name in below without its own node is an empty
	// non-terminal.
	below map[string]int
}

func newStore() *store {
	return &store{
		names: make(map[string]node),
		zones: make(map[string]zoneInfo),
		below: make(map[string]int),
	}
}

// parse reads every record of a master-file text.
func parse(text string) ([]dns.RR, error) {
	zp := dns.NewZoneParser(strings.NewReader(text), "", "dnstest")
	zp.SetDefaultTTL(3600)
	var rrs []dns.RR
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		rrs = append(rrs, rr)
	}
	if err := zp.Err(); err != nil {
		return nil, fmt.Errorf("dnstest: %w", err)
	}
	return rrs, nil
}

func (z *store) add(text string) error {
	rrs, err := parse(text)
	if err != nil {
		return err
	}
	z.mu.Lock()
	defer z.mu.Unlock()

	newApex := make(map[string]bool)
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeSOA {
			newApex[strings.ToLower(rr.Header().Name)] = true
		}
	}
	for _, rr := range rrs {
		name := strings.ToLower(rr.Header().Name)
		inside := false
		for n := range ancestors(name) {
			if _, ok := z.zones[n]; ok || newApex[n] {
				inside = true
				break
			}
		}
		if !inside {
			return fmt.Errorf("dnstest: %s is outside every zone (no SOA at or above it)", rr.Header().Name)
		}
	}

	for _, rr := range rrs {
		h := rr.Header()
		name := strings.ToLower(h.Name)
		nd, ok := z.names[name]
		if !ok {
			nd = make(node)
			z.names[name] = nd
			for a := range ancestors(name) {
				if a != name {
					z.below[a]++
				}
			}
		}
		if soa, ok := rr.(*dns.SOA); ok {
			nd[dns.TypeSOA] = []dns.RR{soa}
			neg := dns.Copy(soa).(*dns.SOA)
			neg.Hdr.Ttl = min(neg.Hdr.Ttl, neg.Minttl)
			z.zones[name] = zoneInfo{neg: neg}
			continue
		}
		set := nd[h.Rrtype]
		dup := false
		for _, old := range set {
			if dns.IsDuplicate(old, rr) {
				dup = true
				break
			}
		}
		if !dup {
			// Copy rather than append in place: a reader may still
			// hold the old slice.
			nd[h.Rrtype] = append(set[:len(set):len(set)], rr)
		}
	}
	return nil
}

func (z *store) remove(name string) {
	z.mu.Lock()
	defer z.mu.Unlock()
	if _, ok := z.names[name]; !ok {
		return
	}
	delete(z.names, name)
	delete(z.zones, name)
	for a := range ancestors(name) {
		if a == name {
			continue
		}
		if z.below[a]--; z.below[a] <= 0 {
			delete(z.below, a)
		}
	}
}

// ancestors yields name and then each of its ancestors up to the root.
// name must be a FQDN.
func ancestors(name string) func(yield func(string) bool) {
	return func(yield func(string) bool) {
		if name == "" {
			return
		}
		off := 0
		for {
			if !yield(name[off:]) {
				return
			}
			if name[off:] == "." {
				return
			}
			next, end := dns.NextLabel(name, off)
			if end {
				yield(".")
				return
			}
			off = next
		}
	}
}

// zoneOf returns the apex and data of the closest zone enclosing the
// lower-case name. The caller holds z.mu.
func (z *store) zoneOf(name string) (string, zoneInfo, bool) {
	for a := range ancestors(name) {
		if zi, ok := z.zones[a]; ok {
			return a, zi, true
		}
	}
	return "", zoneInfo{}, false
}

// exists reports whether the lower-case name has records or is an empty
// non-terminal. The caller holds z.mu.
func (z *store) exists(name string) bool {
	if _, ok := z.names[name]; ok {
		return true
	}
	return z.below[name] > 0
}

// wildcard finds the RFC 4592 source of synthesis for the lower-case name,
// which does not exist, in the zone at apex: the wildcard child of the
// closest encloser. ok is false when there is none.
func (z *store) wildcard(name, apex string) (nd node, ok bool) {
	first := true
	for a := range ancestors(name) {
		if first {
			first = false
			continue
		}
		if !z.exists(a) && a != apex {
			continue // apex, an ancestor of name, ends the walk
		}
		// a is the closest encloser.
		src := "*." + a
		if a == "." {
			src = "*."
		}
		if nd, ok := z.names[src]; ok {
			return nd, true
		}
		return nil, z.below[src] > 0 // an empty non-terminal wildcard gives NODATA
	}
	return nil, false
}

// resolve answers a question from the data: the rcode and the answer and
// authority sections. qname is the name as asked; its case is kept in the
// answer's first owner names.
func (z *store) resolve(qname string, qtype uint16) (rcode int, answer, authority []dns.RR) {
	z.mu.RLock()
	defer z.mu.RUnlock()

	name := strings.ToLower(qname)
	owner := qname
	apex, zi, ok := z.zoneOf(name)
	if !ok {
		return dns.RcodeRefused, nil, nil
	}
	for step := 0; ; step++ {
		nd, found := z.names[name]
		synthesised := false
		if !found && z.below[name] == 0 {
			nd, found = z.wildcard(name, apex)
			synthesised = found
		}
		if !found {
			if z.below[name] > 0 {
				return dns.RcodeSuccess, answer, []dns.RR{zi.neg}
			}
			return dns.RcodeNameError, answer, []dns.RR{zi.neg}
		}
		if qtype == dns.TypeANY {
			for _, set := range nd {
				answer = appendOwned(answer, set, owner, synthesised)
			}
			if len(answer) == 0 {
				return dns.RcodeSuccess, nil, []dns.RR{zi.neg}
			}
			return dns.RcodeSuccess, answer, nil
		}
		if set := nd[qtype]; len(set) > 0 {
			return dns.RcodeSuccess, appendOwned(answer, set, owner, synthesised), nil
		}
		cname := nd[dns.TypeCNAME]
		if len(cname) == 0 || qtype == dns.TypeCNAME {
			return dns.RcodeSuccess, answer, []dns.RR{zi.neg} // NODATA
		}
		if step == maxChain {
			return dns.RcodeServerFailure, nil, nil
		}
		answer = appendOwned(answer, cname[:1], owner, synthesised)
		owner = cname[0].(*dns.CNAME).Target
		name = strings.ToLower(owner)
		if apex, zi, ok = z.zoneOf(name); !ok {
			// The target is not ours: a recursive resolver would go on
			// elsewhere; all this server can give is the chain so far.
			return dns.RcodeSuccess, answer, nil
		}
	}
}

// appendOwned appends set to dst with owner as the owner name, copying the
// records whose stored owner differs (case, wildcard synthesis).
func appendOwned(dst, set []dns.RR, owner string, synthesised bool) []dns.RR {
	for _, rr := range set {
		if synthesised || rr.Header().Name != owner {
			rr = dns.Copy(rr)
			rr.Header().Name = owner
		}
		dst = append(dst, rr)
	}
	return dst
}
