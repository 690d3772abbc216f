package delivery

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/promptd/promptd"
)

// TestSlackAppForgetsIdleChannels checks that the per-channel limiters stay bounded: once
// maxPacedChannels are known, the channels that could post now are forgotten; the busy ones
// (that just posted) are kept.
func TestSlackAppForgetsIdleChannels(t *testing.T) {
	t.Parallel()
	d := NewSlackApp("", "")
	w := &promptd.Webhook{Slack: &promptd.SlackTarget{ConnectionID: "conn"}}
	pace := func(ch string) {
		t.Helper()
		if err := d.Pace(context.Background(), &promptd.Job{Webhook: w, Target: ch}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range maxPacedChannels {
		pace(fmt.Sprintf("C%d", i))
	}
	pace("CBUSY") // every channel just posted: none is idle, none is forgotten
	if n := len(d.channels); n != maxPacedChannels+1 {
		t.Fatalf("%d channels known, want %d", n, maxPacedChannels+1)
	}
	d.now = func() time.Time { return time.Now().Add(2 * slackPerChannel) } // all idle by then
	pace("CNEW")
	if _, ok := d.channels["conn/CNEW"]; !ok || len(d.channels) != 1 {
		t.Errorf("%d channels known after forgetting the idle ones, want only CNEW", len(d.channels))
	}
}
