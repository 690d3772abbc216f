package sqlstore

import (
	"database/sql"
	"encoding/base64"
	"iter"
	"strconv"
	"strings"

	"github.com/promptd/promptd"
)

// Cursors are opaque to clients: the base64url of cursorTag and the sort key of the last
// item of a page (a prompt name, a version number, an event id). The tag tells a cursor
// promptd made from any other string, which is refused (422) rather than read as a key
// (which would answer an empty page, or the first one again).

// cursorTag starts every cursor's decoded text.
const cursorTag = "pd1:"

func encodeCursor(key string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorTag + key))
}

func badCursor() error {
	return promptd.Invalid("query.cursor", "is not a cursor returned by a previous page")
}

func decodeCursor(cursor string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	key, tagged := strings.CutPrefix(string(b), cursorTag)
	if err != nil || !tagged || key == "" {
		return "", badCursor()
	}
	return key, nil
}

func decodeIntCursor(cursor string) (int, error) {
	key, err := decodeCursor(cursor)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(key)
	if err != nil || n <= 0 {
		return 0, badCursor()
	}
	return n, nil
}

// args collects the arguments of a query built piece by piece and hands out their
// placeholders.
type args []any

// add appends v and returns its placeholder ("$3").
func (a *args) add(v any) string {
	*a = append(*a, v)
	return "$" + strconv.Itoa(len(*a))
}

// in returns a parenthesised placeholder list for an IN clause holding vs.
func (a *args) in(vs []string) string {
	ph := make([]string, len(vs))
	for i, v := range vs {
		ph[i] = a.add(v)
	}
	return "(" + strings.Join(ph, ", ") + ")"
}

// inPadded is in with the list padded, by repeating its last value, to the next of a few
// lengths (1, 2, 4, 8, 16, 32, then multiples of 32), so that a statement that takes lists of
// any length has only a few texts: the store keeps each text prepared. vs must not be empty.
func (a *args) inPadded(vs []string) string {
	n := 1
	for n < len(vs) && n < 32 {
		n *= 2
	}
	if len(vs) > 32 {
		n = (len(vs) + 31) / 32 * 32
	}
	padded := vs
	if n > len(vs) {
		padded = make([]string, n)
		copy(padded, vs)
		for i := len(vs); i < n; i++ {
			padded[i] = vs[len(vs)-1]
		}
	}
	return a.in(padded)
}

// rowChunks splits n rows into the row counts of multi-row statements: 32 at a time, then
// the powers of two of the rest, so that however many rows there are, the statements have
// only six texts (kept prepared; see inPadded).
func rowChunks(n int) []int {
	var out []int
	for ; n >= 32; n -= 32 {
		out = append(out, 32)
	}
	for size := 16; size > 0; size /= 2 {
		if n >= size {
			out = append(out, size)
			n -= size
		}
	}
	return out
}

// inRowChunks yields s in the chunks rowChunks sizes, in order.
func inRowChunks[T any](s []T) iter.Seq[[]T] {
	return func(yield func([]T) bool) {
		for _, n := range rowChunks(len(s)) {
			if !yield(s[:n:n]) {
				return
			}
			s = s[n:]
		}
	}
}

// prefixRange returns the half-open range [prefix, upper) of the names that start with
// prefix, compared byte by byte. ok is false when prefix contains a byte no prompt name can
// contain: then no name matches. Prompt names are ASCII letters, digits and ._-/, so the
// upper bound (prefix with its last byte incremented) is ASCII too. The store compares names
// bytewise (BINARY collation on SQLite, COLLATE "C" on PostgreSQL).
func prefixRange(prefix string) (upper string, ok bool) {
	for i := 0; i < len(prefix); i++ {
		c := prefix[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-' || c == '/') {
			return "", false
		}
	}
	return prefix[:len(prefix)-1] + string(prefix[len(prefix)-1]+1), true
}

// readPage reads rows fetched with LIMIT limit+1 into a page: scan turns each row into an
// item, key gives the cursor of the last item kept when there is one more row than limit.
// It closes rows.
func readPage[T any](rows *sql.Rows, limit int, scan func(scanner) (*T, error), key func(*T) string) (*promptd.Page[T], error) {
	defer rows.Close()
	page := &promptd.Page[T]{Items: []T{}}
	for rows.Next() {
		item, err := scan(rows)
		if err != nil {
			return nil, err
		}
		page.Items = append(page.Items, *item)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(page.Items) > limit {
		page.Items = page.Items[:limit]
		page.NextCursor = encodeCursor(key(&page.Items[limit-1]))
	}
	return page, nil
}
