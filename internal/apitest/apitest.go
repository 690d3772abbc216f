// Package apitest sends the API requests of the tests that drive a running promptd from
// outside (the built binary, the examples): one authenticated JSON call, checked and decoded.
package apitest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// client bounds every call, so that a server that stops answering fails the test with the
// request that hung instead of timing out the whole package.
var client = &http.Client{Timeout: time.Minute}

// Call sends method url with "Authorization: Bearer key" and body (nil for none, a string
// as it is, anything else as JSON), fails the test unless the answer's status is want, and
// decodes the answer's JSON into out when out is not nil.
func Call(t testing.TB, key, method, url string, body any, want int, out any) {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, url, resp.StatusCode, want, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: decoding %s: %v", method, url, data, err)
		}
	}
}
