package webhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Verification errors. Every error returned by Verifier.Verify, Verifier.VerifyRequest,
// Verifier.VerifyStandard and Verifier.VerifyPromptd wraps exactly one of them; test with
// errors.Is.
var (
	// ErrMissingHeader: the request carries no (complete) signature.
	ErrMissingHeader = errors.New("webhook: signature header missing")
	// ErrMalformedHeader: a signature header is present but cannot be parsed.
	ErrMalformedHeader = errors.New("webhook: signature header malformed")
	// ErrBadSignature: no signature matches the body under any of the secrets (wrong secret,
	// or the body or a signed header was altered).
	ErrBadSignature = errors.New("webhook: signature does not match")
	// ErrStaleTimestamp: the signature is authentic but its timestamp is further in the past
	// or in the future than the tolerance allows (a replay, or a skewed clock).
	ErrStaleTimestamp = errors.New("webhook: signature timestamp outside the tolerance")
	// ErrBodyTooLarge: VerifyRequest read more than the body cap.
	ErrBodyTooLarge = errors.New("webhook: request body too large")
)

// Defaults of a Verifier.
const (
	// DefaultTolerance is how far a signature's timestamp may be from the receiver's clock,
	// in either direction.
	DefaultTolerance = 5 * time.Minute
	// DefaultMaxBodyBytes caps the body VerifyRequest reads.
	DefaultMaxBodyBytes = 4 << 20
)

// hmacSize is the length of an HMAC-SHA256.
const hmacSize = sha256.Size

// Verifier checks the signatures of promptd deliveries. It accepts a delivery when either
// of the two schemes promptd signs with checks out under any of its secrets:
//
//   - Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature): any "v1,"
//     entry of webhook-signature matches;
//   - the promptd scheme (x-promptd-signature, or the name set with WithSignatureHeader):
//     "t=<unix seconds>,s=<hex>" matches.
//
// The signed timestamp must be within the tolerance of the receiver's clock (replay
// protection). Comparisons are constant-time. A Verifier is safe for concurrent use.
type Verifier struct {
	secrets         []verifierSecret
	tolerance       time.Duration
	now             func() time.Time
	signatureHeader string
	maxBody         int64
}

type verifierSecret struct {
	raw []byte // the secret string's UTF-8 bytes: the promptd scheme's key
	key []byte // base64-decoded part after "whsec_": the Standard Webhooks key
}

// VerifierOption configures a Verifier.
type VerifierOption func(*Verifier) error

// WithTolerance sets how far a signature's timestamp may be from now, in the past or in the
// future (default DefaultTolerance). d must be positive.
func WithTolerance(d time.Duration) VerifierOption {
	return func(v *Verifier) error {
		if d <= 0 {
			return fmt.Errorf("webhook: tolerance must be positive, got %v", d)
		}
		v.tolerance = d
		return nil
	}
}

// WithClock sets the clock timestamps are checked against (default time.Now); for tests.
func WithClock(now func() time.Time) VerifierOption {
	return func(v *Verifier) error {
		if now == nil {
			return errors.New("webhook: WithClock needs a clock")
		}
		v.now = now
		return nil
	}
}

// WithSignatureHeader sets the name of the promptd-scheme header, for a webhook configured
// with a custom signatureHeader (default HeaderSignature, "x-promptd-signature").
func WithSignatureHeader(name string) VerifierOption {
	return func(v *Verifier) error {
		name = strings.TrimSpace(name)
		if name == "" {
			return errors.New("webhook: WithSignatureHeader needs a header name")
		}
		v.signatureHeader = http.CanonicalHeaderKey(name)
		return nil
	}
}

// WithMaxBodyBytes caps the body VerifyRequest reads (default DefaultMaxBodyBytes). n must
// be positive.
func WithMaxBodyBytes(n int64) VerifierOption {
	return func(v *Verifier) error {
		if n <= 0 {
			return fmt.Errorf("webhook: body cap must be positive, got %d", n)
		}
		v.maxBody = n
		return nil
	}
}

// NewVerifier returns a Verifier accepting signatures made with any of secrets (give the
// old and the new one during a rotation). Each secret is "whsec_" followed by base64, as
// promptd generates it (surrounding white space is ignored), or a plain secret of 16 to 256
// printable ASCII characters given when the webhook was made (see SecretKey). An error wraps
// ErrSecretFormat for a secret of another shape.
func NewVerifier(secrets []string, opts ...VerifierOption) (*Verifier, error) {
	if len(secrets) == 0 {
		return nil, errors.New("webhook: NewVerifier needs at least one secret")
	}
	v := &Verifier{
		tolerance:       DefaultTolerance,
		now:             time.Now,
		signatureHeader: HeaderSignature,
		maxBody:         DefaultMaxBodyBytes,
	}
	for i, s := range secrets {
		if t := strings.TrimSpace(s); strings.HasPrefix(t, SecretPrefix) {
			s = t
		}
		key, err := SecretKey(s)
		if err != nil {
			return nil, fmt.Errorf("webhook: secret %d: %w", i, err)
		}
		v.secrets = append(v.secrets, verifierSecret{raw: []byte(s), key: key})
	}
	for _, o := range opts {
		if err := o(v); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// SignatureHeader returns the canonical name of the promptd-scheme header v reads.
func (v *Verifier) SignatureHeader() string { return v.signatureHeader }

// Verify checks that body was signed by promptd with one of v's secrets, by either scheme,
// recently enough. It returns nil or an error wrapping one of ErrMissingHeader,
// ErrMalformedHeader, ErrBadSignature, ErrStaleTimestamp. When both schemes fail, the error
// is the one that got furthest (stale > bad signature > malformed > missing) and its message
// mentions the other.
func (v *Verifier) Verify(header http.Header, body []byte) error {
	errStd := v.VerifyStandard(header, body)
	if errStd == nil {
		return nil
	}
	errPd := v.VerifyPromptd(header, body)
	if errPd == nil {
		return nil
	}
	first, second := errStd, errPd
	if errRank(errPd) > errRank(errStd) {
		first, second = errPd, errStd
	}
	return fmt.Errorf("%w (and %v)", first, second)
}

// errRank orders verification errors by how far verification got.
func errRank(err error) int {
	switch {
	case errors.Is(err, ErrStaleTimestamp):
		return 4
	case errors.Is(err, ErrBadSignature):
		return 3
	case errors.Is(err, ErrMalformedHeader):
		return 2
	default:
		return 1
	}
}

// VerifyRequest reads r's body (at most the cap, see WithMaxBodyBytes) and verifies it as
// Verify does. On success it returns the body and replaces r.Body with a fresh reader over
// it, so the request can be handed on. On failure it returns a nil body and an error
// wrapping one of Verify's errors, ErrBodyTooLarge, or the read error.
func (v *Verifier) VerifyRequest(r *http.Request) ([]byte, error) {
	body, err := readBody(r, v.maxBody)
	if err != nil {
		return nil, err
	}
	if err := v.Verify(r.Header, body); err != nil {
		return nil, err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return body, nil
}

// readBody reads r's body up to max bytes.
func readBody(r *http.Request, max int64) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return []byte{}, nil
	}
	if r.ContentLength > max {
		return nil, fmt.Errorf("%w: %d bytes, the cap is %d", ErrBodyTooLarge, r.ContentLength, max)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, max+1))
	if err != nil {
		return nil, fmt.Errorf("webhook: reading the request body: %w", err)
	}
	if int64(len(body)) > max {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrBodyTooLarge, max)
	}
	return body, nil
}

// VerifyStandard checks the Standard Webhooks signature only (webhook-id,
// webhook-timestamp, webhook-signature). Most receivers want Verify.
func (v *Verifier) VerifyStandard(header http.Header, body []byte) error {
	id := header.Get(HeaderWebhookID)
	tsHeader := header.Get(HeaderWebhookTimestamp)
	sigHeader := header.Get(HeaderWebhookSignature)
	var missing []string
	for _, h := range []struct{ name, value string }{
		{"webhook-id", id}, {"webhook-timestamp", tsHeader}, {"webhook-signature", sigHeader},
	} {
		if h.value == "" {
			missing = append(missing, h.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: Standard Webhooks: no %s", ErrMissingHeader, strings.Join(missing, ", "))
	}
	ts, err := parseUnixTimestamp(tsHeader)
	if err != nil {
		return fmt.Errorf("%w: webhook-timestamp: %w", ErrMalformedHeader, err)
	}
	sigs, err := parseStandardSignature(sigHeader)
	if err != nil {
		return fmt.Errorf("%w: webhook-signature: %w", ErrMalformedHeader, err)
	}
	matched := false
	for _, s := range v.secrets {
		want := standardMAC(s.key, id, tsHeader, body)
		for _, got := range sigs {
			if hmac.Equal(got, want) {
				matched = true
			}
		}
	}
	if !matched {
		return fmt.Errorf("%w: webhook-signature: none of its %d v1 signatures matches", ErrBadSignature, len(sigs))
	}
	return v.checkTime("webhook-timestamp", ts)
}

// VerifyPromptd checks the promptd-scheme signature only (x-promptd-signature by default).
// Most receivers want Verify.
func (v *Verifier) VerifyPromptd(header http.Header, body []byte) error {
	name := strings.ToLower(v.signatureHeader)
	value := header.Get(v.signatureHeader)
	if value == "" {
		return fmt.Errorf("%w: no %s", ErrMissingHeader, name)
	}
	sig, err := parsePromptdSignature(value)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrMalformedHeader, name, err)
	}
	t := strconv.FormatInt(sig.Timestamp, 10)
	matched := false
	for _, s := range v.secrets {
		if hmac.Equal(sig.Signature, promptdMAC(s.raw, t, body)) {
			matched = true
		}
	}
	if !matched {
		return fmt.Errorf("%w: %s", ErrBadSignature, name)
	}
	return v.checkTime(name, sig.Timestamp)
}

// checkTime reports whether unix time ts is within the tolerance of now.
func (v *Verifier) checkTime(name string, ts int64) error {
	now := v.now()
	signed := time.Unix(ts, 0)
	if age := now.Sub(signed); age > v.tolerance {
		return fmt.Errorf("%w: %s is %v old, the tolerance is %v", ErrStaleTimestamp, name, age.Truncate(time.Second), v.tolerance)
	}
	if ahead := signed.Sub(now); ahead > v.tolerance {
		return fmt.Errorf("%w: %s is %v in the future, the tolerance is %v", ErrStaleTimestamp, name, ahead.Truncate(time.Second), v.tolerance)
	}
	return nil
}

func standardMAC(key []byte, id, ts string, body []byte) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write([]byte(ts))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return mac.Sum(nil)
}

func promptdMAC(key []byte, ts string, body []byte) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(ts))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return mac.Sum(nil)
}

// maxTimestampDigits bounds a unix timestamp's length: 12 digits reach the year 33658.
const maxTimestampDigits = 12

// parseUnixTimestamp parses a unix time in seconds written canonically: decimal digits, no
// sign, no leading zero (so that the parsed value formats back to the signed text).
func parseUnixTimestamp(s string) (int64, error) {
	if s == "" {
		return 0, errors.New("empty timestamp")
	}
	if len(s) > maxTimestampDigits {
		return 0, errors.New("timestamp too long")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errors.New("timestamp is not unix seconds (decimal digits only)")
		}
	}
	if len(s) > 1 && s[0] == '0' {
		return 0, errors.New("timestamp has a leading zero")
	}
	return strconv.ParseInt(s, 10, 64)
}

// promptdSignatureHeader is a parsed x-promptd-signature value.
type promptdSignatureHeader struct {
	Timestamp int64
	Signature []byte // hmacSize bytes
}

// String formats h as promptd sends it: "t=<ts>,s=<lowercase hex>".
func (h promptdSignatureHeader) String() string {
	return promptdSignatureTimeKey + strconv.FormatInt(h.Timestamp, 10) + "," +
		promptdSignatureValueKey + hex.EncodeToString(h.Signature)
}

// parsePromptdSignature parses "t=<unix seconds>,s=<64 hex digits>", exactly as promptd
// sends it (the first seed's receivers accept nothing else). Hex digits may be upper or
// lower case.
func parsePromptdSignature(s string) (promptdSignatureHeader, error) {
	tPart, sPart, ok := strings.Cut(s, ",")
	if !ok {
		return promptdSignatureHeader{}, errors.New(`want "t=<unix seconds>,s=<hex>"`)
	}
	tVal, ok := strings.CutPrefix(tPart, promptdSignatureTimeKey)
	if !ok {
		return promptdSignatureHeader{}, errors.New(`does not start with "t="`)
	}
	sVal, ok := strings.CutPrefix(sPart, promptdSignatureValueKey)
	if !ok {
		return promptdSignatureHeader{}, errors.New(`second part does not start with "s="`)
	}
	ts, err := parseUnixTimestamp(tVal)
	if err != nil {
		return promptdSignatureHeader{}, err
	}
	if len(sVal) != 2*hmacSize {
		return promptdSignatureHeader{}, fmt.Errorf("s= has %d characters, want %d hex digits", len(sVal), 2*hmacSize)
	}
	sig, err := hex.DecodeString(sVal)
	if err != nil {
		return promptdSignatureHeader{}, errors.New("s= is not hex")
	}
	return promptdSignatureHeader{Timestamp: ts, Signature: sig}, nil
}

// maxStandardSignatures bounds the entries of webhook-signature we look at.
const maxStandardSignatures = 16

// parseStandardSignature returns the v1 signatures a webhook-signature value lists:
// space-separated "<version>,<base64>" entries. Entries of other versions (v1a …) are
// skipped, as are v1 entries whose value is not the canonical standard base64 of an
// HMAC-SHA256; it is an error if no usable v1 entry remains.
func parseStandardSignature(s string) ([][]byte, error) {
	var sigs [][]byte
	entries := 0
	for _, entry := range strings.Split(s, " ") {
		if entry == "" {
			continue
		}
		if entries++; entries > maxStandardSignatures {
			return nil, fmt.Errorf("more than %d signatures", maxStandardSignatures)
		}
		value, ok := strings.CutPrefix(entry, standardSignaturePrefix)
		if !ok {
			continue
		}
		if sig, ok := decodeStandardMAC(value); ok {
			sigs = append(sigs, sig)
		}
	}
	if len(sigs) == 0 {
		return nil, errors.New(`no "v1,<base64 HMAC-SHA256>" signature`)
	}
	return sigs, nil
}

// decodeStandardMAC decodes the canonical standard base64 of an HMAC-SHA256. The encoder
// check makes decoding injective (the decoder would skip CR and LF), so comparing decoded
// bytes is the same as comparing the strings.
func decodeStandardMAC(s string) ([]byte, bool) {
	if len(s) != base64.StdEncoding.EncodedLen(hmacSize) {
		return nil, false
	}
	sig, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || len(sig) != hmacSize || base64.StdEncoding.EncodeToString(sig) != s {
		return nil, false
	}
	return sig, true
}

// formatStandardSignature is the inverse of parseStandardSignature.
func formatStandardSignature(sigs [][]byte) string {
	parts := make([]string, len(sigs))
	for i, s := range sigs {
		parts[i] = standardSignaturePrefix + base64.StdEncoding.EncodeToString(s)
	}
	return strings.Join(parts, " ")
}
