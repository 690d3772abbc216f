package delivery_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/delivery"
)

// okFalse is a destination for a Slack-like API: the http request, but an answer of 200
// with {"ok":false} is a failure, judged as judged.
type okFalse struct {
	delivery.HTTP
	judged delivery.Judgement
}

func (d okFalse) Judge(job *promptd.Job, a delivery.Answer) delivery.Result {
	r := d.HTTP.Judge(job, a)
	if strings.Contains(string(a.Body), `"ok":false`) {
		r.Judged, r.Hint = d.judged, "channel_not_found: invite the bot to the channel"
	}
	return r
}

func TestDestinationJudgesTheAnswer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		judged   delivery.Judgement
		want     string
		attempts []int
		disabled bool
	}{
		{"permanent", delivery.JudgedPermanent, promptd.StatusFailed, []int{200}, false},
		{"transient", delivery.JudgedTransient, promptd.StatusFailed, []int{200, 200, 200}, false},
		{"gone", delivery.JudgedGone, promptd.StatusFailed, []int{200}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, false)
			srv, _ := scripted(t, []int{200}, nil) // answers {"ok":false}
			w := f.webhook(t, srv.URL)
			f.start(t, func(c *delivery.Config) {
				c.Destinations = delivery.Destinations{promptd.TypeHTTP: okFalse{judged: tt.judged}}
			})
			d := f.waitDelivery(t, w, f.publish(t, "retry.test"), tt.want)
			if got := statuses(d); !slices.Equal(got, tt.attempts) {
				t.Fatalf("attempt statuses = %v, want %v", got, tt.attempts)
			}
			for _, a := range d.Attempts {
				if !strings.Contains(a.Error, "invite the bot") {
					t.Errorf("attempt %d error = %q, want the destination's hint", a.Number, a.Error)
				}
				if promptd.AttemptSucceeded(&a) {
					t.Errorf("attempt %d counts as a success", a.Number)
				}
			}
			got, err := f.st.FindWebhook(context.Background(), f.project, w.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Enabled == tt.disabled {
				t.Errorf("webhook enabled = %v, want %v", got.Enabled, !tt.disabled)
			}
			if tt.disabled && !strings.Contains(got.DisabledReason, "invite the bot") {
				t.Errorf("disabled reason = %q, want the hint", got.DisabledReason)
			}
		})
	}
}

func TestUnknownTypeIsAnAttemptError(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	w := f.webhook(t, "http://127.0.0.1:1/never")
	f.start(t, func(c *delivery.Config) { c.Destinations = delivery.Destinations{"other": delivery.HTTP{}} })
	d := f.waitDelivery(t, w, f.publish(t, "retry.test"), promptd.StatusFailed)
	if len(d.Attempts) != 3 || !strings.Contains(d.Attempts[0].Error, `does not deliver to webhooks of type "http"`) {
		t.Fatalf("attempts = %+v, want three attempts refused for the type", d.Attempts)
	}
}
