package main

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    int64
		wantErr bool
	}{
		{name: "kibibyte", in: "1k", want: 1024},
		{name: "upper case suffix", in: "4K", want: 4096},
		{name: "64k", in: "64k", want: 64 << 10},
		{name: "mebibyte", in: "1m", want: 1 << 20},
		{name: "10m", in: "10m", want: 10 << 20},
		{name: "gibibyte", in: "1g", want: 1 << 30},
		{name: "5g", in: "5g", want: 5 << 30},
		{name: "bare bytes", in: "123", want: 123},
		{name: "zero", in: "0", want: 0},
		{name: "one tebibyte is the limit", in: "1024g", want: 1 << 40},
		{name: "empty", in: "", wantErr: true},
		{name: "suffix only", in: "k", wantErr: true},
		{name: "unknown suffix", in: "1x", wantErr: true},
		{name: "negative", in: "-1k", wantErr: true},
		{name: "double suffix", in: "1kk", wantErr: true},
		{name: "fraction", in: "1.5m", wantErr: true},
		{name: "too big", in: "1025g", wantErr: true},
		{name: "overflow", in: "99999999999999999999g", wantErr: true},
		{name: "a path", in: "dir/1k", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseSize(tt.in)
			if tt.wantErr {
				if !errors.Is(err, errBadSize) {
					t.Fatalf("parseSize(%q) = %d, %v; want errBadSize", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParseRange(t *testing.T) {
	tests := []struct {
		name      string
		header    string
		size      int64
		wantStart int64
		wantLen   int64
		wantKind  rangeKind
	}{
		{name: "closed", header: "bytes=10-19", size: 1024, wantStart: 10, wantLen: 10, wantKind: rangeOK},
		{name: "first byte", header: "bytes=0-0", size: 1024, wantStart: 0, wantLen: 1, wantKind: rangeOK},
		{name: "open ended", header: "bytes=1000-", size: 1024, wantStart: 1000, wantLen: 24, wantKind: rangeOK},
		{name: "end past size is clamped", header: "bytes=1000-5000", size: 1024, wantStart: 1000, wantLen: 24, wantKind: rangeOK},
		{name: "suffix", header: "bytes=-100", size: 1024, wantStart: 924, wantLen: 100, wantKind: rangeOK},
		{name: "suffix longer than object", header: "bytes=-5000", size: 1024, wantStart: 0, wantLen: 1024, wantKind: rangeOK},
		{name: "start past end", header: "bytes=1024-", size: 1024, wantKind: rangeUnsatisfiable},
		{name: "zero suffix", header: "bytes=-0", size: 1024, wantKind: rangeUnsatisfiable},
		{name: "multi range is ignored", header: "bytes=0-1,5-6", size: 1024, wantLen: 1024, wantKind: rangeNone},
		{name: "other unit", header: "items=0-1", size: 1024, wantLen: 1024, wantKind: rangeNone},
		{name: "reversed", header: "bytes=9-3", size: 1024, wantLen: 1024, wantKind: rangeNone},
		{name: "garbage", header: "bytes=a-b", size: 1024, wantLen: 1024, wantKind: rangeNone},
		{name: "no dash", header: "bytes=5", size: 1024, wantLen: 1024, wantKind: rangeNone},
		{name: "beyond 4 GiB", header: "bytes=5368709000-", size: 5 << 30, wantStart: 5368709000, wantLen: 120, wantKind: rangeOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start, n, kind := parseRange(tt.header, tt.size)
			if kind != tt.wantKind {
				t.Fatalf("kind = %v, want %v", kind, tt.wantKind)
			}
			if kind == rangeUnsatisfiable {
				return
			}
			if start != tt.wantStart || n != tt.wantLen {
				t.Fatalf("range = (%d, %d), want (%d, %d)", start, n, tt.wantStart, tt.wantLen)
			}
		})
	}
}

// objectBytes is the reference body: byte i of an object is pattern[i%patternSize].
func objectBytes(off, n int64) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = pattern[(off+int64(i))%patternSize]
	}
	return b
}

func TestPatternReader(t *testing.T) {
	tests := []struct {
		name string
		off  int64
		n    int64
	}{
		{name: "empty", off: 0, n: 0},
		{name: "small", off: 0, n: 1024},
		{name: "exactly the pattern", off: 0, n: patternSize},
		{name: "across the wrap", off: patternSize - 100, n: 300},
		{name: "several wraps", off: 12345, n: 3*patternSize + 17},
		{name: "offset beyond 4 GiB", off: 5<<30 - 10, n: 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := objectBytes(tt.off, tt.n)

			var viaWriteTo bytes.Buffer
			n, err := (&patternReader{off: tt.off, remaining: tt.n}).WriteTo(&viaWriteTo)
			if err != nil || n != tt.n || !bytes.Equal(viaWriteTo.Bytes(), want) {
				t.Fatalf("WriteTo: %d bytes, err %v, equal %v", n, err, bytes.Equal(viaWriteTo.Bytes(), want))
			}

			// Read with an odd buffer size so reads straddle the wrap.
			viaRead, err := io.ReadAll(io.LimitReader(struct{ io.Reader }{&patternReader{off: tt.off, remaining: tt.n}}, tt.n+1))
			if err != nil || !bytes.Equal(viaRead, want) {
				t.Fatalf("Read: %d bytes, err %v, equal %v", len(viaRead), err, bytes.Equal(viaRead, want))
			}
		})
	}
}

func BenchmarkPatternReaderWriteTo(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(8 << 20)
	for b.Loop() {
		r := patternReader{off: 7, remaining: 8 << 20}
		if _, err := r.WriteTo(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
