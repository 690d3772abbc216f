// Package client is the Go SDK for promptd's API: one typed method per API operation, and
// GetPrompt, which fetches a prompt version through an in-memory cache (TTL,
// stale-while-revalidate, a fallback when promptd cannot be reached) for Compile to fill
// its {{variables}}.
//
//	c, err := client.New("http://127.0.0.1:8080", os.Getenv("PROMPTD_API_KEY"))
//	p, err := c.GetPrompt(ctx, "movie-critic", "production")
//	out, err := p.Compile(map[string]any{"criticLevel": "expert", "movie": "Dune 2"})
//
// Responses use promptd's own types (promptd.Version, promptd.Event …) where the API
// does; the rest (webhooks, test results …) are declared here. A test compares every
// operation, parameter and field of the served OpenAPI document with this package, so the
// client cannot silently fall behind the API.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// DefaultURL is where promptd listens unless told otherwise.
const DefaultURL = "http://127.0.0.1:8080"

// Client calls one promptd server with one API key. It is safe for concurrent use.
type Client struct {
	base   *url.URL
	apiKey string
	http   *http.Client
	strict bool
	ua     string

	cacheTTL time.Duration
	now      func() time.Time
	mu       sync.Mutex
	cache    map[cacheKey]*cacheEntry
	fetching map[cacheKey]*fetch
	// refreshed, when set (tests), is called after each background refresh.
	refreshed func(name string)
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sends requests with hc instead of a client with a 30-second timeout.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.http = hc } }

// WithStrictDecoding makes a response with a field this package does not know an error.
// Tests use it to catch drift between the API and the client; applications should not,
// so that a newer server does not break them.
func WithStrictDecoding() Option { return func(c *Client) { c.strict = true } }

// WithUserAgent sets the User-Agent header of every request.
func WithUserAgent(ua string) Option { return func(c *Client) { c.ua = ua } }

// WithCacheTTL sets how long GetPrompt serves a cached version without asking promptd
// again (DefaultCacheTTL when not set). Zero or less disables the cache's freshness: every
// call revalidates in the background while serving the cached version.
func WithCacheTTL(d time.Duration) Option { return func(c *Client) { c.cacheTTL = d } }

// withClock replaces time.Now (tests).
func withClock(now func() time.Time) Option { return func(c *Client) { c.now = now } }

// New returns a client of the promptd server at baseURL (such as http://127.0.0.1:8080)
// authenticating with apiKey (pd_…). An empty baseURL means DefaultURL; an empty key is
// allowed for the health probes, which need none.
func New(baseURL, apiKey string, opts ...Option) (*Client, error) {
	if baseURL == "" {
		baseURL = DefaultURL
	}
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil {
		return nil, fmt.Errorf("client: the URL %q: %w", baseURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("client: the URL %q must be http:// or https:// and name a host", baseURL)
	}
	c := &Client{
		base:     u,
		apiKey:   apiKey,
		http:     &http.Client{Timeout: 30 * time.Second},
		ua:       "promptd-go-client",
		cacheTTL: DefaultCacheTTL,
		now:      time.Now,
		cache:    map[cacheKey]*cacheEntry{},
		fetching: map[cacheKey]*fetch{},
	}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// BaseURL returns the server's URL as the client uses it.
func (c *Client) BaseURL() string { return c.base.String() }

// Error is a problem (RFC 9457) promptd answered with: the HTTP status, its title, the
// detail and, for invalid input, the fields at fault.
type Error struct {
	Status int          `json:"status"`
	Title  string       `json:"title"`
	Detail string       `json:"detail"`
	Errors []FieldError `json:"errors"`
}

// FieldError is one invalid field of a request: where it is ("body.name", "query.limit")
// and what is wrong with it.
type FieldError struct {
	Location string `json:"location"`
	Message  string `json:"message"`
	Value    any    `json:"value,omitempty"`
}

// Error implements the error interface: "422 Unprocessable Entity: body.name: …".
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s", e.Status, e.Title)
	if len(e.Errors) == 0 && e.Detail != "" {
		b.WriteString(": " + e.Detail)
	}
	for i, fe := range e.Errors {
		if i > 0 {
			b.WriteString(";")
		}
		b.WriteString(": ")
		if fe.Location != "" {
			b.WriteString(fe.Location + ": ")
		}
		b.WriteString(fe.Message)
	}
	return b.String()
}

// StatusOf returns the HTTP status of the *Error in err's chain, or 0 when there is none.
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// IsNotFound reports whether promptd answered 404: the prompt, version, webhook … does not
// exist in the key's project.
func IsNotFound(err error) bool { return StatusOf(err) == http.StatusNotFound }

// UnreachableError is a request that got no HTTP answer: promptd is down, the URL is wrong,
// or the network failed.
type UnreachableError struct {
	URL string
	Err error
}

// Error implements the error interface.
func (e *UnreachableError) Error() string {
	return fmt.Sprintf("promptd at %s cannot be reached: %v", e.URL, e.Err)
}

// Unwrap returns the transport's error.
func (e *UnreachableError) Unwrap() error { return e.Err }

// request is one API call.
type request struct {
	method string
	path   string // with its path parameters escaped
	query  url.Values
	header http.Header
	body   any // marshalled to JSON when not nil
}

// response is an answer with a 2xx status.
type response struct {
	status int
	header http.Header
}

// do sends r and decodes a 2xx JSON answer into out (when not nil); any other status is
// an *Error, no answer an *UnreachableError.
func (c *Client) do(ctx context.Context, r request, out any) (*response, error) {
	u := *c.base
	u.RawPath = strings.TrimRight(c.base.EscapedPath(), "/") + r.path
	p, err := url.PathUnescape(u.RawPath)
	if err != nil {
		return nil, fmt.Errorf("client: the path %q: %w", u.RawPath, err)
	}
	u.Path = p
	if len(r.query) > 0 {
		u.RawQuery = r.query.Encode()
	}
	var body io.Reader
	if r.body != nil {
		raw, err := json.Marshal(r.body)
		if err != nil {
			return nil, fmt.Errorf("client: encoding the %s %s body: %w", r.method, r.path, err)
		}
		body = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("client: %s %s: %w", r.method, r.path, err)
	}
	for k, vs := range r.header {
		req.Header[k] = vs
	}
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json, application/problem+json")
	req.Header.Set("User-Agent", c.ua)
	if c.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.apiKey)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("client: %s %s: %w", r.method, r.path, ctx.Err())
		}
		return nil, &UnreachableError{URL: c.base.String(), Err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, &UnreachableError{URL: c.base.String(), Err: fmt.Errorf("reading the answer to %s %s: %w", r.method, r.path, err)}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := &Error{Status: resp.StatusCode}
		if json.Unmarshal(raw, e) != nil || e.Title == "" {
			e.Title = http.StatusText(resp.StatusCode)
			e.Detail = strings.TrimSpace(string(raw))
		}
		e.Status = resp.StatusCode
		return nil, e
	}
	if out != nil && resp.StatusCode != http.StatusNoContent {
		if err := c.decode(raw, out); err != nil {
			return nil, fmt.Errorf("client: decoding the answer to %s %s: %w", r.method, r.path, err)
		}
	}
	return &response{status: resp.StatusCode, header: resp.Header}, nil
}

func (c *Client) decode(raw []byte, out any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if c.strict {
		dec.DisallowUnknownFields()
	}
	return dec.Decode(out)
}

// escape escapes one path segment: a prompt name's slashes become %2F, as the API wants.
func escape(s string) string { return url.PathEscape(s) }
