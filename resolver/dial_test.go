package resolver

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/maildns/maildns/dnstest"
	"github.com/miekg/dns"
)

// TestDialHook: a *net.Resolver whose Dial is Resolver.Dial answers from
// maildns: the same results as maildns's own methods, one upstream query
// for repeated lookups, not-found and temporary errors as net reports
// them, and a large answer fetched again over the stream connection.
func TestDialHook(t *testing.T) {
	r, srv, _ := setup(t, func(c *Config) { realTime(c) })
	srv.AddRecords(`raw.example. 300 IN TXT "k=rsa;\tp=\195\164"`)
	nr := &net.Resolver{PreferGo: true, Dial: r.Dial}
	ctx := context.Background()

	for range 3 {
		mxs, err := nr.LookupMX(ctx, "mail.example")
		if err != nil || len(mxs) != 2 || mxs[0].Host != "mx1.mail.example." {
			t.Fatalf("LookupMX through Dial: %v, %v", mxs, err)
		}
	}
	if n := srv.QueryCount("mail.example.", dns.TypeMX); n != 1 {
		t.Errorf("three LookupMX through Dial sent %d queries, want 1 (the cache)", n)
	}
	want, _ := r.LookupTXT(ctx, "raw.example")
	if got, err := nr.LookupTXT(ctx, "raw.example"); err != nil || !slices.Equal(got, want) {
		t.Errorf("LookupTXT through Dial: %q, %v; maildns: %q", got, err, want)
	}
	if hosts, err := nr.LookupHost(ctx, "mx1.mail.example"); err != nil || len(hosts) != 2 {
		t.Errorf("LookupHost through Dial: %v, %v", hosts, err)
	}
	var de *net.DNSError
	if _, err := nr.LookupMX(ctx, "nx.example"); !errors.As(err, &de) || !de.IsNotFound {
		t.Errorf("NXDOMAIN through Dial: %v, want IsNotFound", err)
	}
	if _, err := nr.LookupMX(ctx, "mx2.mail.example"); !errors.As(err, &de) || !de.IsNotFound {
		t.Errorf("NODATA through Dial: %v, want IsNotFound", err)
	}
	srv.SetFault("broken.example.", dnstest.Fault{Rcode: dns.RcodeServerFailure})
	if _, err := nr.LookupMX(ctx, "broken.example"); !errors.As(err, &de) || !de.IsTemporary || de.IsNotFound {
		t.Errorf("SERVFAIL through Dial: %v, want temporary", err)
	}
	// 201 TXT records do not fit in a datagram: truncated, then asked
	// again on a stream connection.
	srv.SetFault("big.example.", dnstest.Fault{Oversize: 200})
	if txt, err := nr.LookupTXT(ctx, "big.example"); err != nil || len(txt) != 201 {
		t.Errorf("large TXT through Dial: %d records, %v; want 201", len(txt), err)
	}
}

// TestDialStream drives the stream connection by hand: a query written in
// two pieces, two queries in one write, answers read back in pieces.
func TestDialStream(t *testing.T) {
	r, _, _ := setup(t, func(c *Config) { realTime(c) })
	ctx := context.Background()
	c, err := r.Dial(ctx, "tcp", "192.0.2.1:53")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, ok := c.(net.PacketConn); ok {
		t.Fatal("the stream connection is a PacketConn: net.Resolver would send it datagrams")
	}
	frame := func(name string, qtype uint16) []byte {
		b, err := new(dns.Msg).SetQuestion(name, qtype).Pack()
		if err != nil {
			t.Fatal(err)
		}
		return append(binary.BigEndian.AppendUint16(nil, uint16(len(b))), b...)
	}
	a, b := frame("mail.example.", dns.TypeMX), frame("mx1.mail.example.", dns.TypeA)
	c.Write(a[:3])
	c.Write(append(a[3:], b...))
	c.SetDeadline(time.Now().Add(5 * time.Second))
	got := map[uint16]int{}
	for range 2 {
		var hdr [2]byte
		if _, err := readFull(c, hdr[:]); err != nil {
			t.Fatal(err)
		}
		body := make([]byte, binary.BigEndian.Uint16(hdr[:]))
		if _, err := readFull(c, body); err != nil {
			t.Fatal(err)
		}
		m := new(dns.Msg)
		if err := m.Unpack(body); err != nil {
			t.Fatal(err)
		}
		got[m.Question[0].Qtype] = len(m.Answer)
	}
	if got[dns.TypeMX] != 2 || got[dns.TypeA] != 1 {
		t.Errorf("answers %v, want 2 MX and 1 A", got)
	}
	// Nothing more to read: the deadline ends the wait; Close any wait.
	c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := c.Read(make([]byte, 10)); !errors.Is(err, context.DeadlineExceeded) && !isTimeout(err) {
		t.Errorf("read past the answers: %v, want a timeout", err)
	}
	c.SetReadDeadline(time.Time{})
	go func() { time.Sleep(20 * time.Millisecond); c.Close() }()
	if _, err := c.Read(make([]byte, 10)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("read after Close: %v, want net.ErrClosed", err)
	}
	if _, err := r.Dial(ctx, "sctp", ""); err == nil {
		t.Error("Dial accepted network sctp")
	}
}

func readFull(c net.Conn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		k, err := c.Read(b[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
