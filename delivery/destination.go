package delivery

import (
	"context"
	"fmt"
	"net/http"
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

// DefaultDestinations returns the destinations of every type this build delivers to.
func DefaultDestinations() Destinations {
	return Destinations{promptd.TypeHTTP: HTTP{}}
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
