package auth

import (
	"crypto/sha256"

	lru "github.com/hashicorp/golang-lru/v2"
)

// VerifiedCacheSize is how many verified tokens each Verifier remembers (the
// least recently used is forgotten first). An entry holds the token's
// decoded claims: about 1 KiB for a typical token.
const VerifiedCacheSize = 10_000

// verified is a token whose structure and signature checked out.
type verified struct {
	claims map[string]any // decoded; read-only from here on
	keyGen uint64         // the key set generation it verified under
}

// verifiedCache remembers tokens whose structure and signature verified,
// keyed by the SHA-256 of the token, with their decoded claims: a client
// reusing its token pays for parsing and the signature check (the costly part
// of ES256 and RS256) once. Only the signature check is cached: the caller
// re-checks every claim (exp, nbf, iss, aud, rules, key prefix) on every
// request. An entry verified under an older key set generation is a miss, so
// a key rotation or removal flushes the cache; a reload builds a new
// Verifier, and with it a new cache. Safe for concurrent use.
type verifiedCache struct {
	lru *lru.Cache[[sha256.Size]byte, *verified]
}

func newVerifiedCache(size int) *verifiedCache {
	c, err := lru.New[[sha256.Size]byte, *verified](size)
	if err != nil {
		panic("auth: verified-token cache of size " + err.Error()) // size is a constant
	}
	return &verifiedCache{lru: c}
}

// get returns the entry for the token hashing to h if it verified under key
// set generation gen.
func (c *verifiedCache) get(h [sha256.Size]byte, gen uint64) (*verified, bool) {
	e, ok := c.lru.Get(h)
	if !ok {
		return nil, false
	}
	if e.keyGen != gen {
		c.lru.Remove(h)
		return nil, false
	}
	return e, true
}

func (c *verifiedCache) add(h [sha256.Size]byte, e *verified) { c.lru.Add(h, e) }

// len is the number of entries, for tests.
func (c *verifiedCache) len() int { return c.lru.Len() }
