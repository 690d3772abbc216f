package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	t.Parallel()
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one", ms(7), 99, 7 * time.Millisecond},
		{"p0 is the minimum", ms(1, 2, 3), 0, time.Millisecond},
		{"p100 is the maximum", ms(1, 2, 3), 100, 3 * time.Millisecond},
		{"p50 of 1..100", ms(hundred...), 50, 50 * time.Millisecond},
		{"p99 of 1..100", ms(hundred...), 99, 99 * time.Millisecond},
		{"p99.9 of 1..100 rounds up", ms(hundred...), 99.9, 100 * time.Millisecond},
		{"p50 of four is the second", ms(10, 20, 30, 40), 50, 20 * time.Millisecond},
		{"p51 of four is the third", ms(10, 20, 30, 40), 51, 30 * time.Millisecond},
		{"negative values stay", ms(-3, 1, 2), 1, -3 * time.Millisecond},
	}
	for _, tc := range tests {
		if got := percentile(tc.sorted, tc.p); got != tc.want {
			t.Errorf("%s: percentile(%v, %v) = %v, want %v", tc.name, tc.sorted, tc.p, got, tc.want)
		}
	}
}

func TestRates(t *testing.T) {
	t.Parallel()
	// One instant every 10 ms for 10 s: 100/s.
	var ts []time.Duration
	for i := range 1000 {
		ts = append(ts, time.Duration(i)*10*time.Millisecond)
	}
	if got := rateIn(ts, 2*time.Second, 4*time.Second); got != 100 {
		t.Errorf("rateIn = %v, want 100", got)
	}
	if got := rateIn(ts, time.Second, time.Second); got != 0 {
		t.Errorf("rateIn of an empty window = %v, want 0", got)
	}
	if got := bodyRate(ts, 0.05, 0.95); got < 99.9 || got > 100.1 {
		t.Errorf("bodyRate = %v, want 100", got)
	}
	// A slow start and a long tail do not count.
	skewed := append([]time.Duration{-5 * time.Second}, ts...)
	skewed = append(skewed, 60*time.Second)
	if got := bodyRate(skewed, 0.05, 0.95); got < 99 || got > 101 {
		t.Errorf("bodyRate with outliers = %v, want about 100", got)
	}
	if got := bodyRate(ts[:5], 0.05, 0.95); got != 0 {
		t.Errorf("bodyRate of too few = %v, want 0", got)
	}
}

func TestParseStatCPU(t *testing.T) {
	t.Parallel()
	// A command name with spaces and a parenthesis; utime 250 and stime 50 ticks = 3 s.
	stat := "4242 (prompt d) x) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 50 0 0 20 0 12 0 99 1000 200"
	got, err := parseStatCPU([]byte(stat))
	if err != nil || got != 3*time.Second {
		t.Fatalf("parseStatCPU = %v, %v; want 3s", got, err)
	}
	for _, bad := range []string{"", "4242 no name", "4242 (x) S 1 2 3", "4242 (x) S 1 2 3 4 5 6 7 8 9 10 u s"} {
		if _, err := parseStatCPU([]byte(bad)); err == nil {
			t.Errorf("parseStatCPU(%q): no error", bad)
		}
	}
}

func TestParseStatusKiB(t *testing.T) {
	t.Parallel()
	status := "Name:\tpromptd\nVmPeak:\t 1300000 kB\nVmHWM:\t   51234 kB\nVmRSS:\t   40000 kB\n"
	if got, err := parseStatusKiB([]byte(status), "VmHWM"); err != nil || got != 51234 {
		t.Errorf("VmHWM = %d, %v; want 51234", got, err)
	}
	if got, err := parseStatusKiB([]byte(status), "VmRSS"); err != nil || got != 40000 {
		t.Errorf("VmRSS = %d, %v; want 40000", got, err)
	}
	if _, err := parseStatusKiB([]byte(status), "VmSwap"); err == nil {
		t.Error("a missing field: no error")
	}
	if _, err := parseStatusKiB([]byte("VmHWM:\t12 MB\n"), "VmHWM"); err == nil {
		t.Error("a unit other than kB: no error")
	}
}

func TestReadUsageOfSelf(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	u, err := readUsage(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if u.PeakKiB <= 0 {
		t.Errorf("peak RSS %d KiB", u.PeakKiB)
	}
}

func TestParseMetric(t *testing.T) {
	t.Parallel()
	text := "# HELP promptd_queue_pending x\n# TYPE promptd_queue_pending gauge\npromptd_queue_pending 12345\npromptd_queue_pending_total 1\n"
	if v, ok := parseMetric(strings.NewReader(text), "promptd_queue_pending"); !ok || v != 12345 {
		t.Errorf("got %v, %v", v, ok)
	}
	if _, ok := parseMetric(strings.NewReader(text), "promptd_queue_due"); ok {
		t.Error("found a metric that is not there")
	}
}

// TestRecordDelayFigures reads a histogram as promptd's /metrics writes it and checks the
// share within 100 ms and the quantiles interpolated within their buckets.
func TestRecordDelayFigures(t *testing.T) {
	t.Parallel()
	text := `# TYPE promptd_delivery_record_delay_seconds histogram
promptd_delivery_record_delay_seconds_bucket{le="0.025"} 0
promptd_delivery_record_delay_seconds_bucket{le="0.05"} 600
promptd_delivery_record_delay_seconds_bucket{le="0.1"} 990
promptd_delivery_record_delay_seconds_bucket{le="0.25"} 1000
promptd_delivery_record_delay_seconds_bucket{le="+Inf"} 1000
promptd_delivery_record_delay_seconds_sum 45
promptd_delivery_record_delay_seconds_count 1000
promptd_delivery_record_delay_seconds_other 7
`
	h, ok := parseHistogram(strings.NewReader(text), recordDelayMetric)
	if !ok || len(h.bounds) != 4 || h.total != 1000 {
		t.Fatalf("got %+v, %v", h, ok)
	}
	var r Result
	r.recordDelay(h)
	// p50: rank 500 of the 600 in (0.025, 0.05] → 0.025 + 0.025·500/600; p99: rank 990,
	// the top of (0.05, 0.1].
	want := map[string]float64{"within": 99, "p50": 45.8, "p99": 100}
	got := map[string]*float64{"within": r.RecordWithin100msPct, "p50": r.RecordP50ms, "p99": r.RecordP99ms}
	for k, w := range want {
		if got[k] == nil || *got[k] != w {
			t.Errorf("%s = %v, want %v", k, got[k], w)
		}
	}
	if _, ok := parseHistogram(strings.NewReader(text), "promptd_other_seconds"); ok {
		t.Error("found a histogram that is not there")
	}
	if h.quantile(1.5) != 0.25 {
		t.Errorf("a rank beyond the last bucket: %v, want its bound", h.quantile(1.5))
	}
}

func TestParseFlags(t *testing.T) {
	t.Parallel()
	o, err := parseFlags([]string{"-scenario", "single", "-duration", "5s"})
	if err != nil || o.baselineDuration != 5*time.Second {
		t.Fatalf("got %+v, %v", o, err)
	}
	o, err = parseFlags([]string{"-scenario", "crash", "-store", "postgres", "-crashes", "5"})
	if err != nil || o.store != "postgres" || o.crashes != 5 {
		t.Fatalf("crash: got %+v, %v", o, err)
	}
	for _, bad := range [][]string{{}, {"-scenario", "nope"}, {"-scenario", "single", "-duration", "1s"}, {"-scenario", "backlog", "-backlog", "5"},
		{"-scenario", "crash", "-store", "mysql"}, {"-scenario", "crash", "-crashes", "0"}} {
		if _, err := parseFlags(bad); err == nil {
			t.Errorf("parseFlags(%q): no error", bad)
		}
	}
}

func TestParseProcStat(t *testing.T) {
	t.Parallel()
	stat := "cpu  100 5 50 800 20 1 2 22 7 0\ncpu0 50 2 25 400 10 0 1 11 0 0\nintr 1\n"
	got, err := parseProcStat([]byte(stat))
	if err != nil {
		t.Fatal(err)
	}
	if want := (cpuTimes{Total: 1000, Idle: 820, Steal: 22}); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if p := stealPercent(cpuTimes{Total: 1000, Steal: 22}, cpuTimes{Total: 1200, Steal: 72}); p != 25 {
		t.Errorf("stealPercent = %v, want 25", p)
	}
	if _, err := parseProcStat([]byte("intr 1\n")); err == nil {
		t.Error("no cpu line: no error")
	}
}

func TestCrashTarget(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		dups    []int64
		missing int64
		met     bool
	}{
		{"within the cap plus 10 %", []int64{3, 17, 0}, 0, true},
		{"one kill above it", []int64{3, 18, 0}, 0, false},
		{"a lost delivery", []int64{0}, 1, false},
		{"no kill measured", nil, 0, false},
	}
	for _, tc := range tests {
		r := &Result{Scenario: "crash", Store: "sqlite", CrashDuplicates: tc.dups, Missing: tc.missing, Delivered: 100}
		r.finish()
		if r.Met != tc.met {
			t.Errorf("%s: met = %v, want %v (target %s)", tc.name, r.Met, tc.met, r.Target)
		}
	}
}

func TestSystemCPUPerDelivery(t *testing.T) {
	t.Parallel()
	pg := &Result{Scenario: "postgres1", Store: "postgres", Delivered: 1000, CPUSeconds: 0.3, PGCPUSeconds: ptr(0.2)}
	pg.finish()
	if pg.SystemCPUMsPerDelivery == nil || *pg.SystemCPUMsPerDelivery != 0.5 || pg.CPUMsPerDelivery != 0.3 {
		t.Errorf("postgres: system %v, promptd %v; want 0.5 and 0.3", opt(pg.SystemCPUMsPerDelivery, 4), pg.CPUMsPerDelivery)
	}
	unmeasured := &Result{Scenario: "postgres1", Store: "postgres", Delivered: 1000, CPUSeconds: 0.3}
	unmeasured.finish()
	if unmeasured.SystemCPUMsPerDelivery != nil {
		t.Errorf("postgres without its CPU: system %v, want none", *unmeasured.SystemCPUMsPerDelivery)
	}
	lite := &Result{Scenario: "single", Store: "sqlite", Delivered: 1000, CPUSeconds: 0.3}
	lite.finish()
	if lite.SystemCPUMsPerDelivery == nil || *lite.SystemCPUMsPerDelivery != 0.3 {
		t.Errorf("sqlite: system %v, want 0.3 (the store is in promptd)", opt(lite.SystemCPUMsPerDelivery, 4))
	}
}
