// Package gateway is HTTP in, S3 out: the fasthttp server, routing a request
// to its bucket, the built-in endpoints (/health, /ready, /metrics), streaming
// the upstream response back, and S3-style XML errors. Every error a client
// sees is mapped in one place (errors.go) and carries a request id.
//
// The gateway never talks to actors: it reads the routing table and each
// bucket's published Snapshot, and records outcomes in the bucket's counters.
package gateway
