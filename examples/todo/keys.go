package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// keyFile is the name of a region's private key in its data directory.
const keyFile = "region.key"

// loadOrCreateKey returns the region's private key, kept in dir as the hex
// of its 32-byte Ed25519 seed, creating it (readable by its owner only) on
// first use.
func loadOrCreateKey(dir string) (ed25519.PrivateKey, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	path := filepath.Join(dir, keyFile)
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		seed := make([]byte, ed25519.SeedSize)
		_, _ = rand.Read(seed) // crypto/rand.Read never fails
		nf, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("creating the region's key: %w", err)
		}
		_, err = nf.WriteString(hex.EncodeToString(seed) + "\n")
		if err == nil {
			err = nf.Sync()
		}
		if cerr := nf.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			_ = os.Remove(path)
			return nil, fmt.Errorf("creating the region's key: %w", err)
		}
		return ed25519.NewKeyFromSeed(seed), nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the region's key: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 2*ed25519.SeedSize+2))
	if err != nil {
		return nil, fmt.Errorf("reading the region's key: %w", err)
	}
	seed, err := hex.DecodeString(string(bytes.TrimSpace(b)))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("%s is not a region key (%d hex digits expected)", path, 2*ed25519.SeedSize)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// publicKeyHex formats a region's public key for -peer-key.
func publicKeyHex(k ed25519.PrivateKey) string {
	return hex.EncodeToString(k.Public().(ed25519.PublicKey))
}

// parsePublicKey reads a public key given to -peer-key.
func parsePublicKey(s string) (ed25519.PublicKey, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%q is not a public key (%d hex digits, as -print-key shows)", s, 2*ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}
