package auth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
)

// strictB64 rejects padding and non-zero trailing bits: a token has one
// encoding, so a modified one cannot carry the same signature.
var strictB64 = base64.RawURLEncoding.Strict()

// jwsHeader is the protected header's members that matter. jku, x5u, x5c and
// jwk are deliberately absent: keys come only from the configuration.
type jwsHeader struct {
	Alg string
	Kid string
}

// compactJWS is a parsed, not yet verified, JWS in compact serialisation.
type compactJWS struct {
	header        jwsHeader
	payload       []byte // decoded
	signingString []byte // base64url(header) "." base64url(payload)
	signature     []byte // decoded
}

// parseCompact splits and decodes a compact JWS and checks its structure: three
// parts, strict base64url, JSON objects without duplicate members, no crit
// extensions and no unencoded payload (RFC 7797).
func parseCompact(token []byte) (*compactJWS, error) {
	first := bytes.IndexByte(token, '.')
	last := bytes.LastIndexByte(token, '.')
	// An empty signature is let through to the algorithm check, which names
	// the problem ("none") better than "malformed" would.
	if first <= 0 || last == first || bytes.IndexByte(token[first+1:last], '.') >= 0 {
		return nil, reject(ReasonMalformed, "not a three-part compact JWS")
	}
	hdr, err := decodeSegment(token[:first])
	if err != nil {
		return nil, reject(ReasonMalformed, "header: %v", err)
	}
	payload, err := decodeSegment(token[first+1 : last])
	if err != nil {
		return nil, reject(ReasonMalformed, "payload: %v", err)
	}
	sig, err := decodeSegment(token[last+1:])
	if err != nil {
		return nil, reject(ReasonMalformed, "signature: %v", err)
	}
	if err := checkObject(hdr); err != nil {
		return nil, err
	}
	j := &compactJWS{payload: payload, signingString: token[:last], signature: sig}
	// Member names are case-sensitive (RFC 7515 §4): read the exact names,
	// not Go's case-insensitive struct matching.
	var members map[string]json.RawMessage
	if err := json.Unmarshal(hdr, &members); err != nil {
		return nil, reject(ReasonMalformed, "header: %v", err)
	}
	for name, dst := range map[string]*string{"alg": &j.header.Alg, "kid": &j.header.Kid} {
		if raw, ok := members[name]; ok {
			if err := json.Unmarshal(raw, dst); err != nil {
				return nil, reject(ReasonMalformed, "header %s: %v", name, err)
			}
		}
	}
	if _, ok := members["crit"]; ok {
		return nil, reject(ReasonMalformed, "crit header: no extension is understood")
	}
	if _, ok := members["b64"]; ok {
		return nil, reject(ReasonMalformed, "b64 header: unencoded payloads are not accepted")
	}
	return j, nil
}

func decodeSegment(seg []byte) ([]byte, error) {
	out := make([]byte, strictB64.DecodedLen(len(seg)))
	n, err := strictB64.Decode(out, seg)
	if err != nil {
		return nil, errors.New("not strict base64url")
	}
	return out[:n], nil
}

// checkObject verifies that data is one JSON object in which no object, at any
// depth, repeats a member name. Go's decoder would keep the last of two
// "alg"s or "sub"s; another implementation might keep the first, and the two
// would disagree about what was signed.
func checkObject(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return reject(ReasonMalformed, "not a JSON object")
	}
	if err := checkMembers(dec); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return reject(ReasonMalformed, "trailing data after the JSON object")
	}
	return nil
}

// checkMembers reads an object's members after its '{' through its '}'.
func checkMembers(dec *json.Decoder) error {
	seen := map[string]bool{}
	for {
		tok, err := dec.Token()
		if err != nil {
			return reject(ReasonMalformed, "invalid JSON")
		}
		if tok == json.Delim('}') {
			return nil
		}
		name, ok := tok.(string)
		if !ok {
			return reject(ReasonMalformed, "invalid JSON")
		}
		if seen[name] {
			return reject(ReasonDuplicateMember, "member %q appears twice", truncate(name))
		}
		seen[name] = true
		if err := checkValue(dec); err != nil {
			return err
		}
	}
}

// checkValue reads one value, descending into objects and arrays.
func checkValue(dec *json.Decoder) error {
	tok, err := dec.Token()
	if err != nil {
		return reject(ReasonMalformed, "invalid JSON")
	}
	switch tok {
	case json.Delim('{'):
		return checkMembers(dec)
	case json.Delim('['):
		for dec.More() {
			if err := checkValue(dec); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil {
			return reject(ReasonMalformed, "invalid JSON")
		}
	}
	return nil
}

// truncate keeps log details short: a member name comes from the client.
func truncate(s string) string {
	if len(s) > 32 {
		return s[:32] + "…"
	}
	return s
}
