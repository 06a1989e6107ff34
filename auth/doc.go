// Package auth verifies client JWTs for buckets that require them,
// fail-closed: a token is accepted only when it is found where the bucket's
// configuration says, is a well-formed compact JWS (strict base64url, no
// duplicate JSON members, no crit extensions), uses an allowed algorithm,
// carries a valid signature by a configured key of that algorithm's type, and
// satisfies the registered claims and the configured claim rules.
//
// Signatures are checked by github.com/golang-jwt/jwt/v5's signing methods;
// the structure checks around them are stricter than that library's parser
// (duplicate members, key lookup by kid only inside configured key sets, no
// jku/x5u/jwk header ever followed). Keys come from a KeySet: a secret, a PEM
// file read at load, or a JWKS fetched in the background by an actor.
package auth
