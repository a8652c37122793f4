package dkim_test

// Test keys, generated once with crypto/rand and pasted here so that tests
// and fuzz seeds are reproducible. They protect nothing.

const (
	// rsa512SPKI and rsa512PKCS1 are one 512-bit RSA public key (too weak for
	// RFC 8301) as SubjectPublicKeyInfo and as PKCS #1 RSAPublicKey, base64.
	rsa512SPKI  = "MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBANQxaOOrGKNoUqDyKWKmTfzNqrsaATUzpUQUBhWiHNI+7e9UEa3HDzJ0WmI6+85we6/ZdhdnYNQ+kMiLOWzMf2MCAwEAAQ=="
	rsa512PKCS1 = "MEgCQQDUMWjjqxijaFKg8ilipk38zaq7GgE1M6VEFAYVohzSPu3vVBGtxw8ydFpiOvvOcHuv2XYXZ2DUPpDIizlszH9jAgMBAAE="

	// rsa1024SPKI and rsa1024PKCS1 are the public half of rsa1024PrivatePEM.
	rsa1024SPKI  = "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDJ4WtG3TxB4mrHRKTJMUZkQYgYxeRXoGX/Q+VaTrdWpHFPBm9nFlRbFks8R3KvWxuR6NHxvjKv/4hR9mn6Mxga9rh/MzRJ+oGYy/UVBsFVRbw7lkYwzIF5JPGTlz8shqpUsDSyn1kyBlvRwd3AihWh4z9OW87/9gcsVF8g7c+QEQIDAQAB"
	rsa1024PKCS1 = "MIGJAoGBAMnha0bdPEHiasdEpMkxRmRBiBjF5FegZf9D5VpOt1akcU8Gb2cWVFsWSzxHcq9bG5Ho0fG+Mq//iFH2afozGBr2uH8zNEn6gZjL9RUGwVVFvDuWRjDMgXkk8ZOXPyyGqlSwNLKfWTIGW9HB3cCKFaHjP05bzv/2ByxUXyDtz5ARAgMBAAE="

	// rsa2048SPKI and rsa2048PKCS1 are one 2048-bit RSA public key.
	rsa2048SPKI  = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA1BQDrXsj52a80myBfuoqnhDQayZ4HGiDuNuqFTnCWffvSNUCpw+n8k9YLW607nmv+OGh8SVq6vddeB46SnXtZ1aaRpMM4D7WHs3zUyc7tVFIKC2WZQx1y4+p9+ZxSATh2kgZfuArbfs0Q5pfIZPsU5UQri9lx4D/0sczAnwWmZiOuKnTFedJvywCIGRlJW4VigoP60ysVSJGkYdbiI2CqYw4+j4Ca5DIUwacus64lEpidr/lL0ba//QBGbXs3BsMmRF7+uMvn+sBotKXnvRu/SPZ0YDtWlNMh96vaMniA7k8xsCcW94YHwXHSAfJ5cTtoSvCHJu/Doh4LDHqQWcZewIDAQAB"
	rsa2048PKCS1 = "MIIBCgKCAQEA1BQDrXsj52a80myBfuoqnhDQayZ4HGiDuNuqFTnCWffvSNUCpw+n8k9YLW607nmv+OGh8SVq6vddeB46SnXtZ1aaRpMM4D7WHs3zUyc7tVFIKC2WZQx1y4+p9+ZxSATh2kgZfuArbfs0Q5pfIZPsU5UQri9lx4D/0sczAnwWmZiOuKnTFedJvywCIGRlJW4VigoP60ysVSJGkYdbiI2CqYw4+j4Ca5DIUwacus64lEpidr/lL0ba//QBGbXs3BsMmRF7+uMvn+sBotKXnvRu/SPZ0YDtWlNMh96vaMniA7k8xsCcW94YHwXHSAfJ5cTtoSvCHJu/Doh4LDHqQWcZewIDAQAB"

	// ed25519Pub is the raw public key of the private key with seed
	// ed25519Seed, and ed25519SPKI the same key as SubjectPublicKeyInfo (which
	// RFC 8463 does not allow in p=).
	ed25519Pub  = "2ERQ6moY6Q17tMaNZxeas5/X1UNsUWfBS5qHSU+FI14="
	ed25519Seed = "XXYrjxqZW34z26gs3nulsARMBkMwOePNQspww3bsAFY="
	ed25519SPKI = "MCowBQYDK2VwAyEA2ERQ6moY6Q17tMaNZxeas5/X1UNsUWfBS5qHSU+FI14="

	// rfc8463Seed and rfc8463Pub are the Ed25519 key of RFC 8463 Appendix A.
	rfc8463Seed = "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A="
	rfc8463Pub  = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="

	// rsa1024PrivatePEM is a 1024-bit RSA private key in PKCS #8 form.
	rsa1024PrivatePEM = `-----BEGIN PRIVATE KEY-----
MIICdwIBADANBgkqhkiG9w0BAQEFAASCAmEwggJdAgEAAoGBAMnha0bdPEHiasdE
pMkxRmRBiBjF5FegZf9D5VpOt1akcU8Gb2cWVFsWSzxHcq9bG5Ho0fG+Mq//iFH2
afozGBr2uH8zNEn6gZjL9RUGwVVFvDuWRjDMgXkk8ZOXPyyGqlSwNLKfWTIGW9HB
3cCKFaHjP05bzv/2ByxUXyDtz5ARAgMBAAECgYAM9HR+JRXSvjJvIaeidTvzaeTP
ftQm+bckkPPqSOlee78oB1LFo9Wbd8bcXNMOT4jUIu46trjJebAtiaQmMbpZlBnz
MH1wB/Bav56JiqFDSdgqHv3o2tZLp048La/Ef/fQn9g/h7Tqr/mdaVVzK/Ac6irO
4aYCyYbcX+qIbGk/nQJBAORs+ioYtJ6r4Xp+AjndqbWHw4Uzn7l0CDLMQ2SGbpOz
tDq59Ouku5m+uA+yMfOhZVYlKUK3SAKhv/ooci7eLV0CQQDiQB53O1EEir8dzvZI
M5LxxQFc5rpxHXij1M01H9EDSxSPvjwcAFM04faKb0GANqyMOelqi5N58D8iJst1
105FAkBHJf6BsDJKHeVcXvVYisd6iHAJBDxi6lZHZEI1hH3auaWQiS1VXHkmeTYh
hXJznTjQLUD9y9K9Jx6Bz6lJGeDtAkEAtPMxKo0PRAGvzqhbAu30pVa5u1JxZMx8
UxN8N/PFV8vxmvE74+1CnvXmF1vZ2DBiGhirHWKaRZkm9Spv6USUvQJBAMv2JxqH
j37YxRURUcGrcRIkPgavoOWMBONZBgYv5Rq/WNebxCBRA04hWkvo7xK5LCpw/FPE
z5X1vHijr6aysGs=
-----END PRIVATE KEY-----
`
)
