// Package webhook is what a receiver of promptd webhooks needs: verify a delivery's
// signature, parse its payload, deduplicate retries, and sign requests to test a receiver.
// It depends on the standard library only.
//
// A complete receiver:
//
//	func main() {
//		v, err := webhook.NewVerifier([]string{os.Getenv("PROMPTD_WEBHOOK_SECRET")})
//		if err != nil {
//			log.Fatal(err)
//		}
//		h := webhook.NewHandler(v, func(ctx context.Context, ev *webhook.Event) error {
//			if ev.EventType() == webhook.EventVersionUpdated && ev.Prompt.HasLabel("production") {
//				log.Printf("%s v%d is in production", ev.Prompt.Name, ev.Prompt.Version)
//			}
//			return nil // an error answers 500: promptd retries
//		})
//		http.Handle("/hooks/promptd", h)
//		log.Fatal(http.ListenAndServe(":8080", nil))
//	}
//
// NewHandler verifies (401), parses (400), skips event ids it has already processed (200)
// and answers 204 once the function succeeds. Receivers with their own routing use
// Verifier.VerifyRequest and Parse directly.
//
// # Signatures
//
// Every delivery carries two independent signatures over the raw body; a Verifier accepts
// either:
//
//   - x-promptd-signature: t=<unix seconds>,s=<hex HMAC-SHA256> where the key is the secret
//     string's UTF-8 bytes and the message is "<t>.<body>" (the scheme of the first seed's
//     receivers; the header name is configurable per webhook, see WithSignatureHeader);
//   - Standard Webhooks: webhook-id, webhook-timestamp and webhook-signature, where
//     webhook-signature is "v1,<base64 HMAC-SHA256>" keyed with the base64-decoded part of the
//     secret after "whsec_", over "<id>.<timestamp>.<body>". During a secret rotation it lists
//     one signature per valid secret, separated by spaces.
//
// Both carry a timestamp, which must be within five minutes of the receiver's clock (see
// WithTolerance). Failures wrap ErrMissingHeader, ErrMalformedHeader, ErrBadSignature or
// ErrStaleTimestamp.
//
// # Retries and duplicates
//
// promptd delivers at least once: a delivery that does not get a 2xx answer in time is
// retried, with the same event id (also the webhook-id header). Deduplicate on Event.ID;
// NewHandler does so with a Deduper.
package webhook
