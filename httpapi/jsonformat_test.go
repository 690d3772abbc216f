package httpapi

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/promptd/promptd"
)

// jsonFormat writes the bytes huma's JSON format writes, whether or not its shortcut applies.
func TestJSONFormatIsHumasJSON(t *testing.T) {
	t.Parallel()
	fresh, err := promptd.NewDataEvent("proj_1", "deploy.finished", json.RawMessage(`{ "env": "<prod>", "n": [1, 2] }`), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := fresh.AppendJSON(nil); !ok {
		t.Fatal("the shortcut does not apply to a fresh event: the test would not test it")
	}
	stored := &promptd.Event{ID: "e1", ProjectID: "p", Type: "a.b", Timestamp: time.Unix(1700000000, 0).UTC(), Payload: json.RawMessage(`{ "id" : "e1" }`)}
	var nilEvent *promptd.Event
	for _, v := range []any{fresh, stored, nilEvent, map[string]any{"x": "<&>"}} {
		var got, want bytes.Buffer
		if err := jsonFormat.Marshal(&got, v); err != nil {
			t.Fatal(err)
		}
		if err := huma.DefaultJSONFormat.Marshal(&want, v); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Errorf("%T:\n got %q\nwant %q", v, got.Bytes(), want.Bytes())
		}
	}
}
