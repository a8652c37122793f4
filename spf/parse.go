package spf

import (
	"errors"
	"net/netip"
	"strings"
)

// mechKind names the mechanisms of RFC 7208 §5.
type mechKind uint8

const (
	kindAll mechKind = iota + 1
	kindInclude
	kindA
	kindMX
	kindPTR
	kindIP4
	kindIP6
	kindExists
)

// mechanism is one parsed directive: [qualifier] mechanism (§4.6.1).
type mechanism struct {
	term   string // as written, for Verdict.Mechanism
	qual   Result // Pass, Fail, SoftFail or Neutral
	kind   mechKind
	spec   string       // domain-spec (include, a, mx, ptr, exists); "" means <domain>
	prefix netip.Prefix // ip4, ip6
	bits4  int          // a, mx: ip4-cidr-length
	bits6  int          // a, mx: ip6-cidr-length
}

// record is a parsed SPF record. Every macro-string in it has been checked
// against the grammar, so that evaluation only fails on DNS or limits.
type record struct {
	mechs    []mechanism
	redirect string // domain-spec of redirect=, "" if absent
	exp      string // domain-spec of exp=, "" if absent
}

// spfVersion is the version section every SPF record starts with (§4.5).
const spfVersion = "v=spf1"

// isSPF reports whether a TXT string is an SPF record: "v=spf1", in any
// case, alone or followed by a space (§4.5).
func isSPF(txt string) bool {
	return len(txt) >= len(spfVersion) &&
		strings.EqualFold(txt[:len(spfVersion)], spfVersion) &&
		(len(txt) == len(spfVersion) || txt[len(spfVersion)] == ' ')
}

// parseRecord parses a whole SPF record (§4.6, §12): any syntax error
// anywhere makes the record unusable, even after a term that would match.
// Terms are separated by one or more spaces and nothing else. The error is
// a *SyntaxError without its Domain.
func parseRecord(txt string) (*record, error) {
	if !isSPF(txt) {
		return nil, &SyntaxError{Reason: "the record does not start with " + spfVersion}
	}
	rec := &record{}
	var hasRedirect, hasExp bool
	rest := txt[len(spfVersion):]
	for rest != "" {
		if rest[0] == ' ' {
			rest = rest[1:]
			continue
		}
		term := rest
		if i := strings.IndexByte(rest, ' '); i >= 0 {
			term = rest[:i]
		}
		rest = rest[len(term):]

		name, value, ok := splitModifier(term)
		if !ok {
			m, err := parseMechanism(term)
			if err != nil {
				return nil, err
			}
			rec.mechs = append(rec.mechs, m)
			continue
		}
		switch {
		case strings.EqualFold(name, "redirect"):
			if hasRedirect {
				return nil, &SyntaxError{Term: term, Reason: "redirect= appears twice"}
			}
			if err := checkDomainSpec(term, value); err != nil {
				return nil, err
			}
			hasRedirect, rec.redirect = true, value
		case strings.EqualFold(name, "exp"):
			if hasExp {
				return nil, &SyntaxError{Term: term, Reason: "exp= appears twice"}
			}
			if err := checkDomainSpec(term, value); err != nil {
				return nil, err
			}
			hasExp, rec.exp = true, value
		default:
			// Unknown modifiers are ignored (§6), but their value must be
			// a macro-string. The ABNF allows every macro letter there;
			// §7.3 restricts c, r and t only where expansions are used.
			if _, _, err := expand(value, modeModifier, nil); err != nil {
				return nil, withTerm(err, term)
			}
		}
	}
	return rec, nil
}

// splitModifier recognizes a modifier: name "=" value, where name is
// ALPHA *( ALPHA / DIGIT / "-" / "_" / "." ) and the "=" comes before any
// other character (§4.6.1, §12). Anything else is a mechanism.
func splitModifier(term string) (name, value string, ok bool) {
	if term == "" || !isAlpha(term[0]) {
		return "", "", false
	}
	for i := 1; i < len(term); i++ {
		c := term[i]
		switch {
		case c == '=':
			return term[:i], term[i+1:], true
		case isAlpha(c) || isDigit(c) || c == '-' || c == '_' || c == '.':
		default:
			return "", "", false
		}
	}
	return "", "", false
}

// parseMechanism parses a directive (§4.6.1, §5, §12).
func parseMechanism(term string) (mechanism, error) {
	m := mechanism{term: term, qual: Pass, bits4: 32, bits6: 128}
	s := term
	switch s[0] {
	case '+':
		s = s[1:]
	case '-':
		m.qual, s = Fail, s[1:]
	case '~':
		m.qual, s = SoftFail, s[1:]
	case '?':
		m.qual, s = Neutral, s[1:]
	}
	end := strings.IndexAny(s, ":/")
	if end < 0 {
		end = len(s)
	}
	name, arg := s[:end], s[end:]
	bad := func(reason string) (mechanism, error) {
		return mechanism{}, &SyntaxError{Term: term, Reason: reason}
	}

	switch {
	case strings.EqualFold(name, "all"):
		m.kind = kindAll
		if arg != "" {
			return bad("all takes no argument")
		}
	case strings.EqualFold(name, "include"), strings.EqualFold(name, "exists"):
		m.kind = kindInclude
		if strings.EqualFold(name, "exists") {
			m.kind = kindExists
		}
		if arg == "" || arg[0] != ':' {
			return bad(strings.ToLower(name) + " needs \":\" and a domain-spec")
		}
		m.spec = arg[1:]
		if err := checkDomainSpec(term, m.spec); err != nil {
			return mechanism{}, err
		}
	case strings.EqualFold(name, "a"), strings.EqualFold(name, "mx"):
		m.kind = kindA
		if strings.EqualFold(name, "mx") {
			m.kind = kindMX
		}
		head, bits4, bits6, ok := splitDualCIDR(arg)
		if !ok {
			return bad("invalid CIDR length")
		}
		m.bits4, m.bits6 = bits4, bits6
		switch {
		case head == "":
		case head[0] == ':':
			m.spec = head[1:]
			if err := checkDomainSpec(term, m.spec); err != nil {
				return mechanism{}, err
			}
		default:
			return bad("unexpected text after " + strings.ToLower(name))
		}
	case strings.EqualFold(name, "ptr"):
		m.kind = kindPTR
		switch {
		case arg == "":
		case arg[0] == ':':
			m.spec = arg[1:]
			if err := checkDomainSpec(term, m.spec); err != nil {
				return mechanism{}, err
			}
		default:
			return bad("ptr takes no CIDR length")
		}
	case strings.EqualFold(name, "ip4"), strings.EqualFold(name, "ip6"):
		m.kind = kindIP4
		if strings.EqualFold(name, "ip6") {
			m.kind = kindIP6
		}
		p, ok := parseNetwork(arg, m.kind == kindIP6)
		if !ok {
			return bad("invalid " + strings.ToLower(name) + " network")
		}
		m.prefix = p
	default:
		return bad("unknown mechanism")
	}
	return m, nil
}

// parseNetwork parses ":" ip4-network [ ip4-cidr-length ] or its ip6
// counterpart (§5.6). Addresses are strict: dotted quads without leading
// zeros or missing parts, IPv6 without zones.
func parseNetwork(arg string, six bool) (netip.Prefix, bool) {
	if arg == "" || arg[0] != ':' {
		return netip.Prefix{}, false
	}
	s := arg[1:]
	bits := 32
	if six {
		bits = 128
	}
	if i := strings.IndexByte(s, '/'); i >= 0 {
		n, ok := cidrLength(s[i+1:], bits)
		if !ok {
			return netip.Prefix{}, false
		}
		s, bits = s[:i], n
	}
	ip, err := netip.ParseAddr(s)
	if err != nil || ip.Zone() != "" || ip.Is4() == six {
		return netip.Prefix{}, false
	}
	p, err := ip.Prefix(bits)
	return p, err == nil
}

// splitDualCIDR takes the dual-cidr-length off the end of the argument of
// a or mx (§5.3, §5.4): [ "/" ip4-cidr-length ] [ "//" ip6-cidr-length ].
// A trailing "/" followed by something other than digits stays part of
// the domain-spec (where it then fails the toplabel rule). ok is false for
// lengths that are out of range or written with leading zeros.
func splitDualCIDR(arg string) (head string, bits4, bits6 int, ok bool) {
	head, bits4, bits6 = arg, 32, 128
	if i := strings.LastIndex(head, "//"); i >= 0 && allDigits(head[i+2:]) {
		if bits6, ok = cidrLength(head[i+2:], 128); !ok {
			return "", 0, 0, false
		}
		head = head[:i]
	}
	if i := strings.LastIndexByte(head, '/'); i >= 0 && allDigits(head[i+1:]) {
		if bits4, ok = cidrLength(head[i+1:], 32); !ok {
			return "", 0, 0, false
		}
		head = head[:i]
	}
	return head, bits4, bits6, true
}

// cidrLength parses a CIDR length: "0" or digits without a leading zero,
// at most max (§12: ip4-cidr-length, ip6-cidr-length).
func cidrLength(s string, max int) (int, bool) {
	if s == "" || len(s) > 3 || !allDigits(s) || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n, n <= max
}

// checkDomainSpec checks a domain-spec (§7.1): a macro-string that ends
// either in a macro-expand or in "." toplabel, optionally followed by ".".
func checkDomainSpec(term, spec string) error {
	if spec == "" {
		return &SyntaxError{Term: term, Reason: "empty domain-spec"}
	}
	_, tail, err := expand(spec, modeDomain, nil)
	if err != nil {
		return withTerm(err, term)
	}
	if tail == "" {
		return nil // ends in a macro-expand
	}
	tail = strings.TrimSuffix(tail, ".")
	i := strings.LastIndexByte(tail, '.')
	if i < 0 || !isTopLabel(tail[i+1:]) {
		return &SyntaxError{Term: term, Reason: "domain-spec does not end in a valid top label"}
	}
	return nil
}

// isTopLabel reports whether s is a toplabel (§7.1):
// ( *alphanum ALPHA *alphanum ) / ( 1*alphanum "-" *( alphanum / "-" ) alphanum ).
func isTopLabel(s string) bool {
	if s == "" {
		return false
	}
	var alpha, dash bool
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isAlpha(c):
			alpha = true
		case isDigit(c):
		case c == '-':
			dash = true
		default:
			return false
		}
	}
	if dash {
		return s[0] != '-' && s[len(s)-1] != '-'
	}
	return alpha
}

// withTerm fills in the term of a *SyntaxError that lacks one.
func withTerm(err error, term string) error {
	var se *SyntaxError
	if errors.As(err, &se) && se.Term == "" {
		se.Term = term
	}
	return err
}

func isAlpha(c byte) bool { return 'a' <= c|0x20 && c|0x20 <= 'z' }
func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return s != ""
}
