// Package actors is yatagarasu's protoactor glue: the supervision tree that
// owns each bucket's lifecycle and decisions. The root spawns one bucket
// supervisor per configured bucket and re-creates one that dies; each bucket
// supervisor samples its bucket's outcome counters on a tick, decides the
// bucket's state and publishes it (buckets.Bucket.Publish), and supervises its
// own children (the credential refresher).
//
// Actors own decisions, not bytes: no message is sent on a request's success
// path. The hot path reads what the supervisor published and reaches it only
// on edges (buckets.Events), with one Send.
package actors
