package sqlstore

import (
	"testing"

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
	if got, err := decodeIntCursor(encodeCursor("42")); err != nil || got != 42 {
		t.Errorf("number cursor round trip: %d, %v", got, err)
	}
	for _, bad := range []string{"", "!!", "a b", encodeCursor("x"), encodeCursor("-1"), encodeCursor("0")} {
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
