package auth_test

import (
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/valyala/fasthttp"

	"yatagarasu/auth"
	"yatagarasu/config"
)

// A bucket whose tokens carry the key prefix their holder may read.
func ExampleVerifier_Verify() {
	const secret = "0123456789abcdef0123456789abcdef"
	cfg, err := config.Parse([]byte(`
[[buckets]]
name = "media"
path_prefix = "/media"
[buckets.s3]
bucket = "media-bucket"
endpoint = "http://127.0.0.1:9000"
force_path_style = true
[buckets.auth]
algorithms = ["HS256"]
secret = "`+secret+`"
key_prefix_claim = "prefix"
`), "example.toml")
	if err != nil {
		fmt.Println(err)
		return
	}
	settings := &cfg.Buckets[0].Auth.AuthSettings
	v := auth.NewVerifier(settings, auth.NewKeySet(settings))

	now := time.Date(2031, time.March, 1, 12, 0, 0, 0, time.UTC)
	token, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "alice", "prefix": "alice", "exp": now.Add(time.Hour).Unix(),
	}).SignedString([]byte(secret))
	var h fasthttp.RequestHeader
	h.Set("Authorization", "Bearer "+token)

	for _, key := range []string{"alice/report.pdf", "bob/report.pdf"} {
		res, err := v.Verify(auth.Request{Header: &h, Key: []byte(key)}, now)
		if err != nil {
			fmt.Printf("%s: rejected (%s)\n", key, auth.ReasonOf(err))
			continue
		}
		fmt.Printf("%s: accepted for %s\n", key, res.Subject)
	}
	_, err = v.Verify(auth.Request{Header: &fasthttp.RequestHeader{}, Key: []byte("alice/report.pdf")}, now)
	fmt.Println(err, auth.IsMissing(err))
	// Output:
	// alice/report.pdf: accepted for alice
	// bob/report.pdf: rejected (key_prefix)
	// auth: no token true
}
