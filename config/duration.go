package config

import (
	"errors"
	"fmt"
	"time"
)

// Duration is a time.Duration written in TOML as a Go duration string ("250ms",
// "20s", "1m30s"; ${ENV} substitution applies). An integer is rejected rather than read as nanoseconds, and so
// is a negative value. The zero Duration means the key was absent (its default
// applies) unless the field's documentation says otherwise.
type Duration struct {
	time.Duration
	// set records that the key was present, so "0s" can differ from absent.
	set bool
}

// errDurationType is returned for a non-string duration.
var errDurationType = errors.New(`durations are strings with a unit, like "20s" or "250ms"`)

// UnmarshalTOML implements toml.Unmarshaler.
func (d *Duration) UnmarshalTOML(v any) error {
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("%w; got %v (%T)", errDurationType, v, v)
	}
	s, err := expand(s)
	if err != nil {
		return err
	}
	parsed, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%w; %q does not parse", errDurationType, s)
	}
	if parsed < 0 {
		return fmt.Errorf("duration %q is negative", s)
	}
	d.Duration = parsed
	d.set = true
	return nil
}

// MarshalText implements encoding.TextMarshaler, so configs print readably.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.Duration.String()), nil }

// IsSet reports whether the key was present in the file.
func (d Duration) IsSet() bool { return d.set }

// orDefault returns d, or def when the key was absent.
func (d Duration) orDefault(def time.Duration) Duration {
	if d.set {
		return d
	}
	return Duration{Duration: def}
}
