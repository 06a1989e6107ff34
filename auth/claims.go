package auth

import (
	"cmp"
	"encoding/json"
	"math"
	"strconv"
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

// normalise copies TOML values; integers stay int64 so that they compare
// exactly with integer claims beyond 2^53.
func normalise(v any) any {
	switch x := v.(type) {
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
		return sameKind(v, r.value) && !equal(v, r.value)
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
		c, ok := compareNumber(v, r.value)
		if !ok {
			return false
		}
		switch r.op {
		case "gt":
			return c > 0
		case "gte":
			return c >= 0
		case "lt":
			return c < 0
		default:
			return c <= 0
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
	case int64, float64:
		c, ok := compareNumber(claim, w)
		return ok && c == 0
	}
	return false
}

// sameKind reports whether a claim has the JSON type of a configured value.
func sameKind(claim, want any) bool {
	switch want.(type) {
	case string:
		_, ok := claim.(string)
		return ok
	case bool:
		_, ok := claim.(bool)
		return ok
	case int64, float64:
		_, ok := number(claim)
		return ok
	}
	return false
}

// compareNumber compares a number claim with a configured int64 or float64:
// exactly when both are integers that fit int64, else as float64.
func compareNumber(claim, want any) (int, bool) {
	n, ok := claim.(json.Number)
	if !ok {
		return 0, false
	}
	if w, ok := want.(int64); ok {
		if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
			return cmp.Compare(i, w), true
		}
	}
	f, ok := number(claim)
	if !ok {
		return 0, false
	}
	var wf float64
	switch w := want.(type) {
	case int64:
		wf = float64(w)
	case float64:
		wf = w
	default:
		return 0, false
	}
	return cmp.Compare(f, wf), true
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
	// Beyond int64 seconds, time.Unix would wrap a far-future date into the
	// past; ±2^40 s (some 35,000 years) keeps the order and cannot overflow.
	f = max(min(f, 1<<40), -(1 << 40))
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
