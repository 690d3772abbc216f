package web

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/promptd/promptd"
)

// healthWindow is the period the webhook health figures cover.
const healthWindow = 24 * time.Hour

// webhookRow is a webhook with its health and the state of its circuit breaker.
type webhookRow struct {
	W       promptd.Webhook
	Health  *promptd.WebhookHealth // nil: no attempts in the window
	Circuit promptd.Circuit
}

// webhooksPage lists the project's webhooks with their health over the last 24 hours.
func (s *server) webhooksPage(w http.ResponseWriter, r *http.Request) {
	sess := sessionFrom(r.Context())
	ctx := r.Context()
	var rows []webhookRow
	p := promptd.PageRequest{Limit: promptd.MaxPageLimit}
	for {
		page, err := s.store.ListWebhooks(ctx, sess.key.ProjectID, p)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		for _, wh := range page.Items {
			if !sess.key.Role.Allows(promptd.RoleAdmin) {
				wh.URL = wh.LoggedURL() // a chat webhook's URL is its credential
			}
			rows = append(rows, webhookRow{W: wh})
		}
		if page.NextCursor == "" {
			break
		}
		p.Cursor = page.NextCursor
	}
	health, err := s.store.WebhookHealth(ctx, sess.key.ProjectID, time.Now().Add(-healthWindow))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	for i := range rows {
		if h, ok := health[rows[i].W.ID]; ok {
			rows[i].Health = &h
		}
		rows[i].Circuit = s.circuit(rows[i].W.ID)
	}
	s.render(w, r, http.StatusOK, "webhooks.html", "Webhooks", "webhooks", rows)
}

// webhookForm is the create and edit form of a webhook, as typed.
type webhookForm struct {
	ID string // empty when creating
	// Revision is the webhook's revision when the edit form was shown: saving is refused
	// if the webhook changed since (the form's If-Match). 0 when creating.
	Revision int64
	Name     string
	Type     string // empty: keep (edit) or http (create)
	URL      string
	// GitHubRepository, GitHubToken and GitHubEventType are a github webhook's settings; an
	// empty token keeps the stored one.
	GitHubRepository string
	GitHubToken      string
	GitHubEventType  string
	HasGitHubToken   bool
	// SlackConnection is the connection a slack webhook posts through ("": an incoming
	// webhook); SlackChannels the ticked channels as "connection:channel"; SlackOther more
	// channel ids, comma-separated; SlackChoices the connections and their channels.
	SlackConnection string
	SlackChannels   []string
	SlackOther      string
	SlackChoices    []slackChoice
	Types           []string // the type picker
	Enabled         bool
	Events          []string
	CustomEvents    string
	PromptNames     string
	Labels          string
	Tags            string
	Filter          string // CEL
	Ordering        string // none or per-prompt
	Headers         string // one "Name: value" per line
	SignatureHeader string
	Schedule        string
	RetryOn         string
	TimeoutSeconds  string
	MaxInFlight     string
	Secret          string
	Errors          fieldErrors
	EventTypes      []string // the checkboxes
	AllowHTTP       bool
	// Format is the payload format; StageLabels its promptreports option; SignWith which
	// secret signs the single-signature headers during a rotation.
	Format      string
	StageLabels string
	SignWith    string
	Formats     []string // the format picker
}

// webhookFormFields are the form fields domain errors can name.
var webhookFormFields = []string{"name", "type", "url", "github", "github.repository", "github.token", "github.eventType",
	"slack", "slack.connectionId", "slack.channels", "events", "filters.promptNames", "filters.labels", "filters.tags", "filter", "ordering",
	"headers", "signatureHeader", "retry.schedule", "retry.retryOn", "timeoutSeconds", "maxInFlight", "secret",
	"format", "formatOptions.stageLabels", "singleSignatureSecret"}

// subscribableEvents are the checkboxes of the form: promptd's event types but the test
// event, which is never subscribed to.
func subscribableEvents() []string {
	return slices.DeleteFunc(slices.Clone(promptd.BuiltinEventTypes), func(e string) bool { return e == promptd.EventWebhookTest })
}

// formFromWebhook fills the form with w's settings.
func (s *server) formFromWebhook(w *promptd.Webhook) webhookForm {
	f := webhookForm{
		ID: w.ID, Revision: w.Revision, Name: w.Name, Type: w.Type, URL: w.URL, Enabled: w.Enabled, Types: promptd.WebhookTypes,
		PromptNames:     strings.Join(w.Filters.PromptNames, ", "),
		Labels:          strings.Join(w.Filters.Labels, ", "),
		Tags:            strings.Join(w.Filters.Tags, ", "),
		Filter:          w.Filter,
		Ordering:        w.Ordering,
		SignatureHeader: w.SignatureHeader,
		Schedule:        formatSchedule(w.Retry.Schedule),
		RetryOn:         w.Retry.RetryOn,
		TimeoutSeconds:  strconv.Itoa(w.TimeoutSeconds),
		MaxInFlight:     strconv.Itoa(w.MaxInFlight),
		EventTypes:      subscribableEvents(),
		AllowHTTP:       s.urlPolicy.AllowHTTP,
		Format:          w.Format,
		StageLabels:     strings.Join(w.FormatOptions.StageLabels, ", "),
		SignWith:        w.SingleSignatureSecret,
		Formats:         promptd.PayloadFormats,
	}
	var custom []string
	for _, e := range w.Events {
		if slices.Contains(promptd.BuiltinEventTypes, e) {
			f.Events = append(f.Events, e)
		} else {
			custom = append(custom, e)
		}
	}
	f.CustomEvents = strings.Join(custom, ", ")
	if g := w.GitHub; g != nil {
		f.GitHubRepository, f.GitHubEventType, f.HasGitHubToken = g.Repository, g.EventType, g.Token != ""
	}
	if st := w.Slack; st != nil {
		f.SlackConnection = st.ConnectionID
		for _, ch := range st.Channels {
			f.SlackChannels = append(f.SlackChannels, st.ConnectionID+":"+ch)
		}
	}
	var hdrs []string
	for name, value := range w.Headers {
		hdrs = append(hdrs, name+": "+value)
	}
	slices.Sort(hdrs)
	f.Headers = strings.Join(hdrs, "\n")
	return f
}

// formatSchedule writes a retry schedule as short Go durations: "5s, 30s, 5m".
func formatSchedule(ds []time.Duration) string {
	out := make([]string, len(ds))
	for i, d := range ds {
		s := d.String()
		if strings.HasSuffix(s, "m0s") {
			s = strings.TrimSuffix(s, "0s")
		}
		if strings.HasSuffix(s, "h0m") {
			s = strings.TrimSuffix(s, "0m")
		}
		out[i] = s
	}
	return strings.Join(out, ", ")
}

// formRevision reads the webhook revision a form was shown with (its If-Match): 0 when
// the form names none, -1 when it names one that cannot be read (which matches none).
func formRevision(r *http.Request) int64 {
	v := r.PostFormValue("revision")
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 {
		return n
	}
	return -1
}

// readWebhookForm reads the posted form.
func readWebhookForm(r *http.Request) webhookForm {
	return webhookForm{
		Revision:         formRevision(r),
		Name:             r.PostFormValue("name"),
		Type:             strings.TrimSpace(r.PostFormValue("type")),
		GitHubRepository: strings.TrimSpace(r.PostFormValue("githubRepository")),
		GitHubToken:      strings.TrimSpace(r.PostFormValue("githubToken")),
		GitHubEventType:  strings.TrimSpace(r.PostFormValue("githubEventType")),
		SlackConnection:  strings.TrimSpace(r.PostFormValue("slackConnection")),
		SlackChannels:    r.PostForm["slackChannels"],
		SlackOther:       r.PostFormValue("slackOtherChannels"),
		Types:            promptd.WebhookTypes,
		URL:              strings.TrimSpace(r.PostFormValue("url")),
		Enabled:          r.PostFormValue("enabled") == "on",
		Events:           r.PostForm["events"],
		CustomEvents:     r.PostFormValue("customEvents"),
		PromptNames:      r.PostFormValue("promptNames"),
		Labels:           r.PostFormValue("labels"),
		Tags:             r.PostFormValue("tags"),
		Filter:           r.PostFormValue("filter"),
		Ordering:         strings.TrimSpace(r.PostFormValue("ordering")),
		Headers:          r.PostFormValue("headers"),
		SignatureHeader:  strings.TrimSpace(r.PostFormValue("signatureHeader")),
		Schedule:         r.PostFormValue("schedule"),
		RetryOn:          r.PostFormValue("retryOn"),
		TimeoutSeconds:   strings.TrimSpace(r.PostFormValue("timeoutSeconds")),
		MaxInFlight:      strings.TrimSpace(r.PostFormValue("maxInFlight")),
		Secret:           strings.TrimSpace(r.PostFormValue("secret")),
		EventTypes:       subscribableEvents(),
		Format:           r.PostFormValue("format"),
		StageLabels:      r.PostFormValue("stageLabels"),
		SignWith:         r.PostFormValue("singleSignatureSecret"),
		Formats:          promptd.PayloadFormats,
	}
}

// apply copies the form onto w; what the form cannot even parse is an EINVALID naming the
// field, as Normalize names the rest.
func (f *webhookForm) apply(w *promptd.Webhook) error {
	w.Name, w.URL, w.Enabled = f.Name, f.URL, f.Enabled
	if f.Type != "" {
		w.Type = f.Type
	}
	if w.Type == promptd.TypeGitHub {
		token := f.GitHubToken
		if token == "" && w.GitHub != nil {
			token = w.GitHub.Token // the form never shows it: empty keeps it
		}
		w.GitHub = &promptd.GitHubTarget{Repository: f.GitHubRepository, Token: token, EventType: f.GitHubEventType}
	} else {
		w.GitHub = nil
	}
	w.Slack = nil
	if w.Type == promptd.TypeSlack && f.SlackConnection != "" {
		w.Slack = &promptd.SlackTarget{ConnectionID: f.SlackConnection, Channels: f.slackChannelIDs()}
	}
	w.Events = append(slices.Clone(f.Events), splitList(f.CustomEvents)...)
	w.Filters = promptd.Filters{PromptNames: splitList(f.PromptNames), Labels: splitList(f.Labels), Tags: splitList(f.Tags)}
	w.Filter = normalizeNewlines(f.Filter)
	w.Ordering = f.Ordering
	w.Headers = map[string]string{}
	for _, line := range strings.Split(normalizeNewlines(f.Headers), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return promptd.Invalid("body.headers", "write one header per line as Name: value; %q has no colon", line)
		}
		w.Headers[strings.TrimSpace(name)] = strings.TrimSpace(value)
	}
	w.SignatureHeader = f.SignatureHeader
	w.Format = f.Format
	w.FormatOptions.StageLabels = splitList(f.StageLabels)
	w.SingleSignatureSecret = f.SignWith
	w.Retry.Schedule = []time.Duration{}
	for _, item := range strings.FieldsFunc(f.Schedule, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' }) {
		d, err := time.ParseDuration(item)
		if err != nil {
			return promptd.Invalid("body.retry.schedule", "%q is not a duration such as 5s, 30m or 2h", item)
		}
		w.Retry.Schedule = append(w.Retry.Schedule, d)
	}
	w.Retry.RetryOn = f.RetryOn
	var err error
	if w.TimeoutSeconds, err = optionalInt("body.timeoutSeconds", f.TimeoutSeconds); err != nil {
		return err
	}
	if w.MaxInFlight, err = optionalInt("body.maxInFlight", f.MaxInFlight); err != nil {
		return err
	}
	return nil
}

// optionalInt reads a whole number; empty is 0 (the default).
func optionalInt(field, s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, promptd.Invalid(field, "must be a whole number, got %q", s)
	}
	return n, nil
}

// newWebhookPage shows the create form with the defaults filled in.
func (s *server) newWebhookPage(w http.ResponseWriter, r *http.Request) {
	f := webhookForm{
		Enabled:         true,
		SignatureHeader: promptd.DefaultSignatureName,
		Schedule:        formatSchedule(promptd.DefaultRetrySchedule),
		RetryOn:         promptd.RetryOnDefault,
		TimeoutSeconds:  strconv.Itoa(promptd.DefaultTimeoutSeconds),
		MaxInFlight:     strconv.Itoa(promptd.DefaultMaxInFlight),
		EventTypes:      subscribableEvents(),
		AllowHTTP:       s.urlPolicy.AllowHTTP,
		Type:            promptd.TypeHTTP,
		Types:           promptd.WebhookTypes,
		Format:          promptd.FormatPromptd,
		SignWith:        promptd.SignNewest,
		Formats:         promptd.PayloadFormats,
	}
	if q := r.URL.Query(); q.Get("type") == promptd.TypeSlack {
		f.Type, f.SlackConnection = promptd.TypeSlack, q.Get("connection")
	}
	s.withSlack(r, &f)
	s.render(w, r, http.StatusOK, "webhook_form.html", "New webhook", "webhooks", f)
}

// createWebhook creates a webhook from the form.
func (s *server) createWebhook(w http.ResponseWriter, r *http.Request) {
	sess := sessionFrom(r.Context())
	f := readWebhookForm(r)
	f.AllowHTTP = s.urlPolicy.AllowHTTP
	wh := &promptd.Webhook{}
	err := f.apply(wh)
	if err == nil {
		err = wh.Normalize(s.urlPolicy)
	}
	secret := f.Secret
	if err == nil {
		if secret == "" {
			secret = promptd.NewWebhookSecret()
		} else {
			err = promptd.ValidateWebhookSecret("body.secret", secret)
		}
	}
	if err == nil {
		var created *promptd.Webhook
		if created, err = s.store.CreateWebhook(r.Context(), sess.key.ProjectID, wh, secret); err == nil {
			http.Redirect(w, r, "/webhooks/"+created.ID+"?done=created", http.StatusSeeOther)
			return
		}
	}
	if f.Errors = invalid(err, webhookFormFields...); f.Errors == nil {
		s.fail(w, r, err)
		return
	}
	s.withSlack(r, &f)
	s.render(w, r, http.StatusBadRequest, "webhook_form.html", "New webhook", "webhooks", f)
}

// editWebhookPage shows the edit form.
func (s *server) editWebhookPage(w http.ResponseWriter, r *http.Request) {
	sess := sessionFrom(r.Context())
	wh, err := s.store.FindWebhook(r.Context(), sess.key.ProjectID, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f := s.formFromWebhook(wh)
	s.withSlack(r, &f)
	s.render(w, r, http.StatusOK, "webhook_form.html", "Edit "+wh.Name, "webhooks", f)
}

// updateWebhook saves the edit form.
func (s *server) updateWebhook(w http.ResponseWriter, r *http.Request) {
	sess := sessionFrom(r.Context())
	wh, err := s.store.FindWebhook(r.Context(), sess.key.ProjectID, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f := readWebhookForm(r)
	f.ID, f.AllowHTTP = wh.ID, s.urlPolicy.AllowHTTP
	f.HasGitHubToken = wh.GitHub != nil && wh.GitHub.Token != ""
	wasEnabled := wh.Enabled
	err = f.apply(wh)
	if err == nil {
		if wh.Enabled && !wasEnabled {
			wh.DisabledReason = ""
		}
		err = wh.Normalize(s.urlPolicy)
	}
	if err == nil {
		if f.Revision != 0 {
			_, err = s.store.UpdateWebhookIf(r.Context(), sess.key.ProjectID, wh, f.Revision)
		} else {
			_, err = s.store.UpdateWebhook(r.Context(), sess.key.ProjectID, wh)
		}
		if err == nil {
			http.Redirect(w, r, "/webhooks/"+wh.ID+"?done=saved", http.StatusSeeOther)
			return
		}
	}
	if promptd.ErrorKind(err) == promptd.EPRECONDITION || f.Revision < 0 {
		f.Errors = fieldErrors{"": "This webhook changed since you opened this form (another admin saved it, its secret was rotated, or promptd disabled it). Nothing was saved: open the edit page again to see the current settings."}
		s.render(w, r, http.StatusPreconditionFailed, "webhook_form.html", "Edit "+wh.Name, "webhooks", f)
		return
	}
	if f.Errors = invalid(err, webhookFormFields...); f.Errors == nil {
		s.fail(w, r, err)
		return
	}
	s.withSlack(r, &f)
	s.render(w, r, http.StatusBadRequest, "webhook_form.html", "Edit "+wh.Name, "webhooks", f)
}

// webhookData is a webhook's page.
type webhookData struct {
	W       *promptd.Webhook
	Health  *promptd.WebhookHealth
	Circuit promptd.Circuit
	Recent  []deliveryRow
	// LastAnswer is the latest attempt of the latest delivery that made one: the
	// destination's last answer.
	LastAnswer *promptd.Attempt
	// LastAnswerBody is the start of its response body.
	LastAnswerBody string
	Schedule       string
	// DefaultSchedule is true when the retry schedule is promptd's default one.
	DefaultSchedule bool
	// RetryOn says in words which failures are retried.
	RetryOn      string
	RecoverSince string // the recover form's value, UTC ("2006-01-02 15:04")
	// DryRunEvents are the event types the dry-run control offers; PromptNames the prompts
	// it suggests.
	DryRunEvents []string
	PromptNames  []string
	// SlackTeam names the workspace a slack webhook posts to through a connection; empty
	// when the connection is gone.
	SlackTeam string
}

// retryOnText says in words which failures a RetryOn value retries.
func retryOnText(retryOn string) string {
	if retryOn == promptd.RetryOnAllNon2xx {
		return "every answer that is not 2xx, network errors and timeouts"
	}
	return "network errors, timeouts, 408, 425, 429 and 5xx answers"
}

// webhookPage shows a webhook: settings, health, recent deliveries and its controls.
func (s *server) webhookPage(w http.ResponseWriter, r *http.Request) {
	sess := sessionFrom(r.Context())
	ctx := r.Context()
	wh, err := s.store.FindWebhook(ctx, sess.key.ProjectID, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !sess.key.Role.Allows(promptd.RoleAdmin) {
		for name := range wh.Headers {
			wh.Headers[name] = "••••••"
		}
		wh.URL = wh.LoggedURL() // a chat webhook's URL is its credential
	}
	d := webhookData{
		W: wh, Circuit: s.circuit(wh.ID),
		Schedule:        formatSchedule(wh.Retry.Schedule),
		DefaultSchedule: slices.Equal(wh.Retry.Schedule, promptd.DefaultRetrySchedule),
		RetryOn:         retryOnText(wh.Retry.RetryOn),
		RecoverSince:    time.Now().UTC().Add(-healthWindow).Format(utcMinute),
	}
	health, err := s.store.WebhookHealth(ctx, sess.key.ProjectID, time.Now().Add(-healthWindow))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if h, ok := health[wh.ID]; ok {
		d.Health = &h
	}
	if err := s.dryRunChoices(r, &d); err != nil {
		s.fail(w, r, err)
		return
	}
	recent, err := s.store.ListDeliveries(ctx, sess.key.ProjectID, promptd.DeliveryFilter{WebhookID: wh.ID, PageRequest: promptd.PageRequest{Limit: 10}})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	now := time.Now()
	for _, del := range recent.Items {
		d.Recent = append(d.Recent, deliveryRow{D: del, WebhookName: wh.Name, Held: held(&del, d.Circuit, now), Circuit: d.Circuit})
		if d.LastAnswer == nil && del.AttemptCount > 0 {
			full, err := s.store.FindDelivery(ctx, sess.key.ProjectID, del.ID)
			if err != nil {
				s.fail(w, r, err)
				return
			}
			if n := len(full.Attempts); n > 0 {
				d.LastAnswer = &full.Attempts[n-1]
				d.LastAnswerBody = d.LastAnswer.ResponseBody
				if len(d.LastAnswerBody) > 200 {
					d.LastAnswerBody = strings.ToValidUTF8(d.LastAnswerBody[:200], "") + "…"
				}
			}
		}
	}
	s.render(w, r, http.StatusOK, "webhook.html", wh.Name, "webhooks", d)
}

// dryRunChoices fills what the webhook page's dry-run control offers, and the workspace of
// a slack webhook's connection.
func (s *server) dryRunChoices(r *http.Request, d *webhookData) error {
	sess := sessionFrom(r.Context())
	d.DryRunEvents = slices.DeleteFunc(slices.Clone(promptd.BuiltinEventTypes), func(e string) bool { return e == promptd.EventWebhookTest })
	prompts, err := s.store.ListPrompts(r.Context(), sess.key.ProjectID, promptd.PromptFilter{PageRequest: promptd.PageRequest{Limit: 100}})
	if err != nil {
		return err
	}
	for _, p := range prompts.Items {
		d.PromptNames = append(d.PromptNames, p.Name)
	}
	if st := d.W.Slack; st != nil {
		conns, err := s.store.ListSlackConnections(r.Context(), sess.key.ProjectID)
		if err != nil {
			return err
		}
		if i := slices.IndexFunc(conns, func(c promptd.SlackConnection) bool { return c.ID == st.ConnectionID }); i >= 0 {
			d.SlackTeam = conns[i].TeamName
		}
	}
	return nil
}

// Time fields are plain text in UTC, never <input type="datetime-local">, which browsers
// show in the local 12- or 24-hour convention without saying the time zone. utcMinute is
// what the dashboard writes; parseUTC also reads datetimeLocal and RFC 3339.
const (
	utcMinute     = "2006-01-02 15:04"
	datetimeLocal = "2006-01-02T15:04"
)

// testResult is the outcome of the Test button.
type testResult struct {
	DeliveryID    string
	Status        string
	NextAttemptAt time.Time
	Attempt       promptd.Attempt
}

// testWebhook sends a webhook.test event now, or the dry run of the event the form picks
// (eventType, promptName, version: see promptd.DryRun), and shows the request and the
// destination's answer (an htmx fragment).
func (s *server) testWebhook(w http.ResponseWriter, r *http.Request) {
	sess := sessionFrom(r.Context())
	run := promptd.DryRun{EventType: r.PostFormValue("eventType"), PromptName: r.PostFormValue("promptName")}
	var err error
	if run.Version, err = optionalInt("body.version", strings.TrimSpace(r.PostFormValue("version"))); err != nil {
		s.fail(w, r, err)
		return
	}
	d, err := promptd.StartDryRun(r.Context(), s.store, sess.key.ProjectID, r.PathValue("id"), sess.key.Actor(), run, time.Now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	res, err := s.sender.SendNow(r.Context(), d.ID)
	if err != nil {
		s.fail(w, r, fmt.Errorf("sending the test delivery: %w", err))
		return
	}
	out := testResult{DeliveryID: d.ID, Status: res.Status, NextAttemptAt: res.NextAttemptAt, Attempt: res.Attempt}
	// The page's health figures and recent deliveries reload themselves on this event.
	w.Header().Set("HX-Trigger", "webhook-tested")
	s.renderFragment(w, r, "webhook.html", "test-result", out)
}

// secretsData is the secrets fragment.
type secretsData struct {
	ID      string
	Secrets []promptd.WebhookSecret
	Rotated bool
}

// revealSecret shows the webhook's valid secrets (an htmx fragment; admins only).
func (s *server) revealSecret(w http.ResponseWriter, r *http.Request) {
	sess := sessionFrom(r.Context())
	id := r.PathValue("id")
	secrets, err := s.store.WebhookSecrets(r.Context(), sess.key.ProjectID, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.renderFragment(w, r, "webhook.html", "secrets", secretsData{ID: id, Secrets: secrets})
}

// rotateSecret makes a new secret; the old one stays valid for the chosen overlap.
func (s *server) rotateSecret(w http.ResponseWriter, r *http.Request) {
	sess := sessionFrom(r.Context())
	id := r.PathValue("id")
	overlap := promptd.DefaultRotationOverlap
	if o := strings.TrimSpace(r.PostFormValue("overlap")); o != "" {
		d, err := time.ParseDuration(o)
		if err != nil || d < 0 || d > 7*24*time.Hour {
			s.fail(w, r, promptd.Invalid("body.overlap", "%q is not a duration between 0 and 168h", o))
			return
		}
		overlap = d
	}
	secrets, err := s.store.RotateWebhookSecret(r.Context(), sess.key.ProjectID, id, promptd.NewWebhookSecret(), overlap)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.renderFragment(w, r, "webhook.html", "secrets", secretsData{ID: id, Secrets: secrets, Rotated: true})
}

// errWebhookChanged refuses a change made from a page that shows an older revision.
var errWebhookChanged = promptd.Errorf(promptd.EPRECONDITION, "This webhook changed since you opened its page (another admin saved it, its secret was rotated, or promptd disabled it). Nothing was changed: reload the page to see its current state.")

// setEnabled enables or disables a webhook. The buttons send the revision the page showed,
// as the edit form does: if the webhook changed since, nothing changes (412).
func (s *server) setEnabled(w http.ResponseWriter, r *http.Request) {
	sess := sessionFrom(r.Context())
	revision := formRevision(r)
	wh, err := s.store.FindWebhook(r.Context(), sess.key.ProjectID, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if revision < 0 || revision > 0 && revision != wh.Revision {
		s.fail(w, r, errWebhookChanged)
		return
	}
	wh.Enabled = r.PostFormValue("enabled") == "true"
	done := "disabled"
	if wh.Enabled {
		wh.DisabledReason, done = "", "enabled"
	}
	if err := wh.Normalize(s.urlPolicy); err != nil {
		s.fail(w, r, err)
		return
	}
	if revision > 0 {
		_, err = s.store.UpdateWebhookIf(r.Context(), sess.key.ProjectID, wh, revision)
	} else {
		_, err = s.store.UpdateWebhook(r.Context(), sess.key.ProjectID, wh)
	}
	if promptd.ErrorKind(err) == promptd.EPRECONDITION {
		err = errWebhookChanged
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/webhooks/"+wh.ID+"?done="+done, http.StatusSeeOther)
}

// recoverDeliveries re-queues the webhook's failed deliveries since the given time.
func (s *server) recoverDeliveries(w http.ResponseWriter, r *http.Request) {
	sess := sessionFrom(r.Context())
	id := r.PathValue("id")
	since, err := parseUTC("body.since", r.PostFormValue("since"))
	if err == nil && since.IsZero() {
		err = promptd.Invalid("body.since", "is required: a date and time in UTC such as 2026-11-22 10:30")
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if _, err := s.store.RecoverDeliveries(r.Context(), sess.key.ProjectID, id, since); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/deliveries?webhook="+id+"&done=recovered", http.StatusSeeOther)
}

// deleteWebhook deletes a webhook and its deliveries.
func (s *server) deleteWebhook(w http.ResponseWriter, r *http.Request) {
	sess := sessionFrom(r.Context())
	if err := s.store.DeleteWebhook(r.Context(), sess.key.ProjectID, r.PathValue("id")); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/webhooks?done=deleted", http.StatusSeeOther)
}
