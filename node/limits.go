package node

import (
	"log/slog"

	"github.com/rosterhq/roster/httpapi"
)

// httpLimits derives the HTTP connection cap from the file limit (unless
// MaxConns sets it; negative: no cap) and checks the watcher limit against
// it: a watcher limit the connections cannot hold is lowered, with a
// warning, so that watchers meet their 429 before the connection cap.
func httpLimits(cfg Config, log *slog.Logger) (conns, watchers int) {
	conns = cfg.MaxConns
	fileLimit := httpapi.FileLimit()
	if conns == 0 && fileLimit > 0 {
		conns = httpapi.ConnCap(fileLimit)
	}
	watchers = cfg.HTTP.MaxWatchers
	if watchers <= 0 {
		watchers = httpapi.DefaultMaxWatchers
	}
	if conns > 0 {
		if wc := httpapi.WatcherCap(conns); watchers > wc {
			log.Warn("max watchers lowered to fit the connection cap; raise the file limit (ulimit -n) to allow more",
				"max_watchers", watchers, "lowered_to", wc, "max_conns", conns, "file_limit", fileLimit)
			watchers = wc
		}
	}
	log.Info("http limits", "max_conns", conns, "max_watchers", watchers, "file_limit", fileLimit)
	return conns, watchers
}
