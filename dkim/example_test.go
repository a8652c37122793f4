package dkim_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/maildns/maildns/dkim"
)

// staticTXT is an in-memory dkim.TXTResolver for the examples: it maps
// names (without the final dot) to their TXT records, and answers
// NXDOMAIN for other names, as *net.Resolver would.
type staticTXT map[string][]string

func (s staticTXT) LookupTXT(_ context.Context, name string) ([]string, error) {
	if records, ok := s[strings.TrimSuffix(name, ".")]; ok {
		return records, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func ExampleParseKey() {
	// The Ed25519 key record of RFC 8463, Appendix A.
	key, err := dkim.ParseKey("v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(key.KeyType, key.Bits, key.Testing)

	_, err = dkim.ParseKey("v=DKIM1; k=rsa; p=")
	fmt.Println(errors.Is(err, dkim.ErrKeyRevoked), err)
	// Output:
	// ed25519 256 false
	// true dkim: key revoked (empty p=)
}

func ExampleLookupKey() {
	r := staticTXT{
		"brisbane._domainkey.football.example.com": {
			"v=spf1 -all", // not a key record: ignored
			"v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
		},
	}
	ctx := context.Background()

	key, err := dkim.LookupKey(ctx, r, "brisbane", "football.example.com")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(key.KeyType, key.Bits)

	_, err = dkim.LookupKey(ctx, r, "sydney", "football.example.com")
	fmt.Println(errors.Is(err, dkim.ErrNoKey), dkim.IsTemporary(err))
	// Output:
	// ed25519 256
	// true false
}

func ExampleCheckSigner() {
	// The signing key of RFC 8463, Appendix A; a real sender loads its own.
	seed, _ := base64.StdEncoding.DecodeString("nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=")
	signer := ed25519.NewKeyFromSeed(seed)
	ctx := context.Background()

	r := staticTXT{
		"brisbane._domainkey.football.example.com": {"v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="},
		"testing._domainkey.football.example.com":  {"v=DKIM1; k=ed25519; t=y; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="},
	}
	for _, selector := range []string{"brisbane", "testing", "missing"} {
		err := dkim.CheckSigner(ctx, r, selector, "football.example.com", signer)
		var ce *dkim.CheckError
		switch {
		case err == nil:
			fmt.Println(selector, "ok")
		case errors.As(err, &ce) && ce.Reason == dkim.ReasonTesting:
			fmt.Println(selector, "is still in testing mode")
		default:
			fmt.Println(err)
		}
	}
	// Output:
	// brisbane ok
	// testing is still in testing mode
	// dkim: missing._domainkey.football.example.com: no usable key: no key record: lookup missing._domainkey.football.example.com.: no such host
}

// A DKIM verifier such as go-msgauth takes a plain lookup function in its
// options; LookupTXTFunc lets it query through a dkim.TXTResolver (this
// module's caching resolver, or *net.Resolver). With go-msgauth's dkim
// package imported as dkim and this one as maildkim, a verifier would use:
//
//	opts := &dkim.VerifyOptions{LookupTXT: maildkim.LookupTXTFunc(ctx, r)}
//	verifications, err := dkim.VerifyWithOptions(message, opts)
//
// Here the returned function is called directly, against an in-memory
// resolver.
func ExampleLookupTXTFunc() {
	r := staticTXT{
		"brisbane._domainkey.football.example.com": {"v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="},
	}
	lookupTXT := dkim.LookupTXTFunc(context.Background(), r)

	records, err := lookupTXT("brisbane._domainkey.football.example.com")
	fmt.Println(records, err)
	// Output:
	// [v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=] <nil>
}
