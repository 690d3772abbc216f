package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/client"
	"github.com/promptd/promptd/webhook"
)

func ExampleCompile() {
	v := &promptd.Version{Type: promptd.TextPrompt, Prompt: client.TextContent("As a {{criticLevel}} movie critic, rate {{movie}} out of 10.")}
	out, err := client.Compile(v, map[string]any{"criticLevel": "expert", "movie": "Dune 2"})
	fmt.Println(out.Text, err)

	out, err = client.Compile(v, map[string]any{"movie": "Dune 2"})
	var missing *client.MissingVariablesError
	fmt.Println(out.Text, errors.As(err, &missing), missing.Names)
	// Output:
	// As a expert movie critic, rate Dune 2 out of 10. <nil>
	// As a {{criticLevel}} movie critic, rate Dune 2 out of 10. true [criticLevel]
}

func ExampleClient_GetPrompt() {
	c, err := client.New(os.Getenv("PROMPTD_URL"), os.Getenv("PROMPTD_API_KEY"))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	// Cached for a minute, revalidated in the background after that; the fallback is
	// returned (IsFallback) only when the prompt is not cached and promptd cannot answer.
	p, err := c.GetPrompt(ctx, "movie-critic", "production", client.FallbackText("Rate {{movie}} out of 10."))
	if err != nil {
		log.Fatal(err)
	}
	out, err := p.Compile(map[string]any{"criticLevel": "expert", "movie": "Dune 2"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(out.Text)
}

func ExampleClient_InvalidationHandler() {
	c, err := client.New(os.Getenv("PROMPTD_URL"), os.Getenv("PROMPTD_API_KEY"))
	if err != nil {
		log.Fatal(err)
	}
	// Subscribe this URL to promptd (promptd webhooks create https://app.example.com/hooks/promptd)
	// and give the webhook's secret here: a new version or a label move drops the cached
	// prompt at once.
	v, err := webhook.NewVerifier([]string{os.Getenv("PROMPTD_WEBHOOK_SECRET")})
	if err != nil {
		log.Fatal(err)
	}
	http.Handle("POST /hooks/promptd", c.InvalidationHandler(v))
}
