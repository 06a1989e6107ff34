package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"reflect"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/valyala/fasthttp"

	"yatagarasu/actors"
	"yatagarasu/auth"
	"yatagarasu/buckets"
	"yatagarasu/config"
	"yatagarasu/demostore"
	"yatagarasu/gateway"
	"yatagarasu/ratelimit"
	"yatagarasu/resources"
	"yatagarasu/supervision"
)

// nodeOptions are seams for tests; production leaves them zero.
type nodeOptions struct {
	// credentials, when set, overrides the credential provider of the buckets
	// it names (by bucket name).
	credentials map[string]aws.CredentialsProvider
	// dial, when set, replaces dialing for every bucket's upstream.
	dial func(addr string) (net.Conn, error)
	// actors overrides the supervision tree's settings (tick, budgets).
	actors actors.Settings
	// accessLog, when set, receives the access log instead of stdout.
	accessLog io.Writer
	// drainGrace replaces the wait before a removed bucket's in-flight
	// count is trusted (see retire).
	drainGrace time.Duration
}

// node is one running proxy: demo store (optional), supervision tree, gateway
// and listeners. start, reload and stop may be called from any goroutine;
// reloads are serialised.
type node struct {
	log      *slog.Logger
	opts     nodeOptions
	pressure *resources.Pressure
	demo     *demostore.Store
	sys      *actors.System
	gw       *gateway.Gateway
	access   *gateway.AccessLog
	servers  []*fasthttp.Server
	lns      []net.Listener
	metrics  *nodeMetrics
	dyn      *dynamicBuckets
	// errc receives a listener's Serve error.
	errc chan error

	mu       sync.Mutex // guards the following fields
	cur      *generation
	retiring sync.WaitGroup // removed buckets still draining
}

// nodeMetrics are the configuration's series.
type nodeMetrics struct {
	reloadOK, reloadFailed *metrics.Counter
}

// generation is what one loaded configuration built. Immutable once applied.
type generation struct {
	cfg     *config.Config
	num     uint64
	buckets []*bucketEntry // configuration order
	shared  map[string]*auth.KeySet
	global  *ratelimit.Limiter
	perIP   *ratelimit.Table
}

// bucketEntry is one bucket and what it was built from.
type bucketEntry struct {
	cfg      config.Bucket
	b        *buckets.Bucket
	keys     *auth.KeySet
	verifier *auth.Verifier
}

// startNode builds everything cfg describes and starts listening. On error,
// whatever was started is stopped again.
func startNode(cfg *config.Config, log *slog.Logger, opts nodeOptions) (n *node, err error) {
	n = &node{log: log, opts: opts, errc: make(chan error, 2), pressure: &resources.Pressure{}}
	n.dyn = &dynamicBuckets{n: n}
	defer func() {
		if err != nil {
			n.stop(context.Background())
		}
	}()
	if d := cfg.DemoStore; d != nil {
		if n.demo, err = demostore.Start(d.Address, d.Bucket, log); err != nil {
			return n, err
		}
	}
	set := opts.actors
	set.Log = log
	memLimit := uint64(cfg.Server.Resources.MemoryLimit)
	if memLimit == 0 {
		memLimit = resources.DefaultMemoryLimit()
	}
	debug.SetMemoryLimit(int64(memLimit)) // Go's soft limit matches the one we shed at
	set.Monitor = actors.MonitorSettings{Pressure: n.pressure, Sampler: resources.NewSampler(memLimit), Every: cfg.Server.Resources.SampleInterval.Duration}
	budget := supervision.Budget{Max: cfg.Supervision.MaxRestarts, Within: cfg.Supervision.Within.Duration}
	if set.ChildBudget == (supervision.Budget{}) {
		set.ChildBudget = budget
	}
	if set.BucketBudget == (supervision.Budget{}) {
		set.BucketBudget = budget
	}
	n.sys = actors.Start(set)
	if cfg.Log.AccessEnabled() {
		out := opts.accessLog
		if out == nil {
			out = os.Stdout
		}
		n.access = gateway.NewAccessLog(out, cfg.Log.Format == "json")
	}
	n.gw = gateway.New(gateway.Options{
		Version:         version(),
		BuiltinsOnMain:  cfg.Admin.Port == 0,
		Limits:          cfg.Server.Limits,
		KeepIdleBuffers: !cfg.Server.ReleasesIdleBuffers(),
		Pressure:        n.pressure,
		AccessLog:       n.access,
		Reload:          func() (uint64, error) { return n.reloadFile(cfg.File) },
		Dynamic:         n.dyn,
		Log:             log,
	})
	n.metrics = &nodeMetrics{
		reloadOK:     n.gw.Metrics().NewCounter("config_reload_success_total"),
		reloadFailed: n.gw.Metrics().NewCounter("config_reload_failure_total"),
	}
	n.gw.Metrics().NewGauge("config_generation", func() float64 { return float64(n.gw.CurrentTable().Generation) })

	gen, err := n.build(cfg, nil)
	if err != nil {
		return n, err
	}
	if err := n.apply(gen, nil); err != nil {
		return n, err
	}
	if err := n.listen("main", net.JoinHostPort(cfg.Server.Address, strconv.Itoa(cfg.Server.Port)), n.gw.Handler()); err != nil {
		return n, err
	}
	if cfg.Admin.Port != 0 {
		if err := n.listen("admin", net.JoinHostPort(cfg.Admin.Address, strconv.Itoa(cfg.Admin.Port)), n.gw.AdminHandler()); err != nil {
			return n, err
		}
	}
	return n, nil
}

// build turns cfg into a generation, reusing what prev built from identical
// settings: an unchanged bucket keeps its *buckets.Bucket (and so its pool,
// breaker state and supervisor), an unchanged shared auth block its key set,
// an unchanged rate rule its limiter state. Nothing is started.
func (n *node) build(cfg *config.Config, prev *generation) (*generation, error) {
	gen := &generation{cfg: cfg, num: 1, shared: map[string]*auth.KeySet{}}
	old := map[string]*bucketEntry{}
	if prev != nil {
		gen.num = prev.num + 1
		for _, e := range prev.buckets {
			old[e.cfg.Name] = e
		}
	}
	for name, s := range cfg.Auth {
		if prev != nil && prev.shared[name] != nil && reflect.DeepEqual(prev.cfg.Auth[name], s) {
			gen.shared[name] = prev.shared[name]
			continue
		}
		gen.shared[name] = auth.NewKeySet(&s)
	}
	var built []*buckets.Bucket // new buckets, closed again if the build fails
	for _, bc := range cfg.Buckets {
		if e := old[bc.Name]; e != nil && reflect.DeepEqual(e.cfg, bc) && (bc.Auth == nil || bc.Auth.Use == "" || gen.shared[bc.Auth.Use] == e.keys) {
			gen.buckets = append(gen.buckets, e)
			continue
		}
		b, err := buckets.New(bc, buckets.Options{Credentials: n.opts.credentials[bc.Name], Dial: n.opts.dial})
		if err != nil {
			for _, b := range built {
				b.Close()
			}
			return nil, err
		}
		built = append(built, b)
		e := &bucketEntry{cfg: bc, b: b}
		if a := bc.Auth; a.IsEnabled() {
			if e.keys = gen.shared[a.Use]; a.Use == "" {
				e.keys = auth.NewKeySet(&a.AuthSettings)
			}
			e.verifier = auth.NewVerifier(&a.AuthSettings, e.keys)
		}
		gen.buckets = append(gen.buckets, e)
	}
	rl := cfg.Server.RateLimit
	if rl.IsEnabled() && rl.Global != nil {
		if prev != nil && prev.global != nil && reflect.DeepEqual(prev.cfg.Server.RateLimit.Global, rl.Global) {
			gen.global = prev.global
		} else {
			gen.global = ratelimit.NewLimiter(ratelimit.Rule{Rate: rl.Global.RequestsPerSecond, Burst: rl.Global.Burst})
		}
	}
	if rl.IsEnabled() && rl.PerIP != nil {
		if prev != nil && prev.perIP != nil && reflect.DeepEqual(prev.cfg.Server.RateLimit.PerIP, rl.PerIP) {
			gen.perIP = prev.perIP
		} else {
			gen.perIP = ratelimit.NewTable(ratelimit.Rule{Rate: rl.PerIP.RequestsPerSecond, Burst: rl.PerIP.Burst}, rl.PerIP.MaxTrackedIPs)
		}
	}
	return gen, nil
}

// apply starts gen's new buckets, publishes its table, and retires the
// buckets of prev that gen does not keep.
func (n *node) apply(gen, prev *generation) error {
	kept := map[*buckets.Bucket]bool{}
	var started []*buckets.Bucket
	for _, e := range gen.buckets {
		kept[e.b] = true
		if prev != nil && prev.has(e.b) {
			continue
		}
		if e.b.PassThrough() {
			// A rule serves through its real buckets; the rule itself needs
			// no supervisor, and its own state never changes.
			e.b.Publish(&buckets.Snapshot{State: buckets.Ready, Reason: "pass-through rule", At: time.Now()})
			n.dyn.add(e.b, e.cfg, e.keys)
			continue
		}
		if err := n.sys.Add(e.b, actors.BucketOptions{Keys: e.keys}); err != nil {
			for _, b := range started {
				_ = n.sys.Remove(b)
			}
			for _, e := range gen.buckets {
				if prev == nil || !prev.has(e.b) {
					e.b.Close()
				}
			}
			return err
		}
		started = append(started, e.b)
	}
	// A request routed to a bucket whose supervisor has not yet published
	// its first state would get 503: publish the table once the new buckets
	// have started (their first credential and key-set attempts are done,
	// whatever the result), or after startTimeout.
	for _, b := range started {
		waitStarted(b)
	}
	n.gw.SetTable(gen.table())
	n.mu.Lock()
	n.cur = gen
	n.mu.Unlock()
	if prev != nil {
		for _, e := range prev.buckets {
			if !kept[e.b] {
				n.retire(e.b, gen.cfg.Server.ShutdownTimeout.Duration)
			}
		}
	}
	return nil
}

// startTimeout bounds how long apply waits for new buckets to start.
const startTimeout = 10 * time.Second

// waitStarted waits until b's supervisor has made its first credential and
// key-set attempts (whatever the result), or startTimeout.
func waitStarted(b *buckets.Bucket) {
	for deadline := time.Now().Add(startTimeout); starting(b) && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
}

// starting reports whether b's supervisor is still making its first
// credential or key-set attempt.
func starting(b *buckets.Bucket) bool {
	switch b.Snapshot().Reason {
	case "starting", "credentials: not loaded yet", "auth: key set not loaded yet":
		return true
	}
	return false
}

func (g *generation) has(b *buckets.Bucket) bool {
	for _, e := range g.buckets {
		if e.b == b {
			return true
		}
	}
	return false
}

// table is the gateway's view of the generation.
func (g *generation) table() *gateway.Table {
	t := &gateway.Table{Generation: g.num, Auth: map[*buckets.Bucket]*auth.Verifier{}}
	var bs []*buckets.Bucket
	for _, e := range g.buckets {
		bs = append(bs, e.b)
		if e.verifier != nil {
			t.Auth[e.b] = e.verifier
		}
	}
	t.Router = buckets.NewRouter(bs)
	srv := g.cfg.Server
	t.Settings = gateway.Settings{
		RequestTimeout:        srv.RequestTimeout.Duration,
		StreamIdleTimeout:     srv.StreamIdleTimeout.Duration,
		Limits:                srv.Limits,
		MaxConcurrentRequests: srv.MaxConcurrentRequests,
		BlockInjection:        srv.Security.BlocksInjection(config.Security{}),
		GlobalRate:            g.global,
		PerIPRate:             g.perIP,
		AdminToken:            g.cfg.Admin.Token,
	}
	for _, p := range srv.TrustedProxies {
		prefix, err := netip.ParsePrefix(p)
		if err != nil {
			a, _ := netip.ParseAddr(p) // validated by package config
			prefix = netip.PrefixFrom(a, a.BitLen())
		}
		t.Settings.TrustedProxies = append(t.Settings.TrustedProxies, prefix.Masked())
	}
	return t
}

// retireGrace is how long a removed bucket is left alone before its in-flight
// count is trusted: a request that loaded the previous table just before the
// swap takes its slot within microseconds.
const retireGrace = time.Second

// retire stops a bucket the new generation no longer routes to, once the
// requests it is serving have finished (at most shutdown_timeout).
func (n *node) retire(b *buckets.Bucket, limit time.Duration) {
	grace := retireGrace
	if n.opts.drainGrace > 0 {
		grace = n.opts.drainGrace
	}
	n.retiring.Add(1)
	go func() {
		defer n.retiring.Done()
		time.Sleep(grace)
		if b.PassThrough() {
			for _, real := range n.dyn.remove(b) {
				n.retiring.Add(1)
				go func() {
					defer n.retiring.Done()
					n.drainAndStop(real, limit)
				}()
			}
			return
		}
		n.drainAndStop(b, limit)
	}()
}

// drainAndStop waits (at most limit) for b's in-flight requests, then stops
// its supervisor, closes its pool and has the gateway forget it (a
// pass-through rule's real bucket has a policy in the current table).
func (n *node) drainAndStop(b *buckets.Bucket, limit time.Duration) {
	for deadline := time.Now().Add(limit); b.InFlight() > 0 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if err := n.sys.Remove(b); err != nil {
		n.log.Warn("stopping a removed bucket", "bucket", b.Name(), "err", err)
	}
	b.Close()
	n.gw.Forget(b)
}

// reloadFile reads path and, when it is valid, makes it the running
// configuration: SIGHUP and POST /admin/reload. On any error the running
// configuration stays as it is. It returns the new generation.
func (n *node) reloadFile(path string) (uint64, error) {
	n.mu.Lock()
	prev := n.cur
	n.mu.Unlock()
	cfg, err := config.Load(path)
	if err == nil {
		n.keepRestartOnly(cfg, prev.cfg)
		var gen *generation
		if gen, err = n.build(cfg, prev); err == nil {
			if err = n.apply(gen, prev); err == nil {
				n.metrics.reloadOK.Inc()
				n.log.Info("configuration reloaded", "file", path, "generation", gen.num, "buckets", len(gen.buckets))
				return gen.num, nil
			}
		}
	}
	n.metrics.reloadFailed.Inc()
	n.log.Error("configuration reload refused; the running configuration stays", "file", path, "err", err)
	return prev.num, err
}

// keepRestartOnly puts back the settings fixed at start (listeners, buffers,
// the demo store, logging, the resource monitor, the supervision budgets),
// logging each change that needs a restart.
func (n *node) keepRestartOnly(cfg, running *config.Config) {
	keep := func(key string, changed bool, restore func()) {
		if changed {
			n.log.Warn("this key takes effect only at restart; keeping the running value", "key", key)
			restore()
		}
	}
	keep("server.address", cfg.Server.Address != running.Server.Address, func() { cfg.Server.Address = running.Server.Address })
	keep("server.port", cfg.Server.Port != running.Server.Port, func() { cfg.Server.Port = running.Server.Port })
	keep("admin.port", cfg.Admin.Port != running.Admin.Port, func() { cfg.Admin.Port = running.Admin.Port })
	keep("admin.address", cfg.Admin.Address != running.Admin.Address, func() { cfg.Admin.Address = running.Admin.Address })
	keep("server.limits.max_header_size", cfg.Server.Limits.MaxHeaderSize != running.Server.Limits.MaxHeaderSize,
		func() { cfg.Server.Limits.MaxHeaderSize = running.Server.Limits.MaxHeaderSize })
	keep("server.limits.max_uri_length", cfg.Server.Limits.MaxURILength != running.Server.Limits.MaxURILength,
		func() { cfg.Server.Limits.MaxURILength = running.Server.Limits.MaxURILength })
	keep("server.timer_slack", cfg.Server.TimerSlack != running.Server.TimerSlack,
		func() { cfg.Server.TimerSlack = running.Server.TimerSlack })
	keep("server.release_idle_buffers", cfg.Server.ReleasesIdleBuffers() != running.Server.ReleasesIdleBuffers(),
		func() { cfg.Server.ReleaseIdleBuffers = running.Server.ReleaseIdleBuffers })
	keep("demo_store", !reflect.DeepEqual(cfg.DemoStore, running.DemoStore), func() { cfg.DemoStore = running.DemoStore })
	keep("log", !reflect.DeepEqual(cfg.Log, running.Log), func() { cfg.Log = running.Log })
	keep("server.resources", !reflect.DeepEqual(cfg.Server.Resources, running.Server.Resources), func() { cfg.Server.Resources = running.Server.Resources })
	keep("supervision", !reflect.DeepEqual(cfg.Supervision, running.Supervision), func() { cfg.Supervision = running.Supervision })
}

func (n *node) listen(name, addr string, h fasthttp.RequestHandler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s listener: %w", name, err)
	}
	ln = gateway.PrefetchListener(ln)
	srv := n.gw.NewServer("yatagarasu", h)
	n.servers = append(n.servers, srv)
	n.lns = append(n.lns, ln)
	n.log.Info("listening", "listener", name, "address", ln.Addr().String())
	go func() {
		if err := srv.Serve(ln); err != nil {
			n.errc <- fmt.Errorf("%s listener: %w", name, err)
		}
	}()
	return nil
}

// addr returns the main listener's address.
func (n *node) addr() string { return n.lns[0].Addr().String() }

// adminAddr returns the admin listener's address, or the main one.
func (n *node) adminAddr() string { return n.lns[len(n.lns)-1].Addr().String() }

// current returns the running generation.
func (n *node) current() *generation {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cur
}

// buckets returns the running generation's buckets.
func (n *node) buckets() []*buckets.Bucket {
	var out []*buckets.Bucket
	for _, e := range n.current().buckets {
		out = append(out, e.b)
	}
	return out
}

// stop closes the listeners, lets in-flight requests (streams included) finish
// until ctx is done, then stops the tree, the pools, the access log and the
// demo store.
func (n *node) stop(ctx context.Context) error {
	var errs []error
	if n.gw != nil {
		n.gw.SetDraining(true)
	}
	for _, s := range n.servers {
		if err := s.ShutdownWithContext(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	n.retiring.Wait()
	if n.sys != nil {
		if err := n.sys.Stop(); err != nil {
			errs = append(errs, err)
		}
	}
	if g := n.current(); g != nil {
		for _, e := range g.buckets {
			e.b.Close()
		}
	}
	if n.dyn != nil {
		n.dyn.Each(func(b *buckets.Bucket) { b.Close() })
	}
	if n.access != nil {
		_ = n.access.Close()
	}
	if n.demo != nil {
		if err := n.demo.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
