package web

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/promptd/promptd"
)

// deliveryRow is a delivery with its webhook's name, and whether an open circuit holds it.
type deliveryRow struct {
	D           promptd.Delivery
	WebhookName string
	Held        bool
	Circuit     promptd.Circuit
}

// deliveriesData is the delivery log page.
type deliveriesData struct {
	Rows               []deliveryRow
	Webhooks           []promptd.Webhook
	Statuses           []string
	Webhook, Status    string
	Since, Until       string // datetime-local, UTC
	Cursor, NextCursor string
	Filtered           bool
	// Live is true while a shown delivery is pending or delivering: the rows then refresh
	// themselves every 2 seconds.
	Live bool
	// RowsURL is where the rows fragment is fetched from when live.
	RowsURL string
}

// live reports whether a delivery may still change on its own.
func live(d *promptd.Delivery) bool {
	return d.Status == promptd.StatusPending || d.Status == promptd.StatusDelivering
}

// deliveriesPage is the delivery log, filtered by webhook, status and time. An htmx request
// for the rows gets only the rows fragment (the live refresh).
func (s *server) deliveriesPage(w http.ResponseWriter, r *http.Request) {
	sess := sessionFrom(r.Context())
	ctx := r.Context()
	q := r.URL.Query()
	d := deliveriesData{
		Statuses: promptd.DeliveryStatuses,
		Webhook:  q.Get("webhook"), Status: q.Get("status"),
		Since: q.Get("since"), Until: q.Get("until"), Cursor: q.Get("cursor"),
	}
	d.Filtered = d.Webhook != "" || d.Status != "" || d.Since != "" || d.Until != ""
	f := promptd.DeliveryFilter{WebhookID: d.Webhook, Status: d.Status, PageRequest: promptd.PageRequest{Cursor: d.Cursor}}
	var err error
	if f.Since, err = parseUTC("query.since", d.Since); err != nil {
		s.fail(w, r, err)
		return
	}
	if f.Until, err = parseUTC("query.until", d.Until); err != nil {
		s.fail(w, r, err)
		return
	}
	page, err := s.store.ListDeliveries(ctx, sess.key.ProjectID, f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	hooks, err := s.store.ListWebhooks(ctx, sess.key.ProjectID, promptd.PageRequest{Limit: promptd.MaxPageLimit})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d.Webhooks = hooks.Items
	names := map[string]string{}
	for _, wh := range hooks.Items {
		names[wh.ID] = wh.Name
	}
	now, circuits := time.Now(), map[string]promptd.Circuit{}
	for _, del := range page.Items {
		c, ok := circuits[del.WebhookID]
		if !ok {
			c = s.circuit(del.WebhookID)
			circuits[del.WebhookID] = c
		}
		d.Rows = append(d.Rows, deliveryRow{D: del, WebhookName: names[del.WebhookID], Held: held(&del, c, now), Circuit: c})
		d.Live = d.Live || live(&del)
	}
	d.NextCursor = page.NextCursor
	rq := r.URL.Query()
	rq.Del("done")
	d.RowsURL = "/deliveries"
	if len(rq) > 0 {
		d.RowsURL += "?" + rq.Encode()
	}
	if r.Header.Get("HX-Request") == "true" && r.Header.Get("HX-Target") == "delivery-rows" {
		s.renderFragment(w, r, "deliveries.html", "rows", d)
		return
	}
	s.render(w, r, http.StatusOK, "deliveries.html", "Deliveries", "deliveries", d)
}

// parseUTC reads a date and time in UTC ("2026-11-22 10:30", also with a T, or RFC 3339);
// empty is the zero time.
func parseUTC(field, s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{utcMinute, datetimeLocal, "2006-01-02 15:04:05", time.RFC3339} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, promptd.Invalid(field, "%q is not a date and time in UTC such as 2026-11-22 10:30", s)
}

// attemptView is an attempt with what the page shows about it.
type attemptView struct {
	A           promptd.Attempt
	OK          bool
	RequestBody string
	// Rendered is set when RequestBody is the body a payload format rendered, byte for
	// byte as sent, rather than the event's payload (pretty-printed).
	Rendered bool
	Response string // the response body, pretty-printed when it is JSON
}

// deliveryData is a delivery's page.
type deliveryData struct {
	D        *promptd.Delivery
	Webhook  *promptd.Webhook
	Event    *promptd.Event
	Payload  string
	Attempts []attemptView
	Live     bool
	// Held is true while an open circuit holds the delivery (Circuit says until when).
	Held    bool
	Circuit promptd.Circuit
	// Earlier and Later are the other deliveries of the same event to the same webhook,
	// oldest first: the delivery this one resent, and its resends.
	Earlier, Later []promptd.Delivery
}

// deliveryPage shows one delivery with all its attempts, newest first. While it is pending
// or delivering, the page refreshes its body every 2 seconds (an htmx request for the body
// gets only the fragment).
func (s *server) deliveryPage(w http.ResponseWriter, r *http.Request) {
	sess := sessionFrom(r.Context())
	ctx := r.Context()
	del, err := s.store.FindDelivery(ctx, sess.key.ProjectID, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d := deliveryData{D: del, Live: live(del), Circuit: s.circuit(del.WebhookID)}
	d.Held = held(del, d.Circuit, time.Now())
	if err := s.relatedDeliveries(r, &d); err != nil {
		s.fail(w, r, err)
		return
	}
	if wh, err := s.store.FindWebhook(ctx, sess.key.ProjectID, del.WebhookID); err == nil {
		d.Webhook = wh
	}
	if ev, err := s.store.FindEvent(ctx, sess.key.ProjectID, del.EventID); err == nil {
		d.Event = ev
		d.Payload = prettyJSON(ev.Payload)
	} else if promptd.ErrorKind(err) != promptd.ENOTFOUND {
		s.fail(w, r, err)
		return
	}
	for _, a := range del.Attempts {
		av := attemptView{A: a, OK: promptd.AttemptSucceeded(&a), RequestBody: d.Payload, Response: a.ResponseBody}
		if a.RequestBody != "" {
			av.RequestBody, av.Rendered = a.RequestBody, true
		}
		if json.Valid([]byte(a.ResponseBody)) {
			av.Response = prettyJSON([]byte(a.ResponseBody))
		}
		d.Attempts = append(d.Attempts, av)
	}
	slices.Reverse(d.Attempts)
	if r.Header.Get("HX-Request") == "true" && r.Header.Get("HX-Target") == "delivery-body" {
		s.renderFragment(w, r, "delivery.html", "delivery-body", d)
		return
	}
	s.render(w, r, http.StatusOK, "delivery.html", "Delivery of "+del.EventType, "deliveries", d)
}

// relatedDeliveries fills d.Earlier and d.Later: the other deliveries of d's event to d's
// webhook. Fan-out makes one delivery per event and webhook, so the others are resends.
func (s *server) relatedDeliveries(r *http.Request, d *deliveryData) error {
	sess := sessionFrom(r.Context())
	page, err := s.store.ListDeliveries(r.Context(), sess.key.ProjectID, promptd.DeliveryFilter{
		WebhookID: d.D.WebhookID, EventID: d.D.EventID, PageRequest: promptd.PageRequest{Limit: 20},
	})
	if err != nil {
		return err
	}
	slices.Reverse(page.Items) // oldest first
	for _, o := range page.Items {
		switch {
		case o.ID == d.D.ID:
		case o.CreatedAt.Before(d.D.CreatedAt) || (o.CreatedAt.Equal(d.D.CreatedAt) && o.ID < d.D.ID):
			d.Earlier = append(d.Earlier, o)
		default:
			d.Later = append(d.Later, o)
		}
	}
	return nil
}

// resendDelivery queues the delivery again and shows the new one.
func (s *server) resendDelivery(w http.ResponseWriter, r *http.Request) {
	sess := sessionFrom(r.Context())
	d, err := s.store.ResendDelivery(r.Context(), sess.key.ProjectID, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	done := "resent"
	if d.ID == r.PathValue("id") { // still pending: brought forward, not duplicated
		done = "forward"
	}
	http.Redirect(w, r, "/deliveries/"+d.ID+"?done="+done, http.StatusSeeOther)
}
