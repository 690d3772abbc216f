package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/promptd/promptd"
)

// webhookColumns are the columns scanWebhook reads.
const webhookColumns = `id, project_id, name, type, url, enabled, events, filters, headers, signature_header, retry,
	timeout_seconds, max_in_flight, disabled_reason, disabled_at, revision, created_at, updated_at,
	destination, destination_secret, ordering, format, format_options, single_signature_secret`

// retryJSON is how a retry policy is stored: the schedule in milliseconds.
type retryJSON struct {
	ScheduleMs []int64 `json:"scheduleMs"`
	RetryOn    string  `json:"retryOn"`
}

// webhookRow is a scanned row of the webhooks table whose custom headers and destination
// secrets are still sealed.
type webhookRow struct {
	w          promptd.Webhook
	sealed     []byte
	dest       string // the destination column: plain settings of the type
	destSealed []byte // nil when the type keeps no secret
	revision   int64
}

func scanWebhook(row scanner) (*webhookRow, error) {
	var (
		r                        webhookRow
		events, filters, retry   string
		formatOptions            string
		created, updated         int64
		disabledAt               sql.NullInt64
		timeoutSecs, maxInFlight int
	)
	w := &r.w
	if err := row.Scan(&w.ID, &w.ProjectID, &w.Name, &w.Type, &w.URL, &w.Enabled, &events, &filters, &r.sealed,
		&w.SignatureHeader, &retry, &timeoutSecs, &maxInFlight, &w.DisabledReason, &disabledAt, &r.revision, &created, &updated,
		&r.dest, &r.destSealed, &w.Ordering, &w.Format, &formatOptions, &w.SingleSignatureSecret); err != nil {
		return nil, err
	}
	w.Revision = r.revision
	if err := json.Unmarshal([]byte(formatOptions), &w.FormatOptions); err != nil {
		return nil, fmt.Errorf("webhook %s: decoding format options: %w", w.ID, err)
	}
	w.TimeoutSeconds, w.MaxInFlight = timeoutSecs, maxInFlight
	w.CreatedAt, w.UpdatedAt = fromMillis(created), fromMillis(updated)
	if disabledAt.Valid && !w.Enabled {
		at := fromMillis(disabledAt.Int64)
		w.DisabledAt = &at
	}
	if err := decodeMatching(events, filters, w); err != nil {
		return nil, err
	}
	var rj retryJSON
	if err := json.Unmarshal([]byte(retry), &rj); err != nil {
		return nil, fmt.Errorf("webhook %s: decoding retry policy: %w", w.ID, err)
	}
	w.Retry.RetryOn = rj.RetryOn
	w.Retry.Schedule = make([]time.Duration, len(rj.ScheduleMs))
	for i, ms := range rj.ScheduleMs {
		w.Retry.Schedule[i] = time.Duration(ms) * time.Millisecond
	}
	return &r, nil
}

// storedFilters is how the filters column stores a webhook's prompt filters and its CEL
// payload filter (absent when it has none), all the fan-out needs to match besides the
// event list.
type storedFilters struct {
	promptd.Filters
	CEL string `json:"cel,omitempty"`
}

// decodeMatching decodes the stored event list and filters into w.
func decodeMatching(events, filters string, w *promptd.Webhook) error {
	if err := json.Unmarshal([]byte(events), &w.Events); err != nil {
		return fmt.Errorf("webhook %s: decoding events: %w", w.ID, err)
	}
	var f storedFilters
	if err := json.Unmarshal([]byte(filters), &f); err != nil {
		return fmt.Errorf("webhook %s: decoding filters: %w", w.ID, err)
	}
	w.Filters, w.Filter = f.Filters, f.CEL
	w.Events = nonNil(w.Events)
	w.Filters.PromptNames = nonNil(w.Filters.PromptNames)
	w.Filters.Labels = nonNil(w.Filters.Labels)
	w.Filters.Tags = nonNil(w.Filters.Tags)
	return nil
}

// open returns the webhook with its custom headers decrypted.
func (r *webhookRow) open(box SecretBox) (*promptd.Webhook, error) {
	plain, err := box.Open(r.sealed)
	if err != nil {
		return nil, fmt.Errorf("webhook %s: decrypting custom headers: %w", r.w.ID, err)
	}
	w := r.w
	if err := json.Unmarshal(plain, &w.Headers); err != nil {
		return nil, fmt.Errorf("webhook %s: decoding custom headers: %w", r.w.ID, err)
	}
	if w.Headers == nil {
		w.Headers = map[string]string{}
	}
	var dj destinationJSON
	if err := json.Unmarshal([]byte(r.dest), &dj); err != nil {
		return nil, fmt.Errorf("webhook %s: decoding the destination: %w", r.w.ID, err)
	}
	if dj.GitHub != nil {
		w.GitHub = &promptd.GitHubTarget{Repository: dj.GitHub.Repository, EventType: dj.GitHub.EventType}
	}
	if dj.Slack != nil {
		w.Slack = &promptd.SlackTarget{ConnectionID: dj.Slack.ConnectionID, Channels: nonNil(dj.Slack.Channels)}
	}
	if len(r.destSealed) > 0 {
		plain, err := box.Open(r.destSealed)
		if err != nil {
			return nil, fmt.Errorf("webhook %s: decrypting the destination: %w", r.w.ID, err)
		}
		var ds destinationSecret
		if err := json.Unmarshal(plain, &ds); err != nil {
			return nil, fmt.Errorf("webhook %s: decoding the destination: %w", r.w.ID, err)
		}
		ds.apply(&w)
	}
	return &w, nil
}

// destinationJSON is the destination column: the settings of a webhook's type that are not
// secret.
type destinationJSON struct {
	GitHub *githubJSON `json:"github,omitempty"`
	Slack  *slackJSON  `json:"slack,omitempty"`
}

// slackJSON is where a slack webhook posting through a connection posts (the connection is
// also in the connection_id column, for DeleteSlackConnection).
type slackJSON struct {
	ConnectionID string   `json:"connectionId"`
	Channels     []string `json:"channels"`
}

type githubJSON struct {
	Repository string `json:"repository"`
	EventType  string `json:"eventType"`
}

// destinationSecret is what a webhook type keeps encrypted besides custom headers: an
// incoming-webhook URL, which is its own credential (the url column then holds it masked),
// or a GitHub token.
type destinationSecret struct {
	URL         string `json:"url,omitempty"`
	GitHubToken string `json:"githubToken,omitempty"`
}

// apply restores the secrets onto w.
func (ds *destinationSecret) apply(w *promptd.Webhook) {
	if ds.URL != "" {
		w.URL = ds.URL
	}
	if w.GitHub != nil {
		w.GitHub.Token = ds.GitHubToken
	}
}

// secretOf returns what of w must be stored encrypted, or nil when nothing must.
func secretOf(w *promptd.Webhook) *destinationSecret {
	switch {
	case w.SecretURL():
		return &destinationSecret{URL: w.URL}
	case w.GitHub != nil:
		return &destinationSecret{GitHubToken: w.GitHub.Token}
	}
	return nil
}

// encodedWebhook is a webhook's settings as they are stored.
type encodedWebhook struct {
	events, filters, retry string
	formatOptions          string
	headers                []byte // sealed
	// url is the url column: the URL, masked when it is a credential (kept sealed in
	// destination).
	url         string
	settings    string // the destination column (destinationJSON)
	destination []byte // sealed destinationSecret; nil when there is none
	connection  string // the connection_id column; "" for NULL
}

// checkConnection returns EINVALID, naming body.slack.connectionId, when enc's webhook posts
// through a Slack connection the project does not have.
func checkConnection(ctx context.Context, q querier, projectID string, enc *encodedWebhook) error {
	if enc.connection == "" {
		return nil
	}
	var one int
	err := q.QueryRowContext(ctx, `SELECT 1 FROM slack_connections WHERE project_id = $1 AND id = $2`, projectID, enc.connection).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return promptd.Invalid("body.slack.connectionId", "the project has no Slack connection %q (GET /api/v1/integrations/slack lists them)", enc.connection)
	}
	if err != nil {
		return fmt.Errorf("looking up the Slack connection: %w", err)
	}
	return nil
}

// nullString returns s as stored, or NULL for "".
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// encodeWebhook encodes w's settings for storage, sealing its custom headers with box. It
// also compiles w's filters, so that a webhook the fan-out could not match is never stored.
func encodeWebhook(box SecretBox, w *promptd.Webhook) (*encodedWebhook, error) {
	if w.Type == "" {
		w.Type = promptd.TypeHTTP
	}
	if strings.TrimSpace(w.URL) == "" && w.Type != promptd.TypeGitHub && w.Slack == nil {
		return nil, promptd.Invalid("body.url", "is required")
	}
	if _, err := promptd.NewMatcher(w); err != nil {
		if promptd.ErrorKind(err) == promptd.EINVALID {
			return nil, err // the CEL filter, naming its field
		}
		return nil, promptd.Invalid("body.filters.promptNames", "%v", err)
	}
	events, _ := json.Marshal(nonNil(w.Events))
	filters, _ := json.Marshal(storedFilters{Filters: promptd.Filters{
		PromptNames: nonNil(w.Filters.PromptNames), Labels: nonNil(w.Filters.Labels), Tags: nonNil(w.Filters.Tags),
	}, CEL: w.Filter})
	rj := retryJSON{RetryOn: w.Retry.RetryOn, ScheduleMs: make([]int64, len(w.Retry.Schedule))}
	for i, d := range w.Retry.Schedule {
		rj.ScheduleMs[i] = d.Milliseconds()
	}
	retry, _ := json.Marshal(rj)
	formatOptions, _ := json.Marshal(w.FormatOptions)
	headers := w.Headers
	if headers == nil {
		headers = map[string]string{}
	}
	plain, err := json.Marshal(headers)
	if err != nil {
		return nil, fmt.Errorf("encoding custom headers: %w", err)
	}
	sealed, err := box.Seal(plain)
	if err != nil {
		return nil, fmt.Errorf("encrypting custom headers: %w", err)
	}
	enc := &encodedWebhook{}
	var dj destinationJSON
	if g := w.GitHub; g != nil {
		dj.GitHub = &githubJSON{Repository: g.Repository, EventType: g.EventType}
	}
	if st := w.Slack; st != nil {
		dj.Slack = &slackJSON{ConnectionID: st.ConnectionID, Channels: nonNil(st.Channels)}
		enc.connection = st.ConnectionID
	}
	settings, err := json.Marshal(dj)
	if err != nil {
		return nil, fmt.Errorf("encoding the destination: %w", err)
	}
	enc.events, enc.filters, enc.retry, enc.headers, enc.url, enc.settings = string(events), string(filters), string(retry), sealed, w.URL, string(settings)
	enc.formatOptions = string(formatOptions)
	if ds := secretOf(w); ds != nil {
		plain, err := json.Marshal(ds)
		if err != nil {
			return nil, fmt.Errorf("encoding the destination: %w", err)
		}
		if enc.destination, err = box.Seal(plain); err != nil {
			return nil, fmt.Errorf("encrypting the destination: %w", err)
		}
		enc.url = w.LoggedURL()
	}
	return enc, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// cloneWebhook returns a deep copy of w, so that the store never shares the caller's maps and
// slices.
func cloneWebhook(w *promptd.Webhook) *promptd.Webhook {
	c := *w
	c.Events = slices.Clone(nonNil(w.Events))
	c.Filters = promptd.Filters{
		PromptNames: slices.Clone(nonNil(w.Filters.PromptNames)),
		Labels:      slices.Clone(nonNil(w.Filters.Labels)),
		Tags:        slices.Clone(nonNil(w.Filters.Tags)),
	}
	c.Headers = maps.Clone(w.Headers)
	if c.Headers == nil {
		c.Headers = map[string]string{}
	}
	c.Retry.Schedule = slices.Clone(w.Retry.Schedule)
	if w.GitHub != nil {
		g := *w.GitHub
		c.GitHub = &g
	}
	if w.Slack != nil {
		st := *w.Slack
		st.Channels = slices.Clone(w.Slack.Channels)
		c.Slack = &st
	}
	c.FormatOptions.StageLabels = slices.Clone(w.FormatOptions.StageLabels)
	if c.Format == "" {
		c.Format = promptd.FormatPromptd
	}
	if c.SingleSignatureSecret == "" {
		c.SingleSignatureSecret = promptd.SignNewest
	}
	return &c
}

func webhookNotFound(id string) error {
	return promptd.Errorf(promptd.ENOTFOUND, "webhook %q not found", id)
}

// nullBytes returns b as stored, or NULL for nil.
func nullBytes(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}

// nullMillis returns t as stored, or NULL for nil.
func nullMillis(t *time.Time) any {
	if t == nil {
		return nil
	}
	return millis(*t)
}

// CreateWebhook stores w (normalized by the caller) with secret as its first signing secret,
// both encrypted at rest, and returns it with ID, ProjectID and times set. A webhook created
// disabled keeps w.DisabledReason. Returns EINVALID for an unusable secret or filter,
// ENOTFOUND for an unknown project, EINTERNAL when no secret box is set. See
// promptd.WebhookService.
func (s *Store) CreateWebhook(ctx context.Context, projectID string, w *promptd.Webhook, secret string) (*promptd.Webhook, error) {
	if w == nil {
		return nil, promptd.Invalid("body", "a webhook is required")
	}
	if err := promptd.ValidateWebhookSecret("body.secret", secret); err != nil {
		return nil, err
	}
	box, err := s.secretBox()
	if err != nil {
		return nil, err
	}
	out := cloneWebhook(w)
	enc, err := encodeWebhook(box, out)
	if err != nil {
		return nil, wrap("create webhook", err)
	}
	sealedSecret, err := box.Seal([]byte(secret))
	if err != nil {
		return nil, fmt.Errorf("create webhook: encrypting the secret: %w", err)
	}
	out.ID, out.ProjectID = newID(), projectID
	if out.Enabled {
		out.DisabledReason = ""
	}
	err = s.write(ctx, "create webhook", func(tx *writeTx, now time.Time) error {
		if err := projectExists(ctx, tx, projectID); err != nil {
			return err
		}
		if err := checkConnection(ctx, tx, projectID, enc); err != nil {
			return err
		}
		out.CreatedAt, out.UpdatedAt = now, now
		var disabledAt any
		if !out.Enabled {
			disabledAt = millis(now)
			out.DisabledAt = &now
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO webhooks (id, project_id, name, type, url, enabled, events, filters, headers, signature_header, retry,
				timeout_seconds, max_in_flight, disabled_reason, disabled_at, created_at, updated_at, destination_secret, destination, ordering,
				format, format_options, single_signature_secret, connection_id)
			 VALUES ($1, $2, $3, $16, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15, $17, $18, $19, $20, $21, $22, $23)`,
			out.ID, projectID, out.Name, enc.url, out.Enabled, enc.events, enc.filters, enc.headers, out.SignatureHeader,
			enc.retry, out.TimeoutSeconds, out.MaxInFlight, out.DisabledReason, disabledAt, millis(now), out.Type, nullBytes(enc.destination), enc.settings,
			storedOrdering(out.Ordering), out.Format, enc.formatOptions, out.SingleSignatureSecret, nullString(enc.connection)); err != nil {
			return fmt.Errorf("inserting webhook: %w", err)
		}
		out.Revision = 1 // the column's default
		return insertSecret(ctx, tx, out.ID, sealedSecret, now)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// projectExists returns ENOTFOUND when the project does not exist.
func projectExists(ctx context.Context, q querier, projectID string) error {
	var one int
	err := q.QueryRowContext(ctx, `SELECT 1 FROM projects WHERE id = $1`, projectID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return promptd.Errorf(promptd.ENOTFOUND, "project %q not found", projectID)
	}
	if err != nil {
		return fmt.Errorf("looking up project: %w", err)
	}
	return nil
}

// getWebhook loads one webhook of the project, headers still sealed. Returns ENOTFOUND.
func getWebhook(ctx context.Context, q querier, projectID, id string) (*webhookRow, error) {
	r, err := scanWebhook(q.QueryRowContext(ctx,
		`SELECT `+webhookColumns+` FROM webhooks WHERE project_id = $1 AND id = $2`, projectID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, webhookNotFound(id)
	}
	if err != nil {
		return nil, fmt.Errorf("loading webhook: %w", err)
	}
	return r, nil
}

// FindWebhook returns one webhook of the project with its custom headers decrypted. Returns
// ENOTFOUND, or EINTERNAL when no secret box is set. See promptd.WebhookService.
func (s *Store) FindWebhook(ctx context.Context, projectID, id string) (*promptd.Webhook, error) {
	box, err := s.secretBox()
	if err != nil {
		return nil, err
	}
	r, err := getWebhook(ctx, s.rdb, projectID, id)
	if err != nil {
		return nil, s.fault(wrap("find webhook", err), false)
	}
	w, err := r.open(box)
	if err != nil {
		return nil, fmt.Errorf("find webhook: %w", err)
	}
	return w, nil
}

// ListWebhooks returns the project's webhooks, oldest first, one page at a time. See
// promptd.WebhookService.
func (s *Store) ListWebhooks(ctx context.Context, projectID string, p promptd.PageRequest) (*promptd.Page[promptd.Webhook], error) {
	if err := p.Normalize(); err != nil {
		return nil, err
	}
	box, err := s.secretBox()
	if err != nil {
		return nil, err
	}
	var a args
	where := "project_id = " + a.add(projectID)
	if p.Cursor != "" {
		after, err := decodeCursor(p.Cursor)
		if err != nil {
			return nil, err
		}
		where += " AND id > " + a.add(after)
	}
	c, err := s.acquire(ctx, s.rdb, "list webhooks")
	if err != nil {
		return nil, err
	}
	defer c.Close()
	rows, err := c.QueryContext(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE `+where+
		` ORDER BY id LIMIT `+strconv.Itoa(p.Limit+1), a...)
	if err != nil {
		return nil, s.fault(fmt.Errorf("list webhooks: %w", err), false)
	}
	page, err := readPage(rows, p.Limit, func(row scanner) (*promptd.Webhook, error) {
		r, err := scanWebhook(row)
		if err != nil {
			return nil, err
		}
		return r.open(box)
	}, func(w *promptd.Webhook) string { return w.ID })
	if err != nil {
		return nil, s.fault(fmt.Errorf("list webhooks: %w", err), false)
	}
	return page, nil
}

// UpdateWebhook replaces the settings of webhook w.ID with w's (normalized by the caller).
// Enabling a disabled webhook clears its disabled reason and failure count; disabling an
// enabled one records w.DisabledReason and cancels its pending deliveries (and those whose
// lease has run out). Returns ENOTFOUND, EINVALID, or EINTERNAL when no secret box is set.
// See promptd.WebhookService.
func (s *Store) UpdateWebhook(ctx context.Context, projectID string, w *promptd.Webhook) (*promptd.Webhook, error) {
	return s.updateWebhook(ctx, projectID, w, 0)
}

// UpdateWebhookIf is UpdateWebhook when the stored revision is revision, EPRECONDITION
// otherwise. See promptd.WebhookService.
func (s *Store) UpdateWebhookIf(ctx context.Context, projectID string, w *promptd.Webhook, revision int64) (*promptd.Webhook, error) {
	if revision <= 0 {
		return nil, promptd.Invalid("revision", "must be positive, got %d", revision)
	}
	return s.updateWebhook(ctx, projectID, w, revision)
}

// updateWebhook is UpdateWebhook, conditional on the stored revision when want is not 0.
func (s *Store) updateWebhook(ctx context.Context, projectID string, w *promptd.Webhook, want int64) (*promptd.Webhook, error) {
	if w == nil {
		return nil, promptd.Invalid("body", "a webhook is required")
	}
	box, err := s.secretBox()
	if err != nil {
		return nil, err
	}
	in := cloneWebhook(w)
	enc, err := encodeWebhook(box, in)
	if err != nil {
		return nil, wrap("update webhook", err)
	}
	var out *promptd.Webhook
	err = s.write(ctx, "update webhook", func(tx *writeTx, now time.Time) error {
		var (
			enabled    bool
			reason     string
			disabledAt sql.NullInt64
			revision   int64
		)
		err := tx.QueryRowContext(ctx,
			`SELECT enabled, disabled_reason, disabled_at, revision FROM webhooks WHERE project_id = $1 AND id = $2`+s.d.ForNoKeyUpdate,
			projectID, in.ID).Scan(&enabled, &reason, &disabledAt, &revision)
		if errors.Is(err, sql.ErrNoRows) {
			return webhookNotFound(in.ID)
		}
		if err != nil {
			return fmt.Errorf("loading webhook: %w", err)
		}
		if want != 0 && want != revision {
			return promptd.Errorf(promptd.EPRECONDITION, "webhook %s is at revision %d, not %d: it changed meanwhile", in.ID, revision, want)
		}
		if err := checkConnection(ctx, tx, projectID, enc); err != nil {
			return err
		}
		health := ""
		switch {
		case in.Enabled:
			reason, disabledAt = "", sql.NullInt64{}
			if !enabled {
				health = `, consecutive_failures = 0, first_failure_at = NULL`
			}
		case enabled: // disabled now
			reason, disabledAt = in.DisabledReason, sql.NullInt64{Int64: millis(now), Valid: true}
		}
		r, err := scanWebhook(tx.QueryRowContext(ctx,
			`UPDATE webhooks SET name = $1, url = $2, enabled = $3, events = $4, filters = $5, headers = $6,
				signature_header = $7, retry = $8, timeout_seconds = $9, max_in_flight = $10, disabled_reason = $11,
				disabled_at = $12, revision = revision + 1, updated_at = $13, type = $15, destination_secret = $16, destination = $17,
				ordering = $18, format = $19, format_options = $20, single_signature_secret = $21, connection_id = $22`+health+`
			 WHERE id = $14 RETURNING `+webhookColumns,
			in.Name, enc.url, in.Enabled, enc.events, enc.filters, enc.headers, in.SignatureHeader, enc.retry,
			in.TimeoutSeconds, in.MaxInFlight, reason, disabledAt, millis(now), in.ID, in.Type, nullBytes(enc.destination), enc.settings,
			storedOrdering(in.Ordering), in.Format, enc.formatOptions, in.SingleSignatureSecret, nullString(enc.connection)))
		if err != nil {
			return fmt.Errorf("updating webhook: %w", err)
		}
		if r.w.Ordering != promptd.OrderingPerPrompt {
			if err := s.releaseLines(ctx, tx, in.ID, now); err != nil {
				return err
			}
		}
		if enabled && !in.Enabled {
			if err := cancelQueued(ctx, tx, in.ID, now); err != nil {
				return err
			}
		}
		out, err = r.open(box)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.hooks.forget(in.ID)
	return out, nil
}

// storedOrdering is how an ordering is stored: OrderingNone when it is empty (a webhook
// that was not normalized).
func storedOrdering(o string) string {
	if o == "" {
		return promptd.OrderingNone
	}
	return o
}

// webhookDisabledError is the last_error of a delivery cancelled because its webhook was
// disabled.
const webhookDisabledError = "webhook disabled"

// cancelQueued cancels the webhook's pending deliveries, and those whose lease has run out,
// when it is disabled.
func cancelQueued(ctx context.Context, tx *writeTx, webhookID string, now time.Time) error {
	if _, err := tx.ExecContext(ctx,
		`UPDATE deliveries SET status = 'cancelled', next_attempt_at = NULL, last_error = '`+webhookDisabledError+`', updated_at = $1
		 WHERE webhook_id = $2 AND (status = 'pending' OR (status = 'delivering' AND next_attempt_at <= $1))`,
		millis(now), webhookID); err != nil {
		return fmt.Errorf("cancelling the deliveries of a disabled webhook: %w", err)
	}
	return nil
}

// DeleteWebhook deletes a webhook of the project with its secrets, deliveries and their
// attempts. Returns ENOTFOUND. See promptd.WebhookService.
func (s *Store) DeleteWebhook(ctx context.Context, projectID, id string) error {
	err := s.write(ctx, "delete webhook", func(tx *writeTx, _ time.Time) error {
		// The webhook is locked first: a transaction inserting deliveries for it holds it
		// FOR KEY SHARE (Dialect.ForKeyShare), so once the lock is taken no delivery of it is
		// being inserted, and none will be. Then its attempts and deliveries go, explicitly:
		// on PostgreSQL neither has a foreign key to cascade from (see migrations 00012 and
		// 00015); on SQLite the cascade finds nothing left.
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM webhooks WHERE project_id = $1 AND id = $2`+s.d.ForUpdate, projectID, id).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return webhookNotFound(id)
		}
		if err != nil {
			return fmt.Errorf("deleting webhook: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM attempts WHERE delivery_id IN (
			SELECT id FROM deliveries WHERE webhook_id = $1)`, id); err != nil {
			return fmt.Errorf("deleting the webhook's attempts: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM deliveries WHERE webhook_id = $1`, id); err != nil {
			return fmt.Errorf("deleting the webhook's deliveries: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM webhooks WHERE id = $1`, id); err != nil {
			return fmt.Errorf("deleting webhook: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.hooks.forget(id)
	return nil
}
