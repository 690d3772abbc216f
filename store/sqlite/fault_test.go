package sqlite

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/promptd/promptd"
)

// TestDiskFull fills a database capped at a few hundred pages (SQLite answers SQLITE_FULL as
// on a full disk) and checks that writes then fail with EFULL, that Ping reports the fault
// while writes fail although reads still work, and that both recover by themselves once
// room is made.
func TestDiskFull(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, err := open(filepath.Join(t.TempDir(), "promptd.db"), "max_page_count(400)")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Bootstrap(ctx, promptd.NewAPIKeySecret(), false); err != nil {
		t.Fatal(err)
	}
	projects, err := s.ListProjects(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pid := projects[0].ID
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping before the disk is full: %v", err)
	}

	text, _ := json.Marshal(strings.Repeat("x", 16<<10)) // smaller than the probe write
	var full error
	created := 0
	for i := range 200 {
		_, err := s.CreateVersion(ctx, pid, promptd.Actor{}, promptd.CreateVersionInput{Name: fmt.Sprintf("p%d", i), Prompt: text})
		if err != nil {
			full = err
			break
		}
		created++
	}
	if full == nil {
		t.Fatal("200 prompts of 16 KiB fitted in 400 pages")
	}
	if created == 0 {
		t.Fatalf("the first write failed already: %v", full)
	}
	if k := promptd.ErrorKind(full); k != promptd.EFULL {
		t.Fatalf("write on a full database: kind %q (%v), want %q", k, full, promptd.EFULL)
	}
	if err := s.Ping(ctx); promptd.ErrorKind(err) != promptd.EFULL {
		t.Fatalf("Ping while writes fail = %v, want an EFULL error", err)
	}
	if _, err := s.ListProjects(ctx); err != nil {
		t.Fatalf("reads fail on a full database: %v", err)
	}
	if err := s.Ping(ctx); promptd.ErrorKind(err) != promptd.EFULL {
		t.Fatalf("Ping after a read, while writes still fail = %v, want an EFULL error", err)
	}

	// Purging the events (their payloads hold the prompts' text) frees pages: the probe
	// write fits again.
	if _, err := s.Purge(ctx, time.Now().Add(time.Hour)); err != nil {
		t.Fatalf("purging events to make room: %v", err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping once there is room again: %v", err)
	}
}
