package dane_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"log"
	"math/big"
	"time"

	"github.com/maildns/maildns/dane"
)

func ExampleVerify() {
	// A server's self-signed certificate, and the DANE-EE record that
	// publishes the SHA-256 of its public key ("3 1 1").
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mx.example.com"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		log.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	h := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	records := []dane.TLSA{{Usage: dane.UsageDANEEE, Selector: dane.SelectorSPKI, MatchingType: dane.MatchSHA256, Data: h[:]}}

	err = dane.Verify(records, []string{"mx.example.com"}, []*x509.Certificate{cert}, time.Time{})
	fmt.Println("matching key:", err)

	h[0] ^= 1
	err = dane.Verify(records, []string{"mx.example.com"}, []*x509.Certificate{cert}, time.Time{})
	fmt.Println("other key:", err)
	// Output:
	// matching key: <nil>
	// other key: dane: certificate chain matches no TLSA record
}
