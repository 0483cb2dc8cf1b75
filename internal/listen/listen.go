// Package listen words the errors of binding a server's ports the same way
// everywhere: "listen <what> <addr>: <cause>", the cause without the
// syscall noise, so that a failed start says in one line which address and why.
package listen

import (
	"errors"
	"fmt"
	"syscall"
)

// Error words a failure to bind addr for what ("http", "dns", "raft",
// "gossip"). The underlying errno (address already in use, permission
// denied, cannot assign requested address) is kept for errors.Is.
func Error(what, addr string, err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		err = errno
	}
	return fmt.Errorf("listen %s %s: %w", what, addr, err)
}
