// Package buckets holds per-bucket policy as plain synchronous Go: routing a
// request path to its bucket, the upstream HTTP client and its pool, SigV4
// signing, the request and header allow-lists, outcome counters, and the
// snapshot of the bucket's state that its supervisor publishes.
//
// Nothing here starts goroutines or knows about actors. The hot path reads a
// bucket's published Snapshot with one atomic load and records outcomes in
// atomic counters; the owner (the bucket supervisor actor in package actors)
// samples those counters on a tick, decides the bucket's state and publishes a
// new Snapshot. The rare edges that must not wait for a tick reach the owner
// through the Events interface, which the actor side implements with a Send.
package buckets
