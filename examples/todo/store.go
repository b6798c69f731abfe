package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

var (
	bucketName    = []byte("region")
	bucketJournal = []byte("journal")
	keyRegion     = []byte("name")
	keySnapshot   = []byte("snapshot")
)

// store keeps a region's state in a bbolt file in its data directory: the
// region's name (so a directory cannot be opened as another region), the
// engine's latest snapshot, which holds every object, the ops not yet
// acknowledged by peers and how far each peer's ops were applied, and the
// journal of the local updates made since, in order.
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
		if _, err := tx.CreateBucketIfNotExists(bucketJournal); err != nil {
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

// load returns the saved snapshot, or nil if there is none yet, and the
// journal records appended since, oldest first.
func (s *store) load() (snap []byte, journal [][]byte, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketName).Get(keySnapshot); v != nil {
			snap = append([]byte(nil), v...)
		}
		return tx.Bucket(bucketJournal).ForEach(func(_, v []byte) error {
			journal = append(journal, append([]byte(nil), v...))
			return nil
		})
	})
	return snap, journal, err
}

// save replaces the snapshot and empties the journal (the snapshot holds
// all it held) in one transaction, synced to disk before it returns.
func (s *store) save(snap []byte) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(bucketJournal); err != nil {
			return err
		}
		if _, err := tx.CreateBucket(bucketJournal); err != nil {
			return err
		}
		return tx.Bucket(bucketName).Put(keySnapshot, snap)
	})
}

// appendRecord appends a journal record in one transaction, synced to disk
// before it returns.
func (s *store) appendRecord(rec []byte) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketJournal)
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		var key [8]byte
		binary.BigEndian.PutUint64(key[:], seq) // in order under ForEach
		return b.Put(key[:], rec)
	})
}

// close waits for a running transaction and closes the file.
func (s *store) close() error { return s.db.Close() }
