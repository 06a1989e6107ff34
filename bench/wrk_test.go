package main

import (
	"errors"
	"math"
	"os"
	"testing"
	"time"
)

// mib converts wrk's "278.41MB" figure to bytes the way parseWrk does.
func mib(v float64) int64 { return int64(v * (1 << 20)) }

func TestParseWrk(t *testing.T) {
	tests := []struct {
		name string
		file string // in testdata/
		want loadResult
	}{
		{
			// Captured from Debian's wrk 4.1.0 against the bench origin.
			name: "clean run",
			file: "wrk-latency.txt",
			want: loadResult{
				Loader: loaderWrk, Requests: 229327, Elapsed: 2100 * time.Millisecond,
				Bytes: mib(278.41), ReqPerSec: 109175.88, BytesPerSec: 132.54 * (1 << 20),
				P50: 425 * time.Microsecond, P99: 1250 * time.Microsecond, Max: 2470 * time.Microsecond,
			},
		},
		{
			// Captured against a missing object (all 404); the Socket errors
			// line was added by hand in wrk's exact format.
			name: "status and socket errors",
			file: "wrk-errors.txt",
			want: loadResult{
				Loader: loaderWrk, Requests: 46757, Elapsed: time.Second,
				Bytes: mib(15.02), ReqPerSec: 46738.26, BytesPerSec: 15.01 * (1 << 20),
				P50: 78 * time.Microsecond, P99: 691 * time.Microsecond, Max: 5210 * time.Microsecond,
				StatusErrors: 46757, SocketErrors: 6, Errors: 46763,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := os.ReadFile("testdata/" + tt.file)
			if err != nil {
				t.Fatal(err)
			}
			got, err := parseWrk(string(out))
			if err != nil {
				t.Fatal(err)
			}
			near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-6*math.Max(1, math.Abs(b)) }
			if got.Loader != tt.want.Loader || got.Requests != tt.want.Requests || got.Elapsed != tt.want.Elapsed ||
				got.Bytes != tt.want.Bytes || !near(got.ReqPerSec, tt.want.ReqPerSec) || !near(got.BytesPerSec, tt.want.BytesPerSec) ||
				got.P50 != tt.want.P50 || got.P99 != tt.want.P99 || got.Max != tt.want.Max ||
				got.StatusErrors != tt.want.StatusErrors || got.SocketErrors != tt.want.SocketErrors || got.Errors != tt.want.Errors {
				t.Fatalf("parseWrk =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func TestParseWrkRejectsIncompleteReport(t *testing.T) {
	tests := []struct {
		name string
		out  string
	}{
		{name: "empty", out: ""},
		{name: "no --latency", out: "  10 requests in 1.00s, 1.00KB read\nRequests/sec: 10.00\nTransfer/sec: 1.00KB\n"},
		{name: "connection refused", out: "unable to connect to 127.0.0.1:1 Connection refused\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := parseWrk(tt.out); !errors.Is(err, errWrkOutput) {
				t.Fatalf("parseWrk error = %v, want errWrkOutput", err)
			}
		})
	}
}

func TestParseWrkUnits(t *testing.T) {
	times := []struct {
		name string
		in   string
		want time.Duration
	}{
		{name: "microseconds", in: "490.00us", want: 490 * time.Microsecond},
		{name: "milliseconds", in: "1.02ms", want: 1020 * time.Microsecond},
		{name: "seconds", in: "3.00s", want: 3 * time.Second},
		{name: "minutes", in: "1.50m", want: 90 * time.Second},
		{name: "hours", in: "2.00h", want: 2 * time.Hour},
	}
	for _, tt := range times {
		t.Run("time "+tt.name, func(t *testing.T) {
			got, err := parseWrkTime(tt.in)
			if err != nil || got != tt.want {
				t.Fatalf("parseWrkTime(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
	sizes := []struct {
		name string
		in   string
		want float64
	}{
		{name: "bytes", in: "512.00B", want: 512},
		{name: "kibibytes", in: "2.00KB", want: 2048},
		{name: "mebibytes", in: "1.50MB", want: 1.5 * (1 << 20)},
		{name: "gibibytes", in: "4.00GB", want: 4 << 30},
	}
	for _, tt := range sizes {
		t.Run("size "+tt.name, func(t *testing.T) {
			got, err := parseWrkBytes(tt.in)
			if err != nil || got != tt.want {
				t.Fatalf("parseWrkBytes(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
	bad := []struct {
		name string
		in   string
	}{
		{name: "time without unit", in: "12"},
		{name: "time garbage", in: "fastus"},
		{name: "size without B", in: "12MiB"},
		{name: "size garbage", in: "xxMB"},
	}
	for _, tt := range bad {
		t.Run("bad "+tt.name, func(t *testing.T) {
			_, errT := parseWrkTime(tt.in)
			_, errB := parseWrkBytes(tt.in)
			if errT == nil && errB == nil {
				t.Fatalf("%q parsed as a time or a size", tt.in)
			}
		})
	}
}

func TestWrkDuration(t *testing.T) {
	tests := []struct {
		name string
		in   time.Duration
		want string
	}{
		{name: "whole seconds", in: 10 * time.Second, want: "10s"},
		{name: "rounded up", in: 1500 * time.Millisecond, want: "2s"},
		{name: "never zero", in: 10 * time.Millisecond, want: "1s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := wrkDuration(tt.in); got != tt.want {
				t.Fatalf("wrkDuration(%v) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
