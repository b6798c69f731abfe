package crdt

import (
	"context"
	"fmt"
	"testing"

	"github.com/activeactive/crdt/internal/costcheck"
	"github.com/activeactive/crdt/vclock"
)

// TestLedgerEntryCostsItsFinals: installing a ledger entry went through
// every object of the replica, in a list sorted anew for each entry, to
// find the objects the entry names: a message of 64 small entries (a
// member's list of leavings, or of writers that never wrote here) made a
// replica of 4,000 objects sort its object table 64 times, about 4 MB
// allocated for a message of 700 bytes. An entry now costs what its
// finals name.
func TestLedgerEntryCostsItsFinals(t *testing.T) {
	r := replicaWithPeer(t, "a", "m")
	for i := range 4000 {
		if _, err := Register(r, fmt.Sprintf("object-%04d", i), &stubObject{version: []byte{1}}); err != nil {
			t.Fatal(err)
		}
	}
	sec := &retireSection{Sum: 0x5eed}
	for i := range maxLedgerEntries {
		e := retireEntry{From: "m"} // m's leaving
		if i%2 == 1 {
			e = retireEntry{From: vclock.Writer("m", uint64(i)), Finals: []objFinal{{"no-such-object", 1}}}
		}
		sec.Entries = append(sec.Entries, ledgerEntry{"m", uint64(i), e})
	}
	msg, err := (&envelope{From: "m", To: "a", Incarnation: 1, Retire: sec}).encode()
	if err != nil {
		t.Fatal(err)
	}
	got := costcheck.Allocated(func() { _ = r.Receive(context.Background(), "m", msg) })
	if n := ledgerLen(r, "m"); n != maxLedgerEntries {
		t.Fatalf("%d entries installed, want %d", n, maxLedgerEntries)
	}
	if limit := uint64(costcheck.AllocPerByte*len(msg) + 64<<10); !costcheck.Race && got > limit {
		t.Errorf("a message of %d entries in %d bytes allocated %d bytes, more than %d", maxLedgerEntries, len(msg), got, limit)
	}
}
