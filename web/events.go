package web

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/webhook"
)

// eventsData is the event log page.
type eventsData struct {
	Events             []eventView
	Type               string
	Cursor, NextCursor string
}

// eventView is an event with its payload pretty-printed and summarised.
type eventView struct {
	E       promptd.Event
	Payload string
	Summary string
	Prompt  string // the prompt the event is about, if any
}

// summarise says in one line what an event is about: the prompt version and what changed,
// or the start of a custom event's data.
func summarise(ev *promptd.Event) eventView {
	v := eventView{E: *ev, Payload: prettyJSON(ev.Payload)}
	var env webhook.Event
	if json.Unmarshal(ev.Payload, &env) != nil {
		return v
	}
	if p := env.Prompt; p != nil {
		v.Prompt = p.Name
		parts := []string{p.Name + " v" + strconv.Itoa(p.Version)}
		if c := env.Changes; c != nil {
			if c.Name != nil {
				parts = append(parts, "renamed from "+c.Name.From)
			}
			for _, l := range c.LabelsAdded {
				parts = append(parts, "+label "+l)
			}
			for _, l := range c.LabelsRemoved {
				parts = append(parts, "−label "+l)
			}
			for _, t := range c.TagsAdded {
				parts = append(parts, "+tag "+t)
			}
			for _, t := range c.TagsRemoved {
				parts = append(parts, "−tag "+t)
			}
		}
		if pr := env.Promotion; pr != nil {
			step := pr.Label + " → v" + strconv.Itoa(pr.NewVersion)
			if pr.Decision != "" {
				step += " " + pr.Decision
			}
			if pr.Override != nil {
				step += " by override: " + pr.Override.Reason
			}
			parts = append(parts, step)
		}
		if e := env.Evaluation; e != nil {
			parts = append(parts, "evaluation "+e.Name+" "+e.Status)
		}
		if env.Actor != nil && env.Actor.Name != "" {
			parts = append(parts, "by "+env.Actor.Name)
		}
		v.Summary = strings.Join(parts, " · ")
		return v
	}
	if len(env.Data) > 0 {
		v.Summary = string(env.Data)
		if r := []rune(v.Summary); len(r) > 160 {
			v.Summary = string(r[:160]) + "…"
		}
	}
	return v
}

// eventsPage is the event log, newest first, optionally of one type or the types under a
// prefix ("prompt-version" shows prompt-version.*).
func (s *server) eventsPage(w http.ResponseWriter, r *http.Request) {
	sess := sessionFrom(r.Context())
	q := r.URL.Query()
	d := eventsData{Type: strings.TrimSpace(q.Get("type")), Cursor: q.Get("cursor")}
	page, err := s.store.ListEvents(r.Context(), sess.key.ProjectID, promptd.EventFilter{TypePrefix: d.Type, PageRequest: promptd.PageRequest{Cursor: d.Cursor}})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	for _, ev := range page.Items {
		d.Events = append(d.Events, summarise(&ev))
	}
	d.NextCursor = page.NextCursor
	s.render(w, r, http.StatusOK, "events.html", "Events", "events", d)
}

// eventData is an event's page: the event and its deliveries.
type eventData struct {
	E          *promptd.Event
	Payload    string
	Deliveries []deliveryRow
}

// eventPage shows one event and where it was delivered.
func (s *server) eventPage(w http.ResponseWriter, r *http.Request) {
	sess := sessionFrom(r.Context())
	ctx := r.Context()
	ev, err := s.store.FindEvent(ctx, sess.key.ProjectID, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d := eventData{E: ev, Payload: prettyJSON(ev.Payload)}
	dels, err := s.store.ListDeliveries(ctx, sess.key.ProjectID, promptd.DeliveryFilter{EventID: ev.ID})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	for _, del := range dels.Items {
		row := deliveryRow{D: del}
		if wh, err := s.store.FindWebhook(ctx, sess.key.ProjectID, del.WebhookID); err == nil {
			row.WebhookName = wh.Name
		}
		d.Deliveries = append(d.Deliveries, row)
	}
	s.render(w, r, http.StatusOK, "event.html", "Event "+ev.Type, "events", d)
}
