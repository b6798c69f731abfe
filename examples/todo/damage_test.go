package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/activeactive/crdt"
	bolt "go.etcd.io/bbolt"
)

// damagedDir makes a region's data directory with a few to-dos (in the
// snapshot and in the journal), stops the region like a crash, and returns
// the directory, the path of its bbolt file and the to-dos.
func damagedDir(t *testing.T) (dir, db string, want []Todo) {
	t.Helper()
	dir = t.TempDir()
	rg, err := startRegion(regionConfig{Name: east, DataDir: dir, Key: testKey(east)})
	if err != nil {
		t.Fatal(err)
	}
	base := rg.url
	for _, title := range []string{"one", "two", "three"} {
		want = append(want, createTodo(t, base, title))
	}
	rg.crash()
	return dir, filepath.Join(dir, "todo.db"), want
}

// fileMeta reads what the test needs of the newest valid meta page of a
// bbolt file (layout: a 16-byte page header; then magic, version, page
// size, flags as uint32; root page, sequence, freelist page, high-water
// page, txid as uint64, little-endian), and the page it is on.
func fileMeta(t *testing.T, b []byte) (page int, pageSize, root, freelist uint64) {
	t.Helper()
	le := binary.LittleEndian
	pageSize = uint64(le.Uint32(b[16+8:]))
	var txid [2]uint64
	for i := range 2 {
		txid[i] = le.Uint64(b[int(pageSize)*i+16+48:])
	}
	if txid[1] > txid[0] {
		page = 1
	}
	m := b[int(pageSize)*page+16:]
	return page, pageSize, le.Uint64(m[16:]), le.Uint64(m[32:])
}

func garbage(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// TestDamagedStoreIsAnErrorNotAPanic pins the crashes on a damaged bbolt
// file (a bad page or freelist panicked, random bytes were a fatal fault,
// a torn meta page silently went back one transaction): each is now an
// error, errDamaged, and the region does not start.
func TestDamagedStoreIsAnErrorNotAPanic(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(b []byte) []byte
		want   string
	}{
		{"bad root page", func(b []byte) []byte {
			_, ps, root, _ := fileMeta(t, b)
			copy(b[root*ps:(root+1)*ps], garbage(int(ps)))
			return b
		}, ""},
		{"bad freelist page", func(b []byte) []byte {
			_, ps, _, fl := fileMeta(t, b)
			copy(b[fl*ps:(fl+1)*ps], garbage(int(ps)))
			return b
		}, ""},
		{"freelist page id zeroed", func(b []byte) []byte {
			_, ps, _, fl := fileMeta(t, b)
			clear(b[fl*ps : fl*ps+16])
			return b
		}, ""},
		{"torn meta page", func(b []byte) []byte {
			page, ps, _, _ := fileMeta(t, b)
			off := uint64(page)*ps + 16 + 32
			copy(b[off:off+32], garbage(32))
			return b
		}, "-recover"},
		{"both meta pages", func(b []byte) []byte {
			_, ps, _, _ := fileMeta(t, b)
			copy(b[16:80], garbage(64))
			copy(b[ps+16:ps+80], garbage(64))
			return b
		}, "both its meta pages"},
		{"random bytes", func(b []byte) []byte { return garbage(len(b)) }, ""},
		{"cut short", func(b []byte) []byte {
			_, ps, _, _ := fileMeta(t, b)
			return b[:2*ps+ps/2]
		}, "cut short"},
		{"every page after the metas", func(b []byte) []byte {
			_, ps, _, _ := fileMeta(t, b)
			copy(b[2*ps:], garbage(len(b)-int(2*ps)))
			return b
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, db, _ := damagedDir(t)
			b, err := os.ReadFile(db)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(db, tc.damage(b), 0o600); err != nil {
				t.Fatal(err)
			}
			rg, err := startRegion(regionConfig{Name: east, DataDir: dir, Key: testKey(east)})
			if err == nil {
				rg.crash()
				t.Fatal("the region started on a damaged file")
			}
			if !errors.Is(err, errDamaged) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v; want errDamaged saying %q", err, tc.want)
			}
		})
	}
}

// TestTornMetaPageRecovers: with -recover, a torn meta page is accepted
// (bbolt goes back one transaction) and the region starts with the data
// of the transaction before.
func TestTornMetaPageRecovers(t *testing.T) {
	dir, db, want := damagedDir(t)
	b, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	page, ps, _, _ := fileMeta(t, b)
	off := uint64(page)*ps + 16 + 32
	copy(b[off:off+32], garbage(32))
	if err := os.WriteFile(db, b, 0o600); err != nil {
		t.Fatal(err)
	}
	rg, err := startRegion(regionConfig{Name: east, DataDir: dir, Key: testKey(east), Recover: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rg.crash()
	got := byID(listTodos(t, rg.url))
	// The last transaction was the last create's journal record.
	for _, td := range want[:len(want)-1] {
		if got[td.ID] != td {
			t.Errorf("%+v lost; have %+v", td, got)
		}
	}
}

// setJournal rewrites the journal record at index i (0-based, in order)
// with f's result.
func setJournal(t *testing.T, db string, i int, f func([]byte) []byte) int {
	t.Helper()
	d, err := bolt.Open(db, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	n := 0
	err = d.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketJournal)
		var keys [][]byte
		_ = b.ForEach(func(k, _ []byte) error { keys = append(keys, bytes.Clone(k)); return nil })
		n = len(keys)
		if i < 0 {
			i += n
		}
		return b.Put(keys[i], f(bytes.Clone(b.Get(keys[i]))))
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestTornJournalTail pins the region that could not start after a torn
// last journal record: it now says so and names -recover, which drops
// that record only (the earlier ones survive); a damaged record followed
// by others is refused even with -recover.
func TestTornJournalTail(t *testing.T) {
	dir, db, want := damagedDir(t)
	if n := setJournal(t, db, -1, func(b []byte) []byte { return b[:len(b)/2] }); n != len(want) {
		t.Fatalf("journal of %d records, want one per create (%d)", n, len(want))
	}
	cfg := regionConfig{Name: east, DataDir: dir, Key: testKey(east)}
	if _, err := startRegion(cfg); !errors.Is(err, errDamaged) || !strings.Contains(err.Error(), "-recover") {
		t.Fatalf("start on a torn journal: %v; want errDamaged naming -recover", err)
	}
	cfg.Recover = true
	rg, err := startRegion(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Items made within one millisecond list in random order (an ID's
	// tail is random), so compare by ID.
	got := listTodos(t, rg.url)
	rg.crash()
	have := byID(got)
	if len(got) != len(want)-1 || have[want[0].ID] != want[0] || have[want[1].ID] != want[1] {
		t.Fatalf("after -recover: %+v, want the first %d of %+v", got, len(want)-1, want)
	}
	// The journal was folded into a snapshot: the next start needs
	// nothing.
	cfg.Recover = false
	rg, err = startRegion(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rg.crash()

	dir, db, _ = damagedDir(t)
	setJournal(t, db, 0, func(b []byte) []byte { return b[:len(b)/2] })
	if _, err := startRegion(regionConfig{Name: east, DataDir: dir, Key: testKey(east), Recover: true}); !errors.Is(err, errDamaged) || !strings.Contains(err.Error(), "records follow it") {
		t.Fatalf("start on a journal damaged in the middle: %v", err)
	}
}

// TestDamagedStoreExitsWithAnError runs the program on a data directory
// whose bbolt freelist page is garbage (a panic inside bbolt before the
// checks): it exits with status 1 and a message naming the damage, not a
// panic's status 2 and stack trace.
func TestDamagedStoreExitsWithAnError(t *testing.T) {
	dir, db, _ := damagedDir(t)
	b, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	_, ps, _, fl := fileMeta(t, b)
	copy(b[fl*ps:(fl+1)*ps], garbage(int(ps)))
	if err := os.WriteFile(db, b, 0o600); err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-region", string(east), "-listen", "127.0.0.1:0", "-data", dir)
	cmd.Env = append(os.Environ(), "TODO_TEST_MAIN=1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("exit %v, want status 1; output:\n%s", err, out)
	}
	if s := string(out); !strings.Contains(s, errDamaged.Error()) || strings.Contains(s, "goroutine ") || strings.Contains(s, "panic:") {
		t.Fatalf("output does not name the damage, or shows a panic:\n%s", s)
	}
}

// TestJournalGap: a journal missing a record in the middle (a data
// directory put together from two backups, or edited) stops the region
// with an error that names -recover; with -recover the region starts with
// the records before the gap, and the items of the records from the gap
// on are not there (no peer holds them in this test).
func TestJournalGap(t *testing.T) {
	dir, db, want := damagedDir(t)
	d, err := bolt.Open(db, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = d.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketJournal)
		var keys [][]byte
		_ = b.ForEach(func(k, _ []byte) error { keys = append(keys, bytes.Clone(k)); return nil })
		if len(keys) != len(want) {
			return fmt.Errorf("journal of %d records, want one per create (%d)", len(keys), len(want))
		}
		return b.Delete(keys[1])
	})
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	cfg := regionConfig{Name: east, DataDir: dir, Key: testKey(east)}
	if _, err := startRegion(cfg); !errors.Is(err, errDamaged) || !errors.Is(err, crdt.ErrJournalGap) || !strings.Contains(err.Error(), "-recover") {
		t.Fatalf("start on a journal with a gap: %v; want errDamaged and ErrJournalGap, naming -recover", err)
	}
	cfg.Recover = true
	rg, err := startRegion(cfg)
	if err != nil {
		t.Fatal(err)
	}
	got := listTodos(t, rg.url)
	rg.crash()
	if len(got) != 1 || got[0] != want[0] {
		t.Fatalf("after -recover: %+v, want only the record before the gap: %+v", got, want[0])
	}
}
