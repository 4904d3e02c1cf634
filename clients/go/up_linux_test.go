package drover_test

import "syscall"

// dieWithParent has the kernel send SIGTERM to `drover up` if the test binary dies without
// running its teardown (a panic, a kill), so no scheduler or Chromium outlives the tests.
func dieWithParent(attr *syscall.SysProcAttr) {
	attr.Pdeathsig = syscall.SIGTERM
}
