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
	// which ends inside [buckets.s3] of the only bucket: start it with a
	// table header, e.g. "[buckets.auth]" for the bucket or "[logging]".
	TOML string `json:"toml,omitempty"`
	// Server holds keys added to the config's [server] table (no header),
	// e.g. "request_timeout = \"30s\"".
	Server string `json:"server_toml,omitempty"`
	// Headers are sent with every load request, "Name: value", e.g. a
	// bearer token for an auth profile.
	Headers []string `json:"headers,omitempty"`
}

// profiles are the known profiles, in -profiles order of preference.
var profiles = []profile{
	{Name: "public", Doc: "anonymous GETs of a public bucket; no extra config"},
	// The resilience scenarios' profiles. Every value is the proxy's
	// default, written out so that results.json says what was measured and
	// a change of default does not silently change the measurement.
	{Name: resilienceProfile, Doc: "retries, retry budget, circuit breaker and request timeout spelled out at their defaults",
		Server: `request_timeout = "30s"`, TOML: resilienceTOML(true)},
	{Name: resilienceNoBreakerProfile, Doc: "the resilience profile with the circuit breaker off: retries and their budget alone",
		Server: `request_timeout = "30s"`, TOML: resilienceTOML(false)},
}

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
