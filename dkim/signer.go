package dkim

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"
	"strings"
)

// CheckSigner checks that the key record of selector in domain is one that
// verifiers will accept for signatures made with signer: it runs
// [LookupKey] and then compares the published key with signer.Public().
//
// A sender should call it at start-up for every (selector, domain, key) it
// is configured with. It returns nil when the record is usable, and
// otherwise a *[CheckError] whose Reason is, in the order checked:
//
//   - [ReasonNoUsableKey]: the lookup or the record failed (missing,
//     revoked, malformed, invalid names, or a temporary failure: see
//     [IsTemporary]); Err is the *KeyError from LookupKey.
//   - [ReasonMismatch]: the published key differs from the signer's, or the
//     signer is nil or holds neither an RSA nor an Ed25519 key (checked
//     before any query).
//   - [ReasonWeakKey]: an RSA key under 1024 bits (RFC 8301).
//   - [ReasonHashExcluded]: h= is present and lacks sha256, the hash of
//     both rsa-sha256 and ed25519-sha256 (RFC 8301, RFC 8463).
//   - [ReasonTesting]: t=y; verifiers may treat the signatures as absent.
//
// CheckSigner never calls signer.Sign, so it is cheap and safe with remote
// signers (HSM, KMS); it proves that the published key is the key the
// signer claims, not that the signer can sign. RSA keys of 1024 to 2047
// bits pass, although RFC 8301 says signers SHOULD use 2048 bits or more,
// and so do keys over 4096 bits, which RFC 8301 does not require verifiers
// to handle. t=s (Key.Strict) passes too: it only constrains the i= tag of
// each signature, which is the signer's to set.
//
// CheckSigner is safe for simultaneous use by multiple goroutines if r and
// signer are.
func CheckSigner(ctx context.Context, r TXTResolver, selector, domain string, signer crypto.Signer) error {
	name, nameErr := keyName(selector, domain)
	if nameErr != nil {
		return &CheckError{Name: nameErr.Name, Reason: ReasonNoUsableKey, Err: nameErr}
	}
	pub, why := signerPublicKey(signer)
	if why != "" {
		return &CheckError{Name: name, Reason: ReasonMismatch, Detail: why}
	}

	key, err := LookupKey(ctx, r, selector, domain)
	if err != nil && !errors.Is(err, ErrWeakKey) {
		return &CheckError{Name: name, Reason: ReasonNoUsableKey, Err: err}
	}
	if !pub.Equal(key.PublicKey) {
		return &CheckError{Name: name, Reason: ReasonMismatch, Detail: mismatchDetail(key, pub)}
	}
	if err != nil { // ErrWeakKey
		return &CheckError{Name: name, Reason: ReasonWeakKey, Err: err}
	}
	if key.HashAlgorithms != nil && !contains(key.HashAlgorithms, "sha256") {
		return &CheckError{
			Name:   name,
			Reason: ReasonHashExcluded,
			Detail: "h=" + strings.Join(key.HashAlgorithms, ":"),
		}
	}
	if key.Testing {
		return &CheckError{Name: name, Reason: ReasonTesting}
	}
	return nil
}

// publicKey is what *rsa.PublicKey and ed25519.PublicKey have in common.
type publicKey interface {
	Equal(crypto.PublicKey) bool
}

// signerPublicKey returns signer's public key if it is an RSA or Ed25519
// key, or says why not.
func signerPublicKey(signer crypto.Signer) (publicKey, string) {
	if signer == nil {
		return nil, "signer is nil"
	}
	switch pub := signer.Public().(type) {
	case *rsa.PublicKey:
		if pub == nil || pub.N == nil {
			return nil, "signer has an empty RSA public key"
		}
		return pub, ""
	case ed25519.PublicKey:
		return pub, ""
	case *ed25519.PublicKey:
		if pub == nil {
			return nil, "signer has a nil Ed25519 public key"
		}
		return *pub, ""
	case nil:
		return nil, "signer has no public key"
	default:
		return nil, fmt.Sprintf("signer has a %s key; DKIM keys are rsa or ed25519", keyKind(pub))
	}
}

// mismatchDetail describes how the published key and the signer's differ.
func mismatchDetail(key *Key, pub publicKey) string {
	kind, bits := keyKind(pub), 256
	if rsaPub, ok := pub.(*rsa.PublicKey); ok {
		bits = rsaPub.N.BitLen()
	}
	if kind == key.KeyType && bits == key.Bits {
		return fmt.Sprintf("both %s %d-bit, different keys", kind, bits)
	}
	return fmt.Sprintf("published %s %d-bit, signer %s %d-bit", key.KeyType, key.Bits, kind, bits)
}

// keyKind names the type of a public key for messages: "rsa", "ed25519",
// "ecdsa", or the Go type.
func keyKind(pub any) string {
	switch pub.(type) {
	case *rsa.PublicKey:
		return "rsa"
	case ed25519.PublicKey, *ed25519.PublicKey:
		return "ed25519"
	case *ecdsa.PublicKey:
		return "ecdsa"
	}
	return fmt.Sprintf("%T", pub)
}
