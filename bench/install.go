package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
)

// Finding the external tools (wrk, nginx, haproxy, taskset) and, when the
// harness runs as root on Debian, installing a missing one with apt-get.

// findTool returns the path of a program from PATH, or from the sbin
// directories a non-root PATH often lacks; "" when absent.
func findTool(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// ensureTool finds name or, as root with apt-get available, installs the
// Debian package pkg (refreshing the package lists once if the first try
// fails). The error says why the tool is unavailable.
func ensureTool(name, pkg string, w io.Writer) (string, error) {
	if p := findTool(name); p != "" {
		return p, nil
	}
	if os.Geteuid() != 0 {
		return "", fmt.Errorf("bench: %s not installed and not root, so not installing %s", name, pkg)
	}
	apt := findTool("apt-get")
	if apt == "" {
		return "", fmt.Errorf("bench: %s not installed and no apt-get", name)
	}
	fmt.Fprintf(w, "%s: not found, running apt-get install -y %s\n", name, pkg)
	install := func() error {
		cmd := exec.Command(apt, "install", "-y", "--no-install-recommends", pkg)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		cmd.Stdout, cmd.Stderr = w, w
		return cmd.Run()
	}
	if err := install(); err != nil {
		update := exec.Command(apt, "update")
		update.Stdout, update.Stderr = w, w
		if uerr := update.Run(); uerr != nil {
			return "", fmt.Errorf("bench: apt-get update: %w", errors.Join(err, uerr))
		}
		if err := install(); err != nil {
			return "", fmt.Errorf("bench: apt-get install %s: %w", pkg, err)
		}
	}
	if p := findTool(name); p != "" {
		return p, nil
	}
	return "", fmt.Errorf("bench: %s still missing after installing %s", name, pkg)
}
