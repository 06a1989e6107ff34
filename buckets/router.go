package buckets

import (
	"bytes"
	"strings"
)

// Router maps a decoded request path to the bucket with the longest
// path_prefix that matches it on a segment boundary: "/data" matches "/data"
// and "/data/x" but not "/database/x"; "/" matches every path. A Router is
// immutable and safe for concurrent use; a reload builds a new one.
type Router struct {
	byPrefix map[string]*Bucket
	root     *Bucket // the "/" bucket, or nil
	maxDepth int     // most segments in any prefix other than "/"
	buckets  []*Bucket
}

// NewRouter indexes bs by their prefixes. Prefixes must be unique and valid
// (package config checks both).
func NewRouter(bs []*Bucket) *Router {
	r := &Router{byPrefix: make(map[string]*Bucket, len(bs)), buckets: bs}
	for _, b := range bs {
		if b.prefix == "/" {
			r.root = b
			continue
		}
		r.byPrefix[b.prefix] = b
		r.maxDepth = max(r.maxDepth, strings.Count(b.prefix, "/"))
	}
	return r
}

// Buckets returns the routed buckets in configuration order. The caller must
// not modify the slice.
func (r *Router) Buckets() []*Bucket { return r.buckets }

// Route returns the bucket for path and the object key: the rest of the path
// after the prefix and the one '/' that separates them. The key may be empty
// (the bucket itself) and keeps any further slashes ("/media//a/" → "/a/").
// ok is false when no prefix matches. Route does not allocate.
func (r *Router) Route(path []byte) (b *Bucket, key []byte, ok bool) {
	if len(path) == 0 || path[0] != '/' {
		return nil, nil, false
	}
	// Segment boundaries: each '/' after the first ends a candidate prefix,
	// and so does the end of the path. Start at the deepest candidate a
	// configured prefix can reach and walk back one segment at a time.
	end, depth := len(path), 0
	for i := 1; i < len(path) && r.maxDepth > 0; i++ {
		if path[i] == '/' {
			if depth++; depth == r.maxDepth {
				end = i
				break
			}
		}
	}
	for r.maxDepth > 0 && end > 0 {
		if b, found := r.byPrefix[string(path[:end])]; found {
			if end < len(path) {
				end++ // the separating '/'
			}
			return b, path[end:], true
		}
		end = bytes.LastIndexByte(path[:end], '/')
	}
	if r.root != nil {
		return r.root, path[1:], true
	}
	return nil, nil, false
}
