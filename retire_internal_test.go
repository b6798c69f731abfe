package crdt

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/orset"
	"github.com/activeactive/crdt/vclock"
	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"
)

// retiringEnvelope is a message carrying every part of a retirement
// section.
func retiringEnvelope() *envelope {
	e := &envelope{From: "us-east-1", To: "eu-west-1", Incarnation: 7}
	entry := retireEntry{From: "us-east-1!5", Heir: "us-east-1!9", Finals: []objFinal{{"cart", 3}, {"todos", 40}}}
	e.Retire = &retireSection{
		Sum:     0x5eed,
		Lens:    []nameLen{{"eu-west-1", 2, 0xfeed}, {"us-east-1", 1, 0xbeef}},
		Entries: []ledgerEntry{{"us-east-1", 0, entry}},
		Proposals: []proposalMsg{
			{Name: "us-east-1", Index: 1, B: ballot{7, 9, "us-east-1"}, Cand: "us-east-1!6"},
			{Name: "ap-south-1", Index: 0, B: ballot{7, 9, "us-east-1"}, Accept: &retireEntry{From: "ap-south-1!2", Finals: []objFinal{{"todos", 1}}}},
		},
		Promises:  []promiseMsg{{Name: "eu-west-1", Index: 2, B: ballot{3, 4, "eu-west-1"}, Counts: []objFinal{{"todos", 12}}, Members: 0x1234}},
		Accepteds: []acceptedMsg{{Name: "eu-west-1", Index: 2, B: ballot{3, 4, "eu-west-1"}}},
	}
	return e
}

func TestRetireSectionGolden(t *testing.T) {
	b, err := retiringEnvelope().encode()
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "envelope_retire.golden", b)
	// The section ends the message, before the checksum: the summary of
	// two lists (eu-west-1 of length 2, hash 0xfeed as cd fe ed).
	if !bytes.Contains(b, []byte{0xa9, 'e', 'u', '-', 'w', 'e', 's', 't', '-', '1', 0x02, 0xcd, 0xfe, 0xed}) {
		t.Fatalf("no ledger summary in % x", b)
	}
}

func TestRetireSectionRoundTrip(t *testing.T) {
	e := retiringEnvelope()
	b, err := e.encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeEnvelope(b, codec.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	opts := cmp.AllowUnexported(envelope{}, retireSection{}, retireEntry{}, ballot{}, promiseMsg{}, proposalMsg{}, acceptedMsg{}, ledgerEntry{}, nameLen{}, objFinal{})
	if d := cmp.Diff(e, got, opts); d != "" {
		t.Fatalf("round trip (-sent +received):\n%s", d)
	}
	refusesTruncation(t, e)
	// In a broadcast, only the summary may travel.
	bc := broadcastEnvelope()
	bc.Retire = e.Retire
	b, err = bc.encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decodeEnvelope(b, codec.Limits{}); err == nil {
		t.Fatal("a broadcast carrying proposals was accepted")
	}
	bc.Retire = &retireSection{Sum: e.Retire.Sum, Lens: e.Retire.Lens}
	if b, err = bc.encode(); err != nil {
		t.Fatal(err)
	}
	if _, err := decodeEnvelope(b, codec.Limits{}); err != nil {
		t.Fatalf("a broadcast carrying the ledger's summary: %v", err)
	}
}

// size must bound the encoding, or a message could outgrow
// MaxMessageBytes.
func TestRetireSectionSizeBound(t *testing.T) {
	str := rapid.StringMatching(`[a-z0-9!-]{0,40}`)
	name := func(t *rapid.T, l string) ReplicaID { return ReplicaID(str.Draw(t, l)) }
	u := rapid.Uint64()
	entry := func(t *rapid.T) retireEntry {
		e := retireEntry{From: name(t, "from"), Heir: name(t, "heir")}
		for range rapid.IntRange(0, 5).Draw(t, "finals") {
			e.Finals = append(e.Finals, objFinal{str.Draw(t, "obj"), u.Draw(t, "final")})
		}
		return e
	}
	bal := func(t *rapid.T) ballot { return ballot{u.Draw(t, "inc"), u.Draw(t, "epoch"), name(t, "by")} }
	rapid.Check(t, func(t *rapid.T) {
		s := &retireSection{Sum: u.Draw(t, "sum")}
		for range rapid.IntRange(0, 4).Draw(t, "lens") {
			s.Lens = append(s.Lens, nameLen{name(t, "name"), u.Draw(t, "len"), u.Draw(t, "hash")})
		}
		for range rapid.IntRange(0, 4).Draw(t, "entries") {
			s.Entries = append(s.Entries, ledgerEntry{name(t, "name"), u.Draw(t, "index"), entry(t)})
		}
		for range rapid.IntRange(0, 4).Draw(t, "proposals") {
			m := proposalMsg{Name: name(t, "name"), Index: u.Draw(t, "index"), B: bal(t), Cand: name(t, "cand")}
			if rapid.Bool().Draw(t, "accept") {
				e := entry(t)
				m.Accept = &e
			}
			s.Proposals = append(s.Proposals, m)
		}
		for range rapid.IntRange(0, 4).Draw(t, "promises") {
			s.Promises = append(s.Promises, promiseMsg{Name: name(t, "name"), Index: u.Draw(t, "index"), B: bal(t), AccB: bal(t),
				Value: entry(t), Counts: entry(t).Finals, Members: u.Draw(t, "members")})
		}
		for range rapid.IntRange(0, 4).Draw(t, "accepteds") {
			s.Accepteds = append(s.Accepteds, acceptedMsg{Name: name(t, "name"), Index: u.Draw(t, "index"), B: bal(t)})
		}
		w := codec.NewWriter(codec.KindEngineSealed, 64)
		before := len(mustBytes(t, w))
		w = codec.NewWriter(codec.KindEngineSealed, 64)
		s.encode(w)
		if got := len(mustBytes(t, w)) - before; got > s.size() {
			t.Fatalf("section of %d bytes, size says at most %d", got, s.size())
		}
	})
}

func mustBytes(t *rapid.T, w *codec.Writer) []byte {
	b, err := w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// replicaWithPeer returns replica id, which sends nothing, with peer
// added.
func replicaWithPeer(t *testing.T, id, peer ReplicaID) *Replica {
	t.Helper()
	r, err := NewReplica(Config{ID: id, Transport: nopTransport{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.AddPeer(peer); err != nil {
		t.Fatal(err)
	}
	return r
}

// A peer cannot make a replica keep a list per name it makes up: beyond
// maxLedgerNames, proposals and entries for new names are ignored.
func TestLedgerNamesBounded(t *testing.T) {
	r := replicaWithPeer(t, "a", "b")
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.peers["b"]
	for i := range maxLedgerNames + 100 {
		name := ReplicaID(fmt.Sprintf("gone-%05d", i)) // no member: "b" may propose for it
		sec := &retireSection{
			Proposals: []proposalMsg{{Name: name, B: ballot{7, 1, "b"}, Cand: vclock.Writer(name, 3)}},
			Entries:   []ledgerEntry{{Name: name + "x", Entry: retireEntry{From: vclock.Writer(name+"x", 2)}}},
		}
		r.retireIn(p, sec, 7)
	}
	if n := len(r.led.lists); n > maxLedgerNames {
		t.Fatalf("%d lists kept, limit %d", n, maxLedgerNames)
	}
	if n := len(r.led.lists); n < maxLedgerNames {
		t.Fatalf("%d lists kept: the limit refused proposals below it", n)
	}
}

// TestRetirementRenamesReportedVersions: the versions a peer reported
// before it restarted (peer.reported) keep guarding against its return
// from an older backup after a writer is retired: renamed as the objects
// were, not forgotten (they were dropped, and a host's collector that
// keeps no record of its own was then open to a removed element coming
// back). An object the retirement did not rename keeps its version as it
// was.
func TestRetirementRenamesReportedVersions(t *testing.T) {
	r := replicaWithPeer(t, "a", "b")
	if _, err := Register(r, "set", orset.New[string]("a")); err != nil {
		t.Fatal(err)
	}
	if _, err := Register(r, "other", orset.New[string]("a")); err != nil {
		t.Fatal(err)
	}
	from := vclock.Writer("b", 5)
	var v vclock.Clock
	v.Set(from, 3)
	v.Set(vclock.Writer("c", 2), 7)
	enc := func(c vclock.Clock) []byte {
		b, err := c.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.peers["b"]
	p.report("set", enc(v), r.limit)
	p.report("other", enc(v), r.limit)
	r.installEntry("b", retireEntry{From: from, Finals: []objFinal{{"set", 3}}})

	var want vclock.Clock
	want.Set(vclock.Retired("b"), 3)
	want.Set(vclock.Writer("c", 2), 7)
	for name, w := range map[string]vclock.Clock{"set": want, "other": v} {
		b, ok := p.reported[name]
		if !ok {
			t.Fatalf("the version %s reported before its restart was dropped", name)
		}
		got, err := vclock.UnmarshalClock(b, r.limit)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Equal(w) {
			t.Errorf("%s: reported %v after the retirement, want %v", name, got, w)
		}
	}
}

// TestLeavingRefusedWhileAWriterIsHeld: a member asked to agree that a
// removed replica has left answers with the counts of a writer of it that
// it still holds (which the proposer, holding none, does not match, so the
// leaving is not agreed), and with no counts once it holds none.
func TestLeavingRefusedWhileAWriterIsHeld(t *testing.T) {
	for _, holds := range []bool{false, true} {
		r := replicaWithPeer(t, "b", "a")
		s := orset.New[string](vclock.Writer("c", 5))
		if holds {
			s.Add("x") // a write of removed replica c that reached b
		}
		if _, err := Register(r, "set", s); err != nil {
			t.Fatal(err)
		}
		r.mu.Lock()
		p := r.peers["a"]
		sec := &retireSection{Proposals: []proposalMsg{{Name: "c", Index: 0, B: ballot{1, 1, "a"}, Cand: "c"}}}
		r.retireIn(p, sec, 0)
		env := &envelope{} // the promise as it is sent: its counts are read then
		r.retireOut(p, env, 1<<20)
		r.mu.Unlock()
		if env.Retire == nil || len(env.Retire.Promises) != 1 {
			t.Fatalf("holds %v: no promise for the leaving of c", holds)
		}
		pm := env.Retire.Promises[0]
		if got := len(pm.Counts) > 0; got != holds {
			t.Errorf("holds %v: promise with counts %v", holds, pm.Counts)
		}
	}
}

// TestLeavingProposedByAnyMemberHoldingIt: a member that holds a removed
// replica back proposes that it has left, though it is not the group's
// first by name, and one that does not hold it back does not.
func TestLeavingProposedByAnyMemberHoldingIt(t *testing.T) {
	for _, holds := range []bool{false, true} {
		r := replicaWithPeer(t, "b", "a")
		r.mu.Lock()
		if holds {
			r.left = map[ReplicaID]map[string][]byte{"c": {}}
		}
		r.retireStep()
		pr := r.led.props["c"]
		r.mu.Unlock()
		if got := pr != nil && pr.cand == "c"; got != holds {
			t.Errorf("holds %v: proposal %+v", holds, pr)
		}
	}
}

// TestProposalPassesAHigherBallotOfARemovedName: the group's first
// replica, asked to retire a writer of a removed replica, finds that it
// promised another member's higher ballot for that list (a proposal that
// the replica has left, which its writer, held here, keeps from being
// agreed): it proposes again above that ballot, rather than never again.
func TestProposalPassesAHigherBallotOfARemovedName(t *testing.T) {
	r := replicaWithPeer(t, "a", "b")
	s := orset.New[string](vclock.Writer("c", 5))
	s.Add("x") // a write of removed replica c
	if _, err := Register(r, "set", s); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	high := ballot{r.incarnation + 100, 1, "b"}
	r.led.list("c").promised = high
	for i := range 3 {
		r.retireStep()
		if pr := r.led.props["c"]; pr != nil {
			if pr.cand != vclock.Writer("c", 5) || pr.b.cmp(high) <= 0 {
				t.Fatalf("proposal of %q at ballot %v, want c!5 above %v", pr.cand, pr.b, high)
			}
			return
		}
		r.ticks = uint64(i+1) * uint64(r.cfg.AntiEntropyTicks) // a round that looks for candidates
	}
	t.Fatal("no proposal above the ballot promised to another member")
}

// A retirement installed, or a vote (a promise or an acceptance) cast on
// one, since the last snapshot must reach a snapshot before the replica
// may crash: a journal record carries neither, so SaveOps asks for a
// snapshot even when nothing else is new. (Before, it returned nil, and
// a replica restarted from its disk forgot the entry or the vote: with
// two proposers under one name, the group then agreed two different
// entries at one place, and the replicas stayed apart for good.)
func TestSaveOpsAsksForASnapshotAfterLedgerChanges(t *testing.T) {
	r := replicaWithPeer(t, "b", "a")
	var snap []byte
	if err := r.SaveSnapshot(func(b []byte) error { snap = b; return nil }); err != nil {
		t.Fatal(err)
	}
	save := func() error { return r.SaveOps(func([]byte) error { return nil }) }
	if err := save(); err != nil {
		t.Fatalf("SaveOps with nothing new: %v", err)
	}
	for _, change := range []struct {
		what string
		do   func()
	}{
		{"a promise", func() { r.led.list("a").promised = ballot{3, 4, "a"} }},
		{"an acceptance", func() {
			nl := r.led.list("a")
			nl.accepted, nl.value = ballot{3, 4, "a"}, retireEntry{From: "a!5", Finals: []objFinal{{"s", 2}}}
		}},
		{"an install", func() { r.led.installs++ }},
	} {
		r.mu.Lock()
		change.do()
		r.mu.Unlock()
		if err := save(); !errors.Is(err, ErrSnapshotNeeded) {
			t.Fatalf("SaveOps after %s: %v, want ErrSnapshotNeeded", change.what, err)
		}
		if err := r.SaveSnapshot(func(b []byte) error { snap = b; return nil }); err != nil {
			t.Fatal(err)
		}
		if err := save(); err != nil {
			t.Fatalf("SaveOps after %s and a snapshot: %v", change.what, err)
		}
	}
	// The restored replica holds the votes, and asks for nothing.
	r2 := replicaWithPeer(t, "b", "a")
	if err := r2.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if err := r2.SaveOps(func([]byte) error { return nil }); err != nil {
		t.Fatalf("SaveOps after a restore: %v", err)
	}
	if nl := r2.led.list("a"); nl.promised != (ballot{3, 4, "a"}) || nl.accepted != (ballot{3, 4, "a"}) {
		t.Fatalf("restored votes %+v %+v", nl.promised, nl.accepted)
	}
}
