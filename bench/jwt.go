package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The JWT auth profiles (auth-hs256, auth-es256): the bucket's
// [buckets.auth] table and the one token every load request sends, made
// for each run. One token for the whole run is what a real client does;
// the proxy caches tokens it has verified, so the rows measure a cached
// verification per request, plus one full verification at the start.

// The algorithms of the auth profiles (profile.Auth).
const (
	authHS256 = "HS256"
	authES256 = "ES256"
)

// authHS256Secret is the HMAC key of auth-hs256: at least 32 bytes, as
// the proxy requires for HS256. The proxy listens on 127.0.0.1 for one
// run only: a fixed value is enough.
const authHS256Secret = "bench-hs256-secret-0123456789abcdef"

// The token's claims: a subject and an expiry far beyond any run.
const authSubject = "bench"

var authExpiry = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)

// withAuth returns p ready to run: for an auth profile, its key (the ES256
// public key is written as a PEM file into dir, the private key never
// leaves memory), the [buckets.auth] table appended to its TOML and the
// bearer token in its headers. Other profiles are returned as they are.
func withAuth(p profile, dir string) (profile, error) {
	var table, token string
	switch p.Auth {
	case "":
		return p, nil
	case authHS256:
		tok, err := signToken(jwt.SigningMethodHS256, []byte(authHS256Secret))
		if err != nil {
			return p, err
		}
		token = tok
		table = fmt.Sprintf("[buckets.auth]\nalgorithms = [%q]\nsecret = %q\n", authHS256, authHS256Secret)
	case authES256:
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return p, fmt.Errorf("bench: %s key: %w", p.Name, err)
		}
		path, err := writePublicKey(dir, p.Name, &key.PublicKey)
		if err != nil {
			return p, err
		}
		if token, err = signToken(jwt.SigningMethodES256, key); err != nil {
			return p, err
		}
		table = fmt.Sprintf("[buckets.auth]\nalgorithms = [%q]\npublic_key_file = %q\n", authES256, path)
	default:
		return p, fmt.Errorf("bench: profile %s: unknown auth algorithm %q", p.Name, p.Auth)
	}
	// The default token source, bearer, is what the load sends.
	p.TOML += "\n" + table
	p.Headers = append(append([]string(nil), p.Headers...), "Authorization: Bearer "+token)
	return p, nil
}

// withAuthAll applies withAuth to every profile.
func withAuthAll(profs []profile, dir string) ([]profile, error) {
	out := make([]profile, 0, len(profs))
	for _, p := range profs {
		q, err := withAuth(p, dir)
		if err != nil {
			return nil, err
		}
		out = append(out, q)
	}
	return out, nil
}

// signToken returns a compact JWS with the bench claims (sub, exp).
func signToken(m jwt.SigningMethod, key any) (string, error) {
	claims := jwt.RegisteredClaims{Subject: authSubject, ExpiresAt: jwt.NewNumericDate(authExpiry)}
	s, err := jwt.NewWithClaims(m, claims).SignedString(key)
	if err != nil {
		return "", fmt.Errorf("bench: sign %s token: %w", m.Alg(), err)
	}
	return s, nil
}

// writePublicKey writes pub as a PEM "PUBLIC KEY" (PKIX) file named after
// the profile into dir and returns its absolute path, which the generated
// config names (the proxy runs in another working directory).
func writePublicKey(dir, name string, pub *ecdsa.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("bench: %s public key: %w", name, err)
	}
	path, err := filepath.Abs(filepath.Join(dir, name+"-public.pem"))
	if err != nil {
		return "", fmt.Errorf("bench: %s public key: %w", name, err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644); err != nil {
		return "", fmt.Errorf("bench: %s public key: %w", name, err)
	}
	return path, nil
}
