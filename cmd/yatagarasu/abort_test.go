package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"
)

// TestClientsLeavingMidBodyDisturbNoOne: clients that hang up in the middle
// of large (spliced) bodies, over and over with collections in between, cost
// nobody else a byte: every whole GET running beside them gets the object
// exactly, every slot and upstream connection comes back, and no descriptor
// is left open. (A stream cut by its client leaves bytes in its splice pipe;
// the pipe is discarded, and a descriptor closed twice would cut whichever
// connection had taken its number.)
func TestClientsLeavingMidBodyDisturbNoOne(t *testing.T) {
	const size = 8 << 20 // far more than the sockets buffer: the leavers are cut mid-splice
	obj := make([]byte, size)
	for i := range obj {
		obj[i] = byte(i ^ i>>11)
	}
	want := sha256.Sum256(obj)
	origin.Put(t, mediaBucket, "abort/big.bin", obj, "application/octet-stream", nil)
	p := startProxy(t, bucketTOML("media", "/media", mediaBucket, ""), nodeOptions{})
	url := p.url + "/media/abort/big.bin"
	fresh := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, DisableCompression: true}}
	whole := func() error {
		resp, err := fresh.Get(url)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		h := sha256.New()
		n, err := io.Copy(h, resp.Body)
		switch {
		case resp.StatusCode != 200:
			return fmt.Errorf("status %d", resp.StatusCode)
		case err != nil || n != size:
			return fmt.Errorf("read %d of %d bytes: %v", n, size, err)
		case !bytes.Equal(h.Sum(nil), want[:]):
			return fmt.Errorf("body differs from the object")
		}
		return nil
	}
	leave := func() error {
		c, err := net.Dial("tcp", p.addr())
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		fmt.Fprintf(c, "GET /media/abort/big.bin HTTP/1.1\r\nHost: p\r\n\r\n")
		_, err = io.ReadFull(c, make([]byte, 64<<10))
		return err // then gone, megabytes unread
	}
	if err := whole(); err != nil {
		t.Fatalf("first GET: %v", err)
	}
	settle := func() {
		for range 3 {
			runtime.GC() // the pool drops idle pipes; cleanups close them
		}
	}
	settle()
	before := openFDs()

	const rounds = 25
	errs := make(chan error, 4*rounds)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for range rounds {
				if err := leave(); err != nil {
					errs <- fmt.Errorf("leaving client: %v", err)
				}
			}
		})
	}
	wg.Go(func() {
		for i := range rounds {
			if err := whole(); err != nil {
				errs <- fmt.Errorf("whole GET %d beside the leavers: %v", i, err)
			}
			runtime.GC() // so any stray cleanup runs while connections are open
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	eventuallyT(t, "every slot and upstream connection back", func() bool {
		_, busy := p.buckets()[0].PoolStats()
		return p.gw.InFlight() == 0 && busy == 0
	})
	if err := whole(); err != nil {
		t.Fatalf("GET after the leavers: %v", err)
	}
	// What may stay open: the bucket's idle upstream connections and pooled
	// pipes; 2 leaked per cut stream would be 100.
	const slack = 12
	eventuallyT(t, "descriptors back to where they were", func() bool {
		settle()
		return openFDs() <= before+slack
	})
	m := metricsOf(t, p)
	if cut := metricValue(t, m, `http_streams_cut_total{bucket="media",side="client"}`); cut < rounds {
		t.Errorf("%v client cuts counted, want at least %d of the %d leavers", cut, rounds, 2*rounds)
	}
}
