package resolver

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Dial has the signature of net.Resolver's Dial field. The connection it
// returns is no socket: DNS queries written to it are answered by r, in
// process, so that a *net.Resolver, and code that calls it (net.LookupMX,
// libraries that take no resolver), gets r's cache, coalescing, pacing and
// retries without a change:
//
//	net.DefaultResolver = &net.Resolver{PreferGo: true, Dial: r.Dial}
//
// address is ignored: r's upstreams answer. For network "udp" (and
// "udp4", "udp6") the connection carries one message per Write and Read
// and implements net.PacketConn, as net.Resolver expects of a datagram
// connection; answers larger than the query's EDNS0 size (512 bytes
// without EDNS0) come back truncated, and net.Resolver asks again over
// "tcp", where messages carry the two-byte length prefix of RFC 1035
// §4.2.2. A lookup that fails is answered SERVFAIL (net.Resolver reports
// it as temporary); one still unanswered when the connection's deadline
// passes is a timeout. Closing the connection cancels its lookups.
func (r *Resolver) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	var stream bool
	switch network {
	case "udp", "udp4", "udp6":
	case "tcp", "tcp4", "tcp6":
		stream = true
	default:
		return nil, &net.OpError{Op: "dial", Net: network, Err: net.UnknownNetworkError(network)}
	}
	if r.isClosed() {
		return nil, &net.OpError{Op: "dial", Net: network, Err: ErrClosed}
	}
	c := &dialConn{r: r, stream: stream, replies: make(chan []byte, 8), done: make(chan struct{})}
	c.ctx, c.cancel = context.WithCancel(context.WithoutCancel(ctx))
	if d, ok := ctx.Deadline(); ok {
		c.rdeadline = d
	}
	if stream {
		return c, nil
	}
	return &dialPacketConn{c}, nil
}

// dialConn is the connection Dial returns for "tcp": a stream of
// length-prefixed messages.
type dialConn struct {
	r      *Resolver
	stream bool
	ctx    context.Context // cancelled by Close: the lookups' parent
	cancel context.CancelFunc

	replies chan []byte   // answers, whole messages, in the order they were ready
	done    chan struct{} // closed by Close

	mu        sync.Mutex
	rdeadline time.Time
	wbuf      []byte // stream: written bytes not yet a whole message
	rbuf      []byte // stream: the rest of the answer being read
	closed    bool
}

// dialPacketConn is the connection Dial returns for "udp": one message
// per Write and Read.
type dialPacketConn struct{ *dialConn }

var dialAddr = &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}

func (c *dialPacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, err := c.Read(b)
	return n, dialAddr, err
}

func (c *dialPacketConn) WriteTo(b []byte, _ net.Addr) (int, error) { return c.Write(b) }

// Write takes one query (for a stream, any part of the length-prefixed
// stream) and starts answering it.
func (c *dialConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return 0, net.ErrClosed
	}
	if !c.stream {
		c.mu.Unlock()
		c.answer(append([]byte(nil), b...))
		return len(b), nil
	}
	c.wbuf = append(c.wbuf, b...)
	var msgs [][]byte
	for len(c.wbuf) >= 2 {
		n := int(binary.BigEndian.Uint16(c.wbuf))
		if len(c.wbuf) < 2+n {
			break
		}
		msgs = append(msgs, append([]byte(nil), c.wbuf[2:2+n]...))
		c.wbuf = c.wbuf[2+n:]
	}
	c.mu.Unlock()
	for _, m := range msgs {
		c.answer(m)
	}
	return len(b), nil
}

// answer resolves the query in wire and queues the reply. A message that
// is not a query with one question gets FORMERR, or nothing if it cannot
// be parsed at all (as a server would drop it).
func (c *dialConn) answer(wire []byte) {
	q := new(dns.Msg)
	if err := q.Unpack(wire); err != nil || q.Response {
		return
	}
	go func() {
		reply := new(dns.Msg)
		reply.SetReply(q)
		reply.RecursionAvailable = true
		if q.Opcode != dns.OpcodeQuery || len(q.Question) != 1 || q.Question[0].Qclass != dns.ClassINET {
			reply.Rcode = dns.RcodeFormatError
		} else {
			ans, err := c.r.Lookup(c.ctx, q.Question[0].Name, q.Question[0].Qtype)
			switch {
			case err == nil:
				reply.Rcode = ans.Rcode
				reply.Answer = ans.Records
				reply.AuthenticatedData = ans.Authenticated && q.AuthenticatedData
			case errors.Is(err, ErrBadName):
				reply.Rcode = dns.RcodeNameError
			case c.ctx.Err() != nil:
				return // closed
			default:
				reply.Rcode = dns.RcodeServerFailure
			}
		}
		size := dns.MinMsgSize
		if opt := q.IsEdns0(); opt != nil {
			size = max(int(opt.UDPSize()), dns.MinMsgSize)
			reply.SetEdns0(opt.UDPSize(), false)
		}
		if c.stream {
			size = dns.MaxMsgSize
		}
		reply.Truncate(size)
		out, err := reply.Pack()
		if err != nil {
			return
		}
		if c.stream {
			out = append(binary.BigEndian.AppendUint16(nil, uint16(len(out))), out...)
		}
		select {
		case c.replies <- out:
		case <-c.done:
		}
	}()
}

// Read returns the next answer (for a stream, the next bytes of the
// answers), waiting for it until the read deadline.
func (c *dialConn) Read(b []byte) (int, error) {
	c.mu.Lock()
	if c.stream && len(c.rbuf) > 0 {
		n := copy(b, c.rbuf)
		c.rbuf = c.rbuf[n:]
		c.mu.Unlock()
		return n, nil
	}
	deadline := c.rdeadline
	c.mu.Unlock()
	var expired <-chan time.Time
	if !deadline.IsZero() {
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		expired = t.C
	}
	select {
	case msg := <-c.replies:
		n := copy(b, msg)
		if c.stream {
			c.mu.Lock()
			c.rbuf = msg[n:]
			c.mu.Unlock()
		}
		return n, nil
	case <-expired:
		return 0, os.ErrDeadlineExceeded
	case <-c.done:
		return 0, net.ErrClosed
	}
}

// Close cancels the lookups under way; it may be called more than once.
func (c *dialConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		close(c.done)
		c.cancel()
	}
	return nil
}

func (c *dialConn) LocalAddr() net.Addr  { return dialAddr }
func (c *dialConn) RemoteAddr() net.Addr { return dialAddr }

// SetDeadline sets the read deadline; writes never block.
func (c *dialConn) SetDeadline(t time.Time) error { return c.SetReadDeadline(t) }

func (c *dialConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.rdeadline = t
	c.mu.Unlock()
	return nil
}

func (c *dialConn) SetWriteDeadline(time.Time) error { return nil }
