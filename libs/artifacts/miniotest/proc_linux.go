package miniotest

import "syscall"

// sysProcAttr kills the server if the process that started it dies without
// cleaning up (a crashed or killed test binary).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
