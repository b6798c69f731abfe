package main

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestStore(t *testing.T) {
	dir := t.TempDir()
	s, err := openStore(dir, "us-east-1", false)
	if err != nil {
		t.Fatal(err)
	}
	if snap, journal, err := s.load(); err != nil || snap != nil || journal != nil {
		t.Fatalf("fresh store: %q, %q, %v", snap, journal, err)
	}
	for _, want := range [][]byte{[]byte("first"), []byte("second, longer")} {
		// Records appended before a snapshot are emptied by it.
		if err := s.appendRecord([]byte("old record")); err != nil {
			t.Fatal(err)
		}
		if err := s.save(want); err != nil {
			t.Fatal(err)
		}
		if got, journal, err := s.load(); err != nil || !bytes.Equal(got, want) || journal != nil {
			t.Fatalf("load: %q, %q, %v; want %q and no journal", got, journal, err, want)
		}
	}
	// Records come back in the order appended, past 255 (keys sort as
	// numbers).
	var records [][]byte
	for i := range 300 {
		rec := []byte(fmt.Sprintf("record %d", i))
		if err := s.appendRecord(rec); err != nil {
			t.Fatal(err)
		}
		records = append(records, rec)
	}
	if _, journal, err := s.load(); err != nil || !slices.EqualFunc(journal, records, bytes.Equal) {
		t.Fatalf("journal of %d records, %v; want the 300 appended, in order", len(journal), err)
	}
	if err := s.close(); err != nil {
		t.Fatal(err)
	}

	// The directory belongs to us-east-1.
	if _, err := openStore(dir, "eu-west-1", false); err == nil || !strings.Contains(err.Error(), `holds region "us-east-1"`) {
		t.Fatalf("opened as another region: %v", err)
	}
	s, err = openStore(dir, "us-east-1", false)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if got, journal, err := s.load(); err != nil || string(got) != "second, longer" || len(journal) != 300 {
		t.Fatalf("after reopening: %q, %d records, %v", got, len(journal), err)
	}
}

// Accident: an operator starts a second copy of a region on the data
// directory of one that is running (two services, one volume). The second
// is refused with a clear error, and the first goes on, its data intact.
func TestDiskAccidentSecondCopyOnOneDataDir(t *testing.T) {
	dir := t.TempDir()
	first, err := openStore(dir, "us-east-1", false)
	if err != nil {
		t.Fatal(err)
	}
	defer first.close()
	if err := first.save([]byte("snapshot")); err != nil {
		t.Fatal(err)
	}
	second, err := openStoreWaiting(dir, "us-east-1", false, 50*time.Millisecond)
	if err == nil {
		second.close()
		t.Fatal("a second copy opened the data directory of a running region")
	}
	if !strings.Contains(err.Error(), "in use by another process") {
		t.Fatalf("second copy: %v, want an error saying the store is in use", err)
	}
	if err := first.appendRecord([]byte("record")); err != nil {
		t.Fatal(err)
	}
	if snap, journal, err := first.load(); err != nil || string(snap) != "snapshot" || len(journal) != 1 {
		t.Fatalf("the running region's store after the refused copy: %q, %d records, %v", snap, len(journal), err)
	}
}
