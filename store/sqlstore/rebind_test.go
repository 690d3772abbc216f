package sqlstore

import (
	"reflect"
	"testing"
)

func TestRebind(t *testing.T) {
	tests := []struct {
		name      string
		query     string
		args      []any
		wantQuery string
		wantArgs  []any
	}{
		{"in order", `SELECT a FROM t WHERE a = $1 AND b = $2`, []any{1, 2},
			`SELECT a FROM t WHERE a = ? AND b = ?`, []any{1, 2}},
		{"reused and out of order", `UPDATE t SET a = $2, b = $1 WHERE c = $2`, []any{"x", "y"},
			`UPDATE t SET a = ?, b = ? WHERE c = ?`, []any{"y", "x", "y"}},
		{"two digits", `VALUES ($10, $9, $11)`, []any{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11},
			`VALUES (?, ?, ?)`, []any{10, 9, 11}},
		{"quoted and commented", "SELECT '$1', \"$2\", $1 -- it's $2\nFROM t WHERE x = $2", []any{"a", "b"},
			"SELECT '$1', \"$2\", ? -- it's $2\nFROM t WHERE x = ?", []any{"a", "b"}},
		{"a lone dollar", `SELECT json_extract(x, '$.a'), $ FROM t WHERE y = $1`, []any{7},
			`SELECT json_extract(x, '$.a'), $ FROM t WHERE y = ?`, []any{7}},
		{"no placeholders", `SELECT 1`, nil, `SELECT 1`, nil},
		{"an argument missing", `SELECT $2, $1`, []any{1},
			`SELECT $2, $1`, []any{1}},
	}
	for _, tc := range tests {
		for range 2 { // the second time from the cache
			q, a := rebind(tc.query, tc.args)
			if q != tc.wantQuery || !reflect.DeepEqual(a, tc.wantArgs) {
				t.Errorf("%s: rebind = %q %v, want %q %v", tc.name, q, a, tc.wantQuery, tc.wantArgs)
			}
		}
	}
}
