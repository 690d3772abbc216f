package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/promptd/promptd"
)

// hangFor is how long the hanging endpoint of the hang scenario holds every request.
const hangFor = 10 * time.Second

// bench holds what every scenario of one run shares.
type bench struct {
	opts      options
	bin       string
	work      string // temporary directory: data dirs and logs
	key       string // PROMPTD_BOOTSTRAP_KEY of every promptd started
	body      []byte // POST /api/v1/events body
	overlay   bool   // bin carries the pprof overlay
	noDeliver string // the flag that starts promptd without its engine ("" if none)
	masterKey string // PROMPTD_MASTER_KEY of instances sharing a PostgreSQL database
	baselines map[int]baselineResult
	seq       int // numbers data directories and logs
}

// progress prints a line about what the bench is doing to stderr.
func (b *bench) progress(format string, args ...any) {
	if !b.opts.quiet {
		fmt.Fprintf(os.Stderr, "promptd-bench: "+format+"\n", args...)
	}
}

// baseline returns the bare sender's rate to endpoints endpoints, measuring it once per
// scenario run.
func (b *bench) baseline(ctx context.Context, endpoints int) (baselineResult, error) {
	if r, ok := b.baselines[endpoints]; ok {
		return r, nil
	}
	b.progress("bare sender: %d endpoint(s) × %d in flight for %s", endpoints, promptd.DefaultMaxInFlight, b.opts.baselineDuration)
	r, err := runBaseline(ctx, endpoints, promptd.DefaultMaxInFlight, b.opts.baselineDuration, b.body)
	if err != nil {
		return r, err
	}
	b.progress("bare sender: %.0f requests/s (%d errors)", r.PerSec, r.Errors)
	b.baselines[endpoints] = r
	return r, nil
}

// newName returns a fresh name for a promptd process or data directory.
func (b *bench) newName(base string) string {
	b.seq++
	return fmt.Sprintf("%02d-%s", b.seq, base)
}

// start starts one promptd on dataDir (or dbURL), with its delivery engine unless
// noDeliver.
func (b *bench) start(ctx context.Context, name, dataDir, dbURL string, noDeliver bool) (*proc, error) {
	c := procConfig{
		Bin: b.bin, Name: name, DataDir: dataDir, DatabaseURL: dbURL, Key: b.key,
		LogDir: b.work, Pprof: b.overlay && b.opts.pprofDir != "",
	}
	if noDeliver {
		c.NoDeliver = b.noDeliver
	}
	if dbURL != "" {
		c.MasterKey = b.masterKey
	}
	p, err := startPromptd(ctx, c)
	if err != nil {
		return nil, err
	}
	b.progress("started promptd %s (pid %d) at %s; log %s", name, p.Pid(), p.Base, p.LogPath)
	return p, nil
}

// profile fetches a CPU profile of p for secs seconds into the -pprof directory and returns
// the file written, or "" with the reason in note.
func (b *bench) profile(ctx context.Context, p *proc, c *apiClient, name string, secs int) (file, note string) {
	addr := ""
	switch {
	case c.hasPprof(ctx):
		addr = p.Base
	case p.PprofAddr != "":
		addr = "http://" + p.PprofAddr
	default:
		return "", "promptd serves no /debug/pprof (and -bin was given, so no profiling build); no promptd profile"
	}
	secs = max(secs, 1)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", addr, secs), nil)
	if err != nil {
		return "", err.Error()
	}
	resp, err := (&http.Client{Timeout: time.Duration(secs+30) * time.Second}).Do(req)
	if err != nil {
		return "", "fetching the profile: " + err.Error()
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Sprintf("fetching the profile: status %d", resp.StatusCode)
	}
	file = filepath.Join(b.opts.pprofDir, name+".pprof")
	f, err := os.Create(file)
	if err != nil {
		return "", err.Error()
	}
	defer f.Close()
	if _, err := io.Copy(f, resp.Body); err != nil {
		return "", err.Error()
	}
	return file, ""
}

// profileLater profiles p in the background when the -pprof directory is set: when waits
// for the moment to start and says for how many seconds (false: do not profile). The
// returned channel closes once the profile, or its note, is in res.
func (b *bench) profileLater(ctx context.Context, p *proc, c *apiClient, name string, res *Result, when func() (secs int, ok bool)) <-chan struct{} {
	done := make(chan struct{})
	if b.opts.pprofDir == "" {
		close(done)
		return done
	}
	go func() {
		defer close(done)
		secs, ok := when()
		if !ok {
			return
		}
		file, note := b.profile(ctx, p, c, b.newName(name), secs)
		res.Profile = file
		if note != "" {
			res.note("%s", note)
		}
	}()
	return done
}

// awaitDeliveries waits until the endpoints in hooks received want distinct deliveries, or
// -drain-timeout passes; then it notes in res what was still queued (c's metric).
func (b *bench) awaitDeliveries(ctx context.Context, rc *receiver, c *apiClient, hooks []int, want int64, res *Result) bool {
	if rc.waitFor(ctx, hooks, want, b.opts.drainTimeout) {
		return true
	}
	res.note("the receiver did not get every acknowledged delivery within -drain-timeout %s: \"missing\" counts deliveries not yet made", b.opts.drainTimeout)
	if v, ok := c.metric(ctx, "promptd_queue_pending"); ok {
		res.note("still queued at the timeout: promptd_queue_pending = %.0f (all webhooks)", v)
	}
	return false
}

// startPGCPU starts measuring the PostgreSQL server's CPU for the promptd processes on dbURL
// (nil for SQLite, or with a note in res when it cannot).
func (b *bench) startPGCPU(ctx context.Context, dbURL string, res *Result) *pgCPU {
	if dbURL == "" {
		return nil
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		res.note("PostgreSQL CPU not measured: %v", err)
		return nil
	}
	m, err := newPGCPU(ctx, dbURL, u.Query().Get("application_name"))
	if err != nil {
		res.note("PostgreSQL CPU not measured: %v", err)
		return nil
	}
	m.begin(ctx)
	return m
}

// endPGCPU records in res what m measured since startPGCPU.
func (b *bench) endPGCPU(ctx context.Context, m *pgCPU, res *Result) {
	if m == nil {
		return
	}
	defer m.close()
	u, err := m.end(ctx)
	if err != nil {
		res.note("PostgreSQL CPU: %v (the figure may be short)", err)
	}
	res.PGCPUSeconds = ptr(round((u.Backends + u.Shared).Seconds(), 2))
	res.note("PostgreSQL CPU %.2fs: the run's %s backends %.2fs, the server's own processes (WAL writer, checkpointer, … shared with any other database user) %.2fs; %d processes",
		*res.PGCPUSeconds, m.app, u.Backends.Seconds(), u.Shared.Seconds(), u.Procs)
}

// flatSpec describes a run that publishes events while promptd delivers them.
type flatSpec struct {
	scenario  string
	healthy   int            // webhooks whose endpoint answers at once
	hanging   int            // webhooks whose endpoint holds every request for hangFor
	instances int            // promptd processes sharing the store (PostgreSQL only beyond 1)
	dbURL     string         // PostgreSQL; "" for SQLite in a fresh data dir
	rate      float64        // events/s; 0 for flat out
	workers   int            // concurrent publishers
	d         time.Duration  // how long to publish
	webhook   map[string]any // more fields of every webhook (e.g. a CEL filter); nil for none
	// afterStart, when set, runs once the promptd processes serve (their migrations done)
	// and before the webhooks are made; its note goes into the result.
	afterStart func(ctx context.Context) (note string, err error)
}

// runFlat starts the receiver and promptd, subscribes the endpoints to eventType, publishes
// for s.d (flat out or paced), waits for the healthy endpoints to receive everything
// acknowledged (or -drain-timeout) and measures.
func (b *bench) runFlat(ctx context.Context, s flatSpec) (*Result, error) {
	origin := time.Now()
	hangs := make([]time.Duration, s.healthy+s.hanging)
	for i := s.healthy; i < len(hangs); i++ {
		hangs[i] = hangFor
	}
	rc, err := newReceiver(origin, hangs, 1<<16)
	if err != nil {
		return nil, err
	}
	defer rc.close()

	var procs []*proc
	defer func() {
		for _, p := range procs {
			if p.alive() {
				p.kill()
			}
		}
	}()
	dataDir := filepath.Join(b.work, b.newName(s.scenario)+"-data")
	var clients []*apiClient
	for i := range max(s.instances, 1) {
		p, err := b.start(ctx, b.newName(fmt.Sprintf("%s-%c", s.scenario, 'a'+i)), dataDir, s.dbURL, false)
		if err != nil {
			return nil, err
		}
		procs = append(procs, p)
		clients = append(clients, newAPIClient(p.Base, b.key, s.workers+4))
	}
	var startNote string
	if s.afterStart != nil {
		if startNote, err = s.afterStart(ctx); err != nil {
			return nil, err
		}
	}
	for i, u := range rc.urls {
		if _, err := clients[0].createWebhook(ctx, fmt.Sprintf("bench-%d", i), u, []string{eventType}, s.webhook); err != nil {
			return nil, err
		}
	}
	healthy := make([]int, s.healthy)
	for i := range healthy {
		healthy[i] = i
	}

	res := &Result{Scenario: s.scenario, Store: "sqlite", DurationS: s.d.Seconds(), Webhooks: len(rc.urls)}
	if startNote != "" {
		res.note("%s", startNote)
	}
	if s.dbURL != "" {
		res.Store = "postgres"
	}
	pg := b.startPGCPU(ctx, s.dbURL, res)
	cpu0 := time.Duration(0)
	for _, p := range procs {
		cpu0 += p.usage().CPU
	}
	warm := warmup(s.d)
	profDone := b.profileLater(ctx, procs[0], clients[0], s.scenario, res, func() (int, bool) {
		select {
		case <-time.After(warm):
			return int((s.d - warm).Seconds()), true
		case <-ctx.Done():
			return 0, false
		}
	})

	pub := &publisher{clients: clients, body: b.body, origin: origin}
	mach0, self0 := machineCPU(), selfCPU()
	loadStart := time.Since(origin)
	var st publishStats
	if s.rate > 0 {
		b.progress("%s: publishing %.0f events/s for %s", s.scenario, s.rate, s.d)
		st = pub.paced(ctx, s.workers, s.rate, s.d)
	} else {
		b.progress("%s: publishing flat out (%d publishers) for %s", s.scenario, s.workers, s.d)
		queued := func(acked int64) int64 { return acked*int64(s.healthy) - rc.distinct(healthy) }
		st = pub.flatOut(ctx, s.workers, time.Now().Add(s.d), b.opts.maxQueued, queued)
	}
	loadEnd := time.Since(origin)
	<-profDone
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	res.published(st)

	want := int64(len(st.Acks) * s.healthy)
	b.progress("%s: %d events acknowledged (%.0f/s); waiting for %d deliveries (%d so far)",
		s.scenario, len(st.Acks), res.PublishPerSec, want, rc.distinct(healthy))
	b.awaitDeliveries(ctx, rc, clients[0], healthy, want, res)
	res.StealPct = round(stealPercent(mach0, machineCPU()), 1)
	res.HandedOver = handedOver(ctx, clients)
	res.recordDelay(recordDelay(ctx, clients))
	res.BenchCPUSeconds = round((selfCPU() - self0).Seconds(), 2)
	var cpu1 time.Duration
	for _, p := range procs {
		u := p.usage()
		cpu1 += u.CPU
		res.RSSMiB = max(res.RSSMiB, round(float64(u.PeakKiB)/1024, 1))
	}
	res.CPUSeconds = round((cpu1 - cpu0).Seconds(), 2)
	b.endPGCPU(ctx, pg, res)

	times := rc.times(healthy)
	res.DeliveriesPerSec = rateIn(times, loadStart+warm, loadEnd)
	if n := len(times); n > 0 {
		res.DrainS = round(max(0, (times[n-1]-loadEnd).Seconds()), 2)
		if res.DrainS >= 1 {
			// Deliveries still queued when publishing stopped: how fast the engine empties
			// the queue without the API competing for the CPU and the store.
			res.DrainPerSec = ptr(round(rateIn(times, loadEnd, times[n-1]+1), 1))
		}
	}
	t := rc.count(healthy, st.Acks)
	res.counted(t)
	if len(t.Latencies) > 0 {
		res.P50ms = ptr(round(ms(percentile(t.Latencies, 50)), 2))
		res.P99ms = ptr(round(ms(percentile(t.Latencies, 99)), 2))
		res.P50FromSendMs = ptr(round(ms(percentile(t.FromSend, 50)), 2))
		res.P99FromSendMs = ptr(round(ms(percentile(t.FromSend, 99)), 2))
		res.P50CommitMs = ptr(round(ms(percentile(t.FromStamp, 50)), 2))
		res.P99CommitMs = ptr(round(ms(percentile(t.FromStamp, 99)), 2))
		if t.Latencies[0] < 0 {
			res.note("some deliveries arrived before the API's 201 reached the publisher (earliest %.2f ms before)", -ms(t.Latencies[0]))
		}
	}
	if s.hanging > 0 {
		res.note("hanging endpoint: %d requests received, at most %d held at once", rc.distinct([]int{s.healthy}), rc.maxInFlight.Load())
	}
	// Let the hanging endpoint answer, so that promptd's shutdown does not wait on it.
	rc.release()
	for _, p := range procs {
		p.stop(30 * time.Second)
	}
	procs = nil
	return res, nil
}

// flat returns the spec of a flat-out run of scenario with healthy webhooks, the -publishers
// and the -duration.
func (b *bench) flat(scenario string, healthy int) flatSpec {
	return flatSpec{scenario: scenario, healthy: healthy, workers: b.opts.publishers, d: b.opts.duration}
}

// againstBaseline measures the bare sender to as many endpoints as s has healthy webhooks,
// then runs s and sets the result's baseline.
func (b *bench) againstBaseline(ctx context.Context, s flatSpec) (*Result, error) {
	base, err := b.baseline(ctx, s.healthy)
	if err != nil {
		return nil, err
	}
	r, err := b.runFlat(ctx, s)
	if err != nil {
		return nil, err
	}
	r.BaselinePerSec = ptr(round(base.PerSec, 1))
	return r, nil
}

// withReference runs ref (described by refWhat), then s (what), and compares the second
// result with the first.
func (b *bench) withReference(ctx context.Context, ref flatSpec, refWhat string, s flatSpec, what string) (r, refRes *Result, err error) {
	b.progress("%s: reference run, %s", s.scenario, refWhat)
	if refRes, err = b.runFlat(ctx, ref); err != nil {
		return nil, nil, err
	}
	b.progress("%s: %s", s.scenario, what)
	if r, err = b.runFlat(ctx, s); err != nil {
		return nil, nil, err
	}
	r.against(refRes)
	return r, refRes, nil
}

// single: one webhook, flat out.
func (b *bench) single(ctx context.Context) (*Result, error) {
	return b.againstBaseline(ctx, b.flat("single", 1))
}

// fanout10: one event type, ten webhooks, flat out.
func (b *bench) fanout10(ctx context.Context) (*Result, error) {
	return b.againstBaseline(ctx, b.flat("fanout10", 10))
}

// latency: one webhook, 100 events/s, end-to-end latency.
func (b *bench) latency(ctx context.Context) (*Result, error) {
	r, err := b.runFlat(ctx, flatSpec{scenario: "latency", healthy: 1, workers: 8, rate: 100, d: b.opts.duration})
	if err != nil {
		return nil, err
	}
	r.note("p50/p99: from the API's 201 reaching the publisher to the receiver reading the request")
	if r.P50FromSendMs != nil {
		r.note("from the API call's start instead: p50 %.2f ms, p99 %.2f ms", *r.P50FromSendMs, *r.P99FromSendMs)
		r.note("from the event's timestamp (its transaction's start, ms precision): p50 %.2f ms, p99 %.2f ms", *r.P50CommitMs, *r.P99CommitMs)
	}
	return r, nil
}

// benchFilter is the CEL payload filter of the filter10 scenario: true for every event the
// bench publishes, after reading the type and two fields of the payload.
const benchFilter = `type == "` + eventType + `" && event.data.bench == "promptd-bench" && size(event.data.pad) >= 0`

// filter10: fanout10 with a CEL payload filter on every webhook, against fanout10 without
// filters in the same run.
func (b *bench) filter10(ctx context.Context) (*Result, error) {
	s := b.flat("filter10", 10)
	s.webhook = map[string]any{"filter": benchFilter}
	r, plain, err := b.withReference(ctx, b.flat("filter10-plain", 10), "10 webhooks without filters",
		s, "10 webhooks, each with the CEL filter "+benchFilter)
	if err != nil {
		return nil, err
	}
	r.note("reference (the same 10 webhooks without filters): %.0f/s, %d missing, %d duplicates, %.4f CPU ms/delivery",
		plain.DeliveriesPerSec, plain.Missing, plain.Duplicates, plain.CPUSeconds*1000/float64(max(plain.Delivered, 1)))
	return r, nil
}

// hang: nine healthy webhooks and one whose endpoint holds each request for 10 s, against
// the same nine healthy webhooks alone.
func (b *bench) hang(ctx context.Context) (*Result, error) {
	base, err := b.baseline(ctx, 9)
	if err != nil {
		return nil, err
	}
	s := b.flat("hang", 9)
	s.hanging = 1
	r, normal, err := b.withReference(ctx, b.flat("hang-normal", 9), "9 healthy webhooks",
		s, fmt.Sprintf("9 healthy webhooks + 1 hanging %s per request", hangFor))
	if err != nil {
		return nil, err
	}
	r.BaselinePerSec = ptr(round(base.PerSec, 1))
	r.note("reference (9 healthy, no hanging endpoint): %.0f/s, %d missing, %d duplicates", normal.DeliveriesPerSec, normal.Missing, normal.Duplicates)
	r.note("deliveries/s, missing and duplicates count the 9 healthy webhooks only")
	return r, nil
}

// onPostgres runs f on a schema of its own on -database-url, dropped afterwards.
func (b *bench) onPostgres(ctx context.Context, what string, f func(schema *pgSchema) (*Result, error)) (*Result, error) {
	schema, err := createSchema(ctx, b.opts.databaseURL)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err := schema.drop(); err != nil {
			b.progress("dropping schema %s: %v", schema.Name, err)
		}
	}()
	b.progress("%s: schema %s", what, schema.Name)
	return f(schema)
}

// postgresN runs n promptd instances on one new PostgreSQL schema, one webhook, publishers
// spread over them.
func (b *bench) postgresN(ctx context.Context, n int) (*Result, error) {
	name := fmt.Sprintf("postgres%d", n)
	return b.onPostgres(ctx, name, func(schema *pgSchema) (*Result, error) {
		s := b.flat(name, 1)
		s.instances, s.dbURL = n, schema.URL
		if b.opts.pgDays > 0 {
			s.afterStart = func(ctx context.Context) (string, error) { return schema.pastPartitions(ctx, b.opts.pgDays) }
		}
		return b.runFlat(ctx, s)
	})
}

// postgres1: one promptd instance on PostgreSQL, one webhook.
func (b *bench) postgres1(ctx context.Context) (*Result, error) {
	base, err := b.baseline(ctx, 1)
	if err != nil {
		return nil, err
	}
	r, err := b.postgresN(ctx, 1)
	if err != nil {
		return nil, err
	}
	r.BaselinePerSec = ptr(round(base.PerSec, 1))
	return r, nil
}

// postgres2: two promptd instances on one PostgreSQL schema, one webhook, publishers spread
// over both; against one instance (postgres1) in the same run, so that the reference ratio is
// the scaling factor of the second instance.
func (b *bench) postgres2(ctx context.Context) (*Result, error) {
	base, err := b.baseline(ctx, 1)
	if err != nil {
		return nil, err
	}
	b.progress("postgres2: reference run, one instance (postgres1)")
	one, err := b.postgresN(ctx, 1)
	if err != nil {
		return nil, err
	}
	one.finish()
	b.progress("postgres2: two instances")
	r, err := b.postgresN(ctx, 2)
	if err != nil {
		return nil, err
	}
	r.BaselinePerSec = ptr(round(base.PerSec, 1))
	r.against(one)
	r.ReferenceSystemCPUMsPerDelivery = one.SystemCPUMsPerDelivery
	r.note("two promptd processes on one schema; RSS is the larger one's, CPU the sum")
	r.note("reference (postgres1, one instance, same run): %.0f/s, %d missing, %d duplicates, promptd CPU %.2fs, PostgreSQL CPU %s s, %s ms whole-system CPU per delivery; scaling factor (ref ratio) %s",
		one.DeliveriesPerSec, one.Missing, one.Duplicates, one.CPUSeconds, opt(one.PGCPUSeconds, 2), opt(one.SystemCPUMsPerDelivery, 4), opt(r.ReferenceRatio, 3))
	return r, nil
}

// backlog: n deliveries queued with the engine off, then drained; compared with the drain of
// a small queue of the same shape.
func (b *bench) backlog(ctx context.Context) (*Result, error) {
	n := b.opts.backlog
	small := max(2000, min(n/10, 20000))
	base, err := b.baseline(ctx, 10)
	if err != nil {
		return nil, err
	}
	b.progress("backlog: reference drain of %d deliveries", small)
	ref, err := b.drain(ctx, small)
	if err != nil {
		return nil, err
	}
	b.progress("backlog: drain of %d deliveries", n)
	r, err := b.drain(ctx, n)
	if err != nil {
		return nil, err
	}
	r.BaselinePerSec = ptr(round(base.PerSec, 1))
	r.against(ref)
	r.note("reference: drain of %d queued deliveries at %.0f/s (%d missing)", small, ref.DeliveriesPerSec, ref.Missing)
	return r, nil
}

// drain queues n deliveries (n/10 events × 10 webhooks) with the engine off, restarts
// promptd with it and measures how fast the queue empties.
func (b *bench) drain(ctx context.Context, n int) (*Result, error) {
	const hooks = 10
	events := (n + hooks - 1) / hooks
	origin := time.Now()
	rc, err := newReceiver(origin, make([]time.Duration, hooks), events*hooks)
	if err != nil {
		return nil, err
	}
	defer rc.close()
	all := make([]int, hooks)
	for i := range all {
		all[i] = i
	}
	res := &Result{Scenario: "backlog", Store: "sqlite", Webhooks: hooks}

	dataDir := filepath.Join(b.work, b.newName("backlog")+"-data")
	if b.noDeliver == "" {
		return nil, errors.New("this promptd has no `serve --no-deliver` (or --deliver=false); cannot queue with the engine off")
	}
	p, err := b.start(ctx, b.newName("backlog-queue"), dataDir, "", true)
	if err != nil {
		return nil, err
	}
	defer func() { // p is the queueing process, then the draining one
		if p != nil && p.alive() {
			p.kill()
		}
	}()
	c := newAPIClient(p.Base, b.key, b.opts.publishers+4)
	for i, u := range rc.urls {
		if _, err := c.createWebhook(ctx, fmt.Sprintf("bench-%d", i), u, []string{eventType}, nil); err != nil {
			return nil, err
		}
	}
	pub := &publisher{clients: []*apiClient{c}, body: b.body, origin: origin}
	b.progress("backlog: queueing %d events × %d webhooks with the engine off", events, hooks)
	st := pub.count(ctx, b.opts.publishers, int64(events))
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	res.published(st)
	if v, ok := c.metric(ctx, "promptd_queue_pending"); ok {
		res.note("queued: promptd_queue_pending = %.0f before the engine started", v)
	}
	u := p.stop(30 * time.Second)
	if got := rc.distinct(all); got > 0 {
		res.note("%d deliveries arrived while the engine was meant to be off", got)
	}
	b.progress("backlog: queued in %s (%.0f events/s); starting the engine", st.Elapsed.Round(time.Millisecond), res.PublishPerSec)

	engineStart := time.Since(origin)
	if p, err = b.start(ctx, b.newName("backlog-drain"), dataDir, "", false); err != nil {
		return nil, err // p is nil: nothing to kill
	}
	c = newAPIClient(p.Base, b.key, 4)
	cpu0 := p.usage().CPU
	mach0, self0 := machineCPU(), selfCPU()
	want := int64(len(st.Acks) * hooks)
	profDone := b.profileLater(ctx, p, c, "backlog-drain", res, func() (int, bool) {
		// Profile the middle of the drain: from a fifth of it, for about half of what is
		// left at the rate so far (2 to 30 s).
		if !rc.waitFor(ctx, all, want/5, b.opts.drainTimeout) {
			return 0, false
		}
		done := float64(rc.distinct(all))
		elapsed := (time.Since(origin) - engineStart).Seconds()
		secs := 2
		if done > 0 && elapsed > 0 {
			left := (float64(want) - done) / (done / elapsed)
			secs = int(min(30, max(2, left/2)))
		}
		return secs, true
	})
	b.awaitDeliveries(ctx, rc, c, all, want, res)
	<-profDone // the profiler writes to res too
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	res.StealPct = round(stealPercent(mach0, machineCPU()), 1)
	res.BenchCPUSeconds = round((selfCPU() - self0).Seconds(), 2)
	u2 := p.usage()
	res.CPUSeconds = round((u2.CPU - cpu0).Seconds(), 2)
	res.RSSMiB = round(float64(max(u.PeakKiB, u2.PeakKiB))/1024, 1)
	times := rc.times(all)
	res.DeliveriesPerSec = bodyRate(times, 0.05, 0.95)
	if k := len(times); k > 0 {
		res.DrainS = round((times[k-1] - engineStart).Seconds(), 2)
		res.DurationS = res.DrainS
		res.note("drain: first delivery %.2fs after the engine's start, all %d in %.2fs (%.0f/s overall)",
			(times[0] - engineStart).Seconds(), k, res.DrainS, float64(k)/res.DrainS)
	}
	t := rc.count(all, st.Acks)
	res.counted(t)
	if len(t.Latencies) > 0 {
		// Latency here is dominated by the queueing phase; it is not reported as p50/p99.
		res.note("deliveries/s: the middle 90 %% of the drain (5th to 95th percentile of arrivals)")
	}
	p.stop(30 * time.Second)
	return res, nil
}
