package crdt

import (
	"context"
	"fmt"
	"testing"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/internal/costcheck"
	"github.com/activeactive/crdt/orset"
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

// retStub is a stubObject that can retire writers (renaming nothing).
type retStub struct{ stubObject }

func (*retStub) Retire(vclock.Retirement) error { return nil }

// TestRepeatedProposalsCostOnce: a member's message may carry
// maxProposals proposals, one per list (a sender's come from its
// proposals by name, sorted), but the receiver took any: sixteen prepares
// for one list, naming a writer of the sender's that the receiver's 2,000
// objects all name, made it count the writer's events in every object
// sixteen times over, for a message of a few hundred bytes, and answer
// one of them. A list proposed for again in one message is refused
// (counted), and costs nothing more.
func TestRepeatedProposalsCostOnce(t *testing.T) {
	const objects = 2000
	w := vclock.Writer("m", 5)
	var v vclock.Clock
	v.Set(w, 3)
	ver, err := v.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	r := replicaWithPeer(t, "a", "m")
	for i := range objects {
		if _, err := Register(r, fmt.Sprintf("object-%04d", i), &retStub{stubObject{version: ver}}); err != nil {
			t.Fatal(err)
		}
	}
	message := func(k int) []byte {
		sec := &retireSection{}
		for range k {
			sec.Proposals = append(sec.Proposals, proposalMsg{Name: "m", B: ballot{7, 1, "m"}, Cand: w})
		}
		msg, err := (&envelope{From: "m", To: "a", Incarnation: 7, Retire: sec}).encode()
		if err != nil {
			t.Fatal(err)
		}
		return msg
	}
	one, many := message(1), message(maxProposals)
	cost := func(msg []byte) uint64 {
		return costcheck.Allocated(func() { _ = r.Receive(context.Background(), "m", msg) })
	}
	base := cost(one)
	got := cost(many)
	if n := r.Stats().Peers[0].Refused[ReasonMalformed]; n != maxProposals-1 {
		t.Errorf("%d repeated prepares refused, want %d", n, maxProposals-1)
	}
	if limit := base + uint64(costcheck.AllocPerByte*(len(many)-len(one))); !costcheck.Race && got > limit {
		t.Errorf("%d prepares for one list in %d bytes allocated %d bytes, one in %d bytes %d: more than %d",
			maxProposals, len(many), got, len(one), base, limit)
	}
}

// TestPrepareCountsReadWhenAnswered: each prepare a replica took made it
// read every object's version, to count the candidate's events for its
// promise: a member sending a prepare in every message, at a higher
// ballot each time (or as a proposer does until it is answered), cost
// the receiver a pass over every object's version per message of a few
// dozen bytes. The counts are read when the promise is sent, once per
// message sent to the peer, whatever number of prepares it answers.
func TestPrepareCountsReadWhenAnswered(t *testing.T) {
	tr := &sentTo{}
	clk := clock.New(clock.WithSource(func() int64 { return 1_795_000_000_000_000_000 }))
	r, err := NewReplica(Config{ID: "a", Transport: tr, Clock: clk, AntiEntropyTicks: -1})
	if err != nil {
		t.Fatal(err)
	}
	obj := &versionCounter{Set: orset.New[string]("a")}
	if _, err := Register(r, "set", obj); err != nil {
		t.Fatal(err)
	}
	if err := r.AddPeer("m"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cand := vclock.Writer("m", 3)
	for i := range 16 {
		sec := &retireSection{Proposals: []proposalMsg{{Name: "m", B: ballot{uint64(7 + i), 1, "m"}, Cand: cand}}}
		if err := deliver(t, r, &envelope{From: "m", To: "a", Incarnation: 7, Retire: sec}); err != nil {
			t.Fatal(err)
		}
	}
	r.mu.Lock()
	read := obj.n
	obj.n = 0
	r.mu.Unlock()
	if read != 0 {
		t.Errorf("the object's version was read %d times for 16 messages of prepares", read)
	}
	if err := r.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	read = obj.n
	r.mu.Unlock()
	var promised []promiseMsg
	for _, e := range tr.envs {
		if e.Retire != nil {
			promised = append(promised, e.Retire.Promises...)
		}
	}
	if len(promised) != 1 || promised[0].B != (ballot{22, 1, "m"}) {
		t.Fatalf("promises sent: %+v, want one of ballot 22", promised)
	}
	if read > 2 {
		t.Errorf("the object's version was read %d times for a tick answering the prepares", read)
	}
}

// fillLedger gives r's ledger maxLedgerNames lists of made-up names, each
// holding one entry (a writer that wrote to nothing here), as a member may
// make every replica take.
func fillLedger(r *Replica) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range maxLedgerNames {
		name := ReplicaID(fmt.Sprintf("made-up-%05d", i))
		r.installEntry(name, retireEntry{From: vclock.Writer(name, 2)})
	}
}

// TestFullLedgerUnknownNamesReadVersionsOnce: once the ledger held its
// most lists, every entry or proposal of a name it held no list for made
// the replica read every object's version, to learn whether the name
// writes to its objects: a member sending one such entry per message, a
// few dozen bytes each, cost a pass over every object's version per
// message. The names of the objects' writers are read once an
// anti-entropy round (with the pass that looks for writers to retire),
// not per message.
func TestFullLedgerUnknownNamesReadVersionsOnce(t *testing.T) {
	r := replicaWithPeer(t, "a", "m")
	obj := &versionCounter{Set: orset.New[string]("a")}
	if _, err := Register(r, "set", obj); err != nil {
		t.Fatal(err)
	}
	fillLedger(r)
	const messages = 16
	r.mu.Lock()
	obj.n = 0
	r.mu.Unlock()
	for i := range messages {
		name := ReplicaID(fmt.Sprintf("more-%02d", i))
		sec := &retireSection{Sum: 0x5eed, Entries: []ledgerEntry{{name, 0, retireEntry{From: vclock.Writer(name, 2)}}}}
		if i%2 == 1 {
			sec = &retireSection{Sum: 0x5eed, Proposals: []proposalMsg{{Name: name, B: ballot{7, 1, "m"}, Cand: vclock.Writer(name, 2)}}}
		}
		if err := deliver(t, r, &envelope{From: "m", To: "a", Incarnation: 7, Retire: sec}); err != nil {
			t.Fatal(err)
		}
	}
	r.mu.Lock()
	read, lists := obj.n, len(r.led.lists)
	r.mu.Unlock()
	if lists != maxLedgerNames {
		t.Fatalf("%d lists, want %d", lists, maxLedgerNames)
	}
	if read > 1 {
		t.Errorf("the object's version was read %d times for %d messages of an entry or a proposal each", read, messages)
	}
}

// TestFullLedgerKnownNamesCostTheMessage: once the ledger held its most
// lists, none of which could give way (each holding an entry), every
// entry or proposal of a name the replica knows (here, writers its object
// names) went through every list for one that holds nothing but a
// promise: up to maxLedgerEntries times maxLedgerNames lists looked at
// for a message of a few kilobytes, for every such message. Lists that
// may give way are now kept apart, each looked at once for the entries
// and proposals that made or took it.
func TestFullLedgerKnownNamesCostTheMessage(t *testing.T) {
	var v vclock.Clock
	var known []ReplicaID
	for i := range maxLedgerEntries {
		name := ReplicaID(fmt.Sprintf("known-%02d", i))
		known = append(known, name)
		v.Set(vclock.Writer(name, 3), 1)
	}
	ver, err := v.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	r := replicaWithPeer(t, "a", "m")
	if _, err := Register(r, "object", &retStub{stubObject{version: ver}}); err != nil {
		t.Fatal(err)
	}
	fillLedger(r)
	const messages = 8
	items := 0
	for range messages {
		sec := &retireSection{Sum: 0x5eed}
		for _, name := range known {
			sec.Entries = append(sec.Entries, ledgerEntry{name, 0, retireEntry{From: vclock.Writer(name, 3), Finals: []objFinal{{"object", 1}}}})
		}
		for _, name := range known[:maxProposals] {
			sec.Proposals = append(sec.Proposals, proposalMsg{Name: name, B: ballot{7, 1, "m"}, Cand: vclock.Writer(name, 3)})
		}
		items += len(sec.Entries) + len(sec.Proposals)
		if err := deliver(t, r, &envelope{From: "m", To: "a", Incarnation: 7, Retire: sec}); err != nil {
			t.Fatal(err)
		}
	}
	r.mu.Lock()
	examined, lists := r.led.examined, len(r.led.lists)
	r.mu.Unlock()
	if lists != maxLedgerNames {
		t.Fatalf("%d lists, want %d", lists, maxLedgerNames)
	}
	if bound := maxLedgerNames + items; examined > bound {
		t.Errorf("%d lists looked at for %d messages of %d entries and proposals, more than %d", examined, messages, items, bound)
	}
}

// TestFullLedgerNewWriterListWithinARound pins what the cached writer
// names cost an honest peer: with the ledger full of lists that hold
// nothing but a promise for made-up names (which may give way), an entry
// for a writer that began to write here after the names were read waits
// at most until they are read again, an anti-entropy round later, and
// then takes the place of one of those lists. A list that gave way is
// never one with an entry or an accepted value.
func TestFullLedgerNewWriterListWithinARound(t *testing.T) {
	// "z" is not the group's first replica by name: it does not propose
	// to retire w's writer itself (see mayPropose).
	r, err := NewReplica(Config{ID: "z", Transport: nopTransport{}, AntiEntropyTicks: 4})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.AddPeer("m"); err != nil {
		t.Fatal(err)
	}
	empty, err := (vclock.Clock{}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	obj := &retStub{stubObject{version: empty}}
	if _, err := Register(r, "object", obj); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	for i := range maxLedgerNames {
		name := ReplicaID(fmt.Sprintf("made-up-%05d", i))
		switch i % 3 {
		case 0: // a promise alone: may give way
			r.led.list(name).promised = ballot{7, 1, "m"}
		case 1: // an accepted value: may not
			nl := r.led.list(name)
			nl.promised, nl.accepted, nl.value = ballot{7, 1, "m"}, ballot{7, 1, "m"}, retireEntry{From: vclock.Writer(name, 2)}
		default: // an entry: may not
			r.installEntry(name, retireEntry{From: vclock.Writer(name, 2)})
		}
	}
	_ = r.writerNames() // read now, before w writes here
	r.mu.Unlock()

	w := vclock.Writer("w", 3)
	var v vclock.Clock
	v.Set(w, 1)
	ver, err := v.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	obj.version = ver
	r.mu.Unlock()
	entry := &retireSection{Sum: 0x5eed, Entries: []ledgerEntry{{"w", 0, retireEntry{From: w, Finals: []objFinal{{"object", 1}}}}}}
	took := -1
	for tick := range 2 * r.retireEvery() {
		_ = deliver(t, r, &envelope{From: "m", To: "z", Incarnation: 7, Retire: entry})
		r.mu.Lock()
		n := r.led.len("w")
		r.mu.Unlock()
		if n == 1 {
			took = int(tick)
			break
		}
		if err := r.Tick(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if took < 0 || uint64(took) > r.retireEvery() {
		t.Fatalf("the entry for w was taken after %d ticks, want at most a round (%d)", took, r.retireEvery())
	}
	// Each delivery put off for want of room counts as such, not as a
	// malformed entry: the sender is honest.
	if st := r.Stats().Peers[0]; st.Refused[ReasonLedgerFull] != uint64(took) || st.Refused[ReasonMalformed] != 0 {
		t.Fatalf("entry put off %d times: refused %v, want %d as %q and none as %q", took, st.Refused, took, ReasonLedgerFull, ReasonMalformed)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.led.lists) != maxLedgerNames {
		var extra []ReplicaID
		for n := range r.led.lists {
			if len(n) < 8 || n[:8] != "made-up-" {
				extra = append(extra, n)
			}
		}
		t.Fatalf("%d lists, want %d (taken after %d ticks; lists of %v)", len(r.led.lists), maxLedgerNames, took, extra)
	}
	for i := range maxLedgerNames {
		name := ReplicaID(fmt.Sprintf("made-up-%05d", i))
		if r.led.lists[name] == nil && i%3 != 0 {
			t.Errorf("the list of %s gave way, holding an accepted value or an entry", name)
		}
	}
	t.Logf("taken after %d ticks", took)
}

// TestFullLedgerOwnProposalMakesNoListPastTheBound: a replica's own
// proposals made their list without asking whether the ledger had room
// (a peer's proposals and entries do ask, see ledgerFull), so a replica
// whose ledger a member had filled with entries for made-up names made a
// list past maxLedgerNames for each writer it proposed to retire. Once
// agreed, such a list goes in the ledger's summary, which peers refuse
// past maxLedgerNames names: every message of the replica's would be
// refused while the ledgers differ.
func TestFullLedgerOwnProposalMakesNoListPastTheBound(t *testing.T) {
	r, err := NewReplica(Config{ID: "a", Transport: nopTransport{}, AntiEntropyTicks: 4})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.AddPeer("m"); err != nil {
		t.Fatal(err)
	}
	// A writer of a name not in the group, whose list "a", the group's
	// first replica by name, proposes.
	var v vclock.Clock
	v.Set(vclock.Writer("w", 3), 1)
	ver, err := v.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Register(r, "object", &retStub{stubObject{version: ver}}); err != nil {
		t.Fatal(err)
	}
	fillLedger(r)
	for range 2 * r.retireEvery() {
		if err := r.Tick(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := len(r.led.lists); n > maxLedgerNames {
		t.Fatalf("%d lists after this replica's own proposals, more than %d (w's list: %v)", n, maxLedgerNames, r.led.lists["w"] != nil)
	}
}
