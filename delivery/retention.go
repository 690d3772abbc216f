package delivery

import (
	"context"
	"log/slog"
	"time"

	"github.com/promptd/promptd"
)

// DefaultRetention is how long finished deliveries, their attempts and events are kept.
const DefaultRetention = 30 * 24 * time.Hour

// RunRetention purges what is older than retention from q every interval (and once at
// start) until ctx ends. The store makes sure only one instance purges at a time.
func RunRetention(ctx context.Context, q promptd.Queue, retention, interval time.Duration, now func() time.Time, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		n, err := q.Purge(ctx, now().Add(-retention))
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("retention purge", "err", err)
		case n > 0:
			log.Info("retention purge", "rows", n, "older_than", retention)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
