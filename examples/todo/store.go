package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

var (
	bucketName  = []byte("region")
	keyRegion   = []byte("name")
	keySnapshot = []byte("snapshot")
)

// store keeps a region's state in a bbolt file in its data directory: the
// region's name (so a directory cannot be opened as another region) and the
// engine's latest snapshot, which holds every object, the ops not yet
// acknowledged by peers and how far each peer's ops were applied.
type store struct {
	db *bolt.DB
}

// openStore opens (creating if needed) the store of region in dir.
func openStore(dir, region string) (*store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	path := filepath.Join(dir, "todo.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("%s is in use by another process", path)
		}
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketName)
		if err != nil {
			return err
		}
		switch got := b.Get(keyRegion); {
		case got == nil:
			return b.Put(keyRegion, []byte(region))
		case string(got) != region:
			return fmt.Errorf("%s holds region %q, not %q", path, got, region)
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return &store{db: db}, nil
}

// load returns the saved snapshot, or nil if there is none yet.
func (s *store) load() ([]byte, error) {
	var snap []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketName).Get(keySnapshot); v != nil {
			snap = append([]byte(nil), v...)
		}
		return nil
	})
	return snap, err
}

// save replaces the snapshot in one transaction, synced to disk before it
// returns.
func (s *store) save(snap []byte) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketName).Put(keySnapshot, snap)
	})
}

// close waits for a running transaction and closes the file.
func (s *store) close() error { return s.db.Close() }
