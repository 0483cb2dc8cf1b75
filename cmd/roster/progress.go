package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// progressEvery is how often a transfer's progress line is redrawn.
const progressEvery = 250 * time.Millisecond

// progress redraws one status line on a terminal while a transfer runs:
// the bytes so far, the rate, and the share of the total when it is known.
// Counted bytes come through Write (use it in an io.TeeReader or an
// io.MultiWriter). On anything but a terminal it prints nothing, so
// scripts and logs get only the final summary.
type progress struct {
	w     io.Writer
	what  string
	total int64
	start time.Time
	n     atomic.Int64
	stop  chan struct{}
	wg    sync.WaitGroup
}

// startProgress starts redrawing on w when w is a terminal; else it
// returns a progress that only counts.
func startProgress(w io.Writer, what string, total int64) *progress {
	p := &progress{w: w, what: what, total: total, start: time.Now(), stop: make(chan struct{})}
	if !isTerminal(w) {
		return p
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				fmt.Fprintf(p.w, "\r\033[K%s", formatProgress(p.what, p.n.Load(), p.total, time.Since(p.start)))
			case <-p.stop:
				return
			}
		}
	}()
	return p
}

// Write counts b.
func (p *progress) Write(b []byte) (int, error) {
	p.n.Add(int64(len(b)))
	return len(b), nil
}

// finish stops redrawing, clears the line and returns the summary of the
// whole transfer (n bytes).
func (p *progress) finish(n int64) string {
	close(p.stop)
	p.wg.Wait()
	if isTerminal(p.w) {
		fmt.Fprint(p.w, "\r\033[K")
	}
	elapsed := time.Since(p.start)
	return fmt.Sprintf("%s in %s (%s/s)", formatBytes(n), elapsed.Round(time.Millisecond), formatBytes(rate(n, elapsed)))
}

// formatProgress is one progress line: "saving 12.5 MB  8.1 MB/s" or, with
// a known total, "restoring 12.5 MB of 40.0 MB (31%)  8.1 MB/s".
func formatProgress(what string, n, total int64, elapsed time.Duration) string {
	s := what + " " + formatBytes(n)
	if total > 0 {
		s += fmt.Sprintf(" of %s (%d%%)", formatBytes(total), n*100/total)
	}
	return s + "  " + formatBytes(rate(n, elapsed)) + "/s"
}

func rate(n int64, elapsed time.Duration) int64 {
	if elapsed <= 0 {
		return 0
	}
	return int64(float64(n) / elapsed.Seconds())
}

// formatBytes is n in B, kB, MB or GB (powers of 1000, one decimal).
func formatBytes(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, suffix := float64(n)/unit, "kB"
	for _, s := range []string{"MB", "GB", "TB"} {
		if v < unit {
			break
		}
		v, suffix = v/unit, s
	}
	return fmt.Sprintf("%.1f %s", v, suffix)
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
