// Package secretbox encrypts what promptd keeps secret at rest (webhook secrets, custom
// header values, integration tokens) with AES-256-GCM under a master key.
package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KeySize is the master key's length in bytes.
const KeySize = 32

// version prefixes every sealed value so that the format can evolve.
const version byte = 1

// Box seals and opens values with one master key. It is safe for concurrent use.
type Box struct{ aead cipher.AEAD }

// New returns a Box for a KeySize-byte key.
func New(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("secretbox: the master key must be %d bytes, got %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secretbox: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secretbox: %w", err)
	}
	return &Box{aead: aead}, nil
}

// Seal encrypts plain: version byte, random nonce, ciphertext and tag.
func (b *Box) Seal(plain []byte) ([]byte, error) {
	out := make([]byte, 1+b.aead.NonceSize(), 1+b.aead.NonceSize()+len(plain)+b.aead.Overhead())
	out[0] = version
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("secretbox: nonce: %w", err)
	}
	return b.aead.Seal(out, out[1:], plain, nil), nil
}

// ErrOpen is returned for a value that was not sealed with this key or was altered.
var ErrOpen = errors.New("secretbox: cannot decrypt: wrong master key or damaged value")

// Open decrypts a value made by Seal.
func (b *Box) Open(sealed []byte) ([]byte, error) {
	n := b.aead.NonceSize()
	if len(sealed) < 1+n+b.aead.Overhead() || sealed[0] != version {
		return nil, ErrOpen
	}
	plain, err := b.aead.Open(nil, sealed[1:1+n], sealed[1+n:], nil)
	if err != nil {
		return nil, ErrOpen
	}
	return plain, nil
}

// KeyFileName is the master key file created in the data directory when
// PROMPTD_MASTER_KEY is not set.
const KeyFileName = "master.key"

// LoadKey returns the master key: parsed from envValue (PROMPTD_MASTER_KEY: 64 hex digits or
// the base64 of 32 bytes) when it is set, otherwise read from dataDir/master.key, which is
// created with mode 0600 on first use. source says where the key came from.
func LoadKey(envValue, dataDir string) (key []byte, source string, err error) {
	if envValue != "" {
		key, err := ParseKey(envValue)
		if err != nil {
			return nil, "", fmt.Errorf("PROMPTD_MASTER_KEY: %w", err)
		}
		return key, "PROMPTD_MASTER_KEY", nil
	}
	path := filepath.Join(dataDir, KeyFileName)
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key := make([]byte, KeySize)
		if _, err := rand.Read(key); err != nil {
			return nil, "", fmt.Errorf("generating a master key: %w", err)
		}
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return nil, "", fmt.Errorf("creating %s: %w", dataDir, err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			return LoadKey("", dataDir) // another process created it first
		}
		if err != nil {
			return nil, "", fmt.Errorf("creating %s: %w", path, err)
		}
		_, werr := f.WriteString(hex.EncodeToString(key) + "\n")
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return nil, "", fmt.Errorf("writing %s: %w", path, werr)
		}
		return key, path + " (new)", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("reading the master key: %w", err)
	}
	key, err = ParseKey(strings.TrimSpace(string(raw)))
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", path, err)
	}
	return key, path, nil
}

// ParseKey parses a master key written as 64 hex digits or as the base64 of 32 bytes.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if k, err := hex.DecodeString(s); err == nil && len(k) == KeySize {
		return k, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil && len(k) == KeySize {
			return k, nil
		}
	}
	return nil, fmt.Errorf("a master key is 64 hex digits or the base64 of %d bytes (try: openssl rand -hex 32)", KeySize)
}
