package buckets

import (
	"bytes"
	"strings"
	"testing"
)

func TestMethodOf(t *testing.T) {
	tests := []struct {
		in   string
		want Method
		str  string
	}{
		{"GET", MethodGET, "GET"},
		{"HEAD", MethodHEAD, "HEAD"},
		{"OPTIONS", MethodOPTIONS, "OPTIONS"},
		{"POST", MethodOther, "OTHER"},
		{"get", MethodOther, "OTHER"},
		{"", MethodOther, "OTHER"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := MethodOf([]byte(tt.in))
			if got != tt.want || got.String() != tt.str {
				t.Errorf("MethodOf(%q) = %v (%q), want %v (%q)", tt.in, got, got.String(), tt.want, tt.str)
			}
		})
	}
}

func TestMetricsRequest(t *testing.T) {
	m := NewMetrics("x")
	first := m.Request(MethodGET, 200)
	if second := m.Request(MethodGET, 200); second != first {
		t.Fatalf("Request(MethodGET, 200) returned %p, then %p; want the same counter", first, second)
	}
	if m.Request(MethodHEAD, 200) == first || m.Request(MethodGET, 404) == first {
		t.Fatalf("Request for another method or status returned the GET 200 counter")
	}
	if lo, hi := m.Request(MethodGET, 42), m.Request(MethodGET, 600); lo != m.Request(MethodGET, 599) || hi != lo {
		t.Errorf("Request(MethodGET, 42) and (MethodGET, 600) are not the status-599 counter")
	}
	first.Add(3)
	var buf bytes.Buffer
	m.Set().WritePrometheus(&buf)
	for _, line := range []string{
		`http_requests_total{bucket="x",method="GET",status="200"} 3`,
		`http_requests_total{bucket="x",method="HEAD",status="200"} 0`,
		`http_requests_total{bucket="x",method="GET",status="599"} 0`,
	} {
		if !hasLine(buf.String(), line) {
			t.Errorf("metrics lack %q; got:\n%s", line, buf.String())
		}
	}
}

func TestMetricsLabelQuoting(t *testing.T) {
	m := NewMetrics(`a"b`)
	m.BytesOut.Add(7)
	var buf bytes.Buffer
	m.Set().WritePrometheus(&buf)
	if want := `http_response_bytes_total{bucket="a\"b"} 7`; !hasLine(buf.String(), want) {
		t.Errorf("metrics lack %q; got:\n%s", want, buf.String())
	}
}

func hasLine(text, line string) bool {
	for _, l := range strings.Split(text, "\n") {
		if l == line {
			return true
		}
	}
	return false
}
