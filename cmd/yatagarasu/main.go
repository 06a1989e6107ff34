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

// shutdownTimeout bounds how long in-flight requests get at shutdown.
const shutdownTimeout = 30 * time.Second

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

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

	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	n, err := startNode(cfg, log, nodeOptions{})
	if err != nil {
		log.Error("start failed", "err", err)
		return 1
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	select {
	case sig := <-sigs:
		log.Info("shutting down", "signal", sig.String())
	case err := <-n.errc:
		log.Error("listener failed", "err", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := n.stop(ctx); err != nil {
		log.Error("shutdown", "err", err)
		return 1
	}
	return 0
}

// version is the module version stamped by the go command, or "dev".
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}
