package auth

import (
	"fmt"
	"strings"
	"testing"
)

// rule is one [[buckets.auth.claims]] table; value is TOML text ("" = none).
func rule(claim, op, value string) string {
	s := fmt.Sprintf("[[buckets.auth.claims]]\nclaim = %q\noperator = %q\n", claim, op)
	if value != "" {
		s += "value = " + value + "\n"
	}
	return s
}

// claimsToken is a valid HS256 token whose payload also holds members (JSON
// text, "" for none).
func claimsToken(tb testing.TB, members string) string {
	tb.Helper()
	payload := `{"sub":"alice",` + expJSON
	if members != "" {
		payload += "," + members
	}
	return hsRaw(tb, hsHeader, payload+"}")
}

func TestClaimRules(t *testing.T) {
	tests := []struct {
		name    string
		rules   string
		members string
		ok      bool
	}{
		{"equals string", rule("role", "equals", `"admin"`), `"role":"admin"`, true},
		{"equals string, other value", rule("role", "equals", `"admin"`), `"role":"viewer"`, false},
		{"equals string is case-sensitive", rule("role", "equals", `"admin"`), `"role":"Admin"`, false},
		{"equals string, claim is a number", rule("role", "equals", `"1"`), `"role":1`, false},
		{"equals string, claim is an array", rule("role", "equals", `"admin"`), `"role":["admin"]`, false},
		{"equals string, claim missing", rule("role", "equals", `"admin"`), ``, false},
		{"equals string, claim null", rule("role", "equals", `"admin"`), `"role":null`, false},
		{"equals int", rule("level", "equals", `3`), `"level":3`, true},
		{"equals int, claim written as float", rule("level", "equals", `3`), `"level":3.0`, true},
		{"equals int, claim in exponent form", rule("level", "equals", `3`), `"level":0.3e1`, true},
		{"equals int, other value", rule("level", "equals", `3`), `"level":4`, false},
		{"equals int, claim is a string", rule("level", "equals", `3`), `"level":"3"`, false},
		{"equals float", rule("ratio", "equals", `0.5`), `"ratio":0.5`, true},
		{"equals float, other value", rule("ratio", "equals", `0.5`), `"ratio":0.25`, false},
		{"equals bool true", rule("verified", "equals", `true`), `"verified":true`, true},
		{"equals bool, other value", rule("verified", "equals", `true`), `"verified":false`, false},
		{"equals bool, claim is a string", rule("verified", "equals", `true`), `"verified":"true"`, false},
		{"equals bool, claim is a number", rule("verified", "equals", `true`), `"verified":1`, false},
		{"equals bool false", rule("suspended", "equals", `false`), `"suspended":false`, true},

		{"not_equals, other value", rule("role", "not_equals", `"guest"`), `"role":"admin"`, true},
		{"not_equals, same value", rule("role", "not_equals", `"guest"`), `"role":"guest"`, false},
		{"not_equals, claim missing", rule("role", "not_equals", `"guest"`), ``, false},
		{"not_equals, claim null", rule("role", "not_equals", `"guest"`), `"role":null`, false},
		{"not_equals number, other value", rule("level", "not_equals", `0`), `"level":2`, true},
		{"not_equals number, same value", rule("level", "not_equals", `0`), `"level":0.0`, false},
		// A claim of the wrong type fails every operator, not_equals included:
		// ["guest"] is not something the rule can tell apart from "guest".
		{"not_equals, claim is an array holding the value", rule("role", "not_equals", `"guest"`), `"role":["guest"]`, false},
		{"not_equals, claim is an object", rule("role", "not_equals", `"guest"`), `"role":{"name":"guest"}`, false},
		{"not_equals, claim is a number", rule("role", "not_equals", `"guest"`), `"role":7`, false},
		{"not_equals bool, claim is a string", rule("suspended", "not_equals", `true`), `"suspended":"true"`, false},

		{"in strings, member", rule("role", "in", `["admin", "editor"]`), `"role":"editor"`, true},
		{"in strings, not a member", rule("role", "in", `["admin", "editor"]`), `"role":"viewer"`, false},
		{"in strings, claim is an array", rule("role", "in", `["admin", "editor"]`), `"role":["admin"]`, false},
		{"in strings, claim missing", rule("role", "in", `["admin", "editor"]`), ``, false},
		{"in numbers, member", rule("level", "in", `[1, 2, 3]`), `"level":2`, true},
		{"in numbers, member as float", rule("level", "in", `[1, 2, 3]`), `"level":2.0`, true},
		{"in numbers, not a member", rule("level", "in", `[1, 2, 3]`), `"level":4`, false},
		{"in numbers, claim is a string", rule("level", "in", `[1, 2, 3]`), `"level":"2"`, false},
		{"in mixed, bool member", rule("x", "in", `["a", 1, true]`), `"x":true`, true},
		{"in mixed, bool not a member", rule("x", "in", `["a", 1, true]`), `"x":false`, false},

		{"contains, string claim substring", rule("scope", "contains", `"read"`), `"scope":"objects:read write"`, true},
		{"contains, string claim without it", rule("scope", "contains", `"read"`), `"scope":"write"`, false},
		{"contains, array claim element", rule("groups", "contains", `"staff"`), `"groups":["dev","staff"]`, true},
		{"contains, array claim without it", rule("groups", "contains", `"staff"`), `"groups":["dev","staffing"]`, false},
		{"contains, empty array claim", rule("groups", "contains", `"staff"`), `"groups":[]`, false},
		{"contains number, array claim element", rule("ids", "contains", `7`), `"ids":[1,7.0]`, true},
		{"contains number, string claim", rule("ids", "contains", `7`), `"ids":"17"`, false},
		{"contains, object claim", rule("groups", "contains", `"staff"`), `"groups":{"staff":true}`, false},
		{"contains, number claim", rule("groups", "contains", `"1"`), `"groups":1`, false},
		{"contains, claim missing", rule("groups", "contains", `"staff"`), ``, false},

		{"prefix, matches", rule("email", "prefix", `"ops-"`), `"email":"ops-alice@example.com"`, true},
		{"prefix, does not match", rule("email", "prefix", `"ops-"`), `"email":"dev-ops-alice"`, false},
		{"prefix, claim is a number", rule("tenant", "prefix", `"1"`), `"tenant":12`, false},
		{"prefix, claim missing", rule("email", "prefix", `"ops-"`), ``, false},

		{"gt, greater", rule("level", "gt", `5`), `"level":6`, true},
		{"gt, equal", rule("level", "gt", `5`), `"level":5`, false},
		{"gt, slightly greater", rule("level", "gt", `5`), `"level":5.0001`, true},
		{"gt, claim is a string", rule("level", "gt", `5`), `"level":"6"`, false},
		{"gt, claim is a bool", rule("level", "gt", `0`), `"level":true`, false},
		{"gt, claim missing", rule("level", "gt", `5`), ``, false},
		{"gt, claim overflows float64", rule("level", "gt", `5`), `"level":1e400`, false},
		{"gt negative", rule("level", "gt", `-1`), `"level":0`, true},
		{"gte, equal", rule("level", "gte", `5`), `"level":5.0`, true},
		{"gte, less", rule("level", "gte", `5`), `"level":4.999`, false},
		{"lt, less", rule("level", "lt", `5`), `"level":4`, true},
		{"lt, equal", rule("level", "lt", `5`), `"level":5`, false},
		{"lt, claim is an array", rule("level", "lt", `5`), `"level":[1]`, false},
		{"lte, equal", rule("level", "lte", `5`), `"level":5`, true},
		{"lte, greater", rule("level", "lte", `5`), `"level":6`, false},
		{"lte float rule", rule("ratio", "lte", `0.5`), `"ratio":0.5`, true},
		{"gte float rule, int claim", rule("ratio", "gte", `0.5`), `"ratio":1`, true},

		{"exists, string", rule("tenant", "exists", ""), `"tenant":"acme"`, true},
		{"exists, empty string", rule("tenant", "exists", ""), `"tenant":""`, true},
		{"exists, false", rule("tenant", "exists", ""), `"tenant":false`, true},
		{"exists, zero", rule("tenant", "exists", ""), `"tenant":0`, true},
		{"exists, empty object", rule("tenant", "exists", ""), `"tenant":{}`, true},
		{"exists, null", rule("tenant", "exists", ""), `"tenant":null`, false},
		{"exists, missing", rule("tenant", "exists", ""), ``, false},

		{"dotted path equals", rule("org.role", "equals", `"admin"`), `"org":{"role":"admin"}`, true},
		{"dotted path, other value", rule("org.role", "equals", `"admin"`), `"org":{"role":"viewer"}`, false},
		{"dotted path, parent is a string", rule("org.role", "equals", `"admin"`), `"org":"admin"`, false},
		{"dotted path, parent is an array", rule("org.role", "equals", `"admin"`), `"org":[{"role":"admin"}]`, false},
		{"dotted path, literal dotted name is not a path", rule("org.role", "equals", `"admin"`), `"org.role":"admin"`, false},
		{"dotted path, parent missing", rule("org.role", "equals", `"admin"`), ``, false},
		{"dotted path, parent null", rule("org.role", "exists", ""), `"org":null`, false},
		{"dotted path three deep", rule("a.b.c", "gte", `2`), `"a":{"b":{"c":3}}`, true},
		{"dotted path not_equals, leaf missing", rule("org.role", "not_equals", `"guest"`), `"org":{}`, false},

		{"all rules hold", rule("role", "equals", `"admin"`) + rule("org.tier", "in", `["gold", "silver"]`), `"role":"admin","org":{"tier":"gold"}`, true},
		{"first of two rules fails", rule("role", "equals", `"admin"`) + rule("org.tier", "in", `["gold", "silver"]`), `"role":"viewer","org":{"tier":"gold"}`, false},
		{"second of two rules fails", rule("role", "equals", `"admin"`) + rule("org.tier", "in", `["gold", "silver"]`), `"role":"admin","org":{"tier":"bronze"}`, false},
		{"two rules on one claim", rule("level", "gte", `1`) + rule("level", "lte", `3`), `"level":4`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newVerifier(t, hsTOML+tt.rules)
			_, err := v.Verify(bearer(claimsToken(t, tt.members)), t0)
			want := ReasonClaims
			if tt.ok {
				want = ""
			}
			wantReason(t, err, want)
		})
	}
}

// TestClaimRulesLargeIntegers: JSON and TOML integers beyond 2^53 are not
// exactly representable as float64. A rule on a large integer claim (a
// numeric account id, say) must compare the integers, not their nearest
// float64s: 9007199254740993 is not 9007199254740992.
func TestClaimRulesLargeIntegers(t *testing.T) {
	const (
		two53   = "9007199254740992" // 2^53, exact in float64
		two53p1 = "9007199254740993" // 2^53+1, rounds to 2^53 as float64
	)
	tests := []struct {
		name    string
		rules   string
		members string
		ok      bool
	}{
		{"equals, same large integer", rule("uid", "equals", two53p1), `"uid":` + two53p1, true},
		{"equals, neighbouring large integer", rule("uid", "equals", two53p1), `"uid":` + two53, false},
		{"not_equals, neighbouring large integer", rule("uid", "not_equals", two53), `"uid":` + two53p1, true},
		{"in, neighbouring large integer", rule("uid", "in", "["+two53p1+"]"), `"uid":` + two53, false},
		{"gt, one more", rule("uid", "gt", two53), `"uid":` + two53p1, true},
		{"lte, one more", rule("uid", "lte", two53), `"uid":` + two53p1, false},
		{"gte, equal large integer", rule("uid", "gte", two53p1), `"uid":` + two53p1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newVerifier(t, hsTOML+tt.rules)
			_, err := v.Verify(bearer(claimsToken(t, tt.members)), t0)
			want := ReasonClaims
			if tt.ok {
				want = ""
			}
			wantReason(t, err, want)
		})
	}
}

func TestKeyPrefixClaim(t *testing.T) {
	flat := hsTOML + `key_prefix_claim = "prefix"` + "\n"
	nested := hsTOML + `key_prefix_claim = "storage.prefix"` + "\n"
	tests := []struct {
		name     string
		authTOML string
		members  string
		key      string
		ok       bool
	}{
		{"exact key", flat, `"prefix":"alice"`, "alice", true},
		{"key below the prefix", flat, `"prefix":"alice"`, "alice/x.txt", true},
		{"key deep below the prefix", flat, `"prefix":"alice"`, "alice/a/b/c", true},
		{"key with the prefix as a name prefix", flat, `"prefix":"alice"`, "alice2/x.txt", false},
		{"key of another user", flat, `"prefix":"alice"`, "bob/x", false},
		{"key shorter than the prefix", flat, `"prefix":"alice"`, "alic", false},
		{"empty key", flat, `"prefix":"alice"`, "", false},
		{"prefix differs in case", flat, `"prefix":"alice"`, "Alice/x", false},
		{"prefix with trailing slash", flat, `"prefix":"alice/"`, "alice/x", true},
		{"prefix with trailing slash, sibling name", flat, `"prefix":"alice/"`, "alice2/x", false},
		{"prefix with trailing slash, bare name", flat, `"prefix":"alice/"`, "alice", false},
		{"multi-segment prefix", flat, `"prefix":"team/alice"`, "team/alice/x", true},
		{"multi-segment prefix, sibling", flat, `"prefix":"team/alice"`, "team/alicex", false},
		{"missing claim", flat, ``, "alice/x", false},
		{"empty claim", flat, `"prefix":""`, "alice/x", false},
		{"empty claim, empty key", flat, `"prefix":""`, "", false},
		{"claim is a number", flat, `"prefix":7`, "7/x", false},
		{"claim is an array", flat, `"prefix":["alice"]`, "alice/x", false},
		{"claim null", flat, `"prefix":null`, "alice/x", false},
		{"nested claim", nested, `"storage":{"prefix":"alice"}`, "alice/x.txt", true},
		{"nested claim, other key", nested, `"storage":{"prefix":"alice"}`, "bob/x.txt", false},
		{"nested claim, flat claim does not count", nested, `"storage.prefix":"alice"`, "alice/x.txt", false},
		{"nested claim missing", nested, `"storage":{}`, "alice/x.txt", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newVerifier(t, tt.authTOML)
			r := bearer(claimsToken(t, tt.members))
			r.Key = []byte(tt.key)
			_, err := v.Verify(r, t0)
			want := ReasonKeyPrefix
			if tt.ok {
				want = ""
			}
			wantReason(t, err, want)
		})
	}
}

// TestClaimRuleConfigTypes checks that config rejects rules that compileRules
// would otherwise have to type-assert at request time (in without an array,
// gt without a number, prefix without a string): a panic there would be on
// the hot path.
func TestClaimRuleConfigTypes(t *testing.T) {
	for _, r := range []string{
		rule("role", "in", `"admin"`),
		rule("level", "gt", `"5"`),
		rule("email", "prefix", `5`),
		rule("role", "equals", `["a"]`),
		rule("role", "exists", `true`),
		rule("role", "matches", `"a"`),
		rule("org..role", "exists", ""),
	} {
		name := strings.ReplaceAll(strings.TrimSpace(r), "\n", "; ")
		t.Run(name, func(t *testing.T) {
			if _, err := configParse(hsTOML + r); err == nil {
				t.Errorf("config accepted the rule %q, want a validation error", name)
			}
		})
	}
}
