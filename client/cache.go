package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/webhook"
)

// DefaultCacheTTL is how long GetPrompt serves a cached version before revalidating it, as
// in Langfuse's SDKs.
const DefaultCacheTTL = 60 * time.Second

// refreshTimeout bounds a background revalidation.
const refreshTimeout = 30 * time.Second

// Prompt is a prompt version as GetPrompt returns it, ready to Compile.
type Prompt struct {
	promptd.Version
	// IsFallback is true when promptd could not answer and this is the fallback given to
	// GetPrompt; FallbackCause is why.
	IsFallback    bool  `json:"-"`
	FallbackCause error `json:"-"`
}

// Compile fills the prompt's {{variables}}; see Compile.
func (p *Prompt) Compile(vars map[string]any) (*Compiled, error) {
	return Compile(&p.Version, vars)
}

// PromptOption adjusts one GetPrompt call.
type PromptOption func(*promptOptions)

type promptOptions struct {
	version  int
	ttl      *time.Duration
	fallback *promptd.Version
}

// AtVersion fetches the version with this number instead of a label.
func AtVersion(n int) PromptOption { return func(o *promptOptions) { o.version = n } }

// CacheTTL overrides the client's cache TTL for this call; 0 revalidates on every call
// (while still serving the cached version, and the fallback-free cache when promptd is
// down).
func CacheTTL(d time.Duration) PromptOption { return func(o *promptOptions) { o.ttl = &d } }

// FallbackText is the text prompt GetPrompt returns (IsFallback set) when the prompt is not
// cached and promptd cannot give it.
func FallbackText(text string) PromptOption {
	return func(o *promptOptions) {
		o.fallback = &promptd.Version{Type: promptd.TextPrompt, Prompt: TextContent(text), Config: json.RawMessage("{}")}
	}
}

// FallbackChat is the chat prompt GetPrompt returns (IsFallback set) when the prompt is
// not cached and promptd cannot give it.
func FallbackChat(msgs []promptd.ChatMessage) PromptOption {
	return func(o *promptOptions) {
		o.fallback = &promptd.Version{Type: promptd.ChatPrompt, Prompt: ChatContent(msgs), Config: json.RawMessage("{}")}
	}
}

type cacheKey struct {
	name    string
	label   string
	version int
}

type cacheEntry struct {
	v          *promptd.Version
	fetchedAt  time.Time
	refreshing bool
}

// GetPrompt returns the version of the named prompt carrying label (or, with AtVersion,
// the numbered one; with neither, production, else latest) through the client's cache:
//
//   - cached and younger than the TTL: the cached version, without a request;
//   - cached and older: the cached version at once, while one background request
//     revalidates it (stale-while-revalidate); should that fail, the cached version stays
//     and the next call tries again; should promptd answer 404, the entry is dropped;
//   - not cached: promptd is asked, once for all the calls that miss the same prompt
//     meanwhile (they share the first call's answer, or its error); if that fails and a fallback was given (FallbackText,
//     FallbackChat), the fallback is returned with IsFallback set and is not cached.
//
// InvalidatePrompt, or InvalidationHandler subscribed as a webhook, drops entries at once.
func (c *Client) GetPrompt(ctx context.Context, name, label string, opts ...PromptOption) (*Prompt, error) {
	var o promptOptions
	for _, opt := range opts {
		opt(&o)
	}
	ttl := c.cacheTTL
	if o.ttl != nil {
		ttl = *o.ttl
	}
	key := cacheKey{name: name, label: label, version: o.version}
	if o.version != 0 {
		key.label = ""
	}
	c.mu.Lock()
	if e := c.cache[key]; e != nil {
		v := e.v
		if c.now().Sub(e.fetchedAt) >= ttl && !e.refreshing {
			e.refreshing = true
			go c.refresh(key)
		}
		c.mu.Unlock()
		return &Prompt{Version: cloneVersion(v)}, nil
	}
	c.mu.Unlock()

	v, err := c.fetchOnce(ctx, key)
	if err != nil {
		if o.fallback == nil {
			return nil, err
		}
		fb := *o.fallback
		fb.Name, fb.Number = name, o.version
		if label != "" {
			fb.Labels = []string{label}
		}
		return &Prompt{Version: fb, IsFallback: true, FallbackCause: err}, nil
	}
	return &Prompt{Version: cloneVersion(v)}, nil
}

// fetch is one request for an uncached prompt, shared by the GetPrompt calls that miss
// the cache while it is under way.
type fetch struct {
	done chan struct{}
	v    *promptd.Version
	err  error
}

// fetchOnce asks promptd for an uncached prompt and caches it; concurrent callers for the
// same key wait for the first one's request instead of sending their own.
func (c *Client) fetchOnce(ctx context.Context, key cacheKey) (*promptd.Version, error) {
	c.mu.Lock()
	f := c.fetching[key]
	if f == nil {
		f = &fetch{done: make(chan struct{})}
		c.fetching[key] = f
		c.mu.Unlock()
		f.v, f.err = c.GetVersion(ctx, key.name, VersionSelector{Label: key.label, Version: key.version})
		c.mu.Lock()
		delete(c.fetching, key)
		if f.err == nil {
			c.cache[key] = &cacheEntry{v: f.v, fetchedAt: c.now()}
		}
		c.mu.Unlock()
		close(f.done)
		return f.v, f.err
	}
	c.mu.Unlock()
	select {
	case <-f.done:
		return f.v, f.err
	case <-ctx.Done():
		return nil, fmt.Errorf("client: waiting for %s: %w", key.name, ctx.Err())
	}
}

// cloneVersion copies v so that a caller changing it does not change the cache.
func cloneVersion(v *promptd.Version) promptd.Version {
	out := *v
	out.Prompt = slices.Clone(v.Prompt)
	out.Config = slices.Clone(v.Config)
	out.Labels = slices.Clone(v.Labels)
	out.Tags = slices.Clone(v.Tags)
	return out
}

// refresh revalidates one cache entry in the background.
func (c *Client) refresh(key cacheKey) {
	ctx, cancel := context.WithTimeout(context.Background(), refreshTimeout)
	defer cancel()
	v, err := c.GetVersion(ctx, key.name, VersionSelector{Label: key.label, Version: key.version})
	c.mu.Lock()
	if e := c.cache[key]; e != nil {
		switch {
		case err == nil:
			c.cache[key] = &cacheEntry{v: v, fetchedAt: c.now()}
		case IsNotFound(err):
			delete(c.cache, key)
		default:
			e.refreshing = false
		}
	}
	hook := c.refreshed
	c.mu.Unlock()
	if hook != nil {
		hook(key.name)
	}
}

// InvalidatePrompt drops every cached version of the named prompt, so that the next
// GetPrompt asks promptd.
func (c *Client) InvalidatePrompt(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.cache {
		if k.name == name {
			delete(c.cache, k)
		}
	}
}

// InvalidatePromptFolder drops every cached version of the prompts whose name starts
// with prefix ("" drops the whole cache).
func (c *Client) InvalidatePromptFolder(prefix string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.cache {
		if strings.HasPrefix(k.name, prefix) {
			delete(c.cache, k)
		}
	}
}

// InvalidationHandler returns an http.Handler to subscribe to promptd as a webhook (events
// prompt.* and prompt-version.*): it verifies each delivery with v and drops the cached
// versions of the prompt the event is about — under its old name too, for a rename — so
// that a new version or a label move is seen at once rather than after the TTL. opts are
// passed to webhook.NewHandler.
func (c *Client) InvalidationHandler(v *webhook.Verifier, opts ...webhook.HandlerOption) http.Handler {
	return webhook.NewHandler(v, func(_ context.Context, ev *webhook.Event) error {
		if !ev.IsPromptEvent() || ev.Prompt == nil {
			return nil
		}
		c.InvalidatePrompt(ev.Prompt.Name)
		if ev.Changes != nil && ev.Changes.Name != nil {
			c.InvalidatePrompt(ev.Changes.Name.From)
		}
		return nil
	}, opts...)
}
