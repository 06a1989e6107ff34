package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// The real S3 clients the tests drive (aws CLI, rclone, s3cmd) come from
// Debian's packages. A missing one is installed with apt-get when the tests
// run as root; otherwise, or when the install fails, each test that needs it
// is skipped with a message naming the package.

// clientPackages maps a client command to its Debian package.
var clientPackages = map[string]string{"aws": "awscli", "rclone": "rclone", "s3cmd": "s3cmd"}

// clientInstallTimeout bounds one apt-get run.
const clientInstallTimeout = 10 * time.Minute

// clientInstalls remembers one install attempt per package for the test
// process: a failed install is not retried by every test.
var clientInstalls sync.Map // package name → *clientInstall

type clientInstall struct {
	once sync.Once
	err  error
}

// requireClient returns the path of the client command name, installing its
// Debian package first when it is missing and the process runs as root. It
// skips t, saying why, when the client cannot be had.
func requireClient(t testing.TB, name string) string {
	t.Helper()
	if p := findClient(name); p != "" {
		return p
	}
	pkg := clientPackages[name]
	if os.Geteuid() != 0 {
		t.Skipf("%s not installed (Debian package %s; the tests install it when run as root)", name, pkg)
	}
	v, _ := clientInstalls.LoadOrStore(pkg, &clientInstall{})
	in := v.(*clientInstall)
	in.once.Do(func() { in.err = aptInstall(pkg) })
	if in.err != nil {
		t.Skipf("%s not installed and apt-get install %s failed: %v", name, pkg, in.err)
	}
	p := findClient(name)
	if p == "" {
		t.Skipf("%s still not found after apt-get install %s", name, pkg)
	}
	return p
}

// findClient returns a working client command: for aws, Debian's
// /usr/bin/aws first, then any aws on PATH that answers --version.
func findClient(name string) string {
	candidates := []string{name}
	if name == "aws" {
		candidates = []string{"/usr/bin/aws", "aws"}
	}
	for _, c := range candidates {
		p, err := exec.LookPath(c)
		if err != nil {
			continue
		}
		if name != "aws" || exec.Command(p, "--version").Run() == nil {
			return p
		}
	}
	return ""
}

// aptInstall installs pkg non-interactively, refreshing the package lists
// once when the first attempt fails (a fresh container has none).
func aptInstall(pkg string) error {
	apt, err := exec.LookPath("apt-get")
	if err != nil {
		return fmt.Errorf("no apt-get: %w", err)
	}
	run := func(args ...string) error {
		ctx, cancel := context.WithTimeout(context.Background(), clientInstallTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, apt, args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("apt-get %s: %w: %s", strings.Join(args, " "), err, lastLines(string(out), 3))
		}
		return nil
	}
	install := []string{"install", "-y", "--no-install-recommends", pkg}
	if err := run(install...); err == nil {
		return nil
	}
	if err := run("update"); err != nil {
		return err
	}
	return run(install...)
}

// lastLines is the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
