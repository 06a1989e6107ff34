package buckets

import (
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// State is a bucket's readiness as /ready reports it.
type State int32

const (
	// Ready: the bucket serves normally.
	Ready State = iota
	// Degraded: the bucket serves, but something is wrong (recent upstream
	// failures, failing credential refreshes). One degraded bucket never makes
	// the node unready.
	Degraded
	// NotReady: the bucket cannot serve; its requests get 503.
	NotReady
)

// String returns "ready", "degraded" or "not ready".
func (s State) String() string {
	switch s {
	case Ready:
		return "ready"
	case Degraded:
		return "degraded"
	case NotReady:
		return "not ready"
	}
	return fmt.Sprintf("State(%d)", int32(s))
}

// Snapshot is what a bucket's owner last published: the hot path reads it with
// one atomic load. A Snapshot is immutable once published.
type Snapshot struct {
	// State decides whether requests are served.
	State State
	// Reason says why the state is not Ready; empty when it is.
	Reason string
	// Credentials sign upstream requests; meaningful only when HasCredentials.
	Credentials aws.Credentials
	// HasCredentials reports whether Credentials hold a usable set.
	HasCredentials bool
	// Recent totals the upstream attempts of the last WindowLength.
	Recent Totals
	// Breaker is the circuit breaker as the owner last decided it.
	Breaker BreakerView
	// At is when the owner published this snapshot.
	At time.Time
}

// BreakerView is what the hot path needs of the breaker.
type BreakerView struct {
	State BreakerState
	// Generation is reported with every attempt's result.
	Generation uint64
	// OpenUntil is when an open breaker lets probes through.
	OpenUntil time.Time
}

// notReadyYet is the snapshot of a bucket whose owner has not published yet.
var notReadyYet = &Snapshot{State: NotReady, Reason: "starting"}

// CredentialStatus is what the credential refresher last reported.
type CredentialStatus struct {
	// Have reports whether a usable credential set exists (not expired).
	Have bool
	// Err is the last refresh's error, nil after a success.
	Err error
}

// Degradation thresholds: a bucket is degraded when at least
// degradedMinFailures of its recent attempts failed and they are at least half
// of all its recent attempts.
const degradedMinFailures = 3

// Assess decides a bucket's state from its credentials and recent outcomes.
func Assess(creds CredentialStatus, recent Totals) (State, string) {
	switch {
	case !creds.Have && creds.Err != nil:
		return NotReady, "credentials: " + creds.Err.Error()
	case !creds.Have:
		return NotReady, "credentials: not loaded yet"
	case recent.Failures >= degradedMinFailures && recent.Failures*2 >= recent.Attempts:
		return Degraded, fmt.Sprintf("%d of %d upstream attempts failed in the last %v", recent.Failures, recent.Attempts, WindowLength)
	case creds.Err != nil:
		return Degraded, "credentials refresh failing (current set still valid): " + creds.Err.Error()
	}
	return Ready, ""
}
