package web

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/promptd/promptd"
)

// deliveryRow is a delivery with its webhook's name.
type deliveryRow struct {
	D           promptd.Delivery
	WebhookName string
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
	if f.Since, err = parseLocal("query.since", d.Since); err != nil {
		s.fail(w, r, err)
		return
	}
	if f.Until, err = parseLocal("query.until", d.Until); err != nil {
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
	for _, del := range page.Items {
		d.Rows = append(d.Rows, deliveryRow{D: del, WebhookName: names[del.WebhookID]})
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

// parseLocal reads a datetime-local value as UTC; empty is the zero time.
func parseLocal(field, s string) (time.Time, error) {
	if strings.TrimSpace(s) == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(datetimeLocal, s)
	if err != nil {
		if t, err = time.Parse(time.RFC3339, s); err != nil {
			return time.Time{}, promptd.Invalid(field, "%q is not a date and time such as 2026-11-22T10:30", s)
		}
	}
	return t, nil
}

// attemptView is an attempt with what the page shows about it.
type attemptView struct {
	A           promptd.Attempt
	OK          bool
	RequestBody string
	Response    string // the response body, pretty-printed when it is JSON
}

// deliveryData is a delivery's page.
type deliveryData struct {
	D        *promptd.Delivery
	Webhook  *promptd.Webhook
	Event    *promptd.Event
	Payload  string
	Attempts []attemptView
	Live     bool
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
	d := deliveryData{D: del, Live: live(del)}
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

// resendDelivery queues the delivery again and shows the new one.
func (s *server) resendDelivery(w http.ResponseWriter, r *http.Request) {
	sess := sessionFrom(r.Context())
	d, err := s.store.ResendDelivery(r.Context(), sess.key.ProjectID, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/deliveries/"+d.ID+"?done=resent", http.StatusSeeOther)
}
