package httpapi

import (
	"context"
	"crypto/sha256"
	"sync"
	"time"

	"github.com/promptd/promptd"
)

// keyCacheTTL is how long an authenticated key is trusted without asking the store again.
// A key revoked on another instance stops working within this time; on this instance, at
// once (revoking clears the cache).
const keyCacheTTL = 5 * time.Second

// keyCacheMax bounds the cache; when full it is emptied.
const keyCacheMax = 4096

// keyCache remembers recent successful authentications, so that a busy client does not
// cost a store read per request. Entries are keyed by the SHA-256 of the secret, never
// the secret itself; failures are not cached.
type keyCache struct {
	mu      sync.Mutex
	entries map[[32]byte]keyCacheEntry
	now     func() time.Time
}

type keyCacheEntry struct {
	key     *promptd.APIKey
	expires time.Time
}

func newKeyCache() *keyCache {
	return &keyCache{entries: map[[32]byte]keyCacheEntry{}, now: time.Now}
}

// authenticate returns the key of secret from the cache or, on a miss, from auth.
func (c *keyCache) authenticate(ctx context.Context, secret string, auth func(context.Context, string) (*promptd.APIKey, error)) (*promptd.APIKey, error) {
	h := sha256.Sum256([]byte(secret))
	now := c.now()
	c.mu.Lock()
	e, ok := c.entries[h]
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.key, nil
	}
	key, err := auth(ctx, secret)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if len(c.entries) >= keyCacheMax {
		clear(c.entries)
	}
	c.entries[h] = keyCacheEntry{key: key, expires: now.Add(keyCacheTTL)}
	c.mu.Unlock()
	return key, nil
}

// forget empties the cache (after a key is revoked).
func (c *keyCache) forget() {
	c.mu.Lock()
	clear(c.entries)
	c.mu.Unlock()
}
