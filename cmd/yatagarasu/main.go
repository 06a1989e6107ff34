// Command yatagarasu is an S3 edge proxy: it routes path prefixes to S3
// buckets, signs upstream requests with SigV4 and streams GET/HEAD responses
// back. See README.md.
//
//	yatagarasu [-config config.toml]
//	yatagarasu -validate [-config config.toml]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"yatagarasu/config"
)

func main() {
	startsProcess = true
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// startsProcess says that run is the process's own (main, or a test's child
// process), not a call inside a test binary: only then may run re-execute
// the process (applyTimerSlack).
var startsProcess bool

// run is main without the exit, for tests. It returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("yatagarasu", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "config.toml", "path to the TOML configuration `file`")
	validate := fs.Bool("validate", false, "check the configuration and exit: 0 when valid, 1 with the problems")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *showVersion {
		fmt.Fprintln(stdout, version())
		return 0
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if *validate {
		fmt.Fprintf(stdout, "%s: valid (%d buckets)\n", *path, len(cfg.Buckets))
		return 0
	}

	var slackErr error
	if startsProcess {
		slackErr = applyTimerSlack(cfg.Server.TimerSlack.Duration) // returns only when it did not re-execute
	}
	log := newLogger(stderr, cfg.Log)
	if slackErr != nil {
		log.Warn("running with the timer slack it was started with", "err", slackErr)
	}
	n, err := startNode(cfg, log, nodeOptions{})
	if err != nil {
		log.Error("start failed", "err", err)
		return 1
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	for {
		select {
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				_, _ = n.reloadFile(*path) // logs and counts either way
				continue
			}
			return drain(n, log, sig, sigs)
		case err := <-n.errc:
			log.Error("listener failed", "err", err)
			_ = n.stop(context.Background())
			return 1
		}
	}
}

// drain shuts down gracefully: /ready answers 503 at once while the listener
// keeps serving for drain_delay (so load balancers notice), then the listener
// closes and in-flight requests, streams included, get shutdown_timeout to
// finish. A second SIGTERM/SIGINT exits at once.
func drain(n *node, log *slog.Logger, sig os.Signal, sigs <-chan os.Signal) int {
	srv := n.current().cfg.Server
	log.Info("draining", "signal", sig.String(), "drain_delay", srv.DrainDelay.Duration.String(), "shutdown_timeout", srv.ShutdownTimeout.Duration.String())
	n.gw.SetDraining(true)
	again := func() bool {
		for s := range sigs {
			if s != syscall.SIGHUP {
				return true
			}
		}
		return false
	}
	second := make(chan struct{})
	go func() {
		if again() {
			close(second)
		}
	}()
	select {
	case <-time.After(srv.DrainDelay.Duration):
	case <-second:
		log.Warn("second signal: exiting now")
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), srv.ShutdownTimeout.Duration)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- n.stop(ctx) }()
	select {
	case err := <-done:
		if err != nil {
			log.Error("shutdown", "err", err)
			return 1
		}
		log.Info("stopped")
		return 0
	case <-second:
		log.Warn("second signal: exiting now")
		return 1
	}
}

// newLogger builds the process log from [log]: JSON or text on stderr at the
// configured level. (The access log goes to stdout.)
func newLogger(w io.Writer, c config.Log) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level)) // validated by package config
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// version is the module version stamped by the go command, or "dev".
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}
