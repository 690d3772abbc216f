package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Observer writes the access log and the HTTP metrics of every request the server answers,
// API and dashboard alike. Wrap the server's root handler with it; the API fills in what only
// it knows (the route template, the API key's id) through the request's context.
type Observer struct {
	logger   *slog.Logger
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewObserver returns an Observer that logs to logger (nil: no access log) and registers
// its metrics with reg (nil: no metrics):
//
//	promptd_http_requests_total{route, method, status}
//	promptd_http_request_duration_seconds{route, method}
//
// route is the operation's path template (/api/v1/prompts/{name}), never the raw path, so
// that the label's values stay few: "dashboard" for the dashboard's pages, "unmatched" for
// paths nothing serves.
func NewObserver(logger *slog.Logger, reg prometheus.Registerer) (*Observer, error) {
	o := &Observer{
		logger: logger,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "promptd_http_requests_total",
			Help: "HTTP requests answered, by route template, method and status code.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "promptd_http_request_duration_seconds",
			Help:    "Time to answer HTTP requests, by route template and method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 15},
		}, []string{"route", "method"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{o.requests, o.duration} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return o, nil
}

// requestNote is what the API learns about a request that the access log and the metrics
// want: its route template and the id of the API key that made it.
type requestNote struct {
	route string
	keyID string
}

type noteKey struct{}

// note returns the request's note, or nil when no Observer wraps the server.
func note(ctx context.Context) *requestNote {
	n, _ := ctx.Value(noteKey{}).(*requestNote)
	return n
}

// noteRoute records the route template that serves the request.
func noteRoute(ctx context.Context, route string) {
	if n := note(ctx); n != nil {
		n.route = route
	}
}

// noteKeyID records the id of the API key that made the request (never the key itself).
func noteKeyID(ctx context.Context, id string) {
	if n := note(ctx); n != nil {
		n.keyID = id
	}
}

// statusWriter remembers the status a handler answered with.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (flushing, deadlines).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Wrap returns next, observed.
func (o *Observer) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		n := &requestNote{}
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), noteKey{}, n)))
		took := time.Since(start)
		status := sw.status
		if status == 0 {
			status = http.StatusOK
		}
		route := n.route
		if route == "" {
			route = fallbackRoute(r.URL.Path)
		}
		o.requests.WithLabelValues(route, r.Method, strconv.Itoa(status)).Inc()
		o.duration.WithLabelValues(route, r.Method).Observe(took.Seconds())
		if o.logger == nil {
			return
		}
		level := slog.LevelInfo
		switch {
		case status >= 500:
			level = slog.LevelError
		case route == "/healthz" || route == "/readyz" || route == "/metrics" || strings.HasPrefix(route, "/static/"):
			level = slog.LevelDebug // probes and scrapes would drown the rest
		}
		attrs := []slog.Attr{
			slog.String("method", r.Method), slog.String("route", route), slog.String("path", r.URL.Path),
			slog.Int("status", status), slog.Float64("duration_ms", float64(took.Microseconds())/1000),
		}
		if n.keyID != "" {
			attrs = append(attrs, slog.String("key_id", n.keyID))
		}
		o.logger.LogAttrs(r.Context(), level, "request", attrs...)
	})
}

// fallbackRoute names the route of a request the API did not note: the fixed paths as they
// are, the dashboard as one route.
func fallbackRoute(path string) string {
	switch {
	case path == "/metrics", path == "/healthz", path == "/readyz",
		path == "/api/openapi.json", path == "/api/openapi.yaml", path == "/api/docs":
		return path
	case strings.HasPrefix(path, "/api/public/"):
		return "/api/public" // paths the Langfuse-compatible API does not serve (its routes note their templates)
	case strings.HasPrefix(path, "/api/"):
		return "unmatched"
	}
	return "dashboard"
}
