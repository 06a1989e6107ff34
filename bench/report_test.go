package main

import (
	"bytes"
	"testing"
	"time"
)

func TestWriteAligned(t *testing.T) {
	tests := []struct {
		name string
		rows [][]string
		left int
		want string
	}{
		{
			name: "names left, numbers right, multi-byte header",
			rows: [][]string{{"scenario", "target", "CPU µs/req"}, {"1k", "nginx", "11.8"}, {"1m-256", "yatagarasu", "435.6"}},
			left: 2,
			want: "scenario  target      CPU µs/req\n" +
				"1k        nginx             11.8\n" +
				"1m-256    yatagarasu       435.6\n",
		},
		{
			name: "all right-aligned",
			rows: [][]string{{"a", "bb"}, {"ccc", "d"}},
			left: 0,
			want: "  a  bb\nccc   d\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			writeAligned(&b, tt.rows, tt.left)
			if b.String() != tt.want {
				t.Fatalf("got\n%s\nwant\n%s", b.String(), tt.want)
			}
		})
	}
}

func TestFormatting(t *testing.T) {
	tests := []struct {
		name string
		got  string
		want string
	}{
		{name: "latency zero", got: fmtLatency(0), want: "-"},
		{name: "latency µs", got: fmtLatency(425 * time.Microsecond), want: "425µs"},
		{name: "latency ms", got: fmtLatency(1250 * time.Microsecond), want: "1.25ms"},
		{name: "latency s", got: fmtLatency(1500 * time.Millisecond), want: "1.50s"},
		{name: "number small", got: fmtNum(5.123), want: "5.12"},
		{name: "number medium", got: fmtNum(567.34), want: "567.3"},
		{name: "number large", got: fmtNum(103424.4), want: "103424"},
		{name: "nice ceil", got: fmtNum(niceCeil(13.2)), want: "20.0"},
		{name: "nice ceil quarter", got: fmtNum(niceCeil(2.1)), want: "2.50"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Fatalf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}
