// Package dnstest runs a loopback DNS server with fault injection, for
// testing code that makes DNS lookups, as net/http/httptest does for HTTP:
// point a resolver (maildns's, or a *net.Resolver through its Dial field)
// at Server.Addr and see what the code does when answers are lost, late,
// SERVFAIL, truncated, spoofed or rate-limited.
//
// The server answers from zone data in RFC 1035 master-file format the way
// a recursive resolver's answers look to its clients: authoritative data
// (AA=1) with RA=1, RFC 2308 negative answers (NXDOMAIN or NODATA with the
// zone SOA in the authority section), CNAME chains followed inside the
// server's data and RFC 4592 wildcards. Faults (drops, packet loss, delays,
// error rcodes, truncation, spoofed and malformed replies, oversize
// answers) and a packet-rate ceiling can be switched on per name at run
// time, and every query received is counted per name and type, per second
// and per transport.
//
// maildns's own tests, the end-to-end tests of mx, spf and dkim, and the
// programs in the examples module use it. Start does not need a
// *testing.T; NewServer is the shorthand for tests.
package dnstest

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/time/rate"
)

// SpoofGap is how long after a spoofed reply (Fault.SpoofID,
// Fault.SpoofQuestion) the real reply is sent.
const SpoofGap = 20 * time.Millisecond

// udpReadSize is the buffer size for reading UDP queries.
const udpReadSize = 4096

// ServerUDPSize is the EDNS0 UDP payload size the server advertises in the
// OPT record of its replies.
const ServerUDPSize = 1232

// A Fault describes how the server misbehaves for a name; see
// Server.SetFault. The zero Fault is no fault.
//
// When several fields are set they combine in this order: Drop, then
// DropRate decide whether the query is answered at all; Malformed replaces
// the reply with junk, otherwise Rcode replaces the answer with an empty one
// carrying that rcode, otherwise the answer is built from the zone data and
// padded by Oversize; Truncate and the client's UDP size then decide
// whether a UDP reply is cut to TC=1; SpoofID and SpoofQuestion add a bogus
// reply before the real one, and Delay postpones both.
type Fault struct {
	// Drop never answers: the client times out.
	Drop bool
	// DropRate drops this fraction (0 to 1) of the queries at random, like
	// packet loss.
	DropRate float64
	// Delay sends the reply after this long. Over UDP other queries are
	// not held up; over TCP, queries pipelined behind it on the same
	// connection wait for it.
	Delay time.Duration
	// Rcode, if non-zero, answers with this rcode and no records (for
	// example dns.RcodeServerFailure, dns.RcodeRefused,
	// dns.RcodeFormatError, dns.RcodeNotImplemented).
	Rcode int
	// ExtendedError, with Rcode, is added to the reply to a query with
	// EDNS0 as an Extended DNS Error (RFC 8914): InfoCode 6 and a text
	// for "DNSSEC Bogus", as a validating resolver says it.
	ExtendedError *dns.EDNS0_EDE
	// Truncate answers over UDP with TC=1 and empty sections; over TCP the
	// answer is normal.
	Truncate bool
	// SpoofID first sends, over UDP, a reply with a wrong message ID and
	// bogus records (such as A 6.6.6.6), then the real reply SpoofGap
	// later.
	SpoofID bool
	// SpoofQuestion is like SpoofID, but the bogus reply has the right ID
	// and a different question name.
	SpoofQuestion bool
	// Malformed answers with bytes that carry the query's ID in the first
	// two bytes and then fail dns.Msg.Unpack.
	Malformed bool
	// Oversize, if positive, pads the answer with this many extra records:
	// of the asked type in the answer section for A, AAAA and TXT
	// questions with a positive answer, TXT records in the additional
	// section otherwise. Over UDP a reply that then exceeds the client's
	// EDNS0 size (512 without EDNS0) is sent as TC=1 with empty sections,
	// as a real server does when an answer does not fit.
	Oversize int
}

// A Server is a loopback DNS server answering over UDP and TCP on the same
// port of 127.0.0.1. Create it with Start or NewServer and stop it with
// Close.
//
// All methods are safe for simultaneous use by multiple goroutines, also
// while queries are being served.
type Server struct {
	addr string
	data *store
	cnt  *counters

	udp *dns.Server
	tcp *dns.Server

	faultMu sync.Mutex                       // serialises writers of faults
	faults  atomic.Pointer[map[string]Fault] // copy-on-write; read lock-free by the handler

	limiter atomic.Pointer[rate.Limiter] // nil: no rate limit
	secure  atomic.Pointer[[]string]     // zones answered with AD=1 (SetAuthenticated)

	done chan struct{} // closed when Close starts

	closeMu sync.RWMutex // guards closed; delayed writers hold it for reading while they write
	closed  bool

	serveWG   sync.WaitGroup // the two dns.Server loops
	serveErrs chan error     // their return values
	wg        sync.WaitGroup // delayed and spoofed replies

	closeOnce sync.Once
	closeErr  error
}

// Start starts a server on 127.0.0.1 on one random port, serving UDP and
// TCP on that same port, and answering from zone.
//
// zone is RFC 1035 master-file text, parsed with dns.NewZoneParser: $ORIGIN
// and $TTL are supported, records without a TTL get 3600 and $INCLUDE is
// not allowed. Several zones may be in one text, each with its own SOA;
// every query is answered from the closest enclosing zone (the longest
// suffix of the name that has an SOA), and queries for names outside every
// zone are REFUSED. Every record must be inside a zone.
//
// Start returns once both listeners are serving. The caller must call
// Close.
func Start(zone string) (*Server, error) {
	s := &Server{
		data:      newStore(),
		cnt:       newCounters(),
		done:      make(chan struct{}),
		serveErrs: make(chan error, 2),
	}
	if err := s.data.add(zone); err != nil {
		return nil, err
	}
	pc, ln, err := listenPair()
	if err != nil {
		return nil, err
	}
	s.addr = ln.Addr().String()

	udpUp := make(chan struct{})
	tcpUp := make(chan struct{})
	s.udp = &dns.Server{
		PacketConn:        pc,
		Handler:           &handler{s: s},
		UDPSize:           udpReadSize,
		NotifyStartedFunc: func() { close(udpUp) },
		MsgAcceptFunc:     s.acceptFunc(false),
		MsgInvalidFunc:    s.invalidFunc(false),
	}
	s.tcp = &dns.Server{
		Listener:          ln,
		Handler:           &handler{s: s, tcp: true},
		MaxTCPQueries:     -1,
		NotifyStartedFunc: func() { close(tcpUp) },
		MsgAcceptFunc:     s.acceptFunc(true),
		MsgInvalidFunc:    s.invalidFunc(true),
	}
	for _, srv := range []*dns.Server{s.udp, s.tcp} {
		s.serveWG.Add(1)
		go func() {
			defer s.serveWG.Done()
			s.serveErrs <- srv.ActivateAndServe()
		}()
	}
	for udpUp != nil || tcpUp != nil {
		select {
		case <-udpUp:
			udpUp = nil
		case <-tcpUp:
			tcpUp = nil
		case err := <-s.serveErrs:
			// One loop failed before serving; stop the other one.
			if udpUp == nil {
				s.udp.Shutdown()
			}
			if tcpUp == nil {
				s.tcp.Shutdown()
			}
			pc.Close()
			ln.Close()
			s.serveWG.Wait()
			return nil, fmt.Errorf("dnstest: serve: %w", err)
		}
	}
	return s, nil
}

// NewServer is Start for tests: it calls tb.Fatal if the server cannot be
// started and registers Close with tb.Cleanup.
func NewServer(tb testing.TB, zone string) *Server {
	tb.Helper()
	s, err := Start(zone)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Error(err)
		}
	})
	return s
}

// listenPair listens on UDP 127.0.0.1:0, then on TCP on the same port,
// trying other ports while that TCP port is taken.
func listenPair() (net.PacketConn, net.Listener, error) {
	var lastErr error
	for range 50 {
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			return nil, nil, fmt.Errorf("dnstest: %w", err)
		}
		// Bursts of queries (benchmarks, pacing tests) should queue
		// rather than be dropped by the kernel; the kernel may cap this.
		pc.(*net.UDPConn).SetReadBuffer(4 << 20)
		port := pc.LocalAddr().(*net.UDPAddr).Port
		ln, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		lastErr = err
	}
	return nil, nil, fmt.Errorf("dnstest: no port free for both UDP and TCP: %w", lastErr)
}

// Addr returns the server's address, "127.0.0.1:port", the same for UDP
// and TCP.
func (s *Server) Addr() string { return s.addr }

// Close stops both listeners and waits for every goroutine the server
// started, including those sending delayed replies (which are abandoned).
// No reply is written once Close has returned. Close may be called more
// than once; later calls return the first call's result.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.closeMu.Lock()
		s.closed = true
		close(s.done)
		s.closeMu.Unlock()

		// Shutdown returns once every handler has returned, so no
		// delayed reply is started after it, and s.wg.Wait is safe.
		errs := []error{s.udp.Shutdown(), s.tcp.Shutdown()}
		s.serveWG.Wait()
		close(s.serveErrs)
		for err := range s.serveErrs {
			errs = append(errs, err)
		}
		s.wg.Wait()
		if err := errors.Join(errs...); err != nil {
			s.closeErr = fmt.Errorf("dnstest: close: %w", err)
		}
	})
	return s.closeErr
}

// SetFault makes the server misbehave as f describes for queries for name,
// replacing any previous fault for that name. name is a domain name,
// case-insensitive, the trailing dot optional; "*" applies f to every name
// that has no fault of its own. A zero f removes the fault.
func (s *Server) SetFault(name string, f Fault) {
	key := faultKey(name)
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	old := s.faults.Load()
	m := make(map[string]Fault)
	if old != nil {
		for k, v := range *old {
			m[k] = v
		}
	}
	if f == (Fault{}) {
		delete(m, key)
	} else {
		m[key] = f
	}
	s.faults.Store(&m)
}

// ClearFaults removes every fault.
func (s *Server) ClearFaults() {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.faults.Store(nil)
}

// SetAuthenticated makes the server answer, for names in zone and below
// it, as a validating resolver answers for a signed zone: answers and
// negative answers (not faults) carry the AD bit when the query asked for
// it (AD or DO set). It adds zone to those set before.
func (s *Server) SetAuthenticated(zone string) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	var zones []string
	if p := s.secure.Load(); p != nil {
		zones = append(zones, *p...)
	}
	zones = append(zones, dns.CanonicalName(zone))
	s.secure.Store(&zones)
}

// authenticated reports whether name (lower-case FQDN) is in a zone set
// with SetAuthenticated.
func (s *Server) authenticated(name string) bool {
	p := s.secure.Load()
	if p == nil {
		return false
	}
	for _, z := range *p {
		if dns.IsSubDomain(z, name) {
			return true
		}
	}
	return false
}

// SetRateLimit makes the server answer at most qps queries per second,
// with bursts of up to burst queries (at least 1); queries above the limit
// are silently dropped, like a cloud resolver's packet-rate ceiling. The
// limit covers UDP and TCP together. qps <= 0 removes the limit.
func (s *Server) SetRateLimit(qps float64, burst int) {
	if qps <= 0 {
		s.limiter.Store(nil)
		return
	}
	s.limiter.Store(rate.NewLimiter(rate.Limit(qps), max(burst, 1)))
}

// faultKey normalises a SetFault name to the form the handler looks up.
func faultKey(name string) string {
	if name == "*" {
		return name
	}
	return dns.CanonicalName(name)
}

// faultFor returns the fault for the lower-case name, if any.
func (s *Server) faultFor(name string) (Fault, bool) {
	m := s.faults.Load()
	if m == nil || len(*m) == 0 {
		return Fault{}, false
	}
	if f, ok := (*m)[name]; ok {
		return f, true
	}
	f, ok := (*m)["*"]
	return f, ok
}
