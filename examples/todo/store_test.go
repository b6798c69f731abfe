package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestStore(t *testing.T) {
	dir := t.TempDir()
	s, err := openStore(dir, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	if snap, err := s.load(); err != nil || snap != nil {
		t.Fatalf("fresh store: %q, %v", snap, err)
	}
	for _, want := range [][]byte{[]byte("first"), []byte("second, longer")} {
		if err := s.save(want); err != nil {
			t.Fatal(err)
		}
		if got, err := s.load(); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("load: %q, %v; want %q", got, err, want)
		}
	}
	if err := s.close(); err != nil {
		t.Fatal(err)
	}

	// The directory belongs to us-east-1.
	if _, err := openStore(dir, "eu-west-1"); err == nil || !strings.Contains(err.Error(), `holds region "us-east-1"`) {
		t.Fatalf("opened as another region: %v", err)
	}
	s, err = openStore(dir, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if got, err := s.load(); err != nil || string(got) != "second, longer" {
		t.Fatalf("after reopening: %q, %v", got, err)
	}
}
