package secretbox_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/promptd/promptd/internal/secretbox"
)

func TestSealOpen(t *testing.T) {
	t.Parallel()
	key := bytes.Repeat([]byte{7}, 32)
	box, err := secretbox.New(key)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := box.Seal([]byte("whsec_abc"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("whsec_abc")) {
		t.Fatal("sealed value contains the plaintext")
	}
	again, _ := box.Seal([]byte("whsec_abc"))
	if bytes.Equal(sealed, again) {
		t.Fatal("two seals of one value are equal: the nonce is not random")
	}
	plain, err := box.Open(sealed)
	if err != nil || string(plain) != "whsec_abc" {
		t.Fatalf("Open = %q, %v", plain, err)
	}
	sealed[len(sealed)-1] ^= 1
	if _, err := box.Open(sealed); !errors.Is(err, secretbox.ErrOpen) {
		t.Fatalf("tampered value: err = %v", err)
	}
	other, _ := secretbox.New(bytes.Repeat([]byte{8}, 32))
	if _, err := other.Open(again); !errors.Is(err, secretbox.ErrOpen) {
		t.Fatalf("wrong key: err = %v", err)
	}
	if _, err := secretbox.New([]byte("short")); err == nil {
		t.Fatal("a short key was accepted")
	}
}

func TestLoadKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	k1, src, err := secretbox.LoadKey("", dir)
	if err != nil || len(k1) != 32 || !strings.HasSuffix(src, "(new)") {
		t.Fatalf("first load: %d bytes from %q, %v", len(k1), src, err)
	}
	info, err := os.Stat(filepath.Join(dir, secretbox.KeyFileName))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode = %v, %v; want 0600", info.Mode(), err)
	}
	k2, _, err := secretbox.LoadKey("", dir)
	if err != nil || !bytes.Equal(k1, k2) {
		t.Fatal("second load returned another key")
	}
	hexKey := strings.Repeat("ab", 32)
	k3, src, err := secretbox.LoadKey(hexKey, dir)
	if err != nil || src != "PROMPTD_MASTER_KEY" || k3[0] != 0xab {
		t.Fatalf("env key: %v %q", err, src)
	}
	if _, _, err := secretbox.LoadKey("too-short", dir); err == nil || !strings.Contains(err.Error(), "PROMPTD_MASTER_KEY") {
		t.Fatalf("bad env key: err = %v", err)
	}
}
