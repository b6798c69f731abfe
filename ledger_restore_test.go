package crdt

import (
	"strings"
	"testing"

	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/vclock"
)

// listBytes returns the encoding of a ledger's one list, without the
// frame's header and the array's.
func listBytes(t *testing.T, l *ledger) []byte {
	t.Helper()
	w := codec.NewWriter(codec.KindSnapshotSealed, 64)
	l.encode(w)
	b, err := w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return b[4:] // a 3-byte frame header, a 1-byte array header
}

// decodeLists decodes a ledger made of the lists given, as a snapshot
// holds them.
func decodeLists(t *testing.T, lists ...[]byte) (ledger, error) {
	t.Helper()
	w := codec.NewWriter(codec.KindSnapshotSealed, 64)
	w.Array(len(lists))
	b, err := w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lists {
		b = append(b, l...)
	}
	return decodeLedger(codec.NewReader(b, codec.KindSnapshotSealed, codec.Limits{MaxBytes: len(b)}))
}

// TestSavedLedgerWithARepeatedNameRefused: a snapshot whose ledger names
// one list twice (written by a faulty tool, or spliced from two
// snapshots) was restored with the second list's entries appended to
// the first's, and the ledger's sum counting the list once per
// occurrence: a sum no peer's ledger has, so that every message between
// the replica and its peers was set aside (LedgerWaits) for good, and
// they never exchanged data again. Such a ledger is refused, with an
// error that names the list.
func TestSavedLedgerWithARepeatedNameRefused(t *testing.T) {
	var l1, l2 ledger
	l1.list("a").add(retireEntry{From: vclock.Writer("a", 5), Finals: []objFinal{{"s", 1}}})
	l2.list("a").add(retireEntry{From: vclock.Writer("a", 6), Finals: []objFinal{{"s", 2}}})
	got, err := decodeLists(t, listBytes(t, &l1), listBytes(t, &l2))
	if err == nil {
		var both ledger
		both.list("a").add(l1.lists["a"].entries[0])
		both.list("a").add(l2.lists["a"].entries[0])
		both.sum = listSum("a", both.lists["a"])
		t.Fatalf("a ledger naming list a twice restored: %d entries, sum %x; the same entries in one list sum to %x",
			len(got.lists["a"].entries), got.sum, both.sum)
	}
	if !strings.Contains(err.Error(), `"a"`) {
		t.Errorf("the error does not name the list: %v", err)
	}
}

// TestSavedLedgerRetiringAWriterTwiceSaysSo: a list whose entries retire
// one writer twice is refused with an error that says so (it read
// `ledger of "a": <nil>`).
func TestSavedLedgerRetiringAWriterTwiceSaysSo(t *testing.T) {
	var l ledger
	e := retireEntry{From: vclock.Writer("a", 5), Finals: []objFinal{{"s", 1}}}
	l.list("a").add(e)
	l.list("a").add(e)
	_, err := decodeLists(t, listBytes(t, &l))
	if err == nil || strings.Contains(err.Error(), "<nil>") || !strings.Contains(err.Error(), string(e.From)) {
		t.Fatalf("a list retiring %s twice: %v", e.From, err)
	}
}
