package auth

import (
	"encoding/json"
	"math"
	"strings"
	"time"

	"yatagarasu/config"
)

// claimRule is a compiled config.ClaimRule.
type claimRule struct {
	path  []string
	op    string
	value any // string, float64, bool, or []any of those
}

func compileRules(rules []config.ClaimRule) []claimRule {
	out := make([]claimRule, 0, len(rules))
	for _, r := range rules {
		out = append(out, claimRule{path: strings.Split(r.Claim, "."), op: r.Operator, value: normalise(r.Value)})
	}
	return out
}

// normalise turns TOML numbers (int64, float64) into float64, recursively.
func normalise(v any) any {
	switch x := v.(type) {
	case int64:
		return float64(x)
	case []any:
		out := make([]any, len(x))
		for i := range x {
			out[i] = normalise(x[i])
		}
		return out
	}
	return v
}

// lookup follows a dotted path into the claims.
func lookup(claims map[string]any, path []string) (any, bool) {
	var cur any = claims
	for _, seg := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[seg]; !ok {
			return nil, false
		}
	}
	return cur, cur != nil
}

// holds evaluates the rule. A missing claim fails every operator: a rule
// cannot be satisfied by the absence of what it tests.
func (r claimRule) holds(claims map[string]any) bool {
	v, ok := lookup(claims, r.path)
	if !ok {
		return false
	}
	switch r.op {
	case "exists":
		return true
	case "equals":
		return equal(v, r.value)
	case "not_equals":
		return !equal(v, r.value)
	case "in":
		for _, want := range r.value.([]any) {
			if equal(v, want) {
				return true
			}
		}
		return false
	case "contains":
		switch x := v.(type) {
		case string:
			s, ok := r.value.(string)
			return ok && strings.Contains(x, s)
		case []any:
			for _, e := range x {
				if equal(e, r.value) {
					return true
				}
			}
		}
		return false
	case "prefix":
		s, ok := v.(string)
		return ok && strings.HasPrefix(s, r.value.(string))
	case "gt", "gte", "lt", "lte":
		got, ok := number(v)
		want := r.value.(float64)
		if !ok {
			return false
		}
		switch r.op {
		case "gt":
			return got > want
		case "gte":
			return got >= want
		case "lt":
			return got < want
		default:
			return got <= want
		}
	}
	return false
}

// equal compares a claim value with a configured one: strings and booleans
// exactly, numbers numerically; anything else (objects, arrays) never equals.
func equal(claim, want any) bool {
	switch w := want.(type) {
	case string:
		s, ok := claim.(string)
		return ok && s == w
	case bool:
		b, ok := claim.(bool)
		return ok && b == w
	case float64:
		n, ok := number(claim)
		return ok && n == w
	}
	return false
}

// number reads a JSON number claim (decoded with UseNumber).
func number(v any) (float64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	f, err := n.Float64()
	return f, err == nil && !math.IsInf(f, 0) && !math.IsNaN(f)
}

// numericDate reads exp/nbf/iat: a JSON number of seconds. ok is false when the
// claim is absent; err when it is not a number.
func numericDate(claims map[string]any, name string) (t time.Time, ok bool, err error) {
	v, present := claims[name]
	if !present {
		return time.Time{}, false, nil
	}
	f, isNum := number(v)
	if !isNum {
		return time.Time{}, true, reject(ReasonMalformed, "%s is not a number", name)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true, nil
}

// checkRegistered applies exp, nbf, iss and aud.
func (v *Verifier) checkRegistered(claims map[string]any, now time.Time) error {
	exp, hasExp, err := numericDate(claims, "exp")
	if err != nil {
		return err
	}
	if !hasExp && v.requireExp {
		return reject(ReasonExpired, "no exp claim")
	}
	if hasExp && !now.Before(exp.Add(v.leeway)) {
		return reject(ReasonExpired, "expired at %s", exp.UTC().Format(time.RFC3339))
	}
	nbf, hasNbf, err := numericDate(claims, "nbf")
	if err != nil {
		return err
	}
	if hasNbf && now.Add(v.leeway).Before(nbf) {
		return reject(ReasonNotYetValid, "not before %s", nbf.UTC().Format(time.RFC3339))
	}
	if v.issuer != "" {
		if iss, _ := claims["iss"].(string); iss != v.issuer {
			return reject(ReasonIssuer, "unexpected issuer")
		}
	}
	if v.audience != "" && !hasAudience(claims["aud"], v.audience) {
		return reject(ReasonAudience, "audience does not include %q", v.audience)
	}
	return nil
}

func hasAudience(aud any, want string) bool {
	switch a := aud.(type) {
	case string:
		return a == want
	case []any:
		for _, e := range a {
			if s, ok := e.(string); ok && s == want {
				return true
			}
		}
	}
	return false
}

// keyAllowed reports whether key lies under prefix on a segment boundary.
func keyAllowed(key []byte, prefix string) bool {
	if prefix == "" || len(key) < len(prefix) || string(key[:len(prefix)]) != prefix {
		return false
	}
	return len(key) == len(prefix) || strings.HasSuffix(prefix, "/") || key[len(prefix)] == '/'
}
