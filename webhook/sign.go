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

// Lengths of a plain secret: one a user chose, used as it is (see SecretKey).
const (
	MinPlainSecretLength = 16
	MaxPlainSecretLength = 256
)

// ErrSecretFormat is returned for a secret that is neither "whsec_" followed by the standard
// base64 of 24 to 64 bytes, nor a plain secret of 16 to 256 printable ASCII characters.
var ErrSecretFormat = errors.New("a webhook secret is \"whsec_\" followed by the base64 of 24 to 64 random bytes, or 16 to 256 printable ASCII characters of your choice")

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

// SecretKey returns the key that Standard Webhooks signatures (webhook-signature) use for
// secret. For a "whsec_" secret it is the decoded base64 (DecodeSecret). Any other secret is
// a plain one, chosen by a user, of 16 to 256 printable ASCII characters (space to '~'), and
// its key is its bytes as they are: a plain secret S signs exactly as the secret
// "whsec_" + base64(S) does, which is what to give a Standard Webhooks library that accepts
// only the whsec_ form. Signatures that key with the secret's text (x-promptd-signature and
// the other single-signature headers) use the secret as written, whichever its form.
func SecretKey(secret string) ([]byte, error) {
	if strings.HasPrefix(secret, SecretPrefix) {
		return DecodeSecret(secret)
	}
	if len(secret) < MinPlainSecretLength || len(secret) > MaxPlainSecretLength {
		return nil, ErrSecretFormat
	}
	for i := 0; i < len(secret); i++ {
		if secret[i] < ' ' || secret[i] > '~' {
			return nil, ErrSecretFormat
		}
	}
	return []byte(secret), nil
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
	sigs, err := StandardSignatures(secrets, msgID, ts, body)
	if err != nil {
		return SignedHeaders{}, err
	}
	return SignedHeaders{
		Promptd:          PromptdSignature(secrets[0], ts, body),
		WebhookID:        msgID,
		WebhookTimestamp: strconv.FormatInt(ts, 10),
		WebhookSignature: sigs,
	}, nil
}

// StandardSignatures returns the webhook-signature header value of body with message id
// msgID at unix time ts: one StandardSignature per secret (newest first), separated by
// spaces. It is Sign without the promptd signature, for callers that sign that one with
// another secret or not at all.
func StandardSignatures(secrets []string, msgID string, ts int64, body []byte) (string, error) {
	if len(secrets) == 0 {
		return "", errors.New("webhook: Sign needs at least one secret")
	}
	sigs := make([]string, 0, len(secrets))
	for i, s := range secrets {
		key, err := SecretKey(s)
		if err != nil {
			return "", fmt.Errorf("webhook: secret %d: %w", i, err)
		}
		sigs = append(sigs, StandardSignature(key, msgID, ts, body))
	}
	return strings.Join(sigs, " "), nil
}
