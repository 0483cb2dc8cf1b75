package client

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// DeregisterOnSignal blocks until SIGINT or SIGTERM arrives or ctx ends,
// then deregisters every registration (allowing them 10 seconds) and
// returns the errors of those that failed. A service calls it last in main:
//
//	reg, err := c.Register(ctx, spec)
//	...
//	if err := client.DeregisterOnSignal(ctx, reg); err != nil { log... }
func DeregisterOnSignal(ctx context.Context, regs ...*Registration) error {
	sigCtx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-sigCtx.Done()
	return DeregisterAll(regs...)
}

// DeregisterAll deregisters every registration, allowing them 10 seconds
// in all, and joins the errors.
func DeregisterAll(regs ...*Registration) error {
	dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var errs []error
	for _, r := range regs {
		if err := r.Deregister(dctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
