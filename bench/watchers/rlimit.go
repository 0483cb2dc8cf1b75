package main

import (
	"fmt"
	"syscall"
)

// raiseNoFile raises the soft limit on open files to the hard limit (every
// watcher holds a descriptor) and returns both.
func raiseNoFile() (soft, hard uint64, err error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, 0, fmt.Errorf("read open file limit: %w", err)
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
			return 0, 0, fmt.Errorf("raise open file limit to %d: %w", l.Max, err)
		}
	}
	return l.Cur, l.Max, nil
}
