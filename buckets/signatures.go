package buckets

import (
	"hash/maphash"
	"sync/atomic"
)

// A signature is a pure function of the derived key and the canonical
// request, and the canonical request names its second (x-amz-date): every
// request for a hot object within one second signs the same bytes. signatures
// remembers recent ones so that such a request costs a hash and a compare
// instead of two SHA-256 passes and an HMAC (about 0.9 µs of a 1.4 µs
// signing).
//
// It is a direct-mapped table: a canonical request has one slot, chosen by a
// seeded hash. A hit compares the whole canonical request and the derived
// key's id, so it never answers for different input. A slot is taken over
// only when its entry is from an earlier second (or it is empty), so a
// workload that never repeats makes at most one entry per slot per second,
// and within a second the first request to a slot keeps it. Entries are
// immutable and reached through atomic pointers: lookups take no lock and
// share no written cache line, so cores serving the same hot object do not
// contend.
//
// One table serves every bucket's signer in the process (sharedSignatures),
// so what it holds does not grow with the number of buckets: at most
// signatureSlots entries of at most maxRememberedCanon + a few hundred bytes.
// The derived key's id keeps the buckets apart (each signer derives its own
// key, and every key gets a new id); entries hold the id, not the key, so the
// table keeps no credentials alive.
//
// The zero value is not usable (its seed is zero); use newSignatures. Safe
// for concurrent use.
type signatures struct {
	seed  maphash.Seed
	slots [signatureSlots]atomic.Pointer[signature]
}

// signatureSlots is the table's size: distinct hot requests within one
// second, across all buckets, that it can answer at once. At most this many
// entries of at most maxRememberedCanon + the Authorization value (a few
// hundred bytes) each are held: about 400 KiB with allocation overhead.
const signatureSlots = 256

// sharedSignatures is the process's table, used by every signer newSigV4
// makes.
var sharedSignatures = newSignatures()

// newSignatures returns an empty table with a fresh seed.
func newSignatures() *signatures { return &signatures{seed: maphash.MakeSeed()} }

// maxRememberedCanon bounds the canonical requests remembered: longer ones
// (long keys or queries) are signed every time.
const maxRememberedCanon = 1024

// signature is one remembered signing: buf holds the canonical request, then
// the Authorization value. Never modified once published.
type signature struct {
	keyID uint64   // the signingKey's id: the day, the credentials and the region's derived key
	stamp [16]byte // the x-amz-date it was made for
	split int      // buf[:split] is the canonical request
	buf   []byte
}

func (e *signature) canon() []byte { return e.buf[:e.split] }
func (e *signature) auth() []byte  { return e.buf[e.split:] }

// slot returns the slot of the canonical request canon.
func (s *signatures) slot(canon []byte) *atomic.Pointer[signature] {
	return &s.slots[maphash.Bytes(s.seed, canon)%signatureSlots]
}

// remember stores the signing of canon (at stamp, under the key numbered
// keyID) as auth in slot, unless the slot holds an entry of the same second
// or canon is too long. It copies canon and auth.
func (s *signatures) remember(slot *atomic.Pointer[signature], keyID uint64, stamp [16]byte, canon, auth []byte) {
	if len(canon) > maxRememberedCanon {
		return
	}
	if e := slot.Load(); e != nil && e.stamp == stamp {
		return
	}
	buf := make([]byte, 0, len(canon)+len(auth))
	buf = append(buf, canon...)
	buf = append(buf, auth...)
	slot.Store(&signature{keyID: keyID, stamp: stamp, split: len(canon), buf: buf})
}
