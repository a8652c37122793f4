package dnstest

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// handler serves one transport of a Server.
type handler struct {
	s   *Server
	tcp bool
}

// pending is a reply to write after a delay, counted from the query.
type pending struct {
	after time.Duration
	msg   []byte
}

// ServeDNS answers one query, applying the name's fault.
func (h *handler) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	s := h.s
	var q dns.Question
	if len(req.Question) > 0 {
		q = req.Question[0]
	}
	lname := strings.ToLower(q.Name)
	s.cnt.add(lname, q.Qtype, len(req.Question) > 0, h.tcp)

	if lim := s.limiter.Load(); lim != nil && !lim.Allow() {
		s.cnt.limited.Add(1)
		s.cnt.dropped.Add(1)
		return
	}
	f, _ := s.faultFor(lname)
	if f.Drop || (f.DropRate > 0 && rand.Float64() < f.DropRate) {
		s.cnt.dropped.Add(1)
		return
	}

	var replies []pending
	if !h.tcp && (f.SpoofID || f.SpoofQuestion) && len(req.Question) == 1 {
		if bogus, err := spoofed(req, f.SpoofID).Pack(); err == nil {
			replies = append(replies, pending{after: f.Delay, msg: bogus})
		}
		replies = append(replies, pending{after: f.Delay + SpoofGap, msg: s.reply(req, h.tcp, f)})
	} else {
		replies = append(replies, pending{after: f.Delay, msg: s.reply(req, h.tcp, f)})
	}

	if replies[0].after <= 0 && len(replies) == 1 {
		w.Write(replies[0].msg)
		return
	}
	if h.tcp {
		// The dns.Server closes a TCP ResponseWriter once the handler
		// returns, so a TCP reply is written from the handler.
		s.writeLater(w, replies)
		return
	}
	// A UDP ResponseWriter stays usable (its socket is the listener), so
	// the handler returns and lets other queries be served meanwhile.
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.writeLater(w, replies)
	}()
}

// writeLater writes each reply at its time, giving up when the server is
// closed.
func (s *Server) writeLater(w dns.ResponseWriter, replies []pending) {
	start := time.Now()
	var t *time.Timer
	for _, r := range replies {
		if d := r.after - time.Since(start); d > 0 {
			if t == nil {
				t = time.NewTimer(d)
				defer t.Stop()
			} else {
				t.Reset(d)
			}
			select {
			case <-t.C:
			case <-s.done:
				return
			}
		}
		s.closeMu.RLock()
		if !s.closed {
			w.Write(r.msg)
		}
		s.closeMu.RUnlock()
	}
}

// reply builds the packed reply to req, applying f's reply-changing faults.
func (s *Server) reply(req *dns.Msg, tcp bool, f Fault) []byte {
	if f.Malformed {
		return malformed(req.Id)
	}
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	m.RecursionAvailable = true
	m.Compress = true

	limit := dns.MinMsgSize
	opt := req.IsEdns0()
	if opt != nil {
		limit = max(int(opt.UDPSize()), dns.MinMsgSize)
		m.SetEdns0(ServerUDPSize, opt.Do())
	}

	var q dns.Question
	if len(req.Question) > 0 {
		q = req.Question[0]
	}
	switch {
	case len(req.Question) != 1:
		m.Rcode = dns.RcodeFormatError
		m.Authoritative = false
	case opt != nil && opt.Version() != 0:
		m.Rcode = dns.RcodeBadVers // RFC 6891 section 6.1.3
		m.Authoritative = false
	case req.Opcode != dns.OpcodeQuery:
		m.Rcode = dns.RcodeNotImplemented
		m.Authoritative = false
	case f.Rcode != 0:
		m.Rcode = f.Rcode
		if f.ExtendedError != nil && opt != nil {
			m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_EDE{InfoCode: f.ExtendedError.InfoCode, ExtraText: f.ExtendedError.ExtraText})
		}
	case q.Qclass != dns.ClassINET && q.Qclass != dns.ClassANY:
		m.Rcode = dns.RcodeRefused
		m.Authoritative = false
	default:
		m.Rcode, m.Answer, m.Ns = s.data.resolve(q.Name, q.Qtype)
		if m.Rcode == dns.RcodeRefused {
			m.Authoritative = false
		}
		if (m.Rcode == dns.RcodeSuccess || m.Rcode == dns.RcodeNameError) &&
			(req.AuthenticatedData || opt != nil && opt.Do()) && s.authenticated(strings.ToLower(q.Name)) {
			m.AuthenticatedData = true
		}
		if f.Oversize > 0 {
			pad(m, f.Oversize)
		}
	}

	if !tcp && f.Truncate {
		truncate(m)
	}
	buf, err := m.Pack()
	if err != nil {
		// An Oversize too big even for TCP, or an Rcode that cannot
		// be sent: answer SERVFAIL rather than nothing.
		truncate(m)
		m.Truncated = false
		m.Rcode = dns.RcodeServerFailure
		if buf, err = m.Pack(); err != nil {
			return malformed(req.Id)
		}
	}
	if !tcp && len(buf) > limit {
		truncate(m)
		if b, err := m.Pack(); err == nil {
			buf = b
		}
	}
	return buf
}

// truncate turns m into a TC=1 reply with empty sections but for the
// question and the OPT record.
func truncate(m *dns.Msg) {
	m.Truncated = true
	m.Answer, m.Ns = nil, nil
	var extra []dns.RR
	for _, rr := range m.Extra {
		if rr.Header().Rrtype == dns.TypeOPT {
			extra = append(extra, rr)
		}
	}
	m.Extra = extra
}

// pad adds n records to m for Fault.Oversize.
func pad(m *dns.Msg, n int) {
	q := m.Question[0]
	positive := m.Rcode == dns.RcodeSuccess && len(m.Answer) > 0
	for i := range n {
		hdr := dns.RR_Header{Name: q.Name, Class: dns.ClassINET, Ttl: 300}
		switch {
		case positive && q.Qtype == dns.TypeA:
			hdr.Rrtype = dns.TypeA
			m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: net.IPv4(10, 200, byte(i>>8), byte(i))})
		case positive && q.Qtype == dns.TypeAAAA:
			hdr.Rrtype = dns.TypeAAAA
			ip := net.ParseIP("2001:db8:ffff::")
			ip[14], ip[15] = byte(i>>8), byte(i)
			m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr, AAAA: ip})
		default:
			hdr.Rrtype = dns.TypeTXT
			txt := &dns.TXT{Hdr: hdr, Txt: []string{fmt.Sprintf("padding %04d %s", i, strings.Repeat("x", 100))}}
			if positive && q.Qtype == dns.TypeTXT {
				m.Answer = append(m.Answer, txt)
			} else {
				m.Extra = append(m.Extra, txt)
			}
		}
	}
}

// spoofed builds the bogus reply of Fault.SpoofID (wrongID) or
// Fault.SpoofQuestion.
func spoofed(req *dns.Msg, wrongID bool) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	m.RecursionAvailable = true
	if wrongID {
		m.Id = req.Id ^ 0x5a5a
	} else {
		m.Question[0].Name = "spoofed.invalid."
	}
	if opt := req.IsEdns0(); opt != nil {
		m.SetEdns0(ServerUDPSize, false)
	}
	q := m.Question[0]
	hdr := dns.RR_Header{Name: q.Name, Rrtype: q.Qtype, Class: dns.ClassINET, Ttl: 86400}
	switch q.Qtype {
	case dns.TypeAAAA:
		m.Answer = []dns.RR{&dns.AAAA{Hdr: hdr, AAAA: net.ParseIP("2001:db8:666::6")}}
	case dns.TypeTXT:
		m.Answer = []dns.RR{&dns.TXT{Hdr: hdr, Txt: []string{"v=spf1 +all"}}}
	case dns.TypeMX:
		m.Answer = []dns.RR{&dns.MX{Hdr: hdr, Preference: 0, Mx: "mx.spoofed.invalid."}}
	case dns.TypeCNAME:
		m.Answer = []dns.RR{&dns.CNAME{Hdr: hdr, Target: "spoofed.invalid."}}
	default:
		hdr.Rrtype = dns.TypeA
		m.Answer = []dns.RR{&dns.A{Hdr: hdr, A: net.IPv4(6, 6, 6, 6)}}
	}
	return m
}

// malformed returns a reply for Fault.Malformed: a header with the
// query's ID, QR=1 and one question, whose name is a compression pointer
// to itself, which dns.Msg.Unpack rejects.
func malformed(id uint16) []byte {
	b := make([]byte, 12, 32)
	binary.BigEndian.PutUint16(b[0:], id)
	binary.BigEndian.PutUint16(b[2:], 0x8180) // QR, RD, RA
	binary.BigEndian.PutUint16(b[4:], 1)      // QDCOUNT
	binary.BigEndian.PutUint16(b[6:], 1)      // ANCOUNT
	return append(b, 0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01, 0xde, 0xad, 0xbe, 0xef)
}

// acceptFunc returns a dns.MsgAcceptFunc that counts the messages the
// default one rejects, so that Queries counts them too.
func (s *Server) acceptFunc(tcp bool) dns.MsgAcceptFunc {
	return func(dh dns.Header) dns.MsgAcceptAction {
		action := dns.DefaultMsgAcceptFunc(dh)
		if action != dns.MsgAccept {
			s.cnt.add("", 0, false, tcp)
		}
		return action
	}
}

// invalidFunc returns a dns.MsgInvalidFunc that counts messages that could
// not be parsed.
func (s *Server) invalidFunc(tcp bool) dns.MsgInvalidFunc {
	return func([]byte, error) { s.cnt.add("", 0, false, tcp) }
}
