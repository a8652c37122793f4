// Package dane checks an SMTP server's certificate chain against its
// TLSA records, as DANE for SMTP (RFC 7672) requires of a sending MTA.
//
// Only DANE-TA(2) and DANE-EE(3) records are usable for SMTP; PKIX-TA(0)
// and PKIX-EE(1) records are not (RFC 7672 §3.1.3), and a host whose TLSA
// records are all unusable gets mandatory but unauthenticated TLS. A
// DANE-EE record authenticates the server's own certificate or key,
// whatever its names and validity dates (§3.1.1); a DANE-TA record names a
// trust anchor from which the chain must verify, with the usual name and
// date checks against the reference identifiers (§3.1.2, §3.2.3).
//
// Every verification failure means: do not deliver to this host over this
// connection; try the next MX host, else defer (RFC 7672 §2.2; enhanced
// status 4.7.5). It is never a reason to fall back to unauthenticated
// TLS or to plain text.
//
// This package checks certificates; finding the records (the TLSA base
// domain, DNSSEC status) is the resolver's and the delivery plan's part.
package dane

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// TLSA record fields (RFC 6698 §2.1, RFC 7218 acronyms).
const (
	UsagePKIXTA = 0 // unusable for SMTP
	UsagePKIXEE = 1 // unusable for SMTP
	UsageDANETA = 2
	UsageDANEEE = 3

	SelectorCert = 0 // the full certificate, DER
	SelectorSPKI = 1 // its SubjectPublicKeyInfo, DER

	MatchFull   = 0 // the selected data itself
	MatchSHA256 = 1
	MatchSHA512 = 2
)

// A TLSA is the data of one TLSA record.
type TLSA struct {
	Usage        uint8
	Selector     uint8
	MatchingType uint8
	Data         []byte // certificate association data
}

// Usable reports whether the record can authenticate an SMTP server: usage
// DANE-TA or DANE-EE, with a known selector and matching type (RFC 7672
// §3.1.3, RFC 6698 §2.1).
func (t TLSA) Usable() bool {
	return (t.Usage == UsageDANETA || t.Usage == UsageDANEEE) &&
		t.Selector <= SelectorSPKI && t.MatchingType <= MatchSHA512 && len(t.Data) > 0
}

// Matches reports whether cert is the certificate (or has the public key)
// the record names, under its selector and matching type.
func (t TLSA) Matches(cert *x509.Certificate) bool {
	data, ok := association(cert, t.Selector, t.MatchingType)
	return ok && len(t.Data) > 0 && bytes.Equal(data, t.Data)
}

// association returns the certificate association data of cert for a
// selector and matching type, and false for ones it does not know.
func association(cert *x509.Certificate, selector, mtype uint8) ([]byte, bool) {
	var data []byte
	switch selector {
	case SelectorCert:
		data = cert.Raw
	case SelectorSPKI:
		data = cert.RawSubjectPublicKeyInfo
	default:
		return nil, false
	}
	switch mtype {
	case MatchFull:
	case MatchSHA256:
		h := sha256.Sum256(data)
		data = h[:]
	case MatchSHA512:
		h := sha512.Sum512(data)
		data = h[:]
	default:
		return nil, false
	}
	return data, true
}

// Errors of Verify, inside a *VerifyError.
var (
	// ErrNoUsableRecords: none of the records is usable for SMTP. The
	// host gets mandatory TLS without authentication; Verify does not
	// decide that for the caller.
	ErrNoUsableRecords = errors.New("dane: no usable TLSA records")
	// ErrNoCertificate: the server presented no certificate.
	ErrNoCertificate = errors.New("dane: no server certificate")
	// ErrMismatch: no usable record matches the chain.
	ErrMismatch = errors.New("dane: certificate chain matches no TLSA record")
)

// A VerifyError says why a chain was not authenticated. Err is one of the
// package's errors; Reasons holds, for DANE-TA records that matched a
// trust anchor, why the chain did not verify from it.
type VerifyError struct {
	Err     error
	Reasons []string
}

func (e *VerifyError) Error() string {
	if len(e.Reasons) == 0 {
		return e.Err.Error()
	}
	return e.Err.Error() + ": " + strings.Join(e.Reasons, "; ")
}

func (e *VerifyError) Unwrap() error { return e.Err }

// Verify checks chain, the server's certificates leaf first (as
// tls.ConnectionState.PeerCertificates has them), against records. names
// are the reference identifiers for DANE-TA: the TLSA base domain and the
// next-hop domain (RFC 7672 §3.2.3); a certificate for any of them passes.
// now is the time DANE-TA chains are checked at (zero: time.Now).
//
// A DANE-EE record that matches the leaf authenticates it at once. A
// DANE-TA record that matches a certificate of the chain above the leaf
// makes it the trust anchor of an X.509 verification of the leaf through
// the certificates between them.
func Verify(records []TLSA, names []string, chain []*x509.Certificate, now time.Time) error {
	var usable []TLSA
	for _, r := range records {
		if r.Usable() {
			usable = append(usable, r)
		}
	}
	if len(usable) == 0 {
		return &VerifyError{Err: ErrNoUsableRecords}
	}
	if len(chain) == 0 {
		return &VerifyError{Err: ErrNoCertificate}
	}
	leaf := chain[0]
	for _, r := range usable {
		if r.Usage == UsageDANEEE && r.Matches(leaf) {
			return nil // §3.1.1: names and dates do not matter
		}
	}
	if now.IsZero() {
		now = time.Now()
	}
	var reasons []string
	for _, r := range usable {
		if r.Usage != UsageDANETA {
			continue
		}
		for i := 1; i < len(chain); i++ {
			if !r.Matches(chain[i]) {
				continue
			}
			err := verifyFrom(chain, i, names, now)
			if err == nil {
				return nil
			}
			reasons = append(reasons, err.Error())
		}
	}
	return &VerifyError{Err: ErrMismatch, Reasons: reasons}
}

// verifyFrom verifies chain[0] up to the trust anchor chain[anchor] for
// any of names.
func verifyFrom(chain []*x509.Certificate, anchor int, names []string, now time.Time) error {
	roots := x509.NewCertPool()
	roots.AddCert(chain[anchor])
	inter := x509.NewCertPool()
	for _, c := range chain[1:anchor] {
		inter.AddCert(c)
	}
	if len(names) == 0 {
		return errors.New("no reference identifier to check the name against")
	}
	var last error
	for _, name := range names {
		_, err := chain[0].Verify(x509.VerifyOptions{
			Roots:         roots,
			Intermediates: inter,
			DNSName:       strings.TrimSuffix(name, "."),
			CurrentTime:   now,
			KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		})
		if err == nil {
			return nil
		}
		last = err
	}
	return fmt.Errorf("from the trust anchor %q: %w", chain[anchor].Subject.CommonName, last)
}

// VerifyConnection returns a function for tls.Config.VerifyConnection
// that checks the server's chain against records with Verify, for the
// reference identifiers names. Use it with InsecureSkipVerify set: DANE,
// not the system's roots, decides.
func VerifyConnection(records []TLSA, names ...string) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		return Verify(records, names, cs.PeerCertificates, time.Time{})
	}
}

// FromRR converts a TLSA record as miekg/dns holds it (the association
// data in hex). Data that is not hex is an error; the record is then
// unusable, as RFC 7672 §2.2 treats a malformed one.
func FromRR(rr *dns.TLSA) (TLSA, error) {
	data, err := hex.DecodeString(rr.Certificate)
	if err != nil {
		return TLSA{}, fmt.Errorf("dane: TLSA record %s: association data: %w", rr.Hdr.Name, err)
	}
	return TLSA{Usage: rr.Usage, Selector: rr.Selector, MatchingType: rr.MatchingType, Data: data}, nil
}
