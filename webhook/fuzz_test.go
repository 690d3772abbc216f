package webhook

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The seed corpora live in testdata/fuzz/<FuzzName>/. Run a fuzzer with
//
//	go test -run='^$' -fuzz=FuzzParseSignatureHeader -fuzztime=20s ./webhook

const fuzzSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

var sentinels = []error{ErrMissingHeader, ErrMalformedHeader, ErrBadSignature, ErrStaleTimestamp}

// oneSentinel fails unless err wraps exactly one verification sentinel.
func oneSentinel(t *testing.T, err error) {
	t.Helper()
	n := 0
	for _, s := range sentinels {
		if errors.Is(err, s) {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("error %v wraps %d sentinels, want 1", err, n)
	}
}

// seedParse is the first seed's Python parser, translated: split at the first comma, take
// everything after the first "=" of each half.
func seedParse(s string) (ts, sigHex string, ok bool) {
	tsPair, sigPair, ok := strings.Cut(s, ",")
	if !ok || !strings.Contains(tsPair, "=") || !strings.Contains(sigPair, "=") {
		return "", "", false
	}
	_, ts, _ = strings.Cut(tsPair, "=")
	_, sigHex, _ = strings.Cut(sigPair, "=")
	return ts, sigHex, true
}

// FuzzParseSignatureHeader fuzzes the x-promptd-signature parser: no panic; what it accepts
// round-trips through String and is read the same way by the first seed's parser; the
// Verifier's error for it wraps exactly one sentinel.
func FuzzParseSignatureHeader(f *testing.F) {
	v, err := NewVerifier([]string{fuzzSecret}, WithClock(func() time.Time { return time.Unix(1795775400, 0) }))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := parsePromptdSignature(s)
		if err == nil {
			if h.Timestamp < 0 || len(h.Signature) != hmacSize {
				t.Fatalf("parsed %q into %+v", s, h)
			}
			formatted := h.String()
			if !strings.EqualFold(formatted, s) {
				t.Fatalf("%q formats back as %q", s, formatted)
			}
			again, err := parsePromptdSignature(formatted)
			if err != nil || again.Timestamp != h.Timestamp || !bytes.Equal(again.Signature, h.Signature) {
				t.Fatalf("round trip of %q: %+v, %v", formatted, again, err)
			}
			// The seed's receivers read the same timestamp and signature.
			ts, sigHex, ok := seedParse(s)
			seedSig, hexErr := hex.DecodeString(sigHex)
			if !ok || ts != strconv.FormatInt(h.Timestamp, 10) || hexErr != nil || !bytes.Equal(seedSig, h.Signature) {
				t.Fatalf("%q: the seed's parser reads t=%q s=%q", s, ts, sigHex)
			}
		}
		if strings.ContainsAny(s, "\r\n\x00") {
			return // not a header value http.Header can carry
		}
		hdr := http.Header{}
		hdr.Set(HeaderSignature, s)
		verr := v.VerifyPromptd(hdr, []byte("{}"))
		if verr == nil {
			if err != nil {
				t.Fatalf("%q verified although it does not parse: %v", s, err)
			}
			return // a seed signed with fuzzSecret over "{}"
		}
		oneSentinel(t, verr)
		if err == nil && !errors.Is(verr, ErrBadSignature) {
			t.Fatalf("%q parses but verification says %v", s, verr)
		}
		if err != nil && s != "" && !errors.Is(verr, ErrMalformedHeader) {
			t.Fatalf("%q does not parse but verification says %v", s, verr)
		}
	})
}

// libCandidates are the strings the Standard Webhooks reference library compares with the
// expected signature: for each space-separated entry split at commas, the second part of
// those whose first part is "v1".
func libCandidates(s string) []string {
	var out []string
	for _, entry := range strings.Split(s, " ") {
		parts := strings.Split(entry, ",")
		if len(parts) >= 2 && parts[0] == "v1" {
			out = append(out, parts[1])
		}
	}
	return out
}

// FuzzParseStandardSignatureHeader fuzzes the webhook-signature parser: no panic; what it
// accepts round-trips, and every signature it extracts is one the reference library would
// compare too (we are never more lenient).
func FuzzParseStandardSignatureHeader(f *testing.F) {
	v, err := NewVerifier([]string{fuzzSecret}, WithClock(func() time.Time { return time.Unix(1795775400, 0) }))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sigs, err := parseStandardSignature(s)
		if err == nil {
			if len(sigs) == 0 || len(sigs) > maxStandardSignatures {
				t.Fatalf("%q: %d signatures", s, len(sigs))
			}
			lib := libCandidates(s)
			for _, sig := range sigs {
				if len(sig) != hmacSize {
					t.Fatalf("%q: a signature of %d bytes", s, len(sig))
				}
				if !slices.Contains(lib, base64.StdEncoding.EncodeToString(sig)) {
					t.Fatalf("%q: we extract %x, which the reference library would not compare", s, sig)
				}
			}
			formatted := formatStandardSignature(sigs)
			again, err := parseStandardSignature(formatted)
			if err != nil || !slices.EqualFunc(again, sigs, bytes.Equal) {
				t.Fatalf("round trip of %q: %x, %v", formatted, again, err)
			}
		}
		if strings.ContainsAny(s, "\r\n\x00") {
			return
		}
		hdr := http.Header{}
		hdr.Set(HeaderWebhookID, "msg_1")
		hdr.Set(HeaderWebhookTimestamp, "1795775400")
		hdr.Set(HeaderWebhookSignature, s)
		verr := v.VerifyStandard(hdr, []byte("{}"))
		if verr == nil {
			if err != nil {
				t.Fatalf("%q verified although it does not parse: %v", s, err)
			}
			return // a seed signed with fuzzSecret over msg_1 and "{}"
		}
		oneSentinel(t, verr)
		if err == nil && !errors.Is(verr, ErrBadSignature) {
			t.Fatalf("%q parses but verification says %v", s, verr)
		}
		if err != nil && s != "" && !errors.Is(verr, ErrMalformedHeader) {
			t.Fatalf("%q does not parse but verification says %v", s, verr)
		}
	})
}

// FuzzParseUnixTimestamp: what parses is canonical (formats back to the same text).
func FuzzParseUnixTimestamp(f *testing.F) {
	for _, s := range []string{"0", "1795775400", "01", "-1", "+1", "1e9", " 1", "999999999999", "9999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ts, err := parseUnixTimestamp(s)
		if err != nil {
			return
		}
		if ts < 0 || strconv.FormatInt(ts, 10) != s {
			t.Fatalf("%q parses as %d", s, ts)
		}
	})
}

// FuzzVerify feeds arbitrary headers and bodies to Verify, and checks that a delivery signed
// with the fuzzed id, timestamp and body verifies.
func FuzzVerify(f *testing.F) {
	now := time.Unix(1795775400, 0)
	v, err := NewVerifier([]string{fuzzSecret}, WithClock(func() time.Time { return now }))
	if err != nil {
		f.Fatal(err)
	}
	f.Add("msg_1", "1795775400", "v1,AAAA", "t=1795775400,s=00", []byte(`{"id":"1"}`), int64(0))
	f.Add("", "", "", "", []byte{}, int64(-400))
	f.Fuzz(func(t *testing.T, id, ts, sig, pd string, body []byte, skew int64) {
		hdr := http.Header{}
		for k, val := range map[string]string{HeaderWebhookID: id, HeaderWebhookTimestamp: ts, HeaderWebhookSignature: sig, HeaderSignature: pd} {
			if val != "" {
				hdr[k] = []string{val}
			}
		}
		if err := v.Verify(hdr, body); err != nil {
			oneSentinel(t, err)
		}
		if id == "" {
			return
		}
		signedAt := now.Unix() + skew%3600
		sh, err := Sign([]string{fuzzSecret}, id, signedAt, body)
		if err != nil {
			t.Fatal(err)
		}
		hdr = http.Header{}
		hdr[HeaderWebhookID] = []string{sh.WebhookID}
		hdr[HeaderWebhookTimestamp] = []string{sh.WebhookTimestamp}
		hdr[HeaderWebhookSignature] = []string{sh.WebhookSignature}
		hdr[HeaderSignature] = []string{sh.Promptd}
		err = v.Verify(hdr, body)
		within := skew%3600 >= -300 && skew%3600 <= 300
		if within != (err == nil) || (!within && !errors.Is(err, ErrStaleTimestamp)) {
			t.Fatalf("signed %ds off: Verify = %v", skew%3600, err)
		}
	})
}
