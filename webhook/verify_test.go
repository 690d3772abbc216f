package webhook_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/promptd/promptd/webhook"
)

// secretC is valid but never used to sign.
const secretC = "whsec_c2VjcmV0IG51bWJlciB0aHJlZSwgbmV2ZXIgdXNlZA=="

// fixedNow is the receiver's clock in these tests.
var fixedNow = time.Unix(1795775400, 0) // 2026-11-22T10:30:00Z

func newVerifier(t *testing.T, secrets []string, opts ...webhook.VerifierOption) *webhook.Verifier {
	t.Helper()
	opts = append([]webhook.VerifierOption{webhook.WithClock(func() time.Time { return fixedNow })}, opts...)
	v, err := webhook.NewVerifier(secrets, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// libSign signs with the Standard Webhooks reference library and returns the
// webhook-signature value.
func libSign(t *testing.T, secret, id string, ts time.Time, body []byte) string {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := wh.Sign(id, ts, body)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

func standardHeaders(id string, ts time.Time, sig string) http.Header {
	h := http.Header{}
	h.Set("webhook-id", id)
	h.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
	h.Set("webhook-signature", sig)
	return h
}

type pySignCase struct {
	Body   string `json:"body"`
	T      string `json:"t"`
	Secret string `json:"secret"`
}

// pySign computes x-promptd-signature values with the first seed's Python expression.
func pySign(t *testing.T, cases ...pySignCase) []string {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Fatal("python3 is needed to run the seed's signing code")
	}
	var in bytes.Buffer
	for _, c := range cases {
		line, _ := json.Marshal(c)
		in.Write(append(line, '\n'))
	}
	cmd := exec.Command("python3", "testdata/seed_sign.py")
	cmd.Stdin = &in
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3: %v", err)
	}
	var res []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		res = append(res, sc.Text())
	}
	if len(res) != len(cases) {
		t.Fatalf("python printed %d signatures for %d cases", len(res), len(cases))
	}
	return res
}

func promptdHeader(name, value string) http.Header {
	h := http.Header{}
	h.Set(name, value)
	return h
}

func merge(hs ...http.Header) http.Header {
	out := http.Header{}
	for _, h := range hs {
		for k, v := range h {
			out[k] = append(out[k], v...)
		}
	}
	return out
}

// TestVerifyStandardWebhooksLibraryVectors checks the Standard Webhooks scheme against
// signatures made by the reference Go library, and that the library agrees with every
// verdict.
func TestVerifyStandardWebhooksLibraryVectors(t *testing.T) {
	t.Parallel()
	const id = "0192f8a0-7c1e-7b3a-9f00-5c2d1e0a9b11"
	ts := fixedNow.Add(-30 * time.Second)
	sigA := libSign(t, secretA, id, ts, body)
	sigB := libSign(t, secretB, id, ts, body)
	tampered := append(bytes.Clone(body), ' ')

	tests := []struct {
		name    string
		secrets []string
		header  http.Header
		body    []byte
		want    error
	}{
		{"single secret", []string{secretA}, standardHeaders(id, ts, sigA), body, nil},
		{"rotation header, receiver has the old secret", []string{secretA}, standardHeaders(id, ts, sigB+" "+sigA), body, nil},
		{"rotation header, receiver has the new secret", []string{secretB}, standardHeaders(id, ts, sigB+" "+sigA), body, nil},
		{"receiver rotating, sender still old", []string{secretB, secretA}, standardHeaders(id, ts, sigA), body, nil},
		{"receiver rotating, sender already new", []string{secretB, secretA}, standardHeaders(id, ts, sigB), body, nil},
		{"unknown versions are skipped", []string{secretA}, standardHeaders(id, ts, "v1a,AAAA v2,xyz "+sigA), body, nil},
		{"wrong secret", []string{secretC}, standardHeaders(id, ts, sigA), body, webhook.ErrBadSignature},
		{"wrong secrets, rotation header", []string{secretC}, standardHeaders(id, ts, sigB+" "+sigA), body, webhook.ErrBadSignature},
		{"tampered body", []string{secretA}, standardHeaders(id, ts, sigA), tampered, webhook.ErrBadSignature},
		{"other webhook-id", []string{secretA}, standardHeaders("other", ts, sigA), body, webhook.ErrBadSignature},
		{"other timestamp", []string{secretA}, standardHeaders(id, ts.Add(time.Second), sigA), body, webhook.ErrBadSignature},
		{"too old", []string{secretA}, standardHeaders(id, fixedNow.Add(-6*time.Minute), libSign(t, secretA, id, fixedNow.Add(-6*time.Minute), body)), body, webhook.ErrStaleTimestamp},
		{"in the future", []string{secretA}, standardHeaders(id, fixedNow.Add(6*time.Minute), libSign(t, secretA, id, fixedNow.Add(6*time.Minute), body)), body, webhook.ErrStaleTimestamp},
		{"just within the tolerance", []string{secretA}, standardHeaders(id, fixedNow.Add(-5*time.Minute), libSign(t, secretA, id, fixedNow.Add(-5*time.Minute), body)), body, nil},
		{"no headers", []string{secretA}, http.Header{}, body, webhook.ErrMissingHeader},
		{"no webhook-timestamp", []string{secretA}, func() http.Header {
			h := standardHeaders(id, ts, sigA)
			h.Del("webhook-timestamp")
			return h
		}(), body, webhook.ErrMissingHeader},
		{"timestamp not a number", []string{secretA}, func() http.Header {
			h := standardHeaders(id, ts, sigA)
			h.Set("webhook-timestamp", "yesterday")
			return h
		}(), body, webhook.ErrMalformedHeader},
		{"signature without v1", []string{secretA}, standardHeaders(id, ts, strings.TrimPrefix(sigA, "v1,")), body, webhook.ErrMalformedHeader},
		{"signature not base64", []string{secretA}, standardHeaders(id, ts, "v1,not base64!"), body, webhook.ErrMalformedHeader},
	}
	for _, tt := range tests {
		v := newVerifier(t, tt.secrets)
		err := v.Verify(tt.header, tt.body)
		if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("%s: Verify = %v, want %v", tt.name, err, tt.want)
		}
		if errStd := v.VerifyStandard(tt.header, tt.body); (errStd == nil) != (err == nil) {
			t.Errorf("%s: VerifyStandard = %v, Verify = %v", tt.name, errStd, err)
		}
		// The reference library, with a real clock, must reach the same verdict about the
		// signature itself (it checks the timestamp against time.Now, so skip that here).
		lib := func(secret string) bool {
			wh, _ := standardwebhooks.NewWebhook(secret)
			return wh.VerifyIgnoringTimestamp(tt.body, tt.header) == nil
		}
		libOK := false
		for _, s := range tt.secrets {
			libOK = libOK || lib(s)
		}
		if ours := err == nil || errors.Is(err, webhook.ErrStaleTimestamp); ours != libOK {
			t.Errorf("%s: signature accepted by us: %v, by the reference library: %v", tt.name, ours, libOK)
		}
	}
}

// TestVerifyPromptdSchemeSeedVectors checks x-promptd-signature against signatures made
// with the first seed's own Python expression, and the verdicts against the seed's Python
// verification function.
func TestVerifyPromptdSchemeSeedVectors(t *testing.T) {
	t.Parallel()
	ts := strconv.FormatInt(fixedNow.Add(-time.Minute).Unix(), 10)
	old := strconv.FormatInt(fixedNow.Add(-10*time.Minute).Unix(), 10)
	future := strconv.FormatInt(fixedNow.Add(10*time.Minute).Unix(), 10)
	signed := pySign(t,
		pySignCase{string(body), ts, secretA},
		pySignCase{string(body), ts, secretB},
		pySignCase{string(body), old, secretA},
		pySignCase{string(body), future, secretA},
	)
	sigA, sigB, sigOld, sigFuture := signed[0], signed[1], signed[2], signed[3]
	tampered := append(bytes.Clone(body), ' ')
	const h = "X-Promptd-Signature"
	upper := "t=" + ts + ",s=" + strings.ToUpper(strings.TrimPrefix(sigA, "t="+ts+",s="))

	tests := []struct {
		name    string
		secrets []string
		value   string
		body    []byte
		want    error
	}{
		{"single secret", []string{secretA}, sigA, body, nil},
		{"uppercase hex", []string{secretA}, upper, body, nil},
		{"receiver rotating, sender old", []string{secretB, secretA}, sigA, body, nil},
		{"receiver rotating, sender new", []string{secretB, secretA}, sigB, body, nil},
		{"wrong secret", []string{secretB}, sigA, body, webhook.ErrBadSignature},
		{"tampered body", []string{secretA}, sigA, tampered, webhook.ErrBadSignature},
		{"tampered timestamp", []string{secretA}, strings.Replace(sigA, "t="+ts, "t="+strconv.Itoa(int(fixedNow.Unix())), 1), body, webhook.ErrBadSignature},
		{"stale", []string{secretA}, sigOld, body, webhook.ErrStaleTimestamp},
		{"future", []string{secretA}, sigFuture, body, webhook.ErrStaleTimestamp},
		{"missing", []string{secretA}, "", body, webhook.ErrMissingHeader},
		{"no comma", []string{secretA}, "t=" + ts, body, webhook.ErrMalformedHeader},
		{"order swapped", []string{secretA}, "s=" + strings.TrimPrefix(sigA, "t="+ts+",s=") + ",t=" + ts, body, webhook.ErrMalformedHeader},
		{"not hex", []string{secretA}, "t=" + ts + ",s=" + strings.Repeat("zz", 32), body, webhook.ErrMalformedHeader},
		{"short hex", []string{secretA}, "t=" + ts + ",s=abcd", body, webhook.ErrMalformedHeader},
		{"timestamp not a number", []string{secretA}, "t=now," + strings.Split(sigA, ",")[1], body, webhook.ErrMalformedHeader},
		{"two signatures", []string{secretA}, sigA + ",s=" + strings.Repeat("ab", 32), body, webhook.ErrMalformedHeader},
	}
	var seedCases []seedCase
	for _, tt := range tests {
		v := newVerifier(t, tt.secrets)
		hdr := http.Header{}
		if tt.value != "" {
			hdr.Set(h, tt.value)
		}
		err := v.Verify(hdr, tt.body)
		if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("%s: Verify = %v, want %v", tt.name, err, tt.want)
		}
		if errPd := v.VerifyPromptd(hdr, tt.body); (errPd == nil) != (err == nil) {
			t.Errorf("%s: VerifyPromptd = %v, Verify = %v", tt.name, errPd, err)
		}
		for _, s := range tt.secrets {
			seedCases = append(seedCases, seedCase{tt.name, string(tt.body), tt.value, s, err})
		}
	}
	// Whatever we accept, the seed's receivers accept too (they do not check timestamps).
	verdicts := seedVerify(t, seedCases)
	accepted := map[string]bool{}
	for i, c := range seedCases {
		accepted[c.name] = accepted[c.name] || verdicts[i]
	}
	for _, c := range seedCases {
		if (c.err == nil || errors.Is(c.err, webhook.ErrStaleTimestamp)) && !accepted[c.name] {
			t.Errorf("%s: we accept a signature the seed's verification rejects", c.name)
		}
		if errors.Is(c.err, webhook.ErrBadSignature) && accepted[c.name] {
			t.Errorf("%s: the seed's verification accepts a signature we call bad", c.name)
		}
	}
}

type seedCase struct {
	name                 string
	body, header, secret string
	err                  error
}

// seedVerify runs the seed's verify_abv_signature on every case.
func seedVerify(t *testing.T, cases []seedCase) []bool {
	t.Helper()
	var in bytes.Buffer
	for _, c := range cases {
		line, _ := json.Marshal(map[string]string{"body": c.body, "header": c.header, "secret": c.secret})
		in.Write(append(line, '\n'))
	}
	cmd := exec.Command("python3", "testdata/seed_verify.py")
	cmd.Stdin = &in
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3: %v", err)
	}
	fields := strings.Fields(string(out))
	if len(fields) != len(cases) {
		t.Fatalf("python printed %d answers for %d cases", len(fields), len(cases))
	}
	res := make([]bool, len(fields))
	for i, f := range fields {
		res[i] = f == "true"
	}
	return res
}

func TestVerifyEitherScheme(t *testing.T) {
	t.Parallel()
	const id = "evt_1"
	ts := fixedNow.Add(-10 * time.Second)
	signed, err := webhook.Sign([]string{secretA}, id, ts.Unix(), body)
	if err != nil {
		t.Fatal(err)
	}
	std := standardHeaders(id, ts, signed.WebhookSignature)
	pd := promptdHeader(webhook.HeaderSignature, signed.Promptd)
	stale, _ := webhook.Sign([]string{secretA}, id, fixedNow.Add(-time.Hour).Unix(), body)

	tests := []struct {
		name   string
		header http.Header
		want   error
	}{
		{"both", merge(std, pd), nil},
		{"standard only", std, nil},
		{"promptd only", pd, nil},
		{"standard ok, promptd garbage", merge(std, promptdHeader(webhook.HeaderSignature, "garbage")), nil},
		{"promptd ok, standard garbage", merge(pd, standardHeaders(id, ts, "v1,garbage")), nil},
		{"both stale", merge(standardHeaders(id, fixedNow.Add(-time.Hour), stale.WebhookSignature), promptdHeader(webhook.HeaderSignature, stale.Promptd)), webhook.ErrStaleTimestamp},
		// The error that got furthest wins.
		{"stale beats missing", promptdHeader(webhook.HeaderSignature, stale.Promptd), webhook.ErrStaleTimestamp},
		{"bad signature beats malformed", merge(standardHeaders(id, ts, "v1,AAAA"), promptdHeader(webhook.HeaderSignature, strings.Replace(signed.Promptd, "s=", "s=0", 1)[:len(signed.Promptd)])), webhook.ErrBadSignature},
		{"malformed beats missing", promptdHeader(webhook.HeaderSignature, "t=1"), webhook.ErrMalformedHeader},
		{"nothing", http.Header{"Content-Type": {"application/json"}}, webhook.ErrMissingHeader},
	}
	v := newVerifier(t, []string{secretA})
	for _, tt := range tests {
		err := v.Verify(tt.header, body)
		if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("%s: Verify = %v, want %v", tt.name, err, tt.want)
		}
		// Exactly one sentinel.
		n := 0
		for _, s := range []error{webhook.ErrMissingHeader, webhook.ErrMalformedHeader, webhook.ErrBadSignature, webhook.ErrStaleTimestamp} {
			if errors.Is(err, s) {
				n++
			}
		}
		if err != nil && n != 1 {
			t.Errorf("%s: %v wraps %d sentinels, want 1", tt.name, err, n)
		}
	}
}

func TestVerifierOptions(t *testing.T) {
	t.Parallel()
	ts := fixedNow.Add(-10 * time.Minute)
	signed, _ := webhook.Sign([]string{secretA}, "evt_1", ts.Unix(), body)

	// A wider tolerance accepts what the default refuses.
	hdr := standardHeaders("evt_1", ts, signed.WebhookSignature)
	if err := newVerifier(t, []string{secretA}).Verify(hdr, body); !errors.Is(err, webhook.ErrStaleTimestamp) {
		t.Errorf("default tolerance: %v", err)
	}
	if err := newVerifier(t, []string{secretA}, webhook.WithTolerance(time.Hour)).Verify(hdr, body); err != nil {
		t.Errorf("tolerance 1h: %v", err)
	}

	// A custom signature header name (a receiver written for another product).
	abv := promptdHeader("x-abv-signature", webhook.PromptdSignature(secretA, fixedNow.Unix(), body))
	v := newVerifier(t, []string{secretA}, webhook.WithSignatureHeader("x-abv-signature"))
	if err := v.Verify(abv, body); err != nil {
		t.Errorf("custom header: %v", err)
	}
	if got := v.SignatureHeader(); got != "X-Abv-Signature" {
		t.Errorf("SignatureHeader() = %q", got)
	}
	if err := newVerifier(t, []string{secretA}).Verify(abv, body); !errors.Is(err, webhook.ErrMissingHeader) {
		t.Errorf("default header name reading x-abv-signature: %v", err)
	}

	// Secrets are checked up front; white space around them (a pasted line) is ignored.
	if _, err := webhook.NewVerifier(nil); err == nil {
		t.Error("NewVerifier(nil) accepted")
	}
	if _, err := webhook.NewVerifier([]string{secretA, "not-a-secret"}); !errors.Is(err, webhook.ErrSecretFormat) {
		t.Errorf("NewVerifier with a bad secret: %v", err)
	}
	fresh, _ := webhook.Sign([]string{secretA}, "evt_1", fixedNow.Unix(), body)
	for _, h := range []http.Header{
		standardHeaders("evt_1", fixedNow, fresh.WebhookSignature),
		promptdHeader(webhook.HeaderSignature, fresh.Promptd),
	} {
		if err := newVerifier(t, []string{" " + secretA + "\n"}).Verify(h, body); err != nil {
			t.Errorf("secret with white space: %v", err)
		}
	}
	for _, o := range []webhook.VerifierOption{
		webhook.WithTolerance(0), webhook.WithClock(nil), webhook.WithSignatureHeader(" "), webhook.WithMaxBodyBytes(0),
	} {
		if _, err := webhook.NewVerifier([]string{secretA}, o); err == nil {
			t.Error("an invalid option was accepted")
		}
	}
}

func TestVerifyRequest(t *testing.T) {
	t.Parallel()
	v := newVerifier(t, []string{secretA}, webhook.WithMaxBodyBytes(int64(len(body))))
	req := httptest.NewRequest(http.MethodPost, "/hook", nil)
	if err := webhook.SignRequest(req, []string{secretA}, "evt_1", fixedNow, body); err != nil {
		t.Fatal(err)
	}
	got, err := v.VerifyRequest(req)
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("VerifyRequest = %q, %v", got, err)
	}
	again, _ := io.ReadAll(req.Body)
	if !bytes.Equal(again, body) {
		t.Errorf("the body is not readable again after VerifyRequest: %q", again)
	}

	// Too large, with and without a Content-Length.
	big := append(bytes.Clone(body), ' ')
	for _, chunked := range []bool{false, true} {
		req := httptest.NewRequest(http.MethodPost, "/hook", nil)
		_ = webhook.SignRequest(req, []string{secretA}, "evt_1", fixedNow, big)
		if chunked {
			req.ContentLength = -1
		}
		if got, err := v.VerifyRequest(req); !errors.Is(err, webhook.ErrBodyTooLarge) || got != nil {
			t.Errorf("chunked=%v: VerifyRequest of a body over the cap = %d bytes, %v", chunked, len(got), err)
		}
	}

	// A failed verification returns no body.
	req = httptest.NewRequest(http.MethodPost, "/hook", bytes.NewReader(body))
	if got, err := v.VerifyRequest(req); !errors.Is(err, webhook.ErrMissingHeader) || got != nil {
		t.Errorf("unsigned: VerifyRequest = %q, %v", got, err)
	}
}
