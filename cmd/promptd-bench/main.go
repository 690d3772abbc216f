// Command promptd-bench measures promptd's webhook delivery against the targets of the
// product specification (§7): it builds promptd, starts it as a separate process on a
// temporary store, drives its real HTTP API, receives the deliveries on local endpoints and
// compares the delivery rate with a bare sender (sign + POST, no store) in the same run.
//
//	go run ./cmd/promptd-bench -scenario single [-duration 20s] [-json]
//	go run ./cmd/promptd-bench -scenario all -duration 5s -backlog 20000   # make bench
//
//	go run ./cmd/promptd-bench -scenario crash -store postgres -crashes 3
//	go run ./cmd/promptd-bench -scenario postgres2 -pg-days 30   # with a 30-day retention's partitions
//	go run ./cmd/promptd-bench -scenario postgres2 -runs 3 -compare old=/tmp/promptd-old,new=/tmp/promptd-new
//
// Scenarios: single, fanout10, filter10, latency, backlog, hang, postgres1, postgres2, crash,
// and all (every one but postgres1, which postgres2 runs as its reference, and crash, which
// waits out promptd's 40 s lease after each kill). All traffic stays on 127.0.0.1. The bench is
// not a test: `make test` does not run it.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"syscall"
	"time"

	"github.com/promptd/promptd"
)

// scenarios lists the scenario names in the order `all` runs them.
var scenarios = []string{"single", "fanout10", "filter10", "latency", "backlog", "hang", "postgres2"}

// slowScenarios are the scenarios `all` leaves out: postgres1 is postgres2's reference run,
// crash waits out a lease after each kill, and ordered measures twice (unordered, then
// ordered).
var slowScenarios = []string{"postgres1", "crash", "ordered"}

// options are the command line.
type options struct {
	scenario         string
	duration         time.Duration
	baselineDuration time.Duration
	drainTimeout     time.Duration
	jsonOut          bool
	bin              string
	compare          string
	databaseURL      string
	backlog          int
	pprofDir         string
	runs             int
	publishers       int
	maxQueued        int64
	payloadBytes     int
	keep             bool
	store            string
	crashes          int
	pgDays           int
	quiet            bool
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("promptd-bench", flag.ContinueOnError)
	fs.StringVar(&o.scenario, "scenario", "", "scenario: "+fmt.Sprint(append(slices.Clone(scenarios), slowScenarios...))+" or all")
	fs.DurationVar(&o.duration, "duration", 20*time.Second, "how long each scenario publishes")
	fs.DurationVar(&o.baselineDuration, "baseline-duration", 0, "how long the bare sender runs (default: -duration, at most 10s)")
	fs.DurationVar(&o.drainTimeout, "drain-timeout", 3*time.Minute, "how long to wait for the last deliveries after publishing")
	fs.BoolVar(&o.jsonOut, "json", false, "print one JSON object per result instead of the table")
	fs.StringVar(&o.bin, "bin", "", "promptd binary to run (default: go build ./cmd/promptd)")
	fs.StringVar(&o.compare, "compare", "", "promptd binaries to compare, `label=path,label=path,…`: each scenario runs with each in turn, -runs times, and the table shows their medians side by side")
	fs.StringVar(&o.databaseURL, "database-url", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "PostgreSQL for postgres1, postgres2 and crash -store postgres (a schema of its own is created and dropped)")
	fs.StringVar(&o.store, "store", "sqlite", "store of the crash scenario: sqlite or postgres")
	fs.IntVar(&o.crashes, "crashes", 3, "kill -9s in the crash scenario")
	fs.IntVar(&o.pgDays, "pg-days", 0, "postgres1/postgres2: first create the empty daily partitions of this many past days, as a promptd with that retention has them")
	fs.IntVar(&o.backlog, "backlog", 1_000_000, "deliveries queued before the backlog drain (events × 10 webhooks)")
	fs.StringVar(&o.pprofDir, "pprof", "", "directory for CPU profiles of promptd (and of the bench itself)")
	fs.IntVar(&o.runs, "runs", 1, "runs per scenario; the table then shows each and the median run")
	fs.IntVar(&o.publishers, "publishers", 64, "concurrent API clients publishing events in flat-out scenarios")
	fs.Int64Var(&o.maxQueued, "max-queued", 10_000, "flat-out publishers hold back while more deliveries than this are acknowledged but not received (0: never)")
	fs.IntVar(&o.payloadBytes, "payload-bytes", 400, "approximate size of each event's data")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (data dirs and promptd logs)")
	fs.BoolVar(&o.quiet, "q", false, "no progress lines on stderr")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case o.scenario != "all" && !slices.Contains(scenarios, o.scenario) && !slices.Contains(slowScenarios, o.scenario):
		return o, fmt.Errorf("-scenario must be one of %v or all, got %q", append(slices.Clone(scenarios), slowScenarios...), o.scenario)
	case o.store != "sqlite" && o.store != "postgres":
		return o, fmt.Errorf("-store must be sqlite or postgres, got %q", o.store)
	case o.crashes < 1 || o.crashes > 100:
		return o, fmt.Errorf("-crashes must be between 1 and 100, got %d", o.crashes)
	case o.pgDays < 0 || o.pgDays > 400:
		return o, fmt.Errorf("-pg-days must be between 0 and 400, got %d", o.pgDays)
	case o.duration < 2*time.Second || o.duration > time.Hour:
		return o, fmt.Errorf("-duration must be between 2s and 1h, got %s", o.duration)
	case o.backlog < 100 || o.backlog > 10_000_000:
		return o, fmt.Errorf("-backlog must be between 100 and 10000000, got %d", o.backlog)
	case o.runs < 1 || o.runs > 20:
		return o, fmt.Errorf("-runs must be between 1 and 20, got %d", o.runs)
	case o.publishers < 1 || o.publishers > 256:
		return o, fmt.Errorf("-publishers must be between 1 and 256, got %d", o.publishers)
	case o.maxQueued < 0:
		return o, fmt.Errorf("-max-queued must not be negative, got %d", o.maxQueued)
	case o.payloadBytes < 0 || o.payloadBytes > 512<<10:
		return o, fmt.Errorf("-payload-bytes must be between 0 and 524288, got %d", o.payloadBytes)
	case o.drainTimeout < time.Second:
		return o, fmt.Errorf("-drain-timeout must be at least 1s, got %s", o.drainTimeout)
	case o.compare != "" && o.bin != "":
		return o, errors.New("-compare names the binaries itself: leave out -bin")
	case o.compare != "" && o.pprofDir != "":
		return o, errors.New("-compare does not take -pprof: profile one binary at a time")
	}
	if o.baselineDuration == 0 {
		o.baselineDuration = min(o.duration, 10*time.Second)
	}
	return o, nil
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "promptd-bench:", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "promptd-bench-")
	if err != nil {
		return err
	}
	failed := true
	defer func() {
		if o.keep || failed {
			fmt.Fprintf(os.Stderr, "promptd-bench: logs and data kept in %s\n", work)
			return
		}
		_ = os.RemoveAll(work)
	}()
	b := &bench{
		opts:      o,
		work:      work,
		key:       promptd.NewAPIKeySecret(),
		masterKey: randomHex(32),
		body:      eventBody(o.payloadBytes),
		baselines: map[int]baselineResult{},
	}
	if o.pprofDir != "" {
		if err := os.MkdirAll(o.pprofDir, 0o755); err != nil {
			return err
		}
		f, err := os.Create(filepath.Join(o.pprofDir, "bench-"+o.scenario+".pprof"))
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	var bins []binary
	if o.compare != "" {
		if bins, err = parseCompare(o.compare); err != nil {
			return err
		}
	} else if b.bin = o.bin; b.bin == "" {
		root, err := moduleRoot(ctx)
		if err != nil {
			return err
		}
		b.bin = filepath.Join(work, "promptd")
		b.overlay = o.pprofDir != ""
		b.progress("building %s/cmd/promptd%s", root, map[bool]string{true: " (with the pprof overlay)"}[b.overlay])
		if err := buildPromptd(ctx, root, b.bin, b.overlay); err != nil {
			return err
		}
	}
	if bins == nil {
		bins = []binary{{path: b.bin}}
	}
	noDeliver := make(map[string]string, len(bins))
	for _, bin := range bins {
		noDeliver[bin.path] = noDeliverFlag(ctx, bin.path)
	}

	names := []string{o.scenario}
	if o.scenario == "all" {
		names = scenarios
	}
	var (
		all         []*Result
		comparisons []func()
	)
	for _, name := range names {
		byBin := map[string][]*Result{}
		for i := range o.runs {
			for _, bin := range bins {
				b.bin, b.noDeliver = bin.path, noDeliver[bin.path]
				switch {
				case bin.label != "":
					b.progress("%s: %s, run %d of %d", name, bin.label, i+1, o.runs)
				case o.runs > 1:
					b.progress("%s: run %d of %d", name, i+1, o.runs)
				}
				// Each run measures its own bare sender, next to it in time: the machine's
				// ceiling moves with its neighbours' load.
				clear(b.baselines)
				r, err := b.scenario(ctx, name)
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if err != nil {
					if o.scenario != "all" {
						return fmt.Errorf("%s: %w", name, err)
					}
					b.progress("%s: %v (skipped)", name, err)
					r = &Result{Scenario: name, Store: "-"}
					r.note("not measured: %v", err)
				}
				r.finish()
				r.Bin = bin.label
				if o.runs > 1 {
					r.note("run %d of %d", i+1, o.runs)
				}
				byBin[bin.label] = append(byBin[bin.label], r)
				if o.jsonOut {
					if err := writeJSON(os.Stdout, r); err != nil {
						return err
					}
				}
			}
		}
		for _, bin := range bins {
			runs := byBin[bin.label]
			all = append(all, runs...)
			if o.runs > 1 {
				m := *medianRun(runs)
				m.Notes = append(slices.Clone(m.Notes), fmt.Sprintf("median of %d runs by its headline figure", o.runs))
				if o.jsonOut {
					_ = writeJSON(os.Stdout, &m)
				}
				all = append(all, &m)
			}
		}
		if len(bins) > 1 && !o.jsonOut {
			comparisons = append(comparisons, func() { writeComparison(os.Stdout, name, bins, byBin) })
		}
	}
	if !o.jsonOut {
		fmt.Printf("\npromptd-bench: %s, %d CPUs, %s/%s, -duration %s, bare sender %s\n\n",
			runtime.Version(), runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, o.duration, o.baselineDuration)
		writeTable(os.Stdout, all)
		for _, c := range comparisons {
			c()
		}
	}
	failed = false
	return nil
}

// scenario runs one scenario by name.
func (b *bench) scenario(ctx context.Context, name string) (*Result, error) {
	switch name {
	case "single":
		return b.single(ctx)
	case "fanout10":
		return b.fanout10(ctx)
	case "filter10":
		return b.filter10(ctx)
	case "latency":
		return b.latency(ctx)
	case "backlog":
		return b.backlog(ctx)
	case "hang":
		return b.hang(ctx)
	case "postgres1":
		return b.postgres1(ctx)
	case "postgres2":
		return b.postgres2(ctx)
	case "ordered":
		return b.ordered(ctx)
	case "crash":
		return b.crash(ctx)
	}
	return nil, fmt.Errorf("unknown scenario %q", name)
}

// medianRun returns the run whose headline figure is the median (the lower middle one for
// an even count).
func medianRun(runs []*Result) *Result {
	s := slices.Clone(runs)
	slices.SortFunc(s, func(a, b *Result) int {
		switch ha, hb := a.headline(), b.headline(); {
		case ha < hb:
			return -1
		case ha > hb:
			return 1
		}
		return 0
	})
	return s[(len(s)-1)/2]
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
