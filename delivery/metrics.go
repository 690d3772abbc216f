package delivery

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/promptd/promptd"
)

// Metrics are the engine's Prometheus metrics. Their labels are bounded sets (outcome,
// status class), never a webhook id, so cardinality does not grow with the number of
// webhooks. A nil *Metrics is valid and records nothing.
type Metrics struct {
	events      *prometheus.CounterVec
	deliveries  *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	recordLag   prometheus.Histogram
	inFlightG   prometheus.Gauge
	waitingG    prometheus.Gauge
	handedOverC prometheus.Counter
	filterErrs  prometheus.Counter
}

// NewMetrics registers the engine's metrics, and a collector that reads queue depth and
// disabled webhooks from q at scrape time, with reg.
func NewMetrics(reg prometheus.Registerer, q promptd.Queue) (*Metrics, error) {
	m := &Metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "promptd_events_published_total",
			Help: "Events committed by this instance, by class: the resource of a built-in event type (prompt, prompt-version, webhook…) or custom.",
		}, []string{"class"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "promptd_delivery_attempts_total",
			Help: "Delivery attempts by outcome: succeeded, retry (failed, will be retried) or failed (no retry left).",
		}, []string{"outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "promptd_delivery_attempt_duration_seconds",
			Help:    "Duration of delivery attempts, by response class (2xx, 3xx, 4xx, 5xx, error).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"class"}),
		recordLag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "promptd_delivery_record_delay_seconds",
			Help: "Time from the end of a delivery attempt to the commit of its result: a delivery whose request ended within this window before a crash is sent again.",
			// Finer between 10 and 150 ms, where results gathered for 25 ms (PostgreSQL)
			// are committed, so that quantiles there are not read off 50 ms wide buckets.
			Buckets: []float64{.001, .0025, .005, .01, .02, .03, .04, .05, .075, .1, .15, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		inFlightG: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "promptd_delivery_requests_in_flight",
			Help: "Webhook requests in flight in this instance.",
		}),
		waitingG: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "promptd_delivery_claimed_waiting",
			Help: "Deliveries this instance claimed ahead of its webhooks' free slots and has not started yet.",
		}),
		handedOverC: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "promptd_delivery_handed_over_total",
			Help: "Deliveries handed to this instance's engine at publish, leased, instead of claimed afterwards.",
		}),
		filterErrs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "promptd_filter_errors_total",
			Help: "Evaluations of webhooks' CEL filters that failed at fan-out in this instance (a field the event lacks, a wrong type, the cost limit); the event did not match the webhook.",
		}),
	}
	// Every label value starts at 0, so that rate() and increase() see the first one.
	for _, class := range eventClasses() {
		m.events.WithLabelValues(class)
	}
	for _, outcome := range []string{"succeeded", "retry", "failed"} {
		m.deliveries.WithLabelValues(outcome)
	}
	for _, c := range []prometheus.Collector{m.events, m.deliveries, m.latency, m.recordLag, m.inFlightG, m.waitingG, m.handedOverC, m.filterErrs, &queueCollector{q: q}} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// eventClasses are the values of promptd_events_published_total's class label.
func eventClasses() []string {
	var out []string
	for _, t := range promptd.BuiltinEventTypes {
		if c := eventClass(t); !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return append(out, "custom")
}

// eventClass is the class of an event type: the resource of a built-in type, else custom.
func eventClass(eventType string) string {
	if !slices.Contains(promptd.BuiltinEventTypes, eventType) {
		return "custom"
	}
	resource, _, _ := strings.Cut(eventType, ".")
	return resource
}

// EventPublished counts one committed event of the given type; give it to the store's
// SetEventCounter.
func (m *Metrics) EventPublished(eventType string) {
	if m != nil {
		m.events.WithLabelValues(eventClass(eventType)).Inc()
	}
}

// FilterFailed counts one failed evaluation of a webhook's CEL filter; call it from the
// store's filter error handler (SetFilterErrorHandler).
func (m *Metrics) FilterFailed() {
	if m != nil {
		m.filterErrs.Inc()
	}
}

func (m *Metrics) inFlight(n int) {
	if m != nil {
		m.inFlightG.Set(float64(n))
	}
}

// handedOver counts jobs handed over at publish (Engine.Deliver).
func (m *Metrics) handedOver(n int) {
	if m != nil && n > 0 {
		m.handedOverC.Add(float64(n))
	}
}

func (m *Metrics) claimedWaiting(n int) {
	if m != nil {
		m.waitingG.Set(float64(n))
	}
}

// recorded counts a result whose commit came delay after the engine handed it over.
func (m *Metrics) recorded(res *promptd.JobResult, delay time.Duration) {
	if m == nil {
		return
	}
	m.recordLag.Observe(delay.Seconds())
	outcome := "retry"
	switch res.Status {
	case promptd.StatusSucceeded:
		outcome = "succeeded"
	case promptd.StatusFailed:
		outcome = "failed"
	}
	m.deliveries.WithLabelValues(outcome).Inc()
	class := "error"
	if c := res.Attempt.StatusCode; c >= 100 && c < 600 {
		class = strconv.Itoa(c/100) + "xx"
	}
	d := res.Attempt.Duration
	if d == 0 {
		d = time.Duration(res.Attempt.DurationMs) * time.Millisecond
	}
	m.latency.WithLabelValues(class).Observe(d.Seconds())
}

// queueCollector reads the queue's counts when Prometheus scrapes.
type queueCollector struct{ q promptd.Queue }

// The queue gauges count rows of the shared database: every instance on one PostgreSQL
// exports the same values (aggregate them with max, not sum).
var (
	pendingDesc  = prometheus.NewDesc("promptd_queue_pending", "Deliveries waiting for an attempt, due or not; database-wide (every instance sharing the database exports the same value).", nil, nil)
	dueDesc      = prometheus.NewDesc("promptd_queue_due", "Deliveries due now and not yet claimed; database-wide (every instance sharing the database exports the same value).", nil, nil)
	leasedDesc   = prometheus.NewDesc("promptd_queue_delivering", "Deliveries claimed by an engine, in any instance; database-wide (every instance sharing the database exports the same value).", nil, nil)
	disabledDesc = prometheus.NewDesc("promptd_webhooks_disabled", "Webhooks currently disabled; database-wide (every instance sharing the database exports the same value).", nil, nil)
)

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- pendingDesc
	ch <- dueDesc
	ch <- leasedDesc
	ch <- disabledDesc
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := c.q.Stats(ctx, time.Now())
	if err != nil {
		for _, d := range []*prometheus.Desc{pendingDesc, dueDesc, leasedDesc, disabledDesc} {
			ch <- prometheus.NewInvalidMetric(d, err)
		}
		return
	}
	ch <- prometheus.MustNewConstMetric(pendingDesc, prometheus.GaugeValue, float64(st.Pending))
	ch <- prometheus.MustNewConstMetric(dueDesc, prometheus.GaugeValue, float64(st.Due))
	ch <- prometheus.MustNewConstMetric(leasedDesc, prometheus.GaugeValue, float64(st.Delivering))
	ch <- prometheus.MustNewConstMetric(disabledDesc, prometheus.GaugeValue, float64(st.DisabledWebhooks))
}
