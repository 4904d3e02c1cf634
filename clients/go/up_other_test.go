//go:build !linux

package drover_test

import "syscall"

// dieWithParent has no portable equivalent outside Linux; TestMain's teardown stops the
// process.
func dieWithParent(*syscall.SysProcAttr) {}
