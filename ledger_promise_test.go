package crdt

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/orset"
	"github.com/activeactive/crdt/vclock"
)

// TestPromiseWithMalformedValueRefused: a member (m) answers a's prepare
// for a's own list with a promise that says it accepted, at a high
// ballot, an entry no member may accept (retiring a writer of another
// name). Adopting it, a would propose it for ever: no member accepts it,
// the accept phase has no end, and a's own acceptor state keeps it as the
// highest accepted value, so even once m is removed from the group, a's
// finished writers are never retired. The promise is refused and
// counted, and the retirement is agreed without m.
func TestPromiseWithMalformedValueRefused(t *testing.T) {
	a, b, rounds := ledgerPair(t)
	old := vclock.Writer("a", 5) // a finished run of a
	s := orset.New[string](old)
	s.Add("x")
	if _, err := Register(a, "old", s); err != nil {
		t.Fatal(err)
	}
	if _, err := Register(b, "old", orset.New[string]("b")); err != nil {
		t.Fatal(err)
	}
	forged := false
	for range 300 {
		rounds(1)
		a.mu.Lock()
		pr := a.led.props["a"]
		var sec *retireSection
		if pr != nil && !forged {
			sec = &retireSection{Promises: []promiseMsg{{Name: "a", Index: pr.index, B: pr.b,
				AccB: ballot{math.MaxUint64 - 1, 1, "m"}, Value: retireEntry{From: vclock.Writer("c", 5), Finals: []objFinal{{"old", 1}}},
				Counts: a.counts(pr.cand), Members: a.membersHash()}}}
		}
		a.mu.Unlock()
		if sec != nil {
			forged = true
			env := &envelope{From: "m", To: "a", Incarnation: 1, Retire: sec}
			msg, err := env.encode()
			if err != nil {
				t.Fatal(err)
			}
			_ = a.Receive(context.Background(), "m", msg)
		}
	}
	if !forged {
		t.Fatal("a never proposed to retire its finished writer")
	}
	retiredOnceMRemoved(t, a, b, rounds, old, "the promise with a malformed value")
}

// TestBallotNearMaxUint64Refused: a member (m) proposes for the list of
// x, a replica that is not in the group (any member may), at a ballot
// whose incarnation part is math.MaxUint64, which no proposer can pass.
// Had a and b promised it, the writers of x would never be retired, and
// x's leaving never agreed, even after m is removed. The proposal is
// refused and counted, and a, the group's first replica, retires x's
// writer once m is gone.
func TestBallotNearMaxUint64Refused(t *testing.T) {
	a, b, rounds := ledgerPair(t)
	gone := vclock.Writer("x", 5)
	s := orset.New[string](gone)
	s.Add("x")
	if _, err := Register(a, "old", s); err != nil {
		t.Fatal(err)
	}
	if _, err := Register(b, "old", orset.New[string]("b")); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*Replica{a, b} {
		env := &envelope{From: "m", To: r.id, Incarnation: 1, Retire: &retireSection{
			Proposals: []proposalMsg{{Name: "x", Index: 0, B: ballot{math.MaxUint64, 1, "m"}, Cand: gone}}}}
		msg, err := env.encode()
		if err != nil {
			t.Fatal(err)
		}
		_ = r.Receive(context.Background(), "m", msg)
	}
	retiredOnceMRemoved(t, a, b, rounds, gone, "the proposal at ballot math.MaxUint64")
}

// TestMadeUpNamesDoNotFillTheLedger: a member (m) proposes for thousands
// of made-up names, none of them in the group (any member may propose
// for such a name's list): the replicas it reaches keep a promise for
// each, up to maxLedgerNames, in memory and in their snapshots. Once they
// held that many, they refused every proposal and entry of a list they
// had not yet, for good: here, a's own list, so that a's finished writer
// is never retired, and m's, so that m's leaving is never agreed once it
// is removed, and collection stays held back. A made-up name's list that
// holds nothing but a promise now gives way to a list of a name the
// replica knows.
func TestMadeUpNamesDoNotFillTheLedger(t *testing.T) {
	a, b, rounds := ledgerPair(t)
	old := vclock.Writer("a", 5) // a finished run of a
	s := orset.New[string](old)
	s.Add("x")
	if _, err := Register(a, "old", s); err != nil {
		t.Fatal(err)
	}
	if _, err := Register(b, "old", orset.New[string]("b")); err != nil {
		t.Fatal(err)
	}
	rounds(1)
	for i := 0; i < maxLedgerNames; i += maxProposals {
		sec := &retireSection{}
		for j := range maxProposals {
			name := ReplicaID(fmt.Sprintf("made-up-%05d", i+j))
			sec.Proposals = append(sec.Proposals, proposalMsg{Name: name, B: ballot{1, 1, "m"}, Cand: vclock.Writer(name, 3)})
		}
		env := &envelope{From: "m", To: "b", Incarnation: 1, Retire: sec}
		msg, err := env.encode()
		if err != nil {
			t.Fatal(err)
		}
		_ = b.Receive(context.Background(), "m", msg)
	}
	removeM(a, b, rounds)
	if !a.LedgerRetired(old) || !b.LedgerRetired(old) {
		t.Errorf("finished writer %s not retired: a %v, b %v", old, a.LedgerRetired(old), b.LedgerRetired(old))
	}
	for _, r := range []*Replica{a, b} {
		if n := r.Stats().RemovedHolding; n != 0 {
			t.Errorf("%s: %d removed peers still hold collection back", r.id, n)
		}
	}
}

// removeM removes the member m from a and b, and lets them run long
// enough for any retirement m held up to be agreed.
func removeM(a, b *Replica, rounds func(int)) {
	a.RemovePeer("m")
	b.RemovePeer("m")
	rounds(2000)
}

// retiredOnceMRemoved checks that a counted what m sent (what) as
// malformed, and that, once m is removed, a and b retire writer w.
func retiredOnceMRemoved(t *testing.T, a, b *Replica, rounds func(int), w ReplicaID, what string) {
	t.Helper()
	refused := uint64(0)
	for _, p := range a.Stats().Peers {
		if p.Peer == "m" {
			refused = p.Refused[ReasonMalformed]
		}
	}
	removeM(a, b, rounds)
	if !a.LedgerRetired(w) || !b.LedgerRetired(w) {
		t.Errorf("writer %s not retired once m was removed: a %v, b %v", w, a.LedgerRetired(w), b.LedgerRetired(w))
	}
	if refused == 0 {
		t.Errorf("%s was not counted as refused", what)
	}
}

// versionCounter is an OR-Set that counts how often its version is
// encoded.
type versionCounter struct {
	*orset.Set[string]
	n int
}

func (v *versionCounter) VersionBinary() ([]byte, error) {
	v.n++
	return v.Set.VersionBinary()
}

// TestProposalsReadVersionsOnce: a message carrying the most proposals a
// message may (maxProposals, for lists of names not in the group, which
// any member may propose for) made the replica read every object's
// version once or twice per proposal, to count the candidate's events:
// work of up to 2*maxProposals passes over every object's version for a
// message of a few hundred bytes. The versions are read once per message.
func TestProposalsReadVersionsOnce(t *testing.T) {
	r := replicaWithPeer(t, "a", "m")
	obj := &versionCounter{Set: orset.New[string]("a")}
	if _, err := Register(r, "set", obj); err != nil {
		t.Fatal(err)
	}
	sec := &retireSection{}
	for i := range maxProposals {
		name := ReplicaID(fmt.Sprintf("gone-%02d", i))
		cand := vclock.Writer(name, 3)
		if i%2 == 0 {
			cand = name // a proposal that the name left
		}
		sec.Proposals = append(sec.Proposals, proposalMsg{Name: name, B: ballot{1, 1, "m"}, Cand: cand})
	}
	r.mu.Lock()
	obj.n = 0
	r.retireIn(r.peers["m"], sec, 1)
	n := obj.n
	promises := len(r.peers["m"].retPromises)
	r.mu.Unlock()
	if promises != maxProposals {
		t.Fatalf("%d promises for %d proposals", promises, maxProposals)
	}
	if n > 1 {
		t.Fatalf("the object's version was read %d times for one message", n)
	}
}

// TestMalformedProposalChangesNothing: a proposal whose value (an accept
// retiring a writer of another name) or candidate (a writer of another
// name, or none) no member takes changed the member's promise all the
// same, and was dropped without a count. It is refused, counted, and
// leaves the ledger as it was.
func TestMalformedProposalChangesNothing(t *testing.T) {
	for _, m := range []proposalMsg{
		{Name: "m", B: ballot{5, 1, "m"}, Accept: &retireEntry{From: vclock.Writer("c", 5), Finals: []objFinal{{"set", 1}}}},
		{Name: "m", B: ballot{5, 1, "m"}, Cand: vclock.Writer("c", 5)},
		{Name: "m", B: ballot{5, 1, "m"}},
	} {
		r := replicaWithPeer(t, "a", "m")
		r.mu.Lock()
		p := r.peers["m"]
		r.retireIn(p, &retireSection{Proposals: []proposalMsg{m}}, 1)
		nl := r.led.lists["m"]
		refused := p.stats.refused[ReasonMalformed]
		r.mu.Unlock()
		if nl != nil && !nl.promised.zero() {
			t.Errorf("%+v: promised %v", m, nl.promised)
		}
		if refused != 1 {
			t.Errorf("%+v: refused %d times, want 1", m, refused)
		}
	}
}

// TestSavedMalformedAcceptedValueDropped: before promises were checked, a
// proposer could adopt a value no member accepts from a member's promise
// and keep it as its own accepted value, saved in its snapshots. Restored,
// it would propose that value again, and send it in its promises to every
// other proposer of the list, which now refuse such a promise: the list
// would never take an entry again. A saved accepted value that no member
// accepts is dropped on restore (it can never have been agreed).
func TestSavedMalformedAcceptedValueDropped(t *testing.T) {
	var l ledger
	nl := l.list("a")
	nl.promised = ballot{9, 1, "a"}
	nl.accepted, nl.value = ballot{math.MaxUint64 - 1, 1, "m"}, retireEntry{From: vclock.Writer("c", 5), Finals: []objFinal{{"old", 1}}}
	ok := l.list("b")
	ok.promised = ballot{9, 1, "b"}
	ok.accepted, ok.value = ballot{9, 1, "b"}, retireEntry{From: vclock.Writer("b", 5), Finals: []objFinal{{"old", 1}}}
	w := codec.NewWriter(codec.KindSnapshotSealed, 64)
	l.encode(w)
	b, err := w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeLedger(codec.NewReader(b, codec.KindSnapshotSealed, codec.Limits{MaxBytes: len(b)}))
	if err != nil {
		t.Fatal(err)
	}
	if a := got.lists["a"]; !a.accepted.zero() || a.promised != nl.promised {
		t.Errorf("a's list restored with promise %v, accepted %v %+v; want the promise, nothing accepted", a.promised, a.accepted, a.value)
	}
	if b := got.lists["b"]; b.accepted != ok.accepted || !b.value.equal(ok.value) {
		t.Errorf("b's well-formed accepted value not restored: %v %+v", b.accepted, b.value)
	}
}

// TestSavedForgedBallotPassable: a snapshot saved before ballots near
// math.MaxUint64 were refused may hold a promise of one, or a value
// accepted at one: restored as it was, the list would never take an
// entry again (no proposer can pass such a ballot, and one raised to it
// would be refused as forged). Restored, a bare promise of such a ballot
// is dropped, and an accepted value is kept at a ballot that can be
// passed.
func TestSavedForgedBallotPassable(t *testing.T) {
	forged := ballot{math.MaxUint64, 1, "m"}
	var l ledger
	l.list("a").promised = forged
	nb := l.list("b")
	nb.promised, nb.accepted, nb.value = forged, forged, retireEntry{From: vclock.Writer("b", 5), Finals: []objFinal{{"old", 1}}}
	w := codec.NewWriter(codec.KindSnapshotSealed, 64)
	l.encode(w)
	b, err := w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeLedger(codec.NewReader(b, codec.KindSnapshotSealed, codec.Limits{MaxBytes: len(b)}))
	if err != nil {
		t.Fatal(err)
	}
	if a := got.lists["a"]; a != nil && !a.promised.zero() {
		t.Errorf("a's list restored with promise %v", a.promised)
	}
	gb := got.lists["b"]
	if gb == nil || gb.accepted.zero() || !gb.value.equal(nb.value) {
		t.Fatalf("b's accepted value not restored: %+v", gb)
	}
	// A proposer that finds them raises its ballot past them, and is not
	// refused as forged.
	var r Replica
	r.writer = vclock.Writer("b", 7)
	r.id = "b"
	r.led = got
	for _, bl := range []ballot{gb.promised, gb.accepted} {
		r.raiseBallot(bl)
		if mine := r.myBallot(); mine.cmp(bl) <= 0 || mine.forged() {
			t.Errorf("ballot %v after raising past %v", mine, bl)
		}
	}
}
