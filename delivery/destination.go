package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/promptd/promptd"
)

// Destination is what differs between webhook types (promptd.Webhook.Type): the request an
// attempt sends and the way its answer is judged. Everything else — the queue, retries, the
// circuit breaker, caps, the delivery log — is the engine's and the same for every type. A
// new type is one Destination in a file of its own, registered in Destinations.
//
// Implementations are stateless or safe for concurrent use.
type Destination interface {
	// Request builds the request of one attempt of job. r is the body and signature headers
	// rendered for this attempt (promptd's signed envelope by default); a destination that
	// sends a message of its own shape builds it from job.Payload and ignores r. The engine
	// sets the User-Agent and bounds the request by the webhook's timeout.
	Request(ctx context.Context, job *promptd.Job, r Rendered) (*http.Request, error)
	// Judge turns the answer to a request into a Result: by its status code for most
	// destinations, by its body where the API answers 200 to a failure (Slack's ok:false).
	Judge(job *promptd.Job, a Answer) Result
}

// Rendered is the body and signature headers rendered for one attempt (see render).
type Rendered struct {
	Body   []byte
	Header http.Header
}

// Answer is the response to one attempt, as a destination judges it.
type Answer struct {
	StatusCode int
	Header     http.Header
	// Body is the start of the response body, at most promptd.MaxReadResponseBytes.
	Body []byte
	// Now is when the attempt was made, for Retry-After dates.
	Now time.Time
}

// Destinations maps each webhook type to its Destination.
type Destinations map[string]Destination

// DestinationConfig is what destinations need to know of the server.
type DestinationConfig struct {
	// PublicURL is the dashboard's external base URL (--public-url), for the "View in
	// promptd" links of chat messages; without it the messages carry no link.
	PublicURL string
	// GitHubAPIURL is GitHub's REST API base for github webhooks (DefaultGitHubAPIURL when
	// empty).
	GitHubAPIURL string
	// SlackAPIURL is Slack's Web API base for slack webhooks that post through a Slack
	// connection (chat.postMessage; DefaultSlackAPIURL when empty).
	SlackAPIURL string
}

// NewDestinations returns the destinations of every type this build delivers to.
func NewDestinations(cfg DestinationConfig) Destinations {
	return Destinations{
		promptd.TypeHTTP:    HTTP{},
		promptd.TypeSlack:   Slack{Incoming: SlackIncoming{PublicURL: cfg.PublicURL}, App: NewSlackApp(cfg.SlackAPIURL, cfg.PublicURL)},
		promptd.TypeDiscord: Discord{PublicURL: cfg.PublicURL},
		promptd.TypeTeams:   Teams{PublicURL: cfg.PublicURL},
		promptd.TypeGitHub:  GitHub{APIURL: cfg.GitHubAPIURL},
	}
}

// DefaultDestinations returns NewDestinations without a public URL.
func DefaultDestinations() Destinations {
	return NewDestinations(DestinationConfig{})
}

// postJSON builds a POST of body as JSON to rawURL.
func postJSON(ctx context.Context, rawURL string, body any) (*http.Request, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encoding the message: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("building the request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	return req, nil
}

// answerText is the start of an answer's body, on one line, for hints.
func answerText(body []byte) string {
	return truncate(strings.Join(strings.Fields(string(body)), " "), 200)
}

// destination returns the Destination of w's type; a webhook stored before types existed
// has the type http.
func (d Destinations) destination(w *promptd.Webhook) (Destination, error) {
	t := w.Type
	if t == "" {
		t = promptd.TypeHTTP
	}
	dest, ok := d[t]
	if !ok {
		return nil, fmt.Errorf("this server does not deliver to webhooks of type %q", t)
	}
	return dest, nil
}
