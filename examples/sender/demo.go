package main

import (
	"crypto/ed25519"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"fmt"

	"github.com/miekg/dns"

	"github.com/maildns/maildns/dnstest"
)

// demoZone is served by the in-process DNS server of demo mode.
//
//go:embed demo.zone
var demoZone string

// demoRecipients is the recipient list of demo mode when no -recipients
// is given.
//
//go:embed demo-recipients.txt
var demoRecipients string

// The sender identity of demo mode, matching demo.zone: SPF authorizes
// demoIP for demoFrom's domain, and the DKIM key of demoSelector is
// published by startDemo.
const (
	demoFrom     = "bounces@sender.example"
	demoIP       = "192.0.2.25"
	demoSelector = "demo"
	demoDomain   = "sender.example"
)

// demoKeySeed is the seed of the demo DKIM key. A fixed seed makes the key
// the same on every run, so the published record is stable.
const demoKeySeed = "maildns examples/sender demo DKIM key"

// Names for which the demo server misbehaves, as their DNS does in real
// life now and then.
const (
	demoServfail = "broken.example." // every query answered SERVFAIL
	demoSilent   = "slow.example."   // no answer at all: timeouts
	demoSigned   = "secure.example." // answered as DNSSEC-validated
)

// demoKey returns the demo DKIM signing key, derived from demoKeySeed.
func demoKey() ed25519.PrivateKey {
	seed := sha256.Sum256([]byte(demoKeySeed))
	return ed25519.NewKeyFromSeed(seed[:])
}

// dkimRecord returns the text of a DKIM key record (RFC 6376 §3.6.1,
// RFC 8463) publishing pub.
func dkimRecord(pub ed25519.PublicKey) string {
	return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)
}

// startDemo starts the loopback DNS server of demo mode: the bundled zone,
// the DKIM record of key published at demoSelector, and the faults of the
// broken domains. The caller must Close it.
func startDemo(key ed25519.PrivateKey) (*dnstest.Server, error) {
	srv, err := dnstest.Start(demoZone)
	if err != nil {
		return nil, fmt.Errorf("demo zone: %w", err)
	}
	txt := &dns.TXT{
		Hdr: dns.RR_Header{Name: demoSelector + "._domainkey." + demoDomain + ".", Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 300},
		Txt: []string{dkimRecord(key.Public().(ed25519.PublicKey))},
	}
	if err := srv.AddRecords(txt.String()); err != nil {
		srv.Close()
		return nil, fmt.Errorf("demo DKIM record: %w", err)
	}
	srv.SetAuthenticated(demoSigned)
	srv.SetFault(demoServfail, dnstest.Fault{Rcode: dns.RcodeServerFailure})
	srv.SetFault(demoSilent, dnstest.Fault{Drop: true})
	return srv, nil
}
