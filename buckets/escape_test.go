package buckets

import (
	"bytes"
	"fmt"
	"testing"
)

func TestAppendEscaped(t *testing.T) {
	tests := []struct {
		name string
		in   string
		path bool
		want string
	}{
		{"unreserved kept in a path", "AZaz09-_.~", true, "AZaz09-_.~"},
		{"unreserved kept in a query", "AZaz09-_.~", false, "AZaz09-_.~"},
		{"slash kept in a path", "a/b//c/", true, "a/b//c/"},
		{"slash escaped in a query", "a/b", false, "a%2Fb"},
		{"space is %20 in a path", "a b", true, "a%20b"},
		{"space is %20 in a query", "a b", false, "a%20b"},
		{"plus is %2B in a path", "a+b", true, "a%2Bb"},
		{"plus is %2B in a query", "a+b", false, "a%2Bb"},
		{"percent escaped", "100%", true, "100%25"},
		{"reserved characters escaped", "?#&=:@!*'()", true, "%3F%23%26%3D%3A%40%21%2A%27%28%29"},
		{"unicode bytes as uppercase hex", "ü€", true, "%C3%BC%E2%82%AC"},
		{"control and high bytes", "\x00\x1f\x7f\xff", false, "%00%1F%7F%FF"},
		{"empty", "", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := appendEscaped([]byte("prefix:"), []byte(tt.in), tt.path)
			if want := "prefix:" + tt.want; string(got) != want {
				t.Errorf("appendEscaped(%q, path=%v) = %q, want %q", tt.in, tt.path, got, want)
			}
		})
	}
}

func TestAppendUnescaped(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		plusSpace bool
		want      string
		wantOK    bool
	}{
		{"plain", "abc/def", false, "abc/def", true},
		{"uppercase escape", "a%20b", false, "a b", true},
		{"lowercase escape", "%c3%bc", false, "ü", true},
		{"mixed-case escape", "%C3%bC", false, "ü", true},
		{"escaped slash decoded", "a%2Fb", false, "a/b", true},
		{"escaped percent decoded once", "%2541", false, "%41", true},
		{"plus kept in a path", "a+b", false, "a+b", true},
		{"plus is a space in a query", "a+b", true, "a b", true},
		{"escaped plus stays plus in a query", "a%2Bb", true, "a+b", true},
		{"escape at the end", "ab%41", false, "abA", true},
		{"empty", "", false, "", true},
		{"lone percent", "%", false, "", false},
		{"lone percent at the end", "abc%", false, "", false},
		{"one hex digit", "%4", false, "", false},
		{"one hex digit at the end", "abc%4", true, "", false},
		{"non-hex digits", "%zz", false, "", false},
		{"second digit non-hex", "%4g", false, "", false},
		{"first digit non-hex", "%g4", false, "", false},
		{"%u escape", "%u002e", false, "", false},
		{"malformed after a valid one", "%41%", true, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := appendUnescaped([]byte("prefix:"), []byte(tt.in), tt.plusSpace)
			if ok != tt.wantOK {
				t.Fatalf("appendUnescaped(%q, plusSpace=%v) ok = %v, want %v", tt.in, tt.plusSpace, ok, tt.wantOK)
			}
			if ok && string(got) != "prefix:"+tt.want {
				t.Errorf("appendUnescaped(%q, plusSpace=%v) = %q, want %q", tt.in, tt.plusSpace, got, "prefix:"+tt.want)
			}
		})
	}
}

func TestAppendUnescapedPath(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		want   string
		wantOK bool
	}{
		{"escaped path", "/media/a%20b+c", "/media/a b+c", true},
		{"double slash kept", "/media//a/", "/media//a/", true},
		{"malformed", "/media/%zz", "", false},
		{"truncated", "/media/%2", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := AppendUnescapedPath(nil, []byte(tt.in))
			if ok != tt.wantOK {
				t.Fatalf("AppendUnescapedPath(%q) ok = %v, want %v", tt.in, ok, tt.wantOK)
			}
			if ok && string(got) != tt.want {
				t.Errorf("AppendUnescapedPath(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func ExampleAppendUnescapedPath() {
	key, ok := AppendUnescapedPath(nil, []byte("/media/summer%202024/a+b.jpg"))
	fmt.Printf("%s %v\n", key, ok)
	_, ok = AppendUnescapedPath(nil, []byte("/media/%zz"))
	fmt.Println(ok)
	// Output:
	// /media/summer 2024/a+b.jpg true
	// false
}

// FuzzEscapeRoundTrip checks that decoding undoes encoding for any bytes, in
// both modes, and that the encoding only ever holds unreserved characters and
// well-formed escapes.
func FuzzEscapeRoundTrip(f *testing.F) {
	for _, s := range []string{"", "a b", "a+b", "a/b//c/", "100%", "ü€", "\x00\xff", "%zz", "?#&="} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, x []byte) {
		for _, path := range []bool{true, false} {
			enc := appendEscaped(nil, x, path)
			for i := 0; i < len(enc); i++ {
				c := enc[i]
				if c == '%' {
					if i+2 >= len(enc) || !isUpperHex(enc[i+1]) || !isUpperHex(enc[i+2]) {
						t.Fatalf("appendEscaped(%q, path=%v) = %q: bad escape at %d", x, path, enc, i)
					}
					i += 2
					continue
				}
				if shouldEscape(c, path) {
					t.Fatalf("appendEscaped(%q, path=%v) = %q: unescaped %q at %d", x, path, enc, c, i)
				}
			}
			// In query mode '+' means space, so decode as a query would.
			dec, ok := appendUnescaped(nil, enc, !path)
			if !ok || !bytes.Equal(dec, x) {
				t.Fatalf("appendUnescaped(appendEscaped(%q, path=%v)) = %q, %v; want %q, true", x, path, dec, ok, x)
			}
		}
	})
}

func isUpperHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'A' && c <= 'F' }
