package storetest

import (
	"testing"
	"time"

	"github.com/promptd/promptd"
)

// testSessions checks SessionService: a session finds its key until it expires, is deleted,
// or its key is revoked; an unknown key or token is refused.
func (su suite) testSessions(t *testing.T) {
	e := su.env(t)
	ctx := t.Context()
	key, err := e.s.CreateAPIKey(ctx, e.project, promptd.CreateAPIKeyInput{Name: "alice", Role: promptd.RoleEditor}, promptd.NewAPIKeySecret())
	if err != nil {
		t.Fatalf("CreateAPIKey: %v", err)
	}
	now := e.clock.Now()
	sess, err := e.s.CreateSession(ctx, key.ID, "token-one", now.Add(time.Hour))
	if err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	checkEq(t, "created", "key", sess.APIKey.ID, key.ID)
	got, err := e.s.FindSession(ctx, "token-one")
	if err != nil {
		t.Fatalf("FindSession: %v", err)
	}
	checkEq(t, "found", "key", got.APIKey.ID, key.ID)
	checkEq(t, "found", "role", got.APIKey.Role, promptd.RoleEditor)
	checkEq(t, "found", "expires", got.ExpiresAt.UnixMilli(), now.Add(time.Hour).UnixMilli())

	unauthorized := func(what, token string) {
		t.Helper()
		if _, err := e.s.FindSession(ctx, token); promptd.ErrorKind(err) != promptd.EUNAUTHORIZED {
			t.Errorf("%s: FindSession = %v, want EUNAUTHORIZED", what, err)
		}
	}
	unauthorized("unknown token", "token-two")
	unauthorized("empty token", "")
	if _, err := e.s.CreateSession(ctx, "no-such-key", "token-x", now.Add(time.Hour)); promptd.ErrorKind(err) != promptd.ENOTFOUND {
		t.Errorf("CreateSession of an unknown key = %v, want ENOTFOUND", err)
	}

	// Sign-out ends one session, not the key's others.
	if _, err := e.s.CreateSession(ctx, key.ID, "token-two", now.Add(time.Hour)); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	if err := e.s.DeleteSession(ctx, "token-one"); err != nil {
		t.Fatalf("DeleteSession: %v", err)
	}
	unauthorized("after sign-out", "token-one")
	if err := e.s.DeleteSession(ctx, "token-one"); err != nil {
		t.Errorf("DeleteSession twice: %v, want no error", err)
	}
	if _, err := e.s.FindSession(ctx, "token-two"); err != nil {
		t.Errorf("the other session after sign-out: %v", err)
	}

	// Expiry.
	if _, err := e.s.CreateSession(ctx, key.ID, "token-short", now.Add(time.Minute)); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	e.clock.Advance(time.Minute)
	unauthorized("expired", "token-short")
	if _, err := e.s.FindSession(ctx, "token-two"); err != nil {
		t.Errorf("a live session after another expired: %v", err)
	}

	// Revoking the key ends its sessions at once.
	if err := e.s.DeleteAPIKey(ctx, e.project, key.ID); err != nil {
		t.Fatalf("DeleteAPIKey: %v", err)
	}
	unauthorized("key revoked", "token-two")
}

// testKeyLastUsed checks APIKey.LastUsedAt: nil until the key authenticates, then written at
// most once per KeyUseInterval, by Authenticate and FindSession alike.
func (su suite) testKeyLastUsed(t *testing.T) {
	e := su.env(t)
	ctx := t.Context()
	secret := promptd.NewAPIKeySecret()
	key, err := e.s.CreateAPIKey(ctx, e.project, promptd.CreateAPIKeyInput{Name: "ci", Role: promptd.RoleViewer}, secret)
	if err != nil {
		t.Fatalf("CreateAPIKey: %v", err)
	}
	lastUsed := func() *time.Time {
		t.Helper()
		keys, err := e.s.ListAPIKeys(ctx, e.project)
		if err != nil {
			t.Fatalf("ListAPIKeys: %v", err)
		}
		for _, k := range keys {
			if k.ID == key.ID {
				return k.LastUsedAt
			}
		}
		t.Fatalf("key %s not listed", key.ID)
		return nil
	}
	if lu := lastUsed(); lu != nil {
		t.Fatalf("a new key was last used at %v, want never", lu)
	}
	first := e.clock.Now()
	k, err := e.s.Authenticate(ctx, secret)
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	if k.LastUsedAt == nil || !k.LastUsedAt.Equal(first) {
		t.Errorf("Authenticate returned last used %v, want %v", k.LastUsedAt, first)
	}
	if lu := lastUsed(); lu == nil || !lu.Equal(first) {
		t.Fatalf("after Authenticate: last used %v, want %v", lu, first)
	}
	// Within the interval nothing is written.
	e.clock.Advance(30 * time.Second)
	if _, err := e.s.Authenticate(ctx, secret); err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	if lu := lastUsed(); lu == nil || !lu.Equal(first) {
		t.Errorf("30 s later: last used %v, want still %v", lu, first)
	}
	// After it, a session's use counts too.
	if _, err := e.s.CreateSession(ctx, key.ID, "tok", e.clock.Now().Add(time.Hour)); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	later := e.clock.Advance(31 * time.Second)
	if _, err := e.s.FindSession(ctx, "tok"); err != nil {
		t.Fatalf("FindSession: %v", err)
	}
	if lu := lastUsed(); lu == nil || !lu.Equal(later) {
		t.Errorf("61 s after the first use: last used %v, want %v", lu, later)
	}
}
