package spf

import (
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// macroMode selects the grammar a macro-string follows (RFC 7208 §7.1).
type macroMode uint8

const (
	// modeDomain: a domain-spec (mechanisms, redirect=, exp=). Letters
	// s l o d i p h v; no spaces.
	modeDomain macroMode = iota
	// modeModifier: the value of an unknown modifier, checked but never
	// expanded. Every macro letter of the ABNF; no spaces.
	modeModifier
	// modeExplain: explanation text fetched by exp= (§6.2). Every macro
	// letter, including the exp-only c, r and t; spaces allowed.
	modeExplain
)

// maxExpansion bounds both the output of one expansion and the bytes of
// macro values it reads, so that a record full of macros combined with a
// huge sender costs at most this much.
const maxExpansion = 64 << 10

// macroData holds the values macros expand to (§7.3).
type macroData struct {
	sender   string           // s: <sender>
	local    string           // l: local-part of <sender>
	origin   string           // o: domain of <sender>
	domain   string           // d: <domain>
	helo     string           // h: HELO/EHLO domain
	ip       netip.Addr       // i, c, v: <ip>
	receiver string           // r: the receiving host; "" means "unknown"
	now      func() time.Time // t: current time
	ptr      func() string    // p: validated domain name of <ip>
}

// expand checks s against the macro-string grammar of mode and, when d is
// not nil, expands it. tail is the literal text after the last
// macro-expand (all of s if there is none, "" if s ends with one), which
// checkDomainSpec needs. Errors are a *SyntaxError without Term, or
// ErrExpansionTooLong.
func expand(s string, mode macroMode, d *macroData) (out, tail string, err error) {
	var buf []byte
	if d != nil {
		buf = make([]byte, 0, min(len(s)+32, maxExpansion))
	}
	read := 0 // bytes of macro values consumed
	tailStart := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c != '%' {
			if !isMacroLiteral(c, mode) {
				return "", "", &SyntaxError{Reason: "invalid character " + strconv.QuoteRune(rune(c)) + " in macro-string"}
			}
			buf = appendIf(buf, d, c)
			i++
			continue
		}
		if i+1 == len(s) {
			return "", "", &SyntaxError{Reason: "\"%\" at the end of a macro-string"}
		}
		switch s[i+1] {
		case '%':
			buf = appendIf(buf, d, '%')
			i += 2
			tailStart = i
			continue
		case '_':
			buf = appendIf(buf, d, ' ')
			i += 2
			tailStart = i
			continue
		case '-':
			if d != nil {
				buf = append(buf, "%20"...)
			}
			i += 2
			tailStart = i
			continue
		case '{':
		default:
			return "", "", &SyntaxError{Reason: "\"%\" must be followed by \"{\", \"%\", \"_\" or \"-\""}
		}

		// macro-expand = "%{" macro-letter transformers *delimiter "}"
		j := i + 2
		if j == len(s) || !isMacroLetter(s[j], mode) {
			return "", "", &SyntaxError{Reason: "invalid macro letter"}
		}
		letter, upper := s[j]|0x20, s[j] < 'a'
		j++
		n, digits := 0, false
		for ; j < len(s) && isDigit(s[j]); j++ {
			digits = true
			if n <= maxExpansion { // saturate: more than any number of parts
				n = n*10 + int(s[j]-'0')
			}
		}
		if digits && n == 0 {
			return "", "", &SyntaxError{Reason: "macro part count must not be zero"}
		}
		reverse := false
		if j < len(s) && s[j]|0x20 == 'r' {
			reverse = true
			j++
		}
		delimStart := j
		for j < len(s) && isDelimiter(s[j]) {
			j++
		}
		delims := s[delimStart:j]
		if j == len(s) || s[j] != '}' {
			return "", "", &SyntaxError{Reason: "unterminated or malformed macro"}
		}
		j++
		if d != nil {
			v := d.value(letter)
			read += len(v)
			if read > maxExpansion {
				return "", "", ErrExpansionTooLong
			}
			buf = transform(buf, v, n, reverse, delims, upper)
			if len(buf) > maxExpansion {
				return "", "", ErrExpansionTooLong
			}
		}
		i = j
		tailStart = i
	}
	if len(buf) > maxExpansion {
		return "", "", ErrExpansionTooLong
	}
	return string(buf), s[tailStart:], nil
}

func appendIf(buf []byte, d *macroData, c byte) []byte {
	if d == nil {
		return buf
	}
	return append(buf, c)
}

// isMacroLiteral: macro-literal = %x21-24 / %x26-7E, plus SP in
// explanations (explain-string = *( macro-string / SP )).
func isMacroLiteral(c byte, mode macroMode) bool {
	return (0x21 <= c && c <= 0x7e) || (c == ' ' && mode == modeExplain)
}

// isMacroLetter: s l o d i p h v everywhere, and c r t where the mode
// allows them (§7.3). Upper case asks for URL escaping.
func isMacroLetter(c byte, mode macroMode) bool {
	switch c | 0x20 {
	case 's', 'l', 'o', 'd', 'i', 'p', 'h', 'v':
		return isAlpha(c)
	case 'c', 'r', 't':
		return isAlpha(c) && mode != modeDomain
	}
	return false
}

// isDelimiter: delimiter = "." / "-" / "+" / "," / "/" / "_" / "=".
func isDelimiter(c byte) bool {
	return strings.IndexByte(".-+,/_=", c) >= 0
}

// value returns what a lower-case macro letter expands to (§7.3).
func (d *macroData) value(letter byte) string {
	switch letter {
	case 's':
		return d.sender
	case 'l':
		return d.local
	case 'o':
		return d.origin
	case 'd':
		return d.domain
	case 'h':
		return d.helo
	case 'i':
		return dotted(d.ip)
	case 'c':
		return d.ip.String()
	case 'v':
		if d.ip.Is4() {
			return "in-addr"
		}
		return "ip6"
	case 'p':
		if d.ptr == nil {
			return "unknown"
		}
		return d.ptr()
	case 'r':
		if d.receiver == "" {
			return "unknown"
		}
		return d.receiver
	case 't':
		now := time.Now
		if d.now != nil {
			now = d.now
		}
		return strconv.FormatInt(now().Unix(), 10)
	}
	return ""
}

// dotted returns the "dot-format" of ip (§7.3): the dotted quad for IPv4,
// 32 lower-case hexadecimal nibbles separated by dots for IPv6.
func dotted(ip netip.Addr) string {
	if ip.Is4() {
		return ip.String()
	}
	const hexDigits = "0123456789abcdef"
	a := ip.As16()
	b := make([]byte, 0, 63)
	for i, x := range a {
		if i > 0 {
			b = append(b, '.')
		}
		b = append(b, hexDigits[x>>4], '.', hexDigits[x&0xf])
	}
	return string(b)
}

// transform applies the transformers of §7.3 to v and appends the result
// to buf: split on delims (default "."), reverse if asked, keep the n
// right-hand parts (all if n is 0 or too big), join with ".", and
// URL-escape if the macro letter was upper case.
func transform(buf []byte, v string, n int, reverse bool, delims string, upper bool) []byte {
	if n > 0 || reverse || (delims != "" && strings.Trim(delims, ".") != "") {
		if delims == "" {
			delims = "."
		}
		parts := splitAny(v, delims)
		if reverse {
			for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
				parts[i], parts[j] = parts[j], parts[i]
			}
		}
		if n > 0 && n < len(parts) {
			parts = parts[len(parts)-n:]
		}
		v = strings.Join(parts, ".")
	}
	if !upper {
		return append(buf, v...)
	}
	return urlEscape(buf, v)
}

// splitAny splits s at every byte that occurs in delims, keeping empty
// parts.
func splitAny(s, delims string) []string {
	parts := make([]string, 0, strings.Count(s, ".")+1)
	start := 0
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(delims, s[i]) >= 0 {
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// urlEscape appends v with every byte outside the unreserved set of RFC
// 3986 (ALPHA DIGIT "-" "." "_" "~") written as %XX (§7.3).
func urlEscape(buf []byte, v string) []byte {
	const hexDigits = "0123456789ABCDEF"
	for i := 0; i < len(v); i++ {
		c := v[i]
		if isAlpha(c) || isDigit(c) || c == '-' || c == '.' || c == '_' || c == '~' {
			buf = append(buf, c)
			continue
		}
		buf = append(buf, '%', hexDigits[c>>4], hexDigits[c&0xf])
	}
	return buf
}
