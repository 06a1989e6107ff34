//go:build !race

package gateway

import "testing"

// TestScreeningAllocatesNothing: checkPath and scanHeaders on a typical
// request, and on a path with a '%' left after the first decode (the second
// decode reuses the scratch buffer).
func TestScreeningAllocatesNothing(t *testing.T) {
	path, headers := typicalRequest()
	for _, p := range [][]byte{path, []byte("/media/reports/2024/q3%20summary%25final.pdf")} {
		scratch := make([]byte, 0, 256)
		if n := testing.AllocsPerRun(1000, func() {
			if r := checkPath(p, true, &scratch); r != "" {
				t.Fatalf("checkPath(%q) = %q, want it accepted", p, r)
			}
			if _, r := scanHeaders(headers); r != "" {
				t.Fatalf("scanHeaders = %q, want it accepted", r)
			}
		}); n != 0 {
			t.Errorf("screening %q allocates %v times per request, want 0", p, n)
		}
	}
}
