package main

import (
	"fmt"
	"slices"
	"strings"
)

// Profiles: variants of the yatagarasu configuration measured as separate
// targets, so the cost of a feature (access log, JWT auth, limits, ...)
// shows up as its own row next to the plain proxy.

// profile is a named addition to the generated yatagarasu config.
type profile struct {
	Name string `json:"name"`
	Doc  string `json:"doc"`
	// TOML is appended verbatim after the base config (see yatagarasuConfig),
	// which ends inside [buckets.s3] of the only bucket: keys before the
	// first table header land in [buckets.s3]; then come tables, e.g.
	// "[buckets.auth]" for the bucket or "[log]" (top-level tables may
	// follow the bucket in TOML).
	TOML string `json:"toml,omitempty"`
	// Server holds keys added to the config's [server] table (no header),
	// e.g. "request_timeout = \"30s\"", optionally followed by [server.*]
	// sub-tables ("[server.rate_limit.global]"): the base config goes on
	// with [admin] and [[buckets]], so nothing after them is misplaced.
	Server string `json:"server_toml,omitempty"`
	// Headers are sent with every load request, "Name: value", e.g. a
	// bearer token for an auth profile.
	Headers []string `json:"headers,omitempty"`
	// Auth, when set, is the JWT algorithm of an auth profile (authHS256,
	// authES256). Its key, the [buckets.auth] table and the token header
	// are made per run (withAuth, auth.go) and then appear in TOML and
	// Headers like any other profile's.
	Auth string `json:"auth,omitempty"`
}

// profilePublic is the plain proxy's profile: its target is named
// "yatagarasu", the others "yatagarasu:<profile>".
const profilePublic = "public"

// The config profiles measured by default (-profiles) in the 1 KiB
// scenarios.
const defaultProfiles = "public,noaccesslog,keepbuffers,limits,auth-hs256,auth-es256"

// profiles are the known profiles, in -profiles order of preference.
var profiles = []profile{
	{Name: profilePublic, Doc: "anonymous GETs of a public bucket; no extra config (the access log is on: its default)"},
	{Name: "noaccesslog", Doc: "public with the access log off ([log] access = false): the difference to public is what the log costs",
		TOML: "[log]\naccess = false\n"},
	{Name: "keepbuffers", Doc: "public with release_idle_buffers = false: idle keep-alive connections keep their buffers (no 8-byte allocation per request; more memory per idle connection, see idle10k)",
		Server: "release_idle_buffers = false"},
	{Name: "limits", Doc: "every admission check configured, none tripping: server and bucket concurrency caps, global, per-IP and bucket rate limits, the circuit breaker at its defaults written out",
		Server: limitsServerTOML, TOML: limitsBucketTOML},
	{Name: "auth-hs256", Doc: "limits plus JWT auth: HS256, a bearer token on every request (one token, reused)",
		Server: limitsServerTOML, TOML: limitsBucketTOML, Auth: authHS256},
	{Name: "auth-es256", Doc: "limits plus JWT auth: ES256 (P-256 public key file made for the run), a bearer token on every request (one token, reused)",
		Server: limitsServerTOML, TOML: limitsBucketTOML, Auth: authES256},
	// The resilience scenarios' profiles. Every value is the proxy's
	// default, written out so that results.json says what was measured and
	// a change of default does not silently change the measurement.
	{Name: resilienceProfile, Doc: "retries, retry budget, circuit breaker and request timeout spelled out at their defaults",
		Server: `request_timeout = "30s"`, TOML: resilienceTOML(true)},
	{Name: resilienceNoBreakerProfile, Doc: "the resilience profile with the circuit breaker off: retries and their budget alone",
		Server: `request_timeout = "30s"`, TOML: resilienceTOML(false)},
}

// The limits of the limits profile: configured, and far above anything the
// load reaches, so every request passes every check.
const (
	limitsServerConcurrent = 10000
	limitsBucketConcurrent = 5000
	limitsRate             = 10_000_000 // requests per second, and the burst
)

// limitsServerTOML is the [server] part of the limits profile: the
// server-wide concurrency cap and the global and per-IP rate limits.
var limitsServerTOML = fmt.Sprintf(`max_concurrent_requests = %[1]d

[server.rate_limit]
enabled = true

[server.rate_limit.global]
requests_per_second = %[2]d
burst = %[2]d

[server.rate_limit.per_ip]
requests_per_second = %[2]d
burst = %[2]d
max_tracked_ips = 100000
`, limitsServerConcurrent, limitsRate)

// limitsBucketTOML is the bucket part of the limits profile: its
// concurrency cap and rate limit, and the circuit breaker with every key at
// its default.
var limitsBucketTOML = fmt.Sprintf(`max_concurrent_requests = %[1]d

[buckets.s3.rate_limit]
requests_per_second = %[2]d
burst = %[2]d

[buckets.s3.circuit_breaker]
enabled = true
failure_threshold = 5
success_threshold = 2
timeout = "60s"
half_open_max_requests = 3
failure_rate = 0.0
window = "10s"
minimum_requests = 20
slow_call_duration = "0s"
`, limitsBucketConcurrent, limitsRate)

// profileNamed returns the known profile called name.
func profileNamed(name string) (profile, bool) {
	i := slices.IndexFunc(profiles, func(p profile) bool { return p.Name == name })
	if i < 0 {
		return profile{}, false
	}
	return profiles[i], true
}

// selectProfiles returns the profiles named in a comma list.
func selectProfiles(list string) ([]profile, error) {
	var out []profile
	for name := range strings.SplitSeq(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		i := slices.IndexFunc(profiles, func(p profile) bool { return p.Name == name })
		if i < 0 {
			var have []string
			for _, p := range profiles {
				have = append(have, p.Name)
			}
			return nil, fmt.Errorf("bench: unknown profile %q (have %s)", name, strings.Join(have, ", "))
		}
		if !slices.ContainsFunc(out, func(p profile) bool { return p.Name == name }) {
			out = append(out, profiles[i])
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("bench: no profile selected")
	}
	return out, nil
}

// The retry budget of the resilience profiles (the proxy's defaults): the
// resilience report derives the amplification it allows from them.
const (
	budgetPercent       = 20
	minRetriesPerSecond = 10
)

// resilienceTOML is the retry and breaker config of the resilience
// profiles, at the proxy's defaults; breaker false turns the breaker off.
func resilienceTOML(breaker bool) string {
	return fmt.Sprintf(`[buckets.s3.retry]
max_attempts = 3
initial_backoff = "100ms"
max_backoff = "1s"
budget_percent = %d
min_retries_per_second = %d

[buckets.s3.circuit_breaker]
enabled = %t
failure_threshold = 5
success_threshold = 2
timeout = "60s"
half_open_max_requests = 3
`, budgetPercent, minRetriesPerSecond, breaker)
}
