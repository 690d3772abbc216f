package sqlstore

import (
	"sync"
	"time"

	"github.com/promptd/promptd"
)

// hookCache keeps, per webhook and revision, what the hot paths would otherwise rebuild for
// every event or delivery: the compiled matcher (fan-out) and the decrypted settings and
// secrets (claims). An entry is used only while the stored revision is the cached one, so a
// change made by any process is seen at the next load.
type hookCache struct {
	mu       sync.Mutex
	matchers map[string]cachedMatcher
	configs  map[string]*hookConfig
}

type cachedMatcher struct {
	revision int64
	m        *promptd.Matcher
}

// hookConfig is what a job needs of its webhook: its settings with decrypted headers (shared
// by the jobs, never modified) and all its stored secrets, newest first.
type hookConfig struct {
	revision int64
	webhook  *promptd.Webhook
	secrets  []storedSecret
	// formatOptions is webhook.FormatOptions as stored, to compare with a delivery's.
	formatOptions string
}

// secretsAt returns the secrets valid at now, newest first.
func (c *hookConfig) secretsAt(now time.Time) []string {
	out := make([]string, 0, len(c.secrets))
	for _, k := range c.secrets {
		if k.validAt(now) {
			out = append(out, k.secret)
		}
	}
	return out
}

func (c *hookCache) matcher(id string, revision int64) *promptd.Matcher {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.matchers[id]; ok && e.revision == revision {
		return e.m
	}
	return nil
}

func (c *hookCache) putMatcher(id string, revision int64, m *promptd.Matcher) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.matchers == nil {
		c.matchers = map[string]cachedMatcher{}
	}
	c.matchers[id] = cachedMatcher{revision: revision, m: m}
}

func (c *hookCache) config(id string, revision int64) *hookConfig {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.configs[id]; e != nil && e.revision == revision {
		return e
	}
	return nil
}

func (c *hookCache) putConfig(id string, e *hookConfig) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.configs == nil {
		c.configs = map[string]*hookConfig{}
	}
	c.configs[id] = e
}

// forget drops what is cached of a webhook (changed or deleted by this process).
func (c *hookCache) forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.matchers, id)
	delete(c.configs, id)
}

// reset drops every decrypted entry (the secret box changed).
func (c *hookCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.configs = nil
}
