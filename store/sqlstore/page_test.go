package sqlstore

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/promptd/promptd"
)

func TestPrefixRange(t *testing.T) {
	tests := []struct {
		prefix, upper string
		ok            bool
	}{
		{"a", "b", true},
		{"team-a/", "team-a0", true},
		{"a_", "a`", true},
		{"z", "{", true},
		{"Z", "[", true},
		{"a%", "", false},
		{"a b", "", false},
		{"é", "", false},
	}
	for _, tc := range tests {
		upper, ok := prefixRange(tc.prefix)
		if upper != tc.upper || ok != tc.ok {
			t.Errorf("prefixRange(%q) = %q, %v; want %q, %v", tc.prefix, upper, ok, tc.upper, tc.ok)
		}
	}
}

func TestCursors(t *testing.T) {
	if got, err := decodeCursor(encodeCursor("team-a/one")); err != nil || got != "team-a/one" {
		t.Errorf("name cursor round trip: %q, %v", got, err)
	}
	if _, err := decodeCursor("Z2FyYmFnZQ"); promptd.ErrorField(err) != "query.cursor" { // "garbage"
		t.Errorf("decodeCursor(base64 of garbage): %v, want EINVALID query.cursor", err)
	}
	if got, err := decodeIntCursor(encodeCursor("42")); err != nil || got != 42 {
		t.Errorf("number cursor round trip: %d, %v", got, err)
	}
	for _, bad := range []string{"", "!!", "a b", "abc", "MDFhMjAxYWUtN2RjNy03YmQxLWIzM2EtMTgxM2JhMWVkNWY4", encodeCursor("x"), encodeCursor("-1"), encodeCursor("0")} {
		if _, err := decodeIntCursor(bad); promptd.ErrorField(err) != "query.cursor" {
			t.Errorf("decodeIntCursor(%q): %v, want EINVALID query.cursor", bad, err)
		}
	}
}

func TestNewRejectsIncompleteDialect(t *testing.T) {
	if _, err := New(nil, nil, Dialect{Name: "x"}); err == nil {
		t.Error("New accepted a Dialect without migrations")
	}
}

func TestIDBefore(t *testing.T) {
	at := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	cut := idBefore(at)
	for _, c := range []struct {
		t    time.Time
		less bool
	}{
		{at.Add(-time.Millisecond), true},
		{at.Add(-time.Hour), true},
		{at, false},
		{at.Add(time.Millisecond), false},
	} {
		for range 20 {
			id, err := uuid.NewV7()
			if err != nil {
				t.Fatal(err)
			}
			// Put c.t into the id's 48-bit millisecond prefix.
			ms := c.t.UnixMilli()
			for i := range 6 {
				id[i] = byte(ms >> (40 - 8*i))
			}
			if got := id.String() < cut; got != c.less {
				t.Errorf("id %s of %s < %s is %v, want %v", id, c.t, cut, got, c.less)
			}
		}
	}
}

func TestRowChunks(t *testing.T) {
	for n := range 200 {
		sum, prev := 0, 1<<30
		for _, c := range rowChunks(n) {
			if c > prev || c > 32 || c&(c-1) != 0 {
				t.Fatalf("rowChunks(%d) = %v", n, rowChunks(n))
			}
			sum, prev = sum+c, c
		}
		if sum != n {
			t.Errorf("rowChunks(%d) sums to %d", n, sum)
		}
	}
}
