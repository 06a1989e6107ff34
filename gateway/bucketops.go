package gateway

import (
	"bytes"
	"fmt"
	"net/url"

	"yatagarasu/buckets"
)

// bucketSubresources are bucket-level sub-resources this read proxy does not
// offer: configuration, ACLs, multipart state and version listings. (location
// is answered; a plain GET or one with list parameters is a listing.)
var bucketSubresources = []string{"accelerate", "acl", "analytics", "cors", "delete", "encryption",
	"intelligent-tiering", "inventory", "lifecycle", "logging", "metrics", "notification", "object-lock",
	"ownershipControls", "policy", "policyStatus", "publicAccessBlock", "replication", "requestPayment",
	"tagging", "uploads", "versioning", "versions", "website"}

// objectSubresources are object-level sub-resources not offered. Without this
// check they would be dropped and the object itself returned, which a client
// asking for the ACL would misread.
var objectSubresources = []string{"acl", "attributes", "legal-hold", "restore", "retention", "select",
	"tagging", "torrent", "uploadId", "uploads"}

// SubresourceError refuses a sub-resource by name.
type SubresourceError struct{ Name string }

func (e *SubresourceError) Error() string {
	return fmt.Sprintf("gateway: the %q sub-resource is not available through this proxy", e.Name)
}

// subresource returns the first parameter of raw named in names.
func subresource(raw []byte, names []string) (string, bool) {
	for len(raw) > 0 {
		var part []byte
		if i := bytes.IndexByte(raw, '&'); i >= 0 {
			part, raw = raw[:i], raw[i+1:]
		} else {
			part, raw = raw, nil
		}
		name, _, _ := bytes.Cut(part, []byte{'='})
		for _, n := range names {
			if string(name) == n {
				return n, true
			}
		}
	}
	return "", false
}

// bucketOperation decides what a request for a bucket itself (no key) is:
// HeadBucket (HEAD) and GetBucketLocation (?location) are always answered,
// because SDKs probe them before anything else; a GET with list parameters
// or none is ListObjects (v1 or v2, with list-type=2), answered only when the
// entry allows listing; any other sub-resource is refused.
func bucketOperation(m buckets.Method, raw []byte, allowList bool) (buckets.QueryFilter, error) {
	if m == buckets.MethodHEAD {
		return buckets.QueryFilter{}, nil
	}
	if _, ok := subresource(raw, []string{"location"}); ok {
		return buckets.QueryFilter{All: true}, nil
	}
	if name, ok := subresource(raw, bucketSubresources); ok {
		return buckets.QueryFilter{}, &SubresourceError{Name: name}
	}
	if !allowList {
		return buckets.QueryFilter{}, ErrListingDisabled
	}
	return buckets.QueryFilter{All: true}, nil
}

// queryTokenNames returns the names of a verifier's query token sources,
// which must never be forwarded even when a listing forwards its query.
func queryTokenNames(names []string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		if u, err := url.QueryUnescape(n); err == nil {
			out = append(out, u)
		}
	}
	return out
}
