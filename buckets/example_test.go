package buckets_test

import (
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"yatagarasu/buckets"
	"yatagarasu/config"
)

func ExampleRouter_Route() {
	cfg, err := config.Parse([]byte(`
[[buckets]]
name = "media"
path_prefix = "/media"
[buckets.s3]
bucket = "media-bucket"
region = "eu-west-1"

[[buckets]]
name = "site"
path_prefix = "/"
[buckets.s3]
bucket = "site-bucket"
`), "example.toml")
	if err != nil {
		log.Fatal(err)
	}
	var bs []*buckets.Bucket
	for _, c := range cfg.Buckets {
		b, err := buckets.New(c, buckets.Options{})
		if err != nil {
			log.Fatal(err)
		}
		defer b.Close()
		bs = append(bs, b)
	}
	r := buckets.NewRouter(bs)
	for _, path := range []string{"/media/2024/a.jpg", "/media", "/mediakit/x", "/media//a/"} {
		b, key, _ := r.Route([]byte(path))
		fmt.Printf("%s → %s %q\n", path, b.Name(), key)
	}
	// Output:
	// /media/2024/a.jpg → media "2024/a.jpg"
	// /media → media ""
	// /mediakit/x → site "mediakit/x"
	// /media//a/ → media "/a/"
}

func ExampleNextCredentialRefresh() {
	now := time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC)
	role := aws.Credentials{AccessKeyID: "ASIAEXAMPLE", CanExpire: true, Expires: now.Add(time.Hour)}
	short := aws.Credentials{AccessKeyID: "ASIAEXAMPLE", CanExpire: true, Expires: now.Add(6 * time.Minute)}
	static := aws.Credentials{AccessKeyID: "AKIAEXAMPLE"}
	fmt.Println(buckets.NextCredentialRefresh(now, role, nil, 0))
	fmt.Println(buckets.NextCredentialRefresh(now, short, nil, 0))
	fmt.Println(buckets.NextCredentialRefresh(now, static, nil, 0))
	fmt.Println(buckets.NextCredentialRefresh(now, role, errors.New("sts unavailable"), 3))
	// Output:
	// 55m0s
	// 3m0s
	// 0s
	// 4s
}
