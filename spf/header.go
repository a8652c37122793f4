package spf

import (
	"strings"
)

// ReceivedSPF formats v as a Received-SPF header field (RFC 7208 §9.1),
// for a receiving MTA to prepend to the message, such as
//
//	Received-SPF: pass (mybox.example.org: domain of myname@example.com designates 192.0.2.1 as permitted sender) receiver=mybox.example.org; client-ip=192.0.2.1; envelope-from="myname@example.com"; helo=foo.example.com; identity=mailfrom; mechanism="ip4:192.0.2.0/24"
//
// It is one line, without the final CRLF; the caller may fold it at any
// space. The keys are receiver (if Checker.Receiver is set), client-ip,
// envelope-from (unless the sender is empty), helo (unless empty),
// identity, mechanism (if one decided the result) and problem (for
// TempError and PermError). Text from the SMTP session and from DNS is
// quoted, with bytes that are not printable ASCII replaced by "?", so a
// hostile HELO, MAIL FROM or record cannot add header lines.
func (v Verdict) ReceivedSPF() string {
	var b strings.Builder
	b.WriteString("Received-SPF: ")
	b.WriteString(v.Result.String())
	b.WriteString(" (")
	writeComment(&b, v.comment())
	b.WriteString(")")

	sep := " "
	pair := func(key, value string) {
		b.WriteString(sep)
		b.WriteString(key)
		b.WriteByte('=')
		writeValue(&b, value)
		sep = "; "
	}
	if v.Receiver != "" {
		pair("receiver", v.Receiver)
	}
	if v.IP.IsValid() {
		pair("client-ip", v.IP.String())
	}
	if v.Sender != "" {
		pair("envelope-from", v.Sender)
	}
	if v.Helo != "" {
		pair("helo", v.Helo)
	}
	if v.Identity != "" {
		pair("identity", v.Identity)
	}
	if v.Mechanism != "" {
		pair("mechanism", v.Mechanism)
	}
	if v.Err != nil {
		pair("problem", v.Err.Error())
	}
	return b.String()
}

// comment is the human-readable text of the header, after the wording of
// RFC 7208 §9.1's examples.
func (v Verdict) comment() string {
	who := v.Sender
	if v.Identity == IdentityHELO || who == "" {
		who = v.Helo
	}
	ip := v.IP.String()
	if !v.IP.IsValid() {
		ip = "the client"
	}
	var s string
	switch v.Result {
	case Pass:
		s = "domain of " + who + " designates " + ip + " as permitted sender"
	case Fail:
		s = "domain of " + who + " does not designate " + ip + " as permitted sender"
	case SoftFail:
		s = "domain of transitioning " + who + " does not designate " + ip + " as permitted sender"
	case Neutral:
		s = ip + " is neither permitted nor denied by domain of " + who
	case None:
		s = "domain of " + who + " does not designate permitted sender hosts"
	case TempError:
		s = "temporary error in processing during lookup of " + who
	case PermError:
		s = "permanent error in processing domain of " + who
	default:
		s = "no result"
	}
	if v.Receiver != "" {
		s = v.Receiver + ": " + s
	}
	return s
}

// writeComment writes s as the ctext of a comment (RFC 5322 §3.2.2):
// parentheses and backslashes escaped, other bytes outside printable
// ASCII replaced by "?".
func writeComment(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '(' || c == ')' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < ' ' || c > '~':
			b.WriteByte('?')
		default:
			b.WriteByte(c)
		}
	}
}

// writeValue writes s as a dot-atom when it is one, else as a
// quoted-string (RFC 5322 §3.2.3, §3.2.4) with bytes outside printable
// ASCII replaced by "?".
func writeValue(b *strings.Builder, s string) {
	if isDotAtom(s) {
		b.WriteString(s)
		return
	}
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < ' ' || c > '~':
			b.WriteByte('?')
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
}

// isDotAtom reports whether s is a dot-atom-text: 1*atext *("." 1*atext).
func isDotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlpha(c) && !isDigit(c) && c != '.' && strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) < 0 {
			return false
		}
	}
	return true
}
