package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/format"
)

// hookMatch is a webhook as the fan-out sees it: its id, state, ordering, compiled matcher,
// and payload format with its options.
type hookMatch struct {
	id       string
	revision int64
	enabled  bool
	ordered  bool // per-prompt ordering
	m        *promptd.Matcher
	format   string
	options  promptd.FormatOptions
	// optionsJSON is options as stored (the webhook's format_options).
	optionsJSON string
	// targets are the deliveries' targets for each event (deliveryTargets): [""] but for
	// a slack webhook posting through a connection, one per channel.
	targets []string
}

// fanOut creates, in the caller's transaction, the deliveries of each event to each matching
// webhook of the event's project, one per target (deliveryTargetsOf: one for most, one per
// Slack channel or per part of the event its payload format sends it as, none when the
// format does not send it), pending and due now when the webhook is enabled, cancelled when
// it is not (so that a disabled webhook's missed events are visible and can be recovered).
// webhook.test events are never fanned out. Each project's webhooks are loaded once per call.
func (s *Store) fanOut(ctx context.Context, tx *writeTx, events []*promptd.Event) error {
	var projects []string
	byProject := map[string][]*promptd.Event{}
	for _, ev := range events {
		if ev.Type == promptd.EventWebhookTest {
			continue
		}
		if _, ok := byProject[ev.ProjectID]; !ok {
			projects = append(projects, ev.ProjectID)
		}
		byProject[ev.ProjectID] = append(byProject[ev.ProjectID], ev)
	}
	for _, projectID := range projects {
		hooks, err := s.projectHooks(ctx, tx, projectID)
		if err != nil {
			return err
		}
		if len(hooks) == 0 {
			continue
		}
		var out []newDelivery
		for _, ev := range byProject[projectID] {
			for _, h := range hooks {
				ok, err := h.m.Decide(ev)
				if err != nil {
					s.filterFailed(h, ev, err)
				}
				if !ok {
					continue
				}
				for _, target := range deliveryTargetsOf(&h, ev) {
					out = append(out, newDelivery{webhookID: h.id, event: ev, pending: h.enabled, ordered: h.ordered && ev.OrderingKey != "", target: target,
						format: h.format, formatOptions: h.optionsJSON})
				}
			}
		}
		if tx.handoff != nil {
			tx.handoff.reserveFor(out)
		}
		if err := s.insertDeliveries(ctx, tx, projectID, out); err != nil {
			return err
		}
		if tx.handoff != nil {
			if err := s.handoffJobs(ctx, tx, hooks, out); err != nil {
				return err
			}
		}
	}
	return nil
}

// projectHooks loads the project's webhooks with their matchers, compiling only those whose
// revision the cache does not hold. It locks them against deletion (Dialect.ForKeyShare)
// until the transaction ends, as the deliveries it inserts for them have no foreign key.
func (s *Store) projectHooks(ctx context.Context, tx *writeTx, projectID string) ([]hookMatch, error) {
	rows, err := tx.QueryContext(ctx,
		`SELECT id, enabled, revision, events, filters, ordering, format, format_options, type, destination FROM webhooks WHERE project_id = $1 ORDER BY id`+s.d.ForKeyShare, projectID)
	if err != nil {
		return nil, fmt.Errorf("loading webhooks for fan-out: %w", err)
	}
	defer rows.Close()
	var hooks []hookMatch
	for rows.Next() {
		var (
			h               hookMatch
			revision        int64
			events, filters string
			ordering        string
			formatOptions   string
			typ, dest       string
		)
		if err := rows.Scan(&h.id, &h.enabled, &revision, &events, &filters, &ordering, &h.format, &formatOptions, &typ, &dest); err != nil {
			return nil, fmt.Errorf("loading webhooks for fan-out: %w", err)
		}
		if h.targets, err = deliveryTargets(typ, dest); err != nil {
			return nil, fmt.Errorf("webhook %s: %w", h.id, err)
		}
		h.optionsJSON = formatOptions
		if formatOptions != "{}" {
			if err := json.Unmarshal([]byte(formatOptions), &h.options); err != nil {
				return nil, fmt.Errorf("webhook %s: decoding format options: %w", h.id, err)
			}
		}
		if h.m = s.hooks.matcher(h.id, revision); h.m == nil {
			w := promptd.Webhook{ID: h.id}
			if err := decodeMatching(events, filters, &w); err != nil {
				return nil, err
			}
			if h.m, err = promptd.NewMatcher(&w); err != nil {
				return nil, fmt.Errorf("webhook %s: %w", h.id, err)
			}
			s.hooks.putMatcher(h.id, revision, h.m)
		}
		h.ordered = ordering == promptd.OrderingPerPrompt
		h.revision = revision
		hooks = append(hooks, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("loading webhooks for fan-out: %w", err)
	}
	return hooks, nil
}

// deliveryTargets returns the targets of a webhook of type typ with the destination column
// dest: one per channel for a slack webhook posting through a connection, else [""] (the
// webhook is its own single target).
func deliveryTargets(typ, dest string) ([]string, error) {
	if typ != promptd.TypeSlack || dest == "{}" {
		return []string{""}, nil
	}
	var dj destinationJSON
	if err := json.Unmarshal([]byte(dest), &dj); err != nil {
		return nil, fmt.Errorf("decoding the destination: %w", err)
	}
	if dj.Slack == nil || len(dj.Slack.Channels) == 0 {
		return []string{""}, nil
	}
	return dj.Slack.Channels, nil
}

// deliveryTargetsOf returns the targets of ev's deliveries to h: none when h's payload
// format does not send ev; else the destination's (a slack webhook's channels) or the
// format's parts (promptlayer's labels, format.Targets). A webhook has one or the other:
// a format other than promptd is for http webhooks only.
func deliveryTargetsOf(h *hookMatch, ev *promptd.Event) []string {
	parts := format.Targets(h.format, h.options, ev)
	switch {
	case len(parts) == 0:
		return nil
	case len(h.targets) == 1 && h.targets[0] == "":
		return parts
	default:
		return h.targets
	}
}

// newDelivery is a delivery to create: pending and due now, or cancelled because the
// webhook is disabled. An ordered one joins the line of its event's ordering key (see
// ordering.go): pending, it waits until it is the head.
type newDelivery struct {
	id        string // set by insertDeliveries
	webhookID string
	event     *promptd.Event
	pending   bool
	ordered   bool
	// leased says that the delivery is inserted leased to this process's engine, which
	// reserved it (see handoff.go): delivering, its first attempt counted.
	leased   bool
	target   string
	sequence int64 // set by insertDeliveries
	// format and formatOptions are the webhook's payload format and its options (as stored)
	// now: the delivery is rendered in them on every attempt (see queuedFormat).
	format, formatOptions string
}

// insertDeliveries inserts the deliveries of one project, created now: with multi-row
// INSERTs (insertDeliveryRows), or one statement where the dialect takes arrays
// (insertDeliveryArrays). When any is pending, the transaction wakes the engines.
func (s *Store) insertDeliveries(ctx context.Context, tx *writeTx, projectID string, ds []newDelivery) error {
	lines, err := s.sequenceDeliveries(ctx, tx, ds)
	if err != nil {
		return err
	}
	insert := insertDeliveryRows
	if tx.arrays {
		insert = insertDeliveryArrays
	}
	queued, err := insert(ctx, tx, projectID, ds)
	if err != nil {
		return err
	}
	if len(lines) > 0 {
		if err := s.advanceLines(ctx, tx, lines, tx.now); err != nil {
			return err
		}
	}
	if queued {
		return s.queue(ctx, tx)
	}
	return nil
}

// insertDeliveryRows inserts the deliveries of one project, created now, with multi-row
// INSERTs (see rowChunks), and reports whether any is pending and due.
func insertDeliveryRows(ctx context.Context, tx *writeTx, projectID string, ds []newDelivery) (bool, error) {
	queued := false
	for chunk := range inRowChunks(ds) {
		var a args
		project, now := a.add(projectID), a.add(millis(tx.now))
		values := make([]string, len(chunk))
		for i := range chunk {
			d := &chunk[i]
			d.id = newID()
			status, next, lastError, attempts := any(promptd.StatusPending), any(millis(tx.now)), "", 0
			switch {
			case !d.pending:
				status, next, lastError = promptd.StatusCancelled, nil, webhookDisabledError
			case d.ordered:
				next = nil // waits in its line; advanceLines makes the head due
			case d.leased:
				status, next, attempts = promptd.StatusDelivering, millis(tx.now.Add(tx.handoff.lease)), 1
			default:
				queued = true
			}
			key, seq := any(nil), any(nil)
			if d.ordered {
				key, seq = d.event.OrderingKey, d.sequence
			}
			values[i] = "(" + a.add(d.id) + ", " + project + ", " + a.add(d.webhookID) + ", " + a.add(d.event.ID) + ", " +
				a.add(d.event.Type) + ", " + a.add(status) + ", " + a.add(next) + ", " + a.add(lastError) + ", " + now + ", " + now +
				", " + a.add(key) + ", " + a.add(seq) + ", " + a.add(d.target) + ", " + a.add(d.format) + ", " + a.add(d.formatOptions) +
				", " + a.add(attempts) + ")"
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO deliveries (id, project_id, webhook_id, event_id, event_type, status, next_attempt_at, last_error, created_at, updated_at,
				ordering_key, sequence, target, format, format_options, attempt_count)
			 VALUES `+strings.Join(values, ", "), a...); err != nil {
			return false, fmt.Errorf("inserting deliveries: %w", err)
		}
	}
	return queued, nil
}

// insertDeliveryArrays inserts the deliveries of one project, created now, with one
// INSERT … SELECT FROM unnest(…) (Dialect.ArrayParams), and reports whether any is pending
// and due.
func insertDeliveryArrays(ctx context.Context, tx *writeTx, projectID string, ds []newDelivery) (bool, error) {
	if len(ds) == 0 {
		return false, nil
	}
	n := len(ds)
	var (
		ids, webhookIDs, eventIDs = make([]string, n), make([]string, n), make([]string, n)
		types, statuses, errs     = make([]string, n), make([]string, n), make([]string, n)
		targets                   = make([]string, n)
		formats, formatOptions    = make([]string, n), make([]string, n)
		nexts, sequences          = make([]*int64, n), make([]*int64, n)
		keys                      = make([]*string, n)
		attempts                  = make([]int32, n)
		queued                    bool
		now                       = millis(tx.now)
		leaseEnd                  int64
	)
	if tx.handoff != nil {
		leaseEnd = millis(tx.now.Add(tx.handoff.lease))
	}
	for i := range ds {
		d := &ds[i]
		d.id = newID()
		ids[i], webhookIDs[i], eventIDs[i], types[i], targets[i] = d.id, d.webhookID, d.event.ID, d.event.Type, d.target
		formats[i], formatOptions[i] = d.format, d.formatOptions
		switch {
		case !d.pending:
			statuses[i], errs[i] = promptd.StatusCancelled, webhookDisabledError
		case d.ordered:
			statuses[i] = promptd.StatusPending // waits in its line; advanceLines makes the head due
		case d.leased:
			statuses[i], nexts[i], attempts[i] = promptd.StatusDelivering, &leaseEnd, 1
		default:
			statuses[i], nexts[i], queued = promptd.StatusPending, &now, true
		}
		if d.ordered {
			key, seq := d.event.OrderingKey, d.sequence
			keys[i], sequences[i] = &key, &seq
		}
	}
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO deliveries (id, project_id, webhook_id, event_id, event_type, status, next_attempt_at, last_error, created_at, updated_at,
			ordering_key, sequence, target, format, format_options, attempt_count)
		 SELECT v.id, $1, v.webhook_id, v.event_id, v.event_type, v.status, v.next, v.err, $2, $2, v.key, v.seq, v.target, v.format, v.format_options, v.attempts
		 FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[], $9::text[], $10::text[], $11::bigint[], $12::text[],
			$13::text[], $14::text[], $15::integer[])
			AS v(id, webhook_id, event_id, event_type, status, next, err, key, seq, target, format, format_options, attempts)`,
		projectID, now, ids, webhookIDs, eventIDs, types, statuses, nexts, errs, keys, sequences, targets, formats, formatOptions, attempts); err != nil {
		return false, fmt.Errorf("inserting deliveries: %w", err)
	}
	return queued, nil
}

// sequenceDeliveries gives each ordered delivery of ds the next sequence of its line, in
// the order of ds (event order), taking the lines' sequences in (webhook, key) order, and
// returns the lines.
func (s *Store) sequenceDeliveries(ctx context.Context, tx *writeTx, ds []newDelivery) ([]line, error) {
	count := map[line]int{}
	var lines []line
	for _, d := range ds {
		if !d.ordered {
			continue
		}
		l := line{d.webhookID, d.event.OrderingKey}
		if count[l] == 0 {
			lines = append(lines, l)
		}
		count[l]++
	}
	if len(lines) == 0 {
		return nil, nil
	}
	slices.SortFunc(lines, compareLines)
	next := make(map[line]int64, len(lines))
	for _, l := range lines {
		first, err := takeSequences(ctx, tx, l, count[l])
		if err != nil {
			return nil, err
		}
		next[l] = first
	}
	for i := range ds {
		if d := &ds[i]; d.ordered {
			l := line{d.webhookID, d.event.OrderingKey}
			d.sequence = next[l]
			next[l]++
		}
	}
	return lines, nil
}

// filterFailed passes a failed CEL filter evaluation to the filter error handler, if any
// (see SetFilterErrorHandler).
func (s *Store) filterFailed(h hookMatch, ev *promptd.Event, err error) {
	if f := s.filterErrors.Load(); f != nil {
		(*f)(promptd.FilterError{WebhookID: h.id, Revision: h.revision, EventID: ev.ID, EventType: ev.Type, Err: err,
			First: h.m.FirstFilterError()})
	}
}

// SetFilterErrorHandler sets a function called, during the fan-out, for every evaluation of
// a webhook's CEL filter that failed (the event then does not match the webhook), e.g. to
// count them in a metric and log the first of each webhook revision; nil removes it. It
// may be called again for the same event when its transaction is retried.
func (s *Store) SetFilterErrorHandler(f func(promptd.FilterError)) {
	if f == nil {
		s.filterErrors.Store(nil)
		return
	}
	s.filterErrors.Store(&f)
}
