//go:build !linux

package main

import "time"

// applyTimerSlack does nothing outside Linux: timer slack is a Linux knob.
func applyTimerSlack(time.Duration) error { return nil }
