package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"strconv"

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
}

// node is one running proxy: demo store (optional), supervision tree, gateway
// and listeners. Its methods are called by one goroutine (main or a test).
type node struct {
	cfg      *config.Config
	log      *slog.Logger
	pressure *resources.Pressure
	demo     *demostore.Store
	sys      *actors.System
	gw       *gateway.Gateway
	buckets  []*buckets.Bucket
	servers  []*fasthttp.Server
	lns      []net.Listener
	// errc receives a listener's Serve error.
	errc chan error
}

// startNode builds everything cfg describes and starts listening. On error,
// whatever was started is stopped again.
func startNode(cfg *config.Config, log *slog.Logger, opts nodeOptions) (n *node, err error) {
	n = &node{cfg: cfg, log: log, errc: make(chan error, 2), pressure: &resources.Pressure{}}
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
	verifiers := map[*buckets.Bucket]*auth.Verifier{}
	shared := map[string]*auth.KeySet{} // one key set per [auth.<name>] block
	for _, bc := range cfg.Buckets {
		b, err := buckets.New(bc, buckets.Options{Credentials: opts.credentials[bc.Name], Dial: opts.dial})
		if err != nil {
			return n, err
		}
		n.buckets = append(n.buckets, b)
		var keys *auth.KeySet
		if a := bc.Auth; a.IsEnabled() {
			if keys = shared[a.Use]; keys == nil {
				keys = auth.NewKeySet(&a.AuthSettings)
				if a.Use != "" {
					shared[a.Use] = keys
				}
			}
			verifiers[b] = auth.NewVerifier(&a.AuthSettings, keys)
		}
		if err := n.sys.Add(b, actors.BucketOptions{Keys: keys}); err != nil {
			return n, err
		}
	}
	n.gw = gateway.New(gatewayOptions(cfg, log, n.pressure))
	n.gw.SetTable(&gateway.Table{Router: buckets.NewRouter(n.buckets), Generation: 1, Auth: verifiers})

	if err := n.listen("main", net.JoinHostPort(cfg.Server.Address, strconv.Itoa(cfg.Server.Port)), n.gw.Handler()); err != nil {
		return n, err
	}
	if cfg.Admin.Port != 0 {
		if err := n.listen("admin", net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.Admin.Port)), n.gw.AdminHandler()); err != nil {
			return n, err
		}
	}
	return n, nil
}

func (n *node) listen(name, addr string, h fasthttp.RequestHandler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s listener: %w", name, err)
	}
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

// gatewayOptions turns the [server] settings into the gateway's options.
func gatewayOptions(cfg *config.Config, log *slog.Logger, pressure *resources.Pressure) gateway.Options {
	srv := cfg.Server
	opts := gateway.Options{
		Version:               version(),
		BuiltinsOnMain:        cfg.Admin.Port == 0,
		RequestTimeout:        srv.RequestTimeout.Duration,
		StreamIdleTimeout:     srv.StreamIdleTimeout.Duration,
		Limits:                srv.Limits,
		MaxConcurrentRequests: srv.MaxConcurrentRequests,
		BlockInjection:        srv.Security.BlocksInjection(config.Security{}),
		Pressure:              pressure,
		Log:                   log,
	}
	for _, p := range srv.TrustedProxies {
		prefix, err := netip.ParsePrefix(p)
		if err != nil {
			a, _ := netip.ParseAddr(p) // validated by package config
			prefix = netip.PrefixFrom(a, a.BitLen())
		}
		opts.TrustedProxies = append(opts.TrustedProxies, prefix.Masked())
	}
	if rl := srv.RateLimit; rl.IsEnabled() {
		if g := rl.Global; g != nil {
			opts.GlobalRate = ratelimit.NewLimiter(ratelimit.Rule{Rate: g.RequestsPerSecond, Burst: g.Burst})
		}
		if p := rl.PerIP; p != nil {
			opts.PerIPRate = ratelimit.NewTable(ratelimit.Rule{Rate: p.RequestsPerSecond, Burst: p.Burst}, p.MaxTrackedIPs)
		}
	}
	return opts
}

// addr returns the main listener's address.
func (n *node) addr() string { return n.lns[0].Addr().String() }

// adminAddr returns the admin listener's address, or the main one.
func (n *node) adminAddr() string { return n.lns[len(n.lns)-1].Addr().String() }

// stop closes the listeners, lets in-flight requests (streams included) finish
// until ctx is done, then stops the tree, the pools and the demo store.
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
	if n.sys != nil {
		if err := n.sys.Stop(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, b := range n.buckets {
		b.Close()
	}
	if n.demo != nil {
		if err := n.demo.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
