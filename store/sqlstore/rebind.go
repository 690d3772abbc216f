package sqlstore

import (
	"sync"
)

// Anonymous placeholders for SQLite.
//
// The store writes its SQL with PostgreSQL's numbered placeholders ($1, $2, …). SQLite
// understands them, but as named parameters: binding one looks its name up in a list that
// is scanned from the start (sqlite3_bind_parameter_name → sqlite3VListNumToName), so a
// statement with n placeholders costs n²/2 steps to bind — 7 % of promptd's CPU in the
// fan-out benchmark, where the multi-row inserts carry hundreds. Rewritten to plain "?" with
// the arguments put in the order of their use, a statement binds in n steps.

// rebound is a query rewritten to anonymous placeholders: the argument (0-based) that each
// "?" takes, in order, or nil when the query used $1…$n once each, in order.
type rebound struct {
	text  string
	order []int
}

// maxRebound bounds the rewritten texts kept; past it, queries are rewritten on every call.
// The store's statements come in a few hundred texts (multi-row statements in fixed sizes).
const maxRebound = 4096

var (
	reboundMu    sync.RWMutex
	reboundCache = map[string]*rebound{}
)

// rebind returns query with anonymous placeholders, and args in the order they take them.
func rebind(query string, args []any) (string, []any) {
	reboundMu.RLock()
	r := reboundCache[query]
	reboundMu.RUnlock()
	if r == nil {
		r = rewritePlaceholders(query)
		reboundMu.Lock()
		if len(reboundCache) < maxRebound {
			reboundCache[query] = r
		}
		reboundMu.Unlock()
	}
	if r.order == nil {
		return r.text, args
	}
	out := make([]any, len(r.order))
	for i, k := range r.order {
		if k >= len(args) {
			// A placeholder without its argument: leave the call as it was written, for the
			// driver to report.
			return query, args
		}
		out[i] = args[k]
	}
	return r.text, out
}

// rewritePlaceholders replaces every $N outside quoted strings, quoted identifiers and
// "--" comments with "?".
func rewritePlaceholders(query string) *rebound {
	buf := make([]byte, 0, len(query))
	var order []int
	inOrder := true
	var quote byte
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '-' && i+1 < len(query) && query[i+1] == '-':
			quote = '\n' // a comment runs to the end of the line
		case c == '$' && i+1 < len(query) && query[i+1] >= '1' && query[i+1] <= '9':
			n, j := 0, i+1
			for j < len(query) && query[j] >= '0' && query[j] <= '9' {
				n = n*10 + int(query[j]-'0')
				j++
			}
			order = append(order, n-1)
			inOrder = inOrder && n == len(order)
			buf = append(buf, '?')
			i = j - 1
			continue
		}
		buf = append(buf, c)
	}
	r := &rebound{text: string(buf)}
	if !inOrder {
		r.order = order
	}
	return r
}
