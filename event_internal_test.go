package promptd

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/promptd/promptd/webhook"
)

// dataPayload must write what the encoder writes for the same envelope, whatever the
// strings and data hold.
func TestDataPayloadIsMarshalPayload(t *testing.T) {
	t.Parallel()
	berlin := time.FixedZone("CET", 3600)
	cases := []struct {
		id, resource, action string
		data                 string
		now                  time.Time
	}{
		{"019a0000-0000-7000-8000-000000000001", "deploy", "finished", `{}`, time.Date(2026, 12, 3, 13, 0, 0, 0, time.UTC)},
		{"id", "deploy", "finished", ` { "a" : [1, 2.50, -3e10, true, null] ,"b":{ } } `, time.Date(2026, 1, 2, 3, 4, 5, 999999999, berlin)},
		{"id", "a<b>&c", "x\"y\\z", `"<script>&amp;"`, time.Unix(0, 0)},
		{"\u2028\u2029", "é", "\x00\x1f\x7f", "[\"\\u00e9\", \"\u2028\", \"\\n\"]", time.Date(10000, 1, 1, 0, 0, 0, 1e6, time.UTC)},
		{"bad\xffutf8", "t\tab", "new\nline", "12345678901234567890", time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"", "", "", `"\ud800"`, time.Date(2026, 6, 1, 0, 0, 0, 0, time.FixedZone("", -9000))},
	}
	for _, c := range cases {
		var compact bytes.Buffer
		if err := json.Compact(&compact, []byte(c.data)); err != nil {
			t.Fatalf("%q: %v", c.data, err)
		}
		want, err := marshalPayload(webhook.Event{
			ID: c.id, Timestamp: webhook.Time{Time: c.now}, Type: c.resource, APIVersion: APIVersion, Action: c.action,
			Data: compact.Bytes(),
		})
		if err != nil {
			t.Fatal(err)
		}
		got, gotData, err := dataPayload(c.id, c.resource, c.action, []byte(c.data), false, c.now)
		if err != nil {
			t.Fatalf("%q: %v", c.data, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("dataPayload(%q, %q, %q, %q)\n got %s\nwant %s", c.id, c.resource, c.action, c.data, got, want)
		}
		gotCompacted, _, err := dataPayload(c.id, c.resource, c.action, compact.Bytes(), true, c.now)
		if err != nil || !bytes.Equal(gotCompacted, want) {
			t.Errorf("dataPayload of compacted %s\n got %s, %v\nwant %s", compact.Bytes(), gotCompacted, err, want)
		}
		if !bytes.Equal(gotData, compact.Bytes()) {
			t.Errorf("data %q: got %s, want %s", c.data, gotData, compact.Bytes())
		}
	}
	if _, _, err := dataPayload("id", "a", "b", []byte(`{"a":`), false, time.Now()); err == nil {
		t.Error("invalid data: no error")
	}
}

// AppendJSON must write what huma's encoder writes (encoding/json, HTML not escaped), and
// decline events whose payload it did not write.
func TestEventAppendJSONIsEncodingJSON(t *testing.T) {
	t.Parallel()
	encode := func(ev *Event) []byte {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(ev); err != nil {
			t.Fatal(err)
		}
		return bytes.TrimRight(buf.Bytes(), "\n")
	}
	zones := []time.Time{
		time.Date(2026, 12, 3, 13, 0, 0, 123456789, time.UTC),
		time.Date(2026, 12, 3, 13, 0, 0, 0, time.FixedZone("", 5*3600+1800)),
		time.Now(), // with a monotonic reading
	}
	for _, now := range zones {
		ev, err := NewDataEvent("proj <&> \"1\"\u2028", "deploy.finished", json.RawMessage(` {"a": "<b>", "c" : [1, 2]} `), now)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := ev.AppendJSON(nil)
		if !ok {
			t.Fatalf("%v: AppendJSON declined an event NewDataEvent made", now)
		}
		if want := encode(ev); !bytes.Equal(got, want) {
			t.Errorf("AppendJSON\n got %s\nwant %s", got, want)
		}
	}

	ev, err := NewDataEvent("proj", "deploy.finished", nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ev.AppendJSON(nil); !ok {
		t.Error("declined a fresh event")
	}
	other := *ev
	other.Payload = json.RawMessage(`{ "spaced": true }`)
	if _, ok := other.AppendJSON(nil); ok {
		t.Error("AppendJSON took a payload it did not write")
	}
	stored := &Event{ID: "e", ProjectID: "p", Type: "a.b", Timestamp: time.Now(), Payload: json.RawMessage(`{}`)}
	if b, ok := stored.AppendJSON([]byte("x")); ok || string(b) != "x" {
		t.Errorf("an event read from a store: %q, %v; want it declined, b unchanged", b, ok)
	}
	far := *ev
	far.Timestamp = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, ok := far.AppendJSON(nil); ok {
		t.Error("AppendJSON took a time encoding/json cannot encode")
	}
}
