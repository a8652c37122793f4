package dane

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

var testNow = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

// issued is a certificate and its key.
type issued struct {
	cert *x509.Certificate
	key  crypto.Signer
}

var serial int64

// newCert returns a certificate for name (a CA if ca), signed by parent
// (self-signed if nil), valid from notBefore to notAfter.
func newCert(t *testing.T, name string, ca bool, parent *issued, notBefore, notAfter time.Time) *issued {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if ca {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
		tmpl.ExtKeyUsage = nil
	} else {
		tmpl.DNSNames = []string{name}
	}
	signerCert, signerKey := tmpl, crypto.Signer(key)
	if parent != nil {
		signerCert, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signerCert, key.Public(), signerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &issued{cert, key}
}

// record returns the TLSA record of usage, selector and matching type
// for cert.
func record(usage, selector, mtype uint8, cert *x509.Certificate) TLSA {
	data, _ := association(cert, selector, mtype)
	return TLSA{usage, selector, mtype, data}
}

func TestVerify(t *testing.T) {
	year := func(n int) time.Time { return testNow.AddDate(n, 0, 0) }
	root := newCert(t, "Root CA", true, nil, year(-5), year(5))
	inter := newCert(t, "Intermediate CA", true, root, year(-2), year(2))
	leaf := newCert(t, "mx.example.com", false, inter, year(-1), year(1))
	direct := newCert(t, "mx.example.com", false, root, year(-1), year(1))
	expired := newCert(t, "mx.example.com", false, inter, year(-3), year(-2))
	selfExpired := newCert(t, "wrong.example.org", false, nil, year(-3), year(-2))
	other := newCert(t, "mx.example.com", false, nil, year(-1), year(1))
	chain := []*x509.Certificate{leaf.cert, inter.cert, root.cert}
	names := []string{"mx.example.com.", "example.com"}

	for _, c := range []struct {
		name    string
		records []TLSA
		names   []string
		chain   []*x509.Certificate
		want    error
	}{
		{"EE SPKI SHA-256", []TLSA{record(3, 1, 1, leaf.cert)}, names, chain, nil},
		{"EE cert SHA-512", []TLSA{record(3, 0, 2, leaf.cert)}, names, chain, nil},
		{"EE cert full", []TLSA{record(3, 0, 0, leaf.cert)}, names, chain, nil},
		{"EE ignores names and dates", []TLSA{record(3, 1, 1, selfExpired.cert)}, names, []*x509.Certificate{selfExpired.cert}, nil},
		{"EE of another key", []TLSA{record(3, 1, 1, other.cert)}, names, chain, ErrMismatch},
		{"EE record of a CA does not match the leaf", []TLSA{record(3, 1, 1, inter.cert)}, names, chain, ErrMismatch},
		{"TA root SPKI", []TLSA{record(2, 1, 1, root.cert)}, names, chain, nil},
		{"TA intermediate cert", []TLSA{record(2, 0, 1, inter.cert)}, names, chain, nil},
		{"TA root, leaf signed directly", []TLSA{record(2, 0, 2, root.cert)}, names, []*x509.Certificate{direct.cert, root.cert}, nil},
		{"TA checks the name", []TLSA{record(2, 1, 1, root.cert)}, []string{"other.example.net"}, chain, ErrMismatch},
		{"TA checks the dates", []TLSA{record(2, 1, 1, inter.cert)}, names, []*x509.Certificate{expired.cert, inter.cert}, ErrMismatch},
		{"TA not in the chain", []TLSA{record(2, 1, 1, other.cert)}, names, chain, ErrMismatch},
		{"TA record matching the leaf only", []TLSA{record(2, 1, 1, leaf.cert)}, names, chain, ErrMismatch},
		{"one of several records", []TLSA{record(3, 1, 1, other.cert), record(2, 1, 1, root.cert)}, names, chain, nil},
		{"unusable only", []TLSA{record(1, 1, 1, leaf.cert), record(0, 1, 1, root.cert)}, names, chain, ErrNoUsableRecords},
		{"unknown matching type", []TLSA{{3, 1, 7, []byte{1}}}, names, chain, ErrNoUsableRecords},
		{"no certificate", []TLSA{record(3, 1, 1, leaf.cert)}, names, nil, ErrNoCertificate},
	} {
		err := Verify(c.records, c.names, c.chain, testNow)
		if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
		var ve *VerifyError
		if err != nil && !errors.As(err, &ve) {
			t.Errorf("%s: %T, want *VerifyError", c.name, err)
		}
	}
	// The association data computed independently of the code under test.
	h512 := sha512.Sum512(leaf.cert.Raw)
	h256 := sha256.Sum256(root.cert.RawSubjectPublicKeyInfo)
	for _, rec := range []TLSA{{3, 0, 2, h512[:]}, {2, 1, 1, h256[:]}} {
		if err := Verify([]TLSA{rec}, names, chain, testNow); err != nil {
			t.Errorf("%d %d %d from an independent digest: %v", rec.Usage, rec.Selector, rec.MatchingType, err)
		}
	}
	// A failed DANE-TA check says which check failed.
	err := Verify([]TLSA{record(2, 1, 1, root.cert)}, []string{"other.example.net"}, chain, testNow)
	if err == nil || !strings.Contains(err.Error(), "Root CA") || !strings.Contains(err.Error(), "other.example.net") {
		t.Errorf("wrong-name error %q does not name the anchor and the name", err)
	}
}

// TestVerifyConnection runs a TLS handshake on loopback whose client
// authenticates the server with DANE alone.
func TestVerifyConnection(t *testing.T) {
	now := time.Now()
	ca := newCert(t, "Test CA", true, nil, now.Add(-time.Hour), now.Add(time.Hour))
	leaf := newCert(t, "mx.example.com", false, ca, now.Add(-time.Hour), now.Add(time.Hour))
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{{
		Certificate: [][]byte{leaf.cert.Raw, ca.cert.Raw}, PrivateKey: leaf.key,
	}}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	dial := func(records []TLSA) error {
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		c := tls.Client(conn, &tls.Config{
			ServerName: "mx.example.com", InsecureSkipVerify: true,
			VerifyConnection: VerifyConnection(records, "mx.example.com", "example.com"),
		})
		return c.Handshake()
	}
	if err := dial([]TLSA{record(2, 1, 1, ca.cert)}); err != nil {
		t.Errorf("DANE-TA: %v", err)
	}
	if err := dial([]TLSA{record(3, 1, 1, leaf.cert)}); err != nil {
		t.Errorf("DANE-EE: %v", err)
	}
	other := newCert(t, "mx.example.com", false, nil, now.Add(-time.Hour), now.Add(time.Hour))
	if err := dial([]TLSA{record(3, 1, 1, other.cert)}); !errors.Is(err, ErrMismatch) {
		t.Errorf("mismatch: %v, want ErrMismatch", err)
	}
}

func TestFromRR(t *testing.T) {
	rr, err := dns.NewRR("_25._tcp.mx.example.com. 300 IN TLSA 3 1 1 0102ABcd")
	if err != nil {
		t.Fatal(err)
	}
	got, err := FromRR(rr.(*dns.TLSA))
	if err != nil || got.Usage != 3 || got.Selector != 1 || got.MatchingType != 1 || string(got.Data) != "\x01\x02\xab\xcd" {
		t.Errorf("FromRR: %+v, %v", got, err)
	}
	if _, err := FromRR(&dns.TLSA{Certificate: "xyz"}); err == nil {
		t.Error("FromRR accepted data that is not hex")
	}
}

// FuzzFromRR feeds TLSA records off the wire: no panic, and Verify of
// whatever comes out is an error or nil, never a panic.
func FuzzFromRR(f *testing.F) {
	f.Add([]byte{3, 1, 1, 0xde, 0xad})
	f.Add([]byte{2, 0, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, rdata []byte) {
		msg := []byte{0, 0, 52, 0, 1, 0, 0, 0, 0, byte(len(rdata) >> 8), byte(len(rdata))}
		msg = append(msg, rdata...)
		rr, _, err := dns.UnpackRR(msg, 0)
		if err != nil {
			return
		}
		tlsa, ok := rr.(*dns.TLSA)
		if !ok {
			return
		}
		r, err := FromRR(tlsa)
		if err != nil {
			return
		}
		Verify([]TLSA{r}, []string{"mx.example.com"}, nil, time.Time{})
	})
}
