package buckets

import (
	"errors"
	"testing"
)

func TestAssess(t *testing.T) {
	errRefresh := errors.New("sts: access denied")
	tests := []struct {
		name       string
		creds      CredentialStatus
		recent     Totals
		want       State
		wantReason string
	}{
		{"no credentials and an error", CredentialStatus{Err: errRefresh}, Totals{}, NotReady, "credentials: sts: access denied"},
		{"no credentials yet", CredentialStatus{}, Totals{}, NotReady, "credentials: not loaded yet"},
		{"no credentials wins over failures", CredentialStatus{}, Totals{Attempts: 10, Failures: 10}, NotReady, "credentials: not loaded yet"},
		{"healthy", CredentialStatus{Have: true}, Totals{Attempts: 100, Failures: 0}, Ready, ""},
		{"idle", CredentialStatus{Have: true}, Totals{}, Ready, ""},
		{"3 of 6 failed", CredentialStatus{Have: true}, Totals{Attempts: 6, Failures: 3}, Degraded,
			"3 of 6 upstream attempts failed in the last 10s"},
		{"3 of 3 failed", CredentialStatus{Have: true}, Totals{Attempts: 3, Failures: 3}, Degraded,
			"3 of 3 upstream attempts failed in the last 10s"},
		{"2 of 2 failed: below the minimum count", CredentialStatus{Have: true}, Totals{Attempts: 2, Failures: 2}, Ready, ""},
		{"3 of 7 failed: below half", CredentialStatus{Have: true}, Totals{Attempts: 7, Failures: 3}, Ready, ""},
		{"50 of 100 failed", CredentialStatus{Have: true}, Totals{Attempts: 100, Failures: 50}, Degraded,
			"50 of 100 upstream attempts failed in the last 10s"},
		{"49 of 100 failed", CredentialStatus{Have: true}, Totals{Attempts: 100, Failures: 49}, Ready, ""},
		{"refresh failing, current set valid", CredentialStatus{Have: true, Err: errRefresh}, Totals{Attempts: 10}, Degraded,
			"credentials refresh failing (current set still valid): sts: access denied"},
		{"failures reported before a refresh error", CredentialStatus{Have: true, Err: errRefresh}, Totals{Attempts: 4, Failures: 4}, Degraded,
			"4 of 4 upstream attempts failed in the last 10s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, reason := Assess(tt.creds, tt.recent)
			if got != tt.want || reason != tt.wantReason {
				t.Errorf("Assess(%+v, %+v) = %v, %q; want %v, %q", tt.creds, tt.recent, got, reason, tt.want, tt.wantReason)
			}
		})
	}
}

func TestStateString(t *testing.T) {
	tests := []struct {
		s    State
		want string
	}{
		{Ready, "ready"},
		{Degraded, "degraded"},
		{NotReady, "not ready"},
		{State(7), "State(7)"},
		{State(-1), "State(-1)"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.s.String(); got != tt.want {
				t.Errorf("State(%d).String() = %q, want %q", int32(tt.s), got, tt.want)
			}
		})
	}
}

func TestNewBucketIsNotReady(t *testing.T) {
	b := newTestBuckets(t, "/media")[0]
	s := b.Snapshot()
	if s.State != NotReady || s.HasCredentials || s.Reason != "starting" {
		t.Errorf("Snapshot() of a new bucket = {State: %v, HasCredentials: %v, Reason: %q}, want {not ready, false, \"starting\"}",
			s.State, s.HasCredentials, s.Reason)
	}
}
