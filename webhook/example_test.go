package webhook_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/promptd/promptd/webhook"
)

const exampleSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// Verify a delivery, then parse it: what a receiver with its own routing does.
func ExampleVerifier_Verify() {
	// In a real receiver: webhook.NewVerifier([]string{os.Getenv("PROMPTD_WEBHOOK_SECRET")}).
	// The fixed clock keeps this example's output stable.
	signedAt := time.Date(2026, 11, 22, 10, 30, 0, 0, time.UTC)
	v, err := webhook.NewVerifier([]string{exampleSecret},
		webhook.WithClock(func() time.Time { return signedAt.Add(time.Minute) }))
	if err != nil {
		log.Fatal(err)
	}
	body := []byte(`{"id":"0192f8a0-7c1e-7b3a-9f00-5c2d1e0a9b11","type":"evaluation","apiVersion":"v1","action":"completed","data":{"score":0.93}}`)
	req := httptest.NewRequest(http.MethodPost, "/hooks/promptd", nil)
	if err := webhook.SignRequest(req, []string{exampleSecret}, "0192f8a0-7c1e-7b3a-9f00-5c2d1e0a9b11", signedAt, body); err != nil {
		log.Fatal(err)
	}

	fmt.Println("genuine:", v.Verify(req.Header, body))

	tampered := []byte(`{"id":"0192f8a0-7c1e-7b3a-9f00-5c2d1e0a9b11","type":"evaluation","apiVersion":"v1","action":"completed","data":{"score":1}}`)
	err = v.Verify(req.Header, tampered)
	fmt.Println("tampered rejected:", errors.Is(err, webhook.ErrBadSignature))

	late, _ := webhook.NewVerifier([]string{exampleSecret},
		webhook.WithClock(func() time.Time { return signedAt.Add(time.Hour) }))
	fmt.Println("replayed an hour later:", errors.Is(late.Verify(req.Header, body), webhook.ErrStaleTimestamp))
	// Output:
	// genuine: <nil>
	// tampered rejected: true
	// replayed an hour later: true
}

// A receiver with its own routing reads and verifies the request in one call.
func ExampleVerifier_VerifyRequest() {
	v, err := webhook.NewVerifier([]string{exampleSecret})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /hooks/promptd", func(w http.ResponseWriter, r *http.Request) {
		body, err := v.VerifyRequest(r)
		if err != nil {
			http.Error(w, webhook.SignatureErrorReason(err), http.StatusUnauthorized)
			return
		}
		ev, err := webhook.Parse(body)
		if err != nil {
			http.Error(w, "bad payload", http.StatusBadRequest)
			return
		}
		log.Printf("%s %s", ev.EventType(), ev.ID)
		w.WriteHeader(http.StatusNoContent)
	})
	log.Fatal(http.ListenAndServe("127.0.0.1:8080", mux))
}

func ExampleParse() {
	body := []byte(`{
	  "id": "550e8400-e29b-41d4-a716-446655440000",
	  "timestamp": "2026-11-22T10:30:00.000Z",
	  "type": "prompt-version",
	  "apiVersion": "v1",
	  "action": "updated",
	  "prompt": {
	    "id": "ver_3", "name": "movie-critic", "version": 3, "projectId": "proj_1",
	    "labels": ["production", "latest"], "tags": ["entertainment"],
	    "prompt": [{"role": "system", "content": "You are a movie critic."}],
	    "type": "chat", "config": {"model": "gpt-4o"}, "commitMessage": "Improved critic persona",
	    "createdAt": "2026-11-22T10:00:00.000Z", "updatedAt": "2026-11-22T10:30:00.000Z"
	  },
	  "changes": {"labelsAdded": ["production"], "labelsRemoved": [], "tagsAdded": [], "tagsRemoved": []},
	  "actor": {"apiKeyId": "key_1", "name": "ci-bot"}
	}`)
	ev, err := webhook.Parse(body)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ev.EventType(), ev.Prompt.Name, "v", ev.Prompt.Version)
	fmt.Println("now in production:", ev.Prompt.HasLabel("production"), "added:", ev.Changes.LabelsAdded)
	msgs, _ := ev.Prompt.Messages()
	fmt.Println(msgs[0].Role+":", msgs[0].Content)
	fmt.Println("by", ev.Actor.Name)
	// Output:
	// prompt-version.updated movie-critic v 3
	// now in production: true added: [production]
	// system: You are a movie critic.
	// by ci-bot
}

// Custom events carry free JSON in data.
func ExampleEvent_DecodeData() {
	ev, err := webhook.Parse([]byte(`{"id":"1","timestamp":"2026-11-22T10:30:00.000Z","type":"eval-run","apiVersion":"v1","action":"completed","data":{"prompt":"movie-critic","score":0.93}}`))
	if err != nil {
		log.Fatal(err)
	}
	var result struct {
		Prompt string  `json:"prompt"`
		Score  float64 `json:"score"`
	}
	if err := ev.DecodeData(&result); err != nil {
		log.Fatal(err)
	}
	fmt.Println(ev.EventType(), result.Prompt, result.Score)
	// Output: eval-run.completed movie-critic 0.93
}

func ExampleNewHandler() {
	v, err := webhook.NewVerifier([]string{exampleSecret})
	if err != nil {
		log.Fatal(err)
	}
	h := webhook.NewHandler(v, func(ctx context.Context, ev *webhook.Event) error {
		fmt.Println("processing", ev.EventType(), ev.Prompt.Name)
		return nil // an error answers 500, and promptd retries
	})

	// Deliver the same event twice, as a retry would.
	ev := &webhook.Event{
		ID: "0192f8a0-7c1e-7b3a-9f00-5c2d1e0a9b11", Timestamp: webhook.Time{Time: time.Now()},
		Type: "prompt-version", APIVersion: webhook.APIVersion, Action: "created",
		Prompt: &webhook.Prompt{Name: "movie-critic", Version: 3, Type: "text", Prompt: []byte(`"Rate {{movie}}."`)},
	}
	for range 2 {
		req, err := webhook.NewSignedRequest("http://127.0.0.1:8080/hooks/promptd", []string{exampleSecret}, ev)
		if err != nil {
			log.Fatal(err)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fmt.Println(rec.Code)
	}
	// Output:
	// processing prompt-version.created movie-critic
	// 204
	// 200
}

// SignRequest produces exactly the headers promptd sends, to test a receiver.
func ExampleSignRequest() {
	body := []byte(`{"id":"evt_1","type":"evaluation","apiVersion":"v1","action":"completed","data":{}}`)
	req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:8080/hooks/promptd", nil)
	// Two secrets: a rotation in progress, newest first.
	secrets := []string{"whsec_dGhpcyBpcyBhIHNlY29uZCBzZWNyZXQgb2YgMzI=", exampleSecret}
	if err := webhook.SignRequest(req, secrets, "evt_1", time.Unix(1795775400, 0), body); err != nil {
		log.Fatal(err)
	}
	for _, h := range []string{"Content-Type", "X-Promptd-Signature", "Webhook-Id", "Webhook-Timestamp", "Webhook-Signature"} {
		fmt.Printf("%s: %s\n", h, req.Header.Get(h))
	}
	// Output:
	// Content-Type: application/json
	// X-Promptd-Signature: t=1795775400,s=e293e0e12b60dd078bd339a17c7ea467c6e1ddc4df6d6350244a59b696185ac6
	// Webhook-Id: evt_1
	// Webhook-Timestamp: 1795775400
	// Webhook-Signature: v1,/q15R08jw8m/vVkcmFELHJOW2Y/EKqBp/Q/tGu8Py10= v1,YJS0MuEp8f4LbeFBp7d/zbapdLioC2CQEfZA+QE352s=
}
