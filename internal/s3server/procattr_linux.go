package s3server

import "syscall"

// procAttr makes the server die with the process that started it: a test
// binary that panics on its timeout exits without running TestMain's Stop,
// and would leave the server running on its port and root.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
