package delivery

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/webhook"
)

// message is what a chat destination (Slack, Discord, Teams) says about an event, before
// it is put in that platform's shape: the facts of the first seed's Slack message ("🔔 Prompt
// Updated / Name / Version / Action / Labels / Tags / Commit message / View in …").
type message struct {
	// Title is the headline, with an emoji: "🔔 Prompt version updated".
	Title string
	// Text is a one-line summary, for notifications and clients that show no blocks.
	Text string
	// Facts are the name/value pairs shown in a grid, in order.
	Facts []fact
	// Quote is a longer text shown under the facts (a commit message, custom event data).
	Quote string
	// Footer names who did it and when.
	Footer string
	// Time is when the event happened.
	Time time.Time
	// Link is the "View in promptd" link; empty when there is nothing to link to or no public
	// URL is configured.
	Link string
	// Color is the accent colour, 0xRRGGBB.
	Color int
}

// fact is one name/value pair of a message.
type fact struct {
	Name, Value string
}

// Accent colours of messages.
const (
	colorInfo    = 0x2563EB
	colorDeleted = 0x6B7280
	colorWarning = 0xD97706
	colorOK      = 0x16A34A
)

// maxQuote bounds the quoted text of a message (custom event data is cut there).
const maxQuote = 1500

// newMessage reads the promptd envelope in payload and says what happened. publicURL, when
// set, is the base of the dashboard's links.
func newMessage(payload []byte, publicURL string) (*message, error) {
	var ev webhook.Event
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, fmt.Errorf("reading the event payload: %w", err)
	}
	m := &message{Time: ev.Timestamp.Time, Color: colorInfo}
	typ := ev.EventType()
	switch {
	case ev.Prompt != nil:
		promptMessage(m, &ev, publicURL)
	case typ == promptd.EventWebhookTest:
		m.Title = "✅ Test from promptd"
		m.Text = "Test event from promptd: this destination receives promptd's notifications."
		m.Color = colorOK
		m.Facts = []fact{{"Event", typ}}
	case typ == promptd.EventWebhookDisabled:
		webhookDisabledMessage(m, ev.Data)
	default:
		m.Title = "🔔 " + typ
		m.Text = "promptd event " + typ
		m.Facts = []fact{{"Event", typ}}
		if name := dataPromptName(ev.Data); name != "" {
			m.Facts = append(m.Facts, fact{"Prompt", name})
			m.Text += " about " + name
		}
		if len(ev.Data) > 0 && string(ev.Data) != "{}" {
			m.Quote = truncate(string(ev.Data), maxQuote)
		}
	}
	if !m.Time.IsZero() {
		stamp := m.Time.UTC().Format("2006-01-02 15:04:05 UTC")
		if m.Footer == "" {
			m.Footer = stamp
		} else {
			m.Footer += " · " + stamp
		}
	}
	return m, nil
}

// promptMessage fills m for a prompt or prompt-version event.
func promptMessage(m *message, ev *webhook.Event, publicURL string) {
	p := ev.Prompt
	what := "Prompt version"
	if ev.Type == "prompt" {
		what = "Prompt"
	}
	icon := "🔔"
	if ev.Action == "deleted" {
		icon, m.Color = "🗑️", colorDeleted
	}
	m.Title = icon + " " + what + " " + ev.Action
	m.Text = fmt.Sprintf("%s %s: %s v%d", what, ev.Action, p.Name, p.Version)
	m.Facts = []fact{
		{"Name", p.Name},
		{"Version", strconv.Itoa(p.Version)},
		{"Action", ev.Action},
		{"Labels", listOrNone(p.Labels)},
		{"Tags", listOrNone(p.Tags)},
	}
	if c := ev.Changes; c != nil {
		var parts []string
		for _, l := range c.LabelsAdded {
			parts = append(parts, "+"+l)
		}
		for _, l := range c.LabelsRemoved {
			parts = append(parts, "−"+l)
		}
		for _, tag := range c.TagsAdded {
			parts = append(parts, "+#"+tag)
		}
		for _, tag := range c.TagsRemoved {
			parts = append(parts, "−#"+tag)
		}
		if c.Name != nil {
			parts = append(parts, "renamed from "+c.Name.From)
		}
		if len(parts) > 0 {
			m.Facts = append(m.Facts, fact{"Changes", strings.Join(parts, " ")})
			m.Text += " (" + strings.Join(parts, " ") + ")"
		}
	}
	if p.CommitMessage != "" {
		m.Quote = "Commit message: “" + truncate(p.CommitMessage, maxQuote) + "”"
	}
	if ev.Actor != nil && ev.Actor.Name != "" {
		m.Footer = "by " + ev.Actor.Name
	}
	if publicURL != "" && ev.Action != "deleted" {
		m.Link = promptLink(publicURL, p.Name, p.Version)
	}
}

// webhookDisabledMessage fills m for webhook.disabled, whose data names the webhook, its
// (masked) URL and the reason.
func webhookDisabledMessage(m *message, data json.RawMessage) {
	var d struct {
		Name   string `json:"name"`
		URL    string `json:"url"`
		Reason string `json:"reason"`
	}
	_ = json.Unmarshal(data, &d) // a hand-published webhook.disabled still gets a message
	m.Title = "⚠️ Webhook disabled"
	m.Color = colorWarning
	m.Text = "promptd disabled the webhook " + d.Name
	m.Facts = []fact{{"Webhook", d.Name}, {"URL", d.URL}}
	if d.Reason != "" {
		m.Quote = "Reason: " + truncate(d.Reason, maxQuote)
	}
}

// dataPromptName returns data.prompt.name of a custom event, or "".
func dataPromptName(data json.RawMessage) string {
	var d struct {
		Prompt struct {
			Name string `json:"name"`
		} `json:"prompt"`
	}
	if json.Unmarshal(data, &d) != nil {
		return ""
	}
	return d.Prompt.Name
}

// promptLink is the dashboard page of a prompt version under base.
func promptLink(base, name string, version int) string {
	segs := strings.Split(name, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.TrimRight(base, "/") + "/prompts/" + strings.Join(segs, "/") + "?version=" + strconv.Itoa(version)
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// truncate cuts s to at most n bytes on a rune boundary, marking the cut with an ellipsis.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
