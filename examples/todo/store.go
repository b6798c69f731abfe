package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
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
// journal of the updates made since, in order: the engine's records of
// local updates and the region's records of what peers changed (see
// remoteMagic).
type store struct {
	db *bolt.DB
}

// errDamaged marks a data directory whose store is damaged: the region
// refuses to start rather than crash or silently lose writes.
var errDamaged = errors.New("damaged data")

// openStore opens (creating if needed) the store of region in dir. A
// damaged file is refused with errDamaged, never a panic: both meta pages
// are checked first (a bad one would make bbolt fall back to the previous
// transaction without a word, losing the last write: allowed only with
// acceptRollback, after a crash that tore it), bbolt opens it under
// guarded (its own consistency checks panic), and the whole file is
// walked with Tx.Check before anything is read.
func openStore(dir, region string, acceptRollback bool) (*store, error) {
	return openStoreWaiting(dir, region, acceptRollback, storeLockWait)
}

// storeLockWait is how long openStore waits for another process to let go
// of the store before it gives up.
const storeLockWait = 2 * time.Second

// openStoreWaiting is openStore waiting at most wait for the store's lock.
func openStoreWaiting(dir, region string, acceptRollback bool, wait time.Duration) (*store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	path := filepath.Join(dir, "todo.db")
	if err := checkMetaPages(path, acceptRollback); err != nil {
		return nil, err
	}
	var db *bolt.DB
	err := guarded(path, func() (err error) {
		db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: wait})
		return err
	})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("%s is in use by another process", path)
		}
		if errors.Is(err, errDamaged) {
			return nil, err
		}
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	if err := checkDB(db, path); err != nil {
		_ = db.Close()
		return nil, err
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
	err = guarded(s.db.Path(), func() error {
		return s.db.View(func(tx *bolt.Tx) error {
			if v := tx.Bucket(bucketName).Get(keySnapshot); v != nil {
				snap = append([]byte(nil), v...)
			}
			return tx.Bucket(bucketJournal).ForEach(func(_, v []byte) error {
				journal = append(journal, append([]byte(nil), v...))
				return nil
			})
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

// guarded runs f, which reads a bbolt file, turning a panic, or a memory
// fault on a mapping of the file, into an errDamaged error. It is the last
// line of defence: checkMetaPages and Tx.Check refuse damage before
// anything else reads the file, but bbolt's own checks panic while
// opening it (a bad freelist page, say), and a damaged file can make it
// read past its mapping. A panic in bbolt can leave the file locked in
// this process; the program exits on that error anyway.
func guarded(path string, f func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %s: %v (restore the data directory from a backup, or remove it and let the region catch up from its peers)", errDamaged, path, p)
		}
	}()
	return f()
}

// checkDB walks the whole file with bbolt's consistency check.
func checkDB(db *bolt.DB, path string) error {
	var first error
	n := 0
	err := guarded(path, func() error {
		return db.View(func(tx *bolt.Tx) error {
			for err := range tx.Check() {
				if first == nil {
					first = err
				}
				n++
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	if first != nil {
		return fmt.Errorf("%w: %s fails its consistency check (%d problems; first: %v); restore the data directory from a backup, or remove it and let the region catch up from its peers", errDamaged, path, n, first)
	}
	return nil
}

// The layout of a bbolt meta page (bbolt's internal/common): a 16-byte page
// header, then magic, version, page size, flags (4 bytes each), the root
// bucket (root page, sequence), the freelist page, the high-water page
// id, the transaction id, and an FNV-64a checksum of the meta before it,
// all in the machine's byte order (little-endian here).
const (
	boltMagic       = 0xED0CDAED
	boltVersion     = 2
	metaOffset      = 16
	metaChecksumOff = metaOffset + 56
	metaSize        = 64
)

// boltMeta is what checkMetaPages reads of a meta page.
type boltMeta struct {
	pageSize uint32
	pgid     uint64 // pages in use (the high-water mark)
	txid     uint64
}

// parseMeta reads the meta page at the start of b, or says why not.
func parseMeta(b []byte) (boltMeta, error) {
	if len(b) < metaOffset+metaSize {
		return boltMeta{}, errors.New("truncated")
	}
	m := b[metaOffset : metaOffset+metaSize]
	le := binary.LittleEndian
	switch {
	case le.Uint32(m[0:]) != boltMagic:
		return boltMeta{}, errors.New("bad magic number")
	case le.Uint32(m[4:]) != boltVersion:
		return boltMeta{}, fmt.Errorf("unknown version %d", le.Uint32(m[4:]))
	}
	h := fnv.New64a()
	h.Write(m[:metaChecksumOff-metaOffset])
	if h.Sum64() != le.Uint64(b[metaChecksumOff:]) {
		return boltMeta{}, errors.New("bad checksum")
	}
	meta := boltMeta{pageSize: le.Uint32(m[8:]), pgid: le.Uint64(m[40:]), txid: le.Uint64(m[48:])}
	if meta.pageSize < 1024 || meta.pageSize > 64<<10 || meta.pageSize&(meta.pageSize-1) != 0 {
		return boltMeta{}, fmt.Errorf("page size %d", meta.pageSize)
	}
	return meta, nil
}

// checkMetaPages checks both meta pages of the bbolt file at path (if it
// exists and is not empty): each must be valid, and the file must hold
// every page they count. If only one is valid, bbolt would open the file
// at the other's transaction, silently dropping the last one written, so
// that is refused unless acceptRollback (-recover).
func checkMetaPages(path string, acceptRollback bool) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	if size == 0 {
		return nil
	}
	head := make([]byte, min(size, 2*(64<<10)))
	if _, err := io.ReadFull(f, head); err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	m0, err0 := parseMeta(head)
	var m1 boltMeta
	err1 := errors.New("no page size to find it by")
	if err0 == nil {
		m1, err1 = parseMeta(head[min(int(m0.pageSize), len(head)):])
	} else {
		// Find the second meta page at the page sizes bbolt uses.
		for ps := 1024; ps <= 64<<10 && ps < len(head); ps *= 2 {
			if m1, err1 = parseMeta(head[ps:]); err1 == nil && int(m1.pageSize) == ps {
				break
			}
		}
	}
	var use boltMeta
	switch {
	case err0 != nil && err1 != nil:
		return fmt.Errorf("%w: %s is not a bbolt file, or both its meta pages are damaged (page 0: %v; page 1: %v); restore the data directory from a backup", errDamaged, path, err0, err1)
	case err0 != nil || err1 != nil:
		bad, good, why := 0, m1, err0
		if err1 != nil {
			bad, good, why = 1, m0, err1
		}
		if !acceptRollback {
			return fmt.Errorf("%w: %s: meta page %d is damaged (%v): bbolt would go back to transaction %d and drop the last write without a word. If the process crashed while writing, that write was never acknowledged: start with -recover to accept it. Otherwise restore the data directory from a backup", errDamaged, path, bad, why, good.txid)
		}
		use = good
	default:
		use = m0
		if m1.txid > m0.txid {
			use = m1
		}
	}
	if need := int64(use.pgid) * int64(use.pageSize); use.pgid < 2 || need > size {
		return fmt.Errorf("%w: %s is cut short: %d bytes, its meta page counts %d pages of %d", errDamaged, path, size, use.pgid, use.pageSize)
	}
	return nil
}
