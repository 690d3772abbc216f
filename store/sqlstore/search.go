package sqlstore

import (
	"bytes"
	"encoding/json"
	"strings"
)

// escapeLike escapes the LIKE wildcards of s ('%', '_' and the escape character '\'), for a
// pattern with ESCAPE '\'.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// searchCondition is the SQL condition of PromptFilter.Search: the prompt's name contains
// the term, or the content of one of its versions does, ignoring ASCII case. Version content
// is stored as JSON, where a quote, a newline or '<' is escaped: the term is looked for as
// typed and as promptd's normal form of content writes it in JSON.
func searchCondition(a *args, term string) string {
	lower := strings.ToLower(term)
	plain := a.add("%" + escapeLike(lower) + "%")
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // as content is stored (promptd's normal form)
	_ = enc.Encode(lower)    // a string: cannot fail
	encoded := bytes.TrimSpace(buf.Bytes())
	inJSON := a.add("%" + escapeLike(string(encoded[1:len(encoded)-1])) + "%")
	return `(LOWER(p.name) LIKE ` + plain + ` ESCAPE '\' OR EXISTS (SELECT 1 FROM versions v WHERE v.prompt_id = p.id AND
		(LOWER(v.content) LIKE ` + plain + ` ESCAPE '\' OR LOWER(v.content) LIKE ` + inJSON + ` ESCAPE '\')))`
}
