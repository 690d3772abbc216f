package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// SecretPrefix starts every webhook secret.
const SecretPrefix = "whsec_"

// Header names promptd sends.
const (
	HeaderSignature          = "X-Promptd-Signature" // default name; configurable per webhook
	HeaderEvent              = "X-Promptd-Event"
	HeaderDelivery           = "X-Promptd-Delivery"
	HeaderAttempt            = "X-Promptd-Attempt"
	HeaderWebhookID          = "Webhook-Id"
	HeaderWebhookTimestamp   = "Webhook-Timestamp"
	HeaderWebhookSignature   = "Webhook-Signature"
	standardSignaturePrefix  = "v1,"
	promptdSignatureTimeKey  = "t="
	promptdSignatureValueKey = "s="
)

// Secret lengths, in bytes after base64 decoding.
const (
	MinSecretBytes = 24
	MaxSecretBytes = 64
)

// ErrSecretFormat is returned for a secret that is not "whsec_" followed by the standard
// base64 of 24 to 64 bytes.
var ErrSecretFormat = errors.New("a webhook secret is \"whsec_\" followed by the base64 of 24 to 64 random bytes")

// DecodeSecret returns the key bytes of a secret: the base64-decoded part after "whsec_".
func DecodeSecret(secret string) ([]byte, error) {
	raw, ok := strings.CutPrefix(secret, SecretPrefix)
	if !ok {
		return nil, ErrSecretFormat
	}
	key, err := base64.StdEncoding.DecodeString(raw)
	if err != nil || len(key) < MinSecretBytes || len(key) > MaxSecretBytes {
		return nil, ErrSecretFormat
	}
	return key, nil
}

// PromptdSignature returns the x-promptd-signature header value for body signed at unix time
// ts: "t=<ts>,s=<hex HMAC-SHA256(key = secret's UTF-8 bytes, msg = "<ts>.<body>")>".
func PromptdSignature(secret string, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	t := strconv.FormatInt(ts, 10)
	mac.Write([]byte(t))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return promptdSignatureTimeKey + t + "," + promptdSignatureValueKey + hex.EncodeToString(mac.Sum(nil))
}

// StandardSignature returns one Standard Webhooks signature, "v1,<base64>", of body with
// message id msgID at unix time ts, keyed with key (see DecodeSecret).
func StandardSignature(key []byte, msgID string, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(msgID))
	mac.Write([]byte{'.'})
	mac.Write([]byte(strconv.FormatInt(ts, 10)))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return standardSignaturePrefix + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// SignedHeaders are the signature headers of one request.
type SignedHeaders struct {
	Promptd          string // value of x-promptd-signature
	WebhookID        string
	WebhookTimestamp string
	WebhookSignature string
}

// Sign signs body as promptd does. secrets are the valid secrets, newest first: the promptd
// signature uses the newest only, webhook-signature lists one signature per secret.
func Sign(secrets []string, msgID string, ts int64, body []byte) (SignedHeaders, error) {
	if len(secrets) == 0 {
		return SignedHeaders{}, errors.New("webhook: Sign needs at least one secret")
	}
	sigs := make([]string, 0, len(secrets))
	for i, s := range secrets {
		key, err := DecodeSecret(s)
		if err != nil {
			return SignedHeaders{}, fmt.Errorf("webhook: secret %d: %w", i, err)
		}
		sigs = append(sigs, StandardSignature(key, msgID, ts, body))
	}
	return SignedHeaders{
		Promptd:          PromptdSignature(secrets[0], ts, body),
		WebhookID:        msgID,
		WebhookTimestamp: strconv.FormatInt(ts, 10),
		WebhookSignature: strings.Join(sigs, " "),
	}, nil
}
