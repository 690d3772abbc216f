package promptd

import "testing"

func TestNormalizeOrdering(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		typ, ordering, want, field string
	}{
		{TypeHTTP, "", OrderingNone, ""},
		{TypeHTTP, " per-prompt ", OrderingPerPrompt, ""},
		{"slack", OrderingPerPrompt, OrderingPerPrompt, ""},
		{TypeGitHub, OrderingPerPrompt, "", "body.ordering"},
		{TypeGitHub, OrderingNone, OrderingNone, ""},
		{TypeHTTP, "per-webhook", "", "body.ordering"},
	} {
		w := &Webhook{Type: tt.typ, Ordering: tt.ordering}
		err := w.normalizeOrdering()
		if tt.field != "" {
			if ErrorKind(err) != EINVALID || ErrorField(err) != tt.field {
				t.Errorf("%s %q: err = %v, want EINVALID on %s", tt.typ, tt.ordering, err, tt.field)
			}
			continue
		}
		if err != nil || w.Ordering != tt.want {
			t.Errorf("%s %q: ordering %q, %v; want %q", tt.typ, tt.ordering, w.Ordering, err, tt.want)
		}
	}
	for _, key := range []string{"", "k1", "0192f8a0-7c1e-7b3a-9f00-5c2d1e0a9b11"} {
		if err := ValidateOrderingKey("body.orderingKey", key); err != nil {
			t.Errorf("ValidateOrderingKey(%q): %v", key, err)
		}
	}
	long := make([]byte, MaxOrderingKeyLength+1)
	for i := range long {
		long[i] = 'k'
	}
	for _, key := range []string{"a\tb", string(long)} {
		if err := ValidateOrderingKey("body.orderingKey", key); ErrorField(err) != "body.orderingKey" {
			t.Errorf("ValidateOrderingKey(%.20q) = %v, want EINVALID on body.orderingKey", key, err)
		}
	}
}
