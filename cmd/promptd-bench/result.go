package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"text/tabwriter"

	"github.com/promptd/promptd"
)

// Result is one scenario's outcome: the table row and the -json object.
type Result struct {
	Scenario string `json:"scenario"`
	// Bin is the label of the promptd binary that ran (-compare only).
	Bin string `json:"bin,omitempty"`
	// Store is "sqlite" or "postgres".
	Store     string  `json:"store"`
	DurationS float64 `json:"duration_s"`
	// DeliveriesPerSec is the steady rate at the receiver: for flat-out scenarios the
	// deliveries that arrived between the end of the warm-up and the end of publishing, per
	// second; for backlog the middle 90 % of the drain; for latency the paced rate achieved.
	DeliveriesPerSec float64 `json:"deliveries_per_sec"`
	// BaselinePerSec is the bare sender's rate (sign + POST, no store) to the same
	// endpoints in the same run; Ratio is DeliveriesPerSec / BaselinePerSec. Null when not
	// measured.
	BaselinePerSec *float64 `json:"baseline_per_sec"`
	Ratio          *float64 `json:"ratio"`
	// P50ms and P99ms are end-to-end latencies, from the API answering 201 to the receiver
	// reading the request. Under a flat-out load they are mostly queueing time.
	P50ms *float64 `json:"p50_ms"`
	P99ms *float64 `json:"p99_ms"`
	// P50FromSendMs and P99FromSendMs measure the same from the publisher sending the API
	// call instead: together the two pairs bracket the time from the commit.
	P50FromSendMs *float64 `json:"p50_from_send_ms"`
	P99FromSendMs *float64 `json:"p99_from_send_ms"`
	// P50CommitMs and P99CommitMs measure it from the event's own timestamp (the store clock
	// when its transaction began, cut to the millisecond): the nearest to "from the commit".
	P50CommitMs *float64 `json:"p50_commit_ms"`
	P99CommitMs *float64 `json:"p99_commit_ms"`
	// Delivered counts requests received for acknowledged events; Missing the (event,
	// webhook) pairs never received; Duplicates the requests beyond the first per pair;
	// Unexpected the requests for events the API never acknowledged.
	Delivered  int64 `json:"delivered"`
	Missing    int64 `json:"missing"`
	Duplicates int64 `json:"duplicates"`
	Unexpected int64 `json:"unexpected"`
	// RSSMiB is promptd's peak resident set (VmHWM; the largest of its processes);
	// CPUSeconds the CPU time promptd used during the measured phase (all processes).
	RSSMiB     float64 `json:"rss_mib"`
	CPUSeconds float64 `json:"cpu_seconds"`
	// PGCPUSeconds is the PostgreSQL server's CPU time over the same phase (PostgreSQL
	// scenarios; null for SQLite): the backends of the run's connections plus the server's own
	// processes (WAL writer, checkpointer, …), from /proc. SystemCPUMsPerDelivery is promptd's
	// and PostgreSQL's CPU together per delivered request, in ms: the whole system's cost of a
	// delivery (on SQLite the store runs inside promptd, so it equals CPUMsPerDelivery).
	PGCPUSeconds           *float64 `json:"pg_cpu_seconds"`
	SystemCPUMsPerDelivery *float64 `json:"system_cpu_ms_per_delivery"`
	// BenchCPUSeconds is the bench process's own CPU time over the same phase (publishers
	// and receiver share the machine with promptd); StealPct the share of the machine's CPU
	// time the hypervisor gave to other guests meanwhile (a noisy neighbour's mark).
	BenchCPUSeconds float64 `json:"bench_cpu_seconds"`
	StealPct        float64 `json:"steal_pct"`
	// CPUMsPerDelivery is CPUSeconds per delivered request, in ms (it includes the API's
	// share of publishing).
	CPUMsPerDelivery float64 `json:"cpu_ms_per_delivery"`
	Webhooks         int     `json:"webhooks"`
	Published        int64   `json:"published"`
	PublishPerSec    float64 `json:"publish_per_sec"`
	PublishErrors    int64   `json:"publish_errors"`
	// DrainS is the time from the end of publishing (backlog: from starting the engine) to
	// the last delivery.
	DrainS float64 `json:"drain_s"`
	// DrainPerSec is the delivery rate after publishing stopped, while deliveries were
	// still queued (at least a second of them): the engine without the API beside it.
	DrainPerSec *float64 `json:"drain_per_sec,omitempty"`
	// HandedOver is how many deliveries the instances' engines took at publish instead of
	// claiming them (promptd_delivery_handed_over_total, summed); absent when promptd does
	// not export it.
	HandedOver *int64 `json:"handed_over,omitempty"`
	// RecordWithin100msPct is the share of results committed within 100 ms of the end of
	// their attempt, RecordP50ms/RecordP99ms the time estimated from the buckets of
	// promptd_delivery_record_delay_seconds (summed over the instances, over the whole run:
	// warm-up and drain too); absent when promptd does not export it.
	RecordWithin100msPct *float64 `json:"record_within_100ms_pct,omitempty"`
	RecordP50ms          *float64 `json:"record_p50_ms,omitempty"`
	RecordP99ms          *float64 `json:"record_p99_ms,omitempty"`
	// ReferencePerSec is the figure this one is compared with (filter10: the same webhooks
	// without filters; hang: the healthy webhooks without a hanging one; backlog: the drain
	// of a small queue); ReferenceRatio the ratio.
	ReferencePerSec *float64 `json:"reference_per_sec,omitempty"`
	ReferenceRatio  *float64 `json:"reference_ratio,omitempty"`
	// ReferenceSystemCPUMsPerDelivery is the reference's SystemCPUMsPerDelivery (postgres2:
	// postgres1's, one instance in the same run).
	ReferenceSystemCPUMsPerDelivery *float64 `json:"reference_system_cpu_ms_per_delivery,omitempty"`
	// OrderViolations (ordered) counts requests for an earlier event of a prompt that arrived
	// after a later one at the same endpoint, with ordering per-prompt; ReferenceViolations the
	// same without ordering.
	OrderViolations     *int64 `json:"order_violations,omitempty"`
	ReferenceViolations *int64 `json:"reference_violations,omitempty"`
	// CrashDuplicates are, in the crash scenario, the duplicates each kill caused, and
	// RecoveryS the seconds from each restart until every acknowledged event had arrived and
	// the queue was empty; RecoveryMedianS is their median. CrashInFlight is what the
	// killed promptd reported in promptd_delivery_requests_in_flight just before each kill
	// (-1: not read).
	CrashDuplicates []int64   `json:"duplicates_per_crash,omitempty"`
	CrashInFlight   []int64   `json:"in_flight_at_crash,omitempty"`
	RecoveryS       []float64 `json:"recovery_s,omitempty"`
	RecoveryMedianS *float64  `json:"recovery_median_s,omitempty"`
	// Target is the §7 target; Met whether this run meets it (and lost nothing).
	Target    string   `json:"target"`
	Met       bool     `json:"met"`
	GoVersion string   `json:"go_version"`
	NumCPU    int      `json:"num_cpu"`
	Profile   string   `json:"profile,omitempty"`
	Notes     []string `json:"notes,omitempty"`
}

// note adds a line to the result's notes.
func (r *Result) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

// published records a publishing run: the events acknowledged, the errors and the rate.
func (r *Result) published(st publishStats) {
	r.Published = int64(len(st.Acks))
	r.PublishErrors = st.Errors
	if st.Elapsed > 0 {
		r.PublishPerSec = round(float64(len(st.Acks))/st.Elapsed.Seconds(), 1)
	}
	if st.FirstErr != nil {
		r.note("first publish error: %v", st.FirstErr)
	}
}

// counted records what the receiver got against what was acknowledged.
func (r *Result) counted(t tally) {
	r.Delivered, r.Missing, r.Duplicates, r.Unexpected = t.Delivered, t.Missing, t.Duplicates, t.Unexpected
}

// against records ref as the run r is compared with: its rate, the ratio of r's to it and
// the larger peak RSS of the two.
func (r *Result) against(ref *Result) {
	r.ReferencePerSec = ptr(round(ref.DeliveriesPerSec, 1))
	if ref.DeliveriesPerSec > 0 {
		r.ReferenceRatio = ptr(round(r.DeliveriesPerSec/ref.DeliveriesPerSec, 3))
	}
	r.RSSMiB = max(r.RSSMiB, ref.RSSMiB)
}

// ptr returns a pointer to a copy of v.
func ptr(v float64) *float64 { return &v }

// round rounds v to the given number of decimals.
func round(v float64, decimals int) float64 {
	p := math.Pow(10, float64(decimals))
	return math.Round(v*p) / p
}

// recordDelay keeps the figures of the results' commit delay, h (nil: not measured).
func (r *Result) recordDelay(h *histogram) {
	if h == nil {
		return
	}
	share, ok := h.within(0.1)
	if !ok {
		return
	}
	r.RecordWithin100msPct = ptr(round(share*100, 1))
	r.RecordP50ms, r.RecordP99ms = ptr(round(h.quantile(0.5)*1000, 1)), ptr(round(h.quantile(0.99)*1000, 1))
}

// finish fills the ratio, the machine fields and the verdict against target.
func (r *Result) finish() {
	r.GoVersion = runtime.Version()
	r.NumCPU = runtime.NumCPU()
	if r.BaselinePerSec != nil && *r.BaselinePerSec > 0 {
		r.Ratio = ptr(round(r.DeliveriesPerSec / *r.BaselinePerSec, 3))
	}
	if r.Delivered > 0 {
		r.CPUMsPerDelivery = round(r.CPUSeconds*1000/float64(r.Delivered), 4)
		sys := r.CPUSeconds
		if r.PGCPUSeconds != nil {
			sys += *r.PGCPUSeconds
		}
		if r.CPUSeconds > 0 && (r.Store == "sqlite" || r.PGCPUSeconds != nil) {
			r.SystemCPUMsPerDelivery = ptr(round(sys*1000/float64(r.Delivered), 4))
		}
	}
	r.DeliveriesPerSec = round(r.DeliveriesPerSec, 1)
	lossless := r.Missing == 0 && r.RSSMiB <= 300
	ratioOK := r.Ratio != nil && *r.Ratio >= 0.5
	refOK := func(min float64) bool { return r.ReferenceRatio != nil && *r.ReferenceRatio >= min }
	switch r.Scenario {
	case "single":
		r.Target = "≥ 5000/s, ratio ≥ 0.5"
		r.Met = lossless && r.DeliveriesPerSec >= 5000 && ratioOK
	case "fanout10":
		r.Target = "≥ 8000/s, ratio ≥ 0.5"
		r.Met = lossless && r.DeliveriesPerSec >= 8000 && ratioOK
	case "filter10":
		r.Target = "≥ 0.8 × fanout10 without filters"
		r.Met = lossless && refOK(0.8)
	case "latency":
		r.Target = "p50 ≤ 5 ms, p99 ≤ 25 ms"
		r.Met = lossless && r.P50ms != nil && *r.P50ms <= 5 && *r.P99ms <= 25
	case "backlog":
		r.Target = "≥ 0.8 × small-queue drain"
		r.Met = lossless && refOK(0.8)
	case "hang":
		r.Target = "healthy ≥ 0.9 × normal"
		r.Met = lossless && refOK(0.9)
	case "postgres1":
		r.Target = "none lost, no duplicates"
		r.Met = lossless && r.Duplicates == 0
	case "postgres2":
		r.Target = "≥ 3000/s, ratio ≥ 0.15 (issue 17), none lost, no duplicates"
		r.Met = lossless && r.Duplicates == 0 && r.DeliveriesPerSec >= 3000 && r.Ratio != nil && *r.Ratio >= 0.15
	case "crash":
		// Issue 17: at most the in-flight cap plus 10 % re-sent per kill, nothing lost.
		limit := int64(promptd.DefaultMaxInFlight) * 11 / 10
		r.Target = fmt.Sprintf("none lost, ≤ %d duplicates per kill", limit)
		r.Met = lossless && len(r.CrashDuplicates) > 0 && slices.Max(r.CrashDuplicates) <= limit
	}
	r.Target += ", RSS ≤ 300 MiB"
}

// headline is the figure that orders runs of one scenario when picking the median run.
func (r *Result) headline() float64 {
	switch r.Scenario {
	case "latency":
		if r.P99ms != nil {
			return *r.P99ms
		}
	case "crash":
		if len(r.CrashDuplicates) > 0 {
			return float64(slices.Max(r.CrashDuplicates))
		}
	case "backlog", "hang", "filter10", "ordered":
		if r.ReferenceRatio != nil {
			return *r.ReferenceRatio
		}
	}
	return r.DeliveriesPerSec
}

// name is how the table names r: its scenario, and the binary that ran it (-compare).
func (r *Result) name() string {
	if r.Bin == "" {
		return r.Scenario
	}
	return r.Scenario + " [" + r.Bin + "]"
}

// writeJSON writes r as one line of JSON.
func writeJSON(w io.Writer, r *Result) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// writeTable prints the results as an aligned table followed by their notes.
func writeTable(w io.Writer, rs []*Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tstore\tdeliv/s\tbaseline/s\tratio\tref/s\tref ratio\tp50 ms\tp99 ms\tdelivered\tmissing\tdup\tRSS MiB\tCPU s\tPG CPU s\tsys ms/deliv\tmet\t")
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t%s\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%.0f\t%.1f\t%s\t%s\t%s\t\n",
			r.name(), r.Store, r.DeliveriesPerSec, opt(r.BaselinePerSec, 0), opt(r.Ratio, 2),
			opt(r.ReferencePerSec, 0), opt(r.ReferenceRatio, 2), opt(r.P50ms, 1), opt(r.P99ms, 1),
			r.Delivered, r.Missing, r.Duplicates, r.RSSMiB, r.CPUSeconds, opt(r.PGCPUSeconds, 1), opt(r.SystemCPUMsPerDelivery, 3), yesNo(r.Met))
	}
	tw.Flush()
	for _, r := range rs {
		fmt.Fprintf(w, "\n%s (target %s): published %d events (%.0f/s, %d errors) to %d webhooks; drain %.1fs",
			r.name(), r.Target, r.Published, r.PublishPerSec, r.PublishErrors, r.Webhooks, r.DrainS)
		if r.DrainPerSec != nil {
			fmt.Fprintf(w, " at %.0f/s", *r.DrainPerSec)
		}
		fmt.Fprintf(w, "; %.3f ms promptd CPU per delivery; bench CPU %.1fs; steal %.0f%%", r.CPUMsPerDelivery, r.BenchCPUSeconds, r.StealPct)
		if r.HandedOver != nil {
			fmt.Fprintf(w, "; %d deliveries handed over at publish", *r.HandedOver)
		}
		if r.RecordWithin100msPct != nil {
			fmt.Fprintf(w, "; results committed %.1f ms (p50) / %.1f ms (p99) after their attempt, %.1f%% within 100 ms",
				*r.RecordP50ms, *r.RecordP99ms, *r.RecordWithin100msPct)
		}
		if r.Unexpected > 0 {
			fmt.Fprintf(w, "; %d unexpected requests", r.Unexpected)
		}
		fmt.Fprintln(w)
		for _, n := range r.Notes {
			fmt.Fprintf(w, "  - %s\n", n)
		}
		if r.Profile != "" {
			fmt.Fprintf(w, "  - profile: %s\n", r.Profile)
		}
	}
}

func opt(v *float64, decimals int) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.*f", decimals, *v)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "NO"
}
