//go:build unix

package httpapi

import "syscall"

// FileLimit is the process's open-file limit (RLIMIT_NOFILE, soft; Go
// raises it to the hard limit at start), or 0 when unknown.
func FileLimit() uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	return uint64(rl.Cur)
}
