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
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// One exchange is one query to one upstream: over UDP from a new socket
// (so a fresh source port) with a fresh random ID, EDNS0 at Config.UDPSize;
// if the reply is truncated (or larger than we offered), the same question
// again over TCP. Replies with the wrong ID or question are ignored and
// the wait goes on for the real one, so an off-path spoofer must guess
// both the port and the ID within the window; nothing ignored is cached.

var bufPool = sync.Pool{New: func() any { b := make([]byte, dns.MaxMsgSize); return &b }}

// exchange sends name/qtype to u and returns the validated reply and the
// round-trip time. ctx bounds the whole exchange. replied, if not nil, is
// set as soon as a reply to the query arrives (a truncated one included).
func (r *Resolver) exchange(ctx context.Context, u *upstream, name string, qtype uint16, replied *atomic.Bool) (*dns.Msg, time.Duration, error) {
	q := r.newQuery(name, qtype)
	start := time.Now()
	reply, err := r.exchangeUDP(ctx, u, q)
	if replied != nil && (err == nil || errors.Is(err, errTruncated)) {
		replied.Store(true)
	}
	if errors.Is(err, errTruncated) {
		r.stats.add(cTCPFallbacks, 1)
		if _, err = r.pace(ctx, u, nil, time.Time{}); err != nil {
			return nil, 0, err
		}
		q.Id = uint16(rand.Uint32())
		reply, err = r.exchangeTCP(ctx, u, q)
	}
	return reply, time.Since(start), err
}

var errTruncated = errors.New("resolver: truncated")

func (r *Resolver) newQuery(name string, qtype uint16) *dns.Msg {
	q := new(dns.Msg)
	q.Id = uint16(rand.Uint32())
	q.RecursionDesired = true
	// RFC 6840 §5.7: AD=1 in a query asks the upstream to report whether
	// it validated the answer.
	q.AuthenticatedData = true
	q.Question = []dns.Question{{Name: name, Qtype: qtype, Qclass: dns.ClassINET}}
	q.SetEdns0(r.cfg.UDPSize, false)
	return q
}

func (r *Resolver) exchangeUDP(ctx context.Context, u *upstream, q *dns.Msg) (*dns.Msg, error) {
	wire, err := q.Pack()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadName, err)
	}
	conn, done, err := r.dial(ctx, u, "udp")
	if err != nil {
		return nil, err
	}
	defer done()
	if _, err := conn.Write(wire); err != nil {
		return nil, netErr(ctx, err)
	}
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	var bad error // why the last reply with our ID was rejected
	for {
		n, err := conn.Read(buf)
		if err != nil {
			if bad != nil && isTimeout(ctx, err) {
				return nil, bad
			}
			return nil, netErr(ctx, err)
		}
		reply, err := parseReply(q, buf[:n], int(r.cfg.UDPSize))
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

func (r *Resolver) exchangeTCP(ctx context.Context, u *upstream, q *dns.Msg) (*dns.Msg, error) {
	conn, done, err := r.dial(ctx, u, "tcp")
	if err != nil {
		return nil, err
	}
	defer done()
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
	if reply.Id != q.Id || !matches(q, reply) {
		return nil, ErrMalformed
	}
	return reply, nil
}

// dial connects to u over network ("udp": a new socket, so a new random
// source port) for one query, counts the query, and bounds the connection
// by ctx: its deadline, and its cancellation (Close) unblocks a read at
// once. done closes the connection.
func (r *Resolver) dial(ctx context.Context, u *upstream, network string) (conn net.Conn, done func(), err error) {
	var d net.Dialer
	conn, err = d.DialContext(ctx, network, u.addr)
	if err != nil {
		return nil, nil, netErr(ctx, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	u.queries.Add(1)
	r.stats.add(cUpstreamQueries, 1)
	return conn, func() { stop(); conn.Close() }, nil
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

// netErr classifies a socket error: ErrTimeout when the attempt's time ran
// out, ErrClosed when the Resolver was closed, ErrNetwork otherwise.
func netErr(ctx context.Context, err error) error {
	cerr := ctx.Err() // read once: it may change under us
	switch {
	case timedOut(cerr, err):
		return ErrTimeout
	case cerr != nil:
		return ErrClosed
	}
	return fmt.Errorf("%w: %w", ErrNetwork, err)
}

func isTimeout(ctx context.Context, err error) bool { return timedOut(ctx.Err(), err) }

// timedOut reports whether err, with the context error cerr, means the
// deadline passed. A socket deadline can fire just before the context's
// own timer, so a net timeout with no context error counts too; a
// cancelled context (Close) does not.
func timedOut(cerr, err error) bool {
	if cerr != nil {
		return errors.Is(cerr, context.DeadlineExceeded)
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
