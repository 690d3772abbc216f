package sqlstore

import (
	"bytes"
	"encoding/json"
	"testing"
)

// TestCompactJSON checks that compactJSON gives what json.Compact gives, and its verdict on
// validity, and that it returns compact text itself rather than a copy.
func TestCompactJSON(t *testing.T) {
	for _, in := range []string{
		`{}`, `{"a":1}`, `{ "a" : 1 }`, "{\n\t\"a\": [1, 2]\r\n}", `"a b"`, `"say \"hi there\""`,
		`{"k":"tab\t"}`, `{"k":"q\\"}`, `{"k":"q\\" , "l":1}`, `{"k":"\" "}`, `[1,2 ]`, `3`, ` 3`,
		`{"a":}`, `{"a":1`, `nope`, `{"a":"unterminated}`, `{"a":1}{}`, ``,
	} {
		var want bytes.Buffer
		wantErr := json.Compact(&want, []byte(in))
		got, ok := compactJSON([]byte(in))
		switch {
		case ok != (wantErr == nil):
			t.Errorf("compactJSON(%q) valid = %v, json.Compact: %v", in, ok, wantErr)
		case ok && !bytes.Equal(got, want.Bytes()):
			t.Errorf("compactJSON(%q) = %q, want %q", in, got, want.Bytes())
		}
	}
	in := []byte(`{"a":"b c","d":[1,2]}`)
	if got, _ := compactJSON(in); &got[0] != &in[0] {
		t.Error("compactJSON copied text that was compact already")
	}
}
