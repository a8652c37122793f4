package main

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/maildns/maildns/dkim"
	"github.com/maildns/maildns/spf"
)

// identity is what the pre-flight checks check: the sender's MAIL FROM,
// HELO name and sending address for SPF, and its DKIM selector and
// signing key. Zero fields switch the check that needs them off.
type identity struct {
	From     string        // MAIL FROM address
	Helo     string        // HELO name; "" means the domain of From
	IP       netip.Addr    // the sending address
	Selector string        // DKIM selector in the domain of From
	Signer   crypto.Signer // the DKIM signing key
}

// domain returns the domain of the MAIL FROM address.
func (id identity) domain() string {
	d := id.From
	if at := strings.LastIndexByte(d, '@'); at >= 0 {
		d = d[at+1:]
	}
	return strings.TrimSuffix(d, ".")
}

// A check is the result of one pre-flight check.
type check struct {
	Name    string // "spf" or "dkim"
	Skipped bool   // not run: the identity lacks what it needs
	OK      bool
	Line    string // what to print, without the "pre-flight: " prefix
}

// preflight runs the SPF and DKIM checks of id through r, each bounded by
// timeout. The DNS answers come through the same resolver as the
// deliveries, so its cache and counters include them.
func preflight(ctx context.Context, r interface {
	spf.Resolver
	dkim.TXTResolver
}, id identity, timeout time.Duration) []check {
	return []check{checkSPF(ctx, r, id, timeout), checkDKIM(ctx, r, id, timeout)}
}

// checkSPF asks whether the domain of id.From authorizes id.IP.
func checkSPF(ctx context.Context, r spf.Resolver, id identity, timeout time.Duration) check {
	c := check{Name: "spf"}
	if id.From == "" || !id.IP.IsValid() {
		c.Skipped = true
		c.Line = "SPF skipped: needs -from and -ip"
		return c
	}
	helo := id.Helo
	if helo == "" {
		helo = id.domain()
	}
	checker := &spf.Checker{Resolver: r, Timeout: timeout}
	v := checker.Check(ctx, id.IP, helo, id.From)
	c.OK = v.Result == spf.Pass
	var b strings.Builder
	if c.OK {
		fmt.Fprintf(&b, "SPF pass: %s may send for %s", id.IP, v.Domain)
	} else {
		fmt.Fprintf(&b, "SPF FAILED: %s for %s sending as %s", v.Result, id.IP, id.From)
	}
	if v.Mechanism != "" {
		fmt.Fprintf(&b, " (mechanism %q)", v.Mechanism)
	}
	if v.Explanation != "" {
		fmt.Fprintf(&b, ": %s", v.Explanation)
	}
	if v.Err != nil {
		fmt.Fprintf(&b, ": %v", v.Err)
	}
	c.Line = b.String()
	return c
}

// checkDKIM asks whether the key published for id.Selector is the key
// id.Signer signs with.
func checkDKIM(ctx context.Context, r dkim.TXTResolver, id identity, timeout time.Duration) check {
	c := check{Name: "dkim"}
	if id.From == "" || id.Selector == "" || id.Signer == nil {
		c.Skipped = true
		c.Line = "DKIM skipped: needs -from, -selector and -dkim-key"
		return c
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	name := id.Selector + "._domainkey." + id.domain()
	err := dkim.CheckSigner(ctx, r, id.Selector, id.domain(), id.Signer)
	if err == nil {
		c.OK = true
		c.Line = fmt.Sprintf("DKIM ok: %s publishes the %s key we sign with", name, keyType(id.Signer))
		return c
	}
	c.Line = "DKIM FAILED: " + err.Error()
	if dkim.IsTemporary(err) {
		c.Line += " (temporary: try again later)"
	}
	return c
}

// keyType names the type of a signer's key.
func keyType(s crypto.Signer) string {
	switch k := s.Public().(type) {
	case ed25519.PublicKey:
		return "ed25519"
	case *rsa.PublicKey:
		return fmt.Sprintf("rsa-%d", k.N.BitLen())
	}
	return fmt.Sprintf("%T", s.Public())
}

// loadSigner reads a PEM private key: PKCS #8 (RSA or Ed25519) or PKCS #1
// RSA.
func loadSigner(file string) (crypto.Signer, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM block", file)
	}
	var key any
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("%s: PEM block %q is not a private key", file, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	}
	return nil, errors.New(file + ": not an RSA or Ed25519 key")
}
