package gateway

import (
	"crypto/rand"
	"encoding/binary"
	"sync/atomic"
)

// requestIDLen is the length of a request id: 16 uppercase hex digits, the
// shape of S3's own x-amz-request-id.
const requestIDLen = 16

var (
	// idBase makes ids differ between processes; idSeq between requests.
	idBase = func() uint64 {
		var b [8]byte
		_, _ = rand.Read(b[:])
		return binary.LittleEndian.Uint64(b[:])
	}()
	idSeq atomic.Uint64
)

// newRequestID returns a fresh id. Ids are unique within a process (a counter
// through a bijective mix, so consecutive ids look unrelated) and, with the
// random base, unlikely to repeat across processes. It does not allocate.
func newRequestID() (id [requestIDLen]byte) {
	x := idBase + idSeq.Add(1)*0x9E3779B97F4A7C15
	// splitmix64 finaliser: a bijection on uint64.
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9
	x = (x ^ (x >> 27)) * 0x94D049BB133111EB
	x ^= x >> 31
	const hex = "0123456789ABCDEF"
	for i := requestIDLen - 1; i >= 0; i-- {
		id[i] = hex[x&15]
		x >>= 4
	}
	return id
}
