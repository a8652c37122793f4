package dkim

import (
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"strings"
)

// Limits on the work done for one record. A DNS TXT record can carry
// almost 64 KiB, and the record comes from whoever controls the zone.
const (
	// maxRecordLen bounds the length of a key record in bytes. The
	// largest key accepted (16384 bits, about 2800 base64 characters in
	// SubjectPublicKeyInfo form) fits with ample room for whitespace and
	// other tags.
	maxRecordLen = 8192

	// minRSABits is the RFC 8301 §3.2 minimum; smaller keys are weak.
	minRSABits = 1024

	// maxRSABits is the largest RSA key accepted. RFC 8301 only requires
	// verifiers to handle up to 4096 bits; beyond 16384 bits a key is
	// more likely an attempt to make verifiers work than a real key.
	maxRSABits = 16384
)

// ParseKey parses a DKIM key record, the text of one TXT record with its
// character-strings concatenated (as *net.Resolver returns it).
//
// It follows RFC 6376 §3.2 and §3.6.1: whitespace is allowed around tags,
// around "=" and ":" and inside p=; tag names are case-sensitive; unknown
// tags are ignored; a duplicate tag invalidates the record. v= is optional
// but, when present, must be the first tag and exactly "DKIM1". k= defaults
// to "rsa"; "rsa" and "ed25519" (RFC 8463) are known, other types are
// rejected. An RSA p= may be a SubjectPublicKeyInfo or a bare PKCS #1
// RSAPublicKey; an Ed25519 p= is the raw 32-byte key. s=, when present,
// must include "email" or "*".
//
// Errors are *[KeyError] values wrapping [ErrMalformedKey] for invalid
// records (including records longer than 8192 bytes and RSA keys over
// 16384 bits), [ErrKeyRevoked] for an empty p= (the Key is nil), and
// [ErrWeakKey] for an RSA key under 1024 bits. With ErrWeakKey the parsed
// Key is returned as well, so that callers can report what is published; a
// caller that stops at err != nil never uses a weak key.
func ParseKey(record string) (*Key, error) {
	if len(record) > maxRecordLen {
		return nil, malformed("record is %d bytes long, over the %d-byte limit", len(record), maxRecordLen)
	}
	tags, err := parseTagList(record)
	if err != nil {
		return nil, err
	}

	k := &Key{KeyType: "rsa"}
	var p string
	var haveP bool
	for i, t := range tags {
		switch t.name {
		case "v":
			if i != 0 {
				return nil, malformed("v= is not the first tag")
			}
			if t.value != "DKIM1" {
				return nil, malformed("v=%s is not DKIM1", quoteShort(t.value))
			}
		case "k":
			k.KeyType = strings.ToLower(t.value)
			if k.KeyType != "rsa" && k.KeyType != "ed25519" {
				return nil, malformed("unknown key type k=%s", quoteShort(t.value))
			}
		case "h":
			if k.HashAlgorithms, err = parseList("h", t.value); err != nil {
				return nil, err
			}
		case "s":
			if k.Services, err = parseList("s", t.value); err != nil {
				return nil, err
			}
			if !contains(k.Services, "email") && !contains(k.Services, "*") {
				return nil, malformed("s=%s does not include email or *", quoteShort(t.value))
			}
		case "t":
			flags, err := parseList("t", t.value)
			if err != nil {
				return nil, err
			}
			k.Testing = contains(flags, "y")
			k.Strict = contains(flags, "s")
		case "n":
			k.Notes = t.value
		case "p":
			p, haveP = t.value, true
		}
	}
	if !haveP {
		return nil, malformed("no p= tag")
	}
	if p == "" {
		return nil, &KeyError{Reason: "key revoked (empty p=)", Err: ErrKeyRevoked}
	}
	der, err := decodeBase64(p)
	if err != nil {
		return nil, err
	}

	switch k.KeyType {
	case "ed25519":
		if len(der) != ed25519.PublicKeySize {
			if _, err := x509.ParsePKIXPublicKey(der); err == nil {
				return nil, malformed("ed25519 p= is a SubjectPublicKeyInfo; RFC 8463 requires the raw 32-byte key")
			}
			return nil, malformed("ed25519 p= is %d bytes, not %d", len(der), ed25519.PublicKeySize)
		}
		k.PublicKey = ed25519.PublicKey(der)
		k.Bits = 256
		return k, nil
	default: // "rsa"
		pub, err := parseRSA(der)
		if err != nil {
			return nil, err
		}
		k.PublicKey = pub
		k.Bits = pub.N.BitLen()
		switch {
		case k.Bits > maxRSABits:
			return nil, malformed("RSA key of %d bits is over the %d-bit limit", k.Bits, maxRSABits)
		case k.Bits < minRSABits:
			return k, &KeyError{
				Reason: fmt.Sprintf("RSA key of %d bits is under the %d-bit minimum of RFC 8301", k.Bits, minRSABits),
				Err:    ErrWeakKey,
			}
		}
		return k, nil
	}
}

// tag is one tag=value pair of a tag-list, both trimmed of whitespace.
type tag struct {
	name, value string
}

// parseTagList splits an RFC 6376 §3.2 tag-list into tags, in order.
// Empty tag-specs (";;", a trailing ";") are skipped. Tag values are not
// checked here: only the tags ParseKey interprets are, so that garbage in
// an unknown tag does not invalidate a key.
func parseTagList(s string) ([]tag, error) {
	tags := make([]tag, 0, 8)
	var seen map[string]bool // used once there are too many tags to scan
	for spec := range strings.SplitSeq(s, ";") {
		name, value, ok := strings.Cut(spec, "=")
		name = trimFWS(name)
		if !ok {
			if name == "" {
				continue
			}
			return nil, malformed("tag %s has no \"=\"", quoteShort(name))
		}
		if !validTagName(name) {
			return nil, malformed("invalid tag name %s", quoteShort(name))
		}
		if isDuplicate(tags, &seen, name) {
			return nil, malformed("duplicate tag %s", quoteShort(name))
		}
		tags = append(tags, tag{name: name, value: trimFWS(value)})
	}
	return tags, nil
}

// isDuplicate reports whether name is among tags. A real record has a
// handful of tags and a linear scan is cheapest; a hostile one can have
// thousands, so past a few tags the names go into *seen, which must hold
// every name in tags once it is non-nil.
func isDuplicate(tags []tag, seen *map[string]bool, name string) bool {
	const scanLimit = 16
	if len(tags) < scanLimit {
		for _, t := range tags {
			if t.name == name {
				return true
			}
		}
		return false
	}
	if *seen == nil {
		*seen = make(map[string]bool, 2*len(tags))
		for _, t := range tags {
			(*seen)[t.name] = true
		}
	}
	if (*seen)[name] {
		return true
	}
	(*seen)[name] = true
	return false
}

// validTagName reports whether s matches tag-name = ALPHA *ALNUMPUNC.
func validTagName(s string) bool {
	if s == "" || !isAlpha(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !isAlpha(c) && !isDigit(c) && c != '_' {
			return false
		}
	}
	return true
}

// parseList splits a colon-separated tag value (h=, s=, t=) into
// lower-case items, trimming whitespace around each. Every item must be
// non-empty and free of inner whitespace.
func parseList(tagName, value string) ([]string, error) {
	items := strings.Split(value, ":")
	for i, item := range items {
		item = trimFWS(item)
		if item == "" || strings.ContainsAny(item, fws) {
			return nil, malformed("invalid %s= list %s", tagName, quoteShort(value))
		}
		items[i] = strings.ToLower(item)
	}
	return items, nil
}

// decodeBase64 decodes a p= value, ignoring whitespace and tolerating
// missing padding.
func decodeBase64(s string) ([]byte, error) {
	if strings.ContainsAny(s, fws) {
		s = strings.Map(func(r rune) rune {
			if strings.ContainsRune(fws, r) {
				return -1
			}
			return r
		}, s)
	}
	s = strings.TrimRight(s, "=")
	der, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		return nil, malformed("p= is not valid base64")
	}
	return der, nil
}

// parseRSA decodes an RSA public key given as a SubjectPublicKeyInfo or as
// a PKCS #1 RSAPublicKey.
func parseRSA(der []byte) (*rsa.PublicKey, error) {
	pub, spkiErr := x509.ParsePKIXPublicKey(der)
	if spkiErr == nil {
		rsaPub, ok := pub.(*rsa.PublicKey)
		if !ok {
			return nil, malformed("k=rsa but p= holds a %s key", keyKind(pub))
		}
		return rsaPub, nil
	}
	rsaPub, err := x509.ParsePKCS1PublicKey(der)
	if err != nil {
		return nil, malformed("p= is neither a SubjectPublicKeyInfo nor a PKCS #1 RSA public key")
	}
	return rsaPub, nil
}

// fws holds the characters of folding white space (RFC 5322 FWS: WSP and
// CRLF). DNS TXT data has no folding, but records pasted from DKIM-Signature
// headers and zone files sometimes keep it.
const fws = " \t\r\n"

func trimFWS(s string) string { return strings.Trim(s, fws) }

func isAlpha(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// malformed returns a *KeyError wrapping ErrMalformedKey.
func malformed(format string, args ...any) *KeyError {
	return &KeyError{
		Reason: "malformed key record: " + fmt.Sprintf(format, args...),
		Err:    ErrMalformedKey,
	}
}

// quoteShort quotes s for an error message, cutting it to a readable
// length: records are untrusted and may be kilobytes long.
func quoteShort(s string) string {
	const limit = 40
	if len(s) > limit {
		return fmt.Sprintf("%q...", s[:limit])
	}
	return fmt.Sprintf("%q", s)
}
