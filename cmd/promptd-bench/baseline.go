package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/webhook"
)

// baselineEvent is one precomputed delivery of the bare sender.
type baselineEvent struct {
	id, deliveryID string
	payload        []byte
}

// baselineResult is what the bare sender achieved.
type baselineResult struct {
	PerSec  float64 // requests/s in the steady window, all endpoints together
	Sent    int64
	Errors  int64
	Workers int
}

// runBaseline measures the machine's own ceiling for a scenario: the same receiver (a fresh
// one, with endpoints endpoints) fed by a minimal Go loop that signs every request with
// webhook.Sign at send time and POSTs it with keep-alive, perHook requests in flight per
// endpoint (promptd's default per-webhook cap), with no store at all. The payloads are
// promptd's own envelopes of the same event (built by promptd.NewDataEvent). The rate is
// counted at the receiver over [warm, d).
func runBaseline(ctx context.Context, endpoints, perHook int, d time.Duration, body []byte) (baselineResult, error) {
	var req struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return baselineResult{}, err
	}
	const poolSize = 8192
	pool := make([]baselineEvent, poolSize)
	for i := range pool {
		ev, err := promptd.NewDataEvent("bench-project", eventType, req.Data, time.Now())
		if err != nil {
			return baselineResult{}, err
		}
		pool[i] = baselineEvent{id: ev.ID, deliveryID: promptd.NewEventID(), payload: ev.Payload}
	}
	secret := newSecret()

	origin := time.Now()
	hangs := make([]time.Duration, endpoints)
	rc, err := newReceiver(origin, hangs, int(d.Seconds())*30000)
	if err != nil {
		return baselineResult{}, err
	}
	defer rc.close()

	tr := &http.Transport{
		Proxy:               nil,
		MaxIdleConns:        endpoints * perHook,
		MaxIdleConnsPerHost: perHook,
		IdleConnTimeout:     time.Minute,
	}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 15 * time.Second}

	var (
		wg     sync.WaitGroup
		sent   atomic.Int64
		errs   atomic.Int64
		next   = make([]atomic.Int64, endpoints)
		cutoff = origin.Add(d)
	)
	for h := range endpoints {
		url := rc.urls[h]
		for range perHook {
			wg.Go(func() {
				for ctx.Err() == nil && time.Now().Before(cutoff) {
					ev := &pool[next[h].Add(1)%poolSize]
					if err := bareSend(ctx, hc, url, secret, ev); err != nil {
						errs.Add(1)
						if errs.Load() > 1000 {
							return
						}
						continue
					}
					sent.Add(1)
				}
			})
		}
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return baselineResult{}, err
	}
	all := make([]int, endpoints)
	for i := range all {
		all[i] = i
	}
	times := rc.times(all)
	warm := warmup(d)
	res := baselineResult{PerSec: rateIn(times, warm, d), Sent: sent.Load(), Errors: errs.Load(), Workers: endpoints * perHook}
	if res.Sent == 0 {
		return res, fmt.Errorf("bare sender: nothing sent (%d errors)", res.Errors)
	}
	return res, nil
}

// bareSend signs and POSTs one delivery as promptd does (same headers) and reads the answer.
func bareSend(ctx context.Context, hc *http.Client, url, secret string, ev *baselineEvent) error {
	sig, err := webhook.Sign([]string{secret}, ev.id, time.Now().Unix(), ev.payload)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(ev.payload))
	if err != nil {
		return err
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "promptd/bench")
	h.Set(promptd.DefaultSignatureName, sig.Promptd)
	h.Set(webhook.HeaderWebhookID, sig.WebhookID)
	h.Set(webhook.HeaderWebhookTimestamp, sig.WebhookTimestamp)
	h.Set(webhook.HeaderWebhookSignature, sig.WebhookSignature)
	h.Set(webhook.HeaderEvent, eventType)
	h.Set(webhook.HeaderDelivery, ev.deliveryID)
	h.Set(webhook.HeaderAttempt, "1")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// newSecret returns a fresh webhook secret: whsec_ and the base64 of 32 random bytes.
func newSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return webhook.SecretPrefix + base64.StdEncoding.EncodeToString(b[:])
}

// warmup is the start of a run of length d left out of steady-state rates: a fifth of the
// run, at least one second and at most five.
func warmup(d time.Duration) time.Duration {
	return min(max(d/5, time.Second), 5*time.Second, d/2)
}
