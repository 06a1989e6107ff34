//go:build !linux

package s3server

import "syscall"

// procAttr is the default elsewhere: no parent-death signal to ask for.
func procAttr() *syscall.SysProcAttr { return nil }
