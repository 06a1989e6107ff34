package auth

import (
	"errors"
	"fmt"
)

// ErrMissingToken: no configured source carries a token. The gateway answers
// 401 with WWW-Authenticate; every other failure is 403.
var ErrMissingToken = errors.New("auth: no token")

// ErrKeysUnavailable: the key set is not loaded yet (JWKS before its first
// good fetch). The gateway answers 503: the client is not at fault.
var ErrKeysUnavailable = errors.New("auth: keys unavailable")

// ErrRejected is matched by every failure that rejects a presented token.
var ErrRejected = errors.New("auth: token rejected")

// Failure is a rejected token. Reason is a short fixed label for metrics and
// logs (never the token, never a claim value); Detail says more for the log.
type Failure struct {
	Reason string
	Detail string
}

func (f *Failure) Error() string {
	if f.Detail == "" {
		return fmt.Sprintf("auth: token rejected: %s", f.Reason)
	}
	return fmt.Sprintf("auth: token rejected: %s: %s", f.Reason, f.Detail)
}

// Unwrap makes every Failure match ErrRejected.
func (f *Failure) Unwrap() error { return ErrRejected }

// Failure reasons: the `reason` label of auth_failures_total.
const (
	ReasonMissing         = "missing"
	ReasonTooLarge        = "too_large"
	ReasonMalformed       = "malformed"
	ReasonDuplicateMember = "duplicate_member"
	ReasonAlgorithm       = "algorithm"
	ReasonUnknownKey      = "unknown_key"
	ReasonSignature       = "signature"
	ReasonExpired         = "expired"
	ReasonNotYetValid     = "not_yet_valid"
	ReasonIssuer          = "issuer"
	ReasonAudience        = "audience"
	ReasonClaims          = "claims"
	ReasonKeyPrefix       = "key_prefix"
	ReasonKeysUnavailable = "keys_unavailable"
)

// Reasons lists every reason, for creating metrics up front.
var Reasons = []string{ReasonMissing, ReasonTooLarge, ReasonMalformed, ReasonDuplicateMember, ReasonAlgorithm,
	ReasonUnknownKey, ReasonSignature, ReasonExpired, ReasonNotYetValid, ReasonIssuer, ReasonAudience,
	ReasonClaims, ReasonKeyPrefix, ReasonKeysUnavailable}

func reject(reason, format string, args ...any) *Failure {
	return &Failure{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

// ReasonOf returns the reason label of an error from Verify.
func ReasonOf(err error) string {
	var f *Failure
	switch {
	case errors.As(err, &f):
		return f.Reason
	case errors.Is(err, ErrMissingToken):
		return ReasonMissing
	case errors.Is(err, ErrKeysUnavailable):
		return ReasonKeysUnavailable
	}
	return ReasonMalformed
}
