package webhooks

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// sealedPrefix marks a signing secret stored encrypted (AES-256-GCM, the
// tenant's name as additional data, so a record copied to another tenant
// does not open).
const sealedPrefix = "sealed:v1:"

// ErrSealed is reading an encrypted secret without the key it was sealed
// with.
var ErrSealed = errors.New("webhooks: the signing secret is encrypted and the secrets key does not open it")

// ParseSecretsKey reads the key that encrypts signing secrets at rest: 32
// bytes in standard base64 (openssl rand -base64 32). Empty is no key.
func ParseSecretsKey(s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(key) != 32 {
		return nil, errors.New("the secrets key must be 32 bytes in base64 (openssl rand -base64 32)")
	}
	return key, nil
}

// NewSecretsKey is a random secrets key in the form ParseSecretsKey reads.
func NewSecretsKey() string {
	key := make([]byte, 32)
	_, _ = rand.Read(key) // crypto/rand.Read does not fail (Go 1.24+)
	return base64.StdEncoding.EncodeToString(key)
}

// sealer encrypts signing secrets for storage; a nil sealer keeps them in
// clear.
type sealer struct{ aead cipher.AEAD }

func newSealer(key []byte) (*sealer, error) {
	if key == nil {
		return nil, nil
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secrets key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secrets key: %w", err)
	}
	return &sealer{aead: aead}, nil
}

// seal is plain as stored: encrypted with a key, as it is without.
func (s *sealer) seal(tenant, plain string) (string, error) {
	if s == nil || plain == "" {
		return plain, nil
	}
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal secret: %w", err)
	}
	return sealedPrefix + base64.StdEncoding.EncodeToString(s.aead.Seal(nonce, nonce, []byte(plain), []byte(tenant))), nil
}

// open is a stored secret in clear: a sealed one opened with the key, one
// stored in clear (before a key was set) as it is.
func (s *sealer) open(tenant, stored string) (string, error) {
	b64, sealed := strings.CutPrefix(stored, sealedPrefix)
	if !sealed {
		return stored, nil
	}
	if s == nil {
		return "", fmt.Errorf("%w (none is set: --secrets-key)", ErrSealed)
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(raw) < s.aead.NonceSize() {
		return "", fmt.Errorf("%w: malformed", ErrSealed)
	}
	plain, err := s.aead.Open(nil, raw[:s.aead.NonceSize()], raw[s.aead.NonceSize():], []byte(tenant))
	if err != nil {
		return "", fmt.Errorf("%w: another key sealed it", ErrSealed)
	}
	return string(plain), nil
}
