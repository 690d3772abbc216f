package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// SignRequest makes req a delivery as promptd would send it, for testing a receiver: it
// sets req's body to body and adds the signature headers of both schemes (Sign: the promptd
// scheme under HeaderSignature with secrets[0], webhook-signature with every secret),
// signed with message id id at time ts, and Content-Type application/json if unset.
func SignRequest(req *http.Request, secrets []string, id string, ts time.Time, body []byte) error {
	if id == "" {
		return errors.New("webhook: SignRequest needs a message id (the event id)")
	}
	sh, err := Sign(secrets, id, ts.Unix(), body)
	if err != nil {
		return err
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	if req.Header == nil {
		req.Header = http.Header{}
	}
	if req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set(HeaderSignature, sh.Promptd)
	req.Header.Set(HeaderWebhookID, sh.WebhookID)
	req.Header.Set(HeaderWebhookTimestamp, sh.WebhookTimestamp)
	req.Header.Set(HeaderWebhookSignature, sh.WebhookSignature)
	return nil
}

// NewSignedRequest returns a POST of ev to url, encoded and signed now as promptd would
// deliver it (first attempt), for testing a receiver: send it with an http.Client, or pass
// it to a handler's ServeHTTP with an httptest.ResponseRecorder.
func NewSignedRequest(url string, secrets []string, ev *Event) (*http.Request, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(ev); err != nil {
		return nil, fmt.Errorf("webhook: encoding the event: %w", err)
	}
	body := bytes.TrimRight(buf.Bytes(), "\n")
	req, err := http.NewRequest(http.MethodPost, url, nil)
	if err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	if err := SignRequest(req, secrets, ev.ID, time.Now(), body); err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "promptd-test")
	req.Header.Set(HeaderEvent, ev.EventType())
	req.Header.Set(HeaderAttempt, strconv.Itoa(1))
	return req, nil
}
