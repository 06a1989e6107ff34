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
	// Headers are sent with every load request, "Name: value", e.g. a
	// bearer token for an auth profile.
	Headers []string `json:"headers,omitempty"`
}

// profiles are the known profiles, in -profiles order of preference.
var profiles = []profile{
	{Name: "public", Doc: "anonymous GETs of a public bucket; no extra config"},
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
