// Package interop holds end-to-end tests of maildns with third-party mail
// libraries that take a net.Resolver-compatible resolver or a TXT lookup
// function: github.com/emersion/go-msgauth (DKIM verification, DMARC
// records) and blitiri.com.ar/go/spf. Each outcome through maildns is
// compared with the outcome through *net.Resolver on the same dnstest
// server. It has no code of its own.
package interop
