package resolver

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// One query to one upstream: over UDP from a new socket (so a fresh source
// port) with a fresh random ID, EDNS0 at Config.UDPSize; if the reply is
// truncated (or larger than we offered), the same question again over TCP,
// paced like any query. Replies with the wrong ID or question are ignored
// and the wait goes on for the real one, so an off-path spoofer must guess
// both the port and the ID within the window; nothing ignored is cached.
// Config.Timeout runs from the moment the UDP query leaves and covers the
// TCP retry.

var bufPool = sync.Pool{New: func() any { b := make([]byte, dns.MaxMsgSize); return &b }}

// query sends name/qtype to u, whose pacing token the caller has taken,
// and returns the reply if it is a real answer (NOERROR or NXDOMAIN).
// Otherwise it returns a sentinel error: the failure rcode's, ErrTimeout
// (no reply within Config.Timeout), ErrNetwork, ErrMalformed, ErrBadName,
// ErrRateLimited (no token for the TCP retry), or ErrClosed when ctx was
// cancelled. It records on u what the outcome says about the upstream;
// a query cut short by ctx says nothing. a is the lookup's attempt this
// query is: it is told when the query leaves and when a reply arrives; nil
// for a probe.
func (u *upstream) query(ctx context.Context, name string, qtype uint16, a *attempt) (*dns.Msg, error) {
	msg, err := u.exchange(ctx, name, qtype, a)
	if ctx.Err() != nil {
		// Another attempt won, the Resolver is closing, or the
		// resolution's own time is up: no verdict on u.
		if timedOut(ctx) {
			return nil, ErrTimeout
		}
		return nil, ErrClosed
	}
	if err == nil && !usable(msg) {
		err = replyError(msg)
		if msg.Rcode == dns.RcodeServerFailure {
			// Either the name's servers are broken (then every
			// upstream says so, and the failure is remembered) or the
			// upstream itself is (it answers SERVFAIL for every
			// name). Counting it against the upstream's health tells
			// the two apart: one name failing again and again counts
			// once, many names failing in a row take the upstream
			// down, and its recovery voids the failures it caused.
			u.env.stats.add(cServFails, 1)
		}
	}
	switch {
	case err == nil:
		u.answered()
		return msg, nil
	case errors.Is(err, ErrBadName), errors.Is(err, ErrRateLimited):
		return nil, err
	case errors.Is(err, ErrTimeout):
		u.env.stats.add(cTimeouts, 1)
	}
	if a == nil {
		// A probe of an upstream that is down: its failure is counted,
		// and changes nothing (it must not become the question the next
		// probe asks).
		u.failures.Add(1)
		return nil, err
	}
	u.failed(name, qtype, err)
	return nil, err
}

// usable reports whether msg answers the question: NOERROR or NXDOMAIN.
func usable(msg *dns.Msg) bool {
	return msg.Rcode == dns.RcodeSuccess || msg.Rcode == dns.RcodeNameError
}

// exchange does the wire work of query: UDP, then TCP if truncated.
func (u *upstream) exchange(ctx context.Context, name string, qtype uint16, a *attempt) (*dns.Msg, error) {
	q := newQuery(name, qtype, u.env.udpSize)
	wire, err := q.Pack()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadName, err)
	}
	conn, err := u.dial(ctx, "udp")
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if _, err := conn.Write(wire); err != nil {
		return nil, netErr(ctx, err)
	}
	start, rto := u.env.clock.Now(), u.rto()
	u.pace.sentQuery(start, rto)
	if a != nil {
		a.sentAt, a.rto = start, rto
		a.sent <- a
	}
	timeout := u.env.timeout
	if a == nil {
		// A probe waits at most probeInterval: one sent just before the
		// upstream recovers must not hold up the next for a whole
		// Timeout (recovery is to be seen within a second).
		timeout = min(timeout, probeInterval)
	}
	ctx, cancel := withTimeout(ctx, u.env.clock, timeout)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	reply, err := u.readUDP(ctx, conn, q)
	if err == nil || errors.Is(err, errTruncated) {
		if a != nil {
			a.replied.Store(true)
		}
		u.replied(u.env.clock.Now().Sub(start))
	}
	if !errors.Is(err, errTruncated) {
		return reply, err
	}
	u.env.stats.add(cTCPFallbacks, 1)
	if err := u.take(ctx, time.Time{}); err != nil {
		return nil, err
	}
	q.Id = uint16(rand.Uint32())
	return u.exchangeTCP(ctx, q)
}

var errTruncated = errors.New("resolver: truncated")

func newQuery(name string, qtype uint16, udpSize uint16) *dns.Msg {
	q := new(dns.Msg)
	q.Id = uint16(rand.Uint32())
	q.RecursionDesired = true
	// RFC 6840 §5.7: AD=1 in a query asks the upstream to report whether
	// it validated the answer.
	q.AuthenticatedData = true
	q.Question = []dns.Question{{Name: name, Qtype: qtype, Qclass: dns.ClassINET}}
	q.SetEdns0(udpSize, false)
	return q
}

// readUDP reads from conn until the reply to q arrives.
func (u *upstream) readUDP(ctx context.Context, conn net.Conn, q *dns.Msg) (*dns.Msg, error) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	var bad error // why the last reply with our ID was rejected
	for {
		n, err := conn.Read(buf)
		if err != nil {
			if bad != nil && timedOut(ctx) {
				return nil, bad
			}
			return nil, netErr(ctx, err)
		}
		reply, err := parseReply(q, buf[:n], int(u.env.udpSize))
		switch {
		case err == nil:
			return reply, nil
		case errors.Is(err, errTruncated):
			return nil, err
		case errors.Is(err, errNotOurs):
		default:
			bad = err
		}
		// Keep waiting for the real reply.
	}
}

var errNotOurs = errors.New("resolver: reply to another query")

// parseReply decides what one UDP datagram means for query q: the reply
// (a response to q's ID and question), errTruncated (fetch over TCP),
// errNotOurs (another ID: ignore) or ErrMalformed (our ID, but not a
// usable answer to our question: ignore, and report it if nothing better
// comes).
func parseReply(q *dns.Msg, wire []byte, udpSize int) (*dns.Msg, error) {
	if len(wire) < 12 || binary.BigEndian.Uint16(wire) != q.Id {
		return nil, errNotOurs
	}
	if len(wire) > udpSize {
		// Larger than we offered: a sloppy server. TCP gets the full
		// answer within the rules.
		return nil, errTruncated
	}
	reply := new(dns.Msg)
	if err := reply.Unpack(wire); err != nil {
		// A truncated reply may not even parse; TCP will tell.
		if wire[2]&0x02 != 0 {
			return nil, errTruncated
		}
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if !matches(q, reply) {
		return nil, fmt.Errorf("%w: reply does not match the question", ErrMalformed)
	}
	if reply.Truncated {
		return nil, errTruncated
	}
	return reply, nil
}

func (u *upstream) exchangeTCP(ctx context.Context, q *dns.Msg) (*dns.Msg, error) {
	conn, err := u.dial(ctx, "tcp")
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	co := &dns.Conn{Conn: conn}
	if err := co.WriteMsg(q); err != nil {
		return nil, netErr(ctx, err)
	}
	reply, err := co.ReadMsg()
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) || errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, netErr(ctx, err)
		}
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	u.replies.Add(1)
	if reply.Id != q.Id || !matches(q, reply) {
		return nil, ErrMalformed
	}
	return reply, nil
}

// dial connects to u over network ("udp": a new socket, so a new random
// source port) for one query and counts the query.
func (u *upstream) dial(ctx context.Context, network string) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, u.addr)
	if err != nil {
		return nil, netErr(ctx, err)
	}
	u.lastSent.Store(u.env.clock.Now().UnixNano())
	u.queries.Add(1)
	u.env.stats.add(cUpstreamQueries, 1)
	return conn, nil
}

// matches reports whether reply answers q: a response, with q's one
// question (names compared without regard to case).
func matches(q, reply *dns.Msg) bool {
	if !reply.Response || len(reply.Question) != 1 {
		return false
	}
	a, b := q.Question[0], reply.Question[0]
	return a.Qtype == b.Qtype && a.Qclass == b.Qclass && strings.EqualFold(a.Name, b.Name)
}

// netErr classifies a socket error: ErrTimeout when the query's time ran
// out, ErrClosed when ctx was cancelled, ErrNetwork otherwise.
func netErr(ctx context.Context, err error) error {
	switch {
	case timedOut(ctx):
		return ErrTimeout
	case ctx.Err() != nil:
		return ErrClosed
	}
	return fmt.Errorf("%w: %w", ErrNetwork, err)
}
