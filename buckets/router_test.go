package buckets

import (
	"fmt"
	"strings"
	"testing"

	"yatagarasu/config"
)

// newTestBuckets builds one bucket per prefix through config.Parse, so every
// prefix is one the configuration accepts. Bucket i is named "b<i>".
func newTestBuckets(t testing.TB, prefixes ...string) []*Bucket {
	t.Helper()
	var src strings.Builder
	for i, p := range prefixes {
		fmt.Fprintf(&src, "[[buckets]]\nname = \"b%d\"\npath_prefix = %q\n[buckets.s3]\nbucket = \"bkt%d\"\n"+
			"endpoint = \"http://127.0.0.1:9\"\nforce_path_style = true\naccess_key = \"AK\"\nsecret_key = \"SK\"\n\n", i, p, i)
	}
	cfg, err := config.Parse([]byte(src.String()), "router_test.toml")
	if err != nil {
		t.Fatalf("config.Parse: %v", err)
	}
	bs := make([]*Bucket, len(cfg.Buckets))
	for i, c := range cfg.Buckets {
		if bs[i], err = New(c, Options{}); err != nil {
			t.Fatalf("New(%s): %v", c.Name, err)
		}
	}
	return bs
}

// deepPrefix is a prefix of 20 segments: "/deep/1/2/…/19".
var deepPrefix = func() string {
	s := "/deep"
	for i := 1; i < 20; i++ {
		s += fmt.Sprintf("/%d", i)
	}
	return s
}()

// deepKey is a key of 30 segments: "s0/s1/…/s29".
var deepKey = func() string {
	segs := make([]string, 30)
	for i := range segs {
		segs[i] = fmt.Sprintf("s%d", i)
	}
	return strings.Join(segs, "/")
}()

func TestRoute(t *testing.T) {
	withRoot := []string{"/", "/data", "/a", "/a/b", "/media", deepPrefix}
	withoutRoot := []string{"/data", "/a/b"}
	onlyRoot := []string{"/"}
	tests := []struct {
		name     string
		prefixes []string
		path     string
		want     string // prefix of the chosen bucket; "" for no match
		wantKey  string
	}{
		{"prefix and key", withRoot, "/data/x", "/data", "x"},
		{"segment boundary: /data does not match /database", withRoot, "/database/x", "/", "database/x"},
		{"segment boundary without a root", withoutRoot, "/database/x", "", ""},
		{"exact prefix, empty key", withRoot, "/data", "/data", ""},
		{"trailing slash, empty key", withRoot, "/data/", "/data", ""},
		{"key keeps its trailing slash", withRoot, "/data/x/", "/data", "x/"},
		{"key keeps a double slash", withRoot, "/media//a/", "/media", "/a/"},
		{"key keeps inner double slashes", withRoot, "/media/a//b", "/media", "a//b"},
		{"longer prefix wins", withRoot, "/a/b/c", "/a/b", "c"},
		{"longer prefix exact", withRoot, "/a/b", "/a/b", ""},
		{"longer prefix on a segment boundary only", withRoot, "/a/bc", "/a", "bc"},
		{"shorter prefix for another second segment", withRoot, "/a/x/y", "/a", "x/y"},
		{"root fallback", withRoot, "/other/x", "/", "other/x"},
		{"root itself", withRoot, "/", "/", ""},
		{"root with a double slash", withRoot, "//x", "/", "/x"},
		{"only a root", onlyRoot, "/a/b/c", "/", "a/b/c"},
		{"no match without a root", withoutRoot, "/other/x", "", ""},
		{"only a deeper prefix, no root", withoutRoot, "/a/x", "", ""},
		{"path not starting with /", withRoot, "data/x", "", ""},
		{"empty path", withRoot, "", "", ""},
		{"deep key under a short prefix", withRoot, "/data/" + deepKey, "/data", deepKey},
		{"deep key without any match uses the root", withRoot, "/nope/" + deepKey, "/", "nope/" + deepKey},
		{"prefix of 20 segments, exact", withRoot, deepPrefix, deepPrefix, ""},
		{"prefix of 20 segments with a deep key", withRoot, deepPrefix + "/" + deepKey, deepPrefix, deepKey},
		{"one segment short of the deep prefix", withRoot, strings.TrimSuffix(deepPrefix, "/19") + "/x/" + deepKey, "/",
			strings.TrimSuffix(deepPrefix, "/19")[1:] + "/x/" + deepKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRouter(newTestBuckets(t, tt.prefixes...))
			b, key, ok := r.Route([]byte(tt.path))
			if tt.want == "" {
				if ok {
					t.Fatalf("Route(%q) = bucket %q, key %q; want no match", tt.path, b.Prefix(), key)
				}
				return
			}
			if !ok {
				t.Fatalf("Route(%q) found no bucket; want %q, key %q", tt.path, tt.want, tt.wantKey)
			}
			if b.Prefix() != tt.want || string(key) != tt.wantKey {
				t.Errorf("Route(%q) = bucket %q, key %q; want %q, key %q", tt.path, b.Prefix(), key, tt.want, tt.wantKey)
			}
		})
	}
}

func TestRouterBuckets(t *testing.T) {
	bs := newTestBuckets(t, "/b", "/", "/a")
	got := NewRouter(bs).Buckets()
	var names []string
	for _, b := range got {
		names = append(names, b.Name())
	}
	if want := "b0 b1 b2"; strings.Join(names, " ") != want {
		t.Errorf("Buckets() names = %q, want %q (configuration order)", strings.Join(names, " "), want)
	}
}

// routeOracle is Route by brute force: the longest configured prefix that
// equals path or is followed in it by '/', else the root.
func routeOracle(bs []*Bucket, path string) (prefix, key string, ok bool) {
	if !strings.HasPrefix(path, "/") {
		return "", "", false
	}
	for _, b := range bs {
		p := b.Prefix()
		if p == "/" {
			if prefix == "" {
				prefix, key, ok = "/", path[1:], true
			}
			continue
		}
		if (path == p || strings.HasPrefix(path, p+"/")) && (prefix == "" || prefix == "/" || len(p) > len(prefix)) {
			prefix, key, ok = p, strings.TrimPrefix(path[len(p):], "/"), true
		}
	}
	return prefix, key, ok
}

func FuzzRoute(f *testing.F) {
	for _, s := range []string{"/data/x", "/database", "/a/b/c", "/a/bc", "//", "", "x", "/media//a/", "/a/b/", deepPrefix + "/k"} {
		f.Add(s, true)
		f.Add(s, false)
	}
	withRoot := newTestBuckets(f, "/", "/data", "/a", "/a/b", "/media", "/x/y/z", deepPrefix)
	withoutRoot := withRoot[1:]
	routers := map[bool]*Router{true: NewRouter(withRoot), false: NewRouter(withoutRoot)}
	f.Fuzz(func(t *testing.T, path string, root bool) {
		bs := withoutRoot
		if root {
			bs = withRoot
		}
		b, key, ok := routers[root].Route([]byte(path))
		wantPrefix, wantKey, wantOK := routeOracle(bs, path)
		if ok != wantOK {
			t.Fatalf("Route(%q) ok = %v, want %v", path, ok, wantOK)
		}
		if ok && (b.Prefix() != wantPrefix || string(key) != wantKey) {
			t.Fatalf("Route(%q) = %q, key %q; want %q, key %q", path, b.Prefix(), key, wantPrefix, wantKey)
		}
	})
}

func BenchmarkRoute(b *testing.B) {
	for _, n := range []int{1, 10, 200} {
		b.Run(fmt.Sprintf("buckets=%d", n), func(b *testing.B) {
			prefixes := make([]string, n)
			for i := range prefixes {
				prefixes[i] = fmt.Sprintf("/bucket-%03d", i)
			}
			r := NewRouter(newTestBuckets(b, prefixes...))
			path := []byte(prefixes[n-1] + "/photos/2024/summer/beach.jpg")
			b.ReportAllocs()
			for b.Loop() {
				if _, _, ok := r.Route(path); !ok {
					b.Fatal("no route")
				}
			}
		})
	}
}
