package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// apiClient calls one promptd's HTTP API with the bootstrap admin key.
type apiClient struct {
	base string
	key  string
	hc   *http.Client
}

// newAPIClient returns a client for the promptd at base that keeps up to conns connections
// alive.
func newAPIClient(base, key string, conns int) *apiClient {
	tr := &http.Transport{
		Proxy:               nil,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     time.Minute,
	}
	return &apiClient{base: base, key: key, hc: &http.Client{Transport: tr, Timeout: 60 * time.Second}}
}

// call sends a JSON request and decodes a JSON answer into out (if not nil). An answer other
// than want is an error that quotes the body.
func (c *apiClient) call(ctx context.Context, method, path string, body []byte, want int, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %d, want %d: %s", method, path, resp.StatusCode, want, strings.TrimSpace(string(b)))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: decoding the answer: %w", method, path, err)
		}
	}
	return nil
}

// createWebhook subscribes url to events and returns the webhook's id. extra holds more
// fields of the body (e.g. "filter"); it may be nil.
func (c *apiClient) createWebhook(ctx context.Context, name, url string, events []string, extra map[string]any) (string, error) {
	fields := map[string]any{"name": name, "url": url, "events": events}
	for k, v := range extra {
		fields[k] = v
	}
	body, err := json.Marshal(fields)
	if err != nil {
		return "", err
	}
	var out struct {
		ID string `json:"id"`
	}
	if err := c.call(ctx, http.MethodPost, "/api/v1/webhooks", body, http.StatusCreated, &out); err != nil {
		return "", err
	}
	if out.ID == "" {
		return "", fmt.Errorf("POST /api/v1/webhooks: the answer has no id")
	}
	return out.ID, nil
}

// publish publishes one custom event through POST /api/v1/events and returns its id and
// timestamp (the store's clock when the event's transaction began, in milliseconds). body
// is the whole request body, {"type": …, "data": …}.
func (c *apiClient) publish(ctx context.Context, body []byte) (uuid.UUID, time.Time, error) {
	var out struct {
		ID        string    `json:"id"`
		Timestamp time.Time `json:"timestamp"`
	}
	if err := c.call(ctx, http.MethodPost, "/api/v1/events", body, http.StatusCreated, &out); err != nil {
		return uuid.UUID{}, time.Time{}, err
	}
	id, err := uuid.Parse(out.ID)
	return id, out.Timestamp, err
}

// metric returns the value of an unlabelled Prometheus metric from GET /metrics, and
// whether it was there.
func (c *apiClient) metric(ctx context.Context, name string) (v float64, ok bool) {
	c.scrape(ctx, func(r io.Reader) { v, ok = parseMetric(r, name) })
	return v, ok
}

// scrape calls read with the body of GET /metrics; not at all when the request fails.
func (c *apiClient) scrape(ctx context.Context, read func(io.Reader)) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/metrics", nil)
	if err != nil {
		return
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	resp, err := c.hc.Do(req)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		read(resp.Body)
	}
}

// handedOver sums promptd_delivery_handed_over_total over the instances behind clients
// (one client per instance); nil when an instance does not export it.
func handedOver(ctx context.Context, clients []*apiClient) *int64 {
	var n int64
	for _, c := range clients {
		v, ok := c.metric(ctx, "promptd_delivery_handed_over_total")
		if !ok {
			return nil
		}
		n += int64(v)
	}
	return &n
}

// recordDelayMetric is promptd's histogram of the time from the end of a delivery attempt to
// the commit of its result.
const recordDelayMetric = "promptd_delivery_record_delay_seconds"

// histogram is a Prometheus histogram's cumulative buckets: counts[i] observations at most
// bounds[i] seconds, then the total.
type histogram struct {
	bounds []float64
	counts []float64
	total  float64
}

// recordDelay sums promptd_delivery_record_delay_seconds over the instances behind clients;
// nil when an instance does not export it or recorded nothing.
func recordDelay(ctx context.Context, clients []*apiClient) *histogram {
	var sum *histogram
	for _, c := range clients {
		h, ok := c.histogram(ctx, recordDelayMetric)
		if !ok {
			return nil
		}
		if sum == nil {
			sum = h
			continue
		}
		if !slices.Equal(sum.bounds, h.bounds) {
			return nil
		}
		for i := range sum.counts {
			sum.counts[i] += h.counts[i]
		}
		sum.total += h.total
	}
	if sum == nil || sum.total == 0 {
		return nil
	}
	return sum
}

// histogram returns an unlabelled histogram from GET /metrics, and whether it was there.
func (c *apiClient) histogram(ctx context.Context, name string) (h *histogram, ok bool) {
	c.scrape(ctx, func(r io.Reader) { h, ok = parseHistogram(r, name) })
	return h, ok
}

// parseHistogram reads the buckets (but +Inf) and the count of an unlabelled histogram in
// the Prometheus text format.
func parseHistogram(r io.Reader, name string) (*histogram, bool) {
	h := &histogram{}
	found := false
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, name+`_bucket{le="`); ok {
			le, count, ok := strings.Cut(rest, `"} `)
			if !ok || le == "+Inf" {
				continue
			}
			b, err1 := strconv.ParseFloat(le, 64)
			n, err2 := strconv.ParseFloat(strings.TrimSpace(count), 64)
			if err1 != nil || err2 != nil {
				return nil, false
			}
			h.bounds, h.counts = append(h.bounds, b), append(h.counts, n)
		} else if rest, ok := strings.CutPrefix(line, name+"_count "); ok {
			n, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				return nil, false
			}
			h.total, found = n, true
		}
	}
	return h, found && len(h.bounds) > 0
}

// within returns the share (0–1) of observations at most bound, which must be a bucket's.
func (h *histogram) within(bound float64) (float64, bool) {
	for i, b := range h.bounds {
		if b == bound {
			return h.counts[i] / h.total, true
		}
	}
	return 0, false
}

// quantile estimates the q-quantile as Prometheus's histogram_quantile does: linearly within
// the bucket it falls in (from 0 for the first); the last bound when it lies beyond.
func (h *histogram) quantile(q float64) float64 {
	rank := q * h.total
	lower, below := 0.0, 0.0
	for i, b := range h.bounds {
		if h.counts[i] >= rank {
			if h.counts[i] == below {
				return b
			}
			return lower + (b-lower)*(rank-below)/(h.counts[i]-below)
		}
		lower, below = b, h.counts[i]
	}
	return lower
}

// parseMetric finds the sample of an unlabelled metric in the Prometheus text format.
func parseMetric(r io.Reader, name string) (float64, bool) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), name+" ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
		return v, err == nil
	}
	return 0, false
}

// hasPprof reports whether the promptd at base serves /debug/pprof/ itself.
func (c *apiClient) hasPprof(ctx context.Context) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/debug/pprof/", nil)
	if err != nil {
		return false
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
