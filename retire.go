package crdt

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/vclock"
)

// Retirer is an optional interface of an [Object] that can rename a
// finished writer's dots (see vclock.Retirement): every data type of this
// module implements it (the register.LWW and counter.Bounded through
// [WriterCounter] too, having no version that counts their writers'
// events). Objects without it keep their finished writers.
//
// Every run of a replica writes under a writer of its own (see
// [Replica.Writer]), so each restart adds a writer to the metadata of every
// object the replica writes to: its version, its causal context, its
// digests. Left alone, metadata would grow with restarts. So the replicas
// retire finished writers: a writer's dots are renamed, on every replica
// alike, into its name's retired writer (vclock.Retired), after which the
// writer is named nowhere and every finished writer of a name takes one
// entry (see vclock.Retirement).
//
// Renaming is one-to-one, so it is safe whatever any replica holds, but
// every replica must rename the same writers at the same offsets: the
// replicas keep, per replica name, an agreed list of retirements (the
// ledger), and apply each entry in list order. The runs of a name propose
// the next entry of its own name's list under ballots (the run's
// incarnation, then its epoch), and an entry is agreed once every replica
// of the group (this replica and every peer added) has accepted it:
// single-decree Paxos per entry, with the whole group as the only quorum. A
// member that refuses a proposal, having promised a higher ballot, says
// which, and the run proposes again above it: a run that was promised a
// ballot and then stopped (a second process under the name) does not hold
// the list up, nor does the ballot of the group's first replica, which
// proposed for the name while the replica was removed, once it is added
// back. A group member that is away delays retirement; it never
// blocks writes, and nothing waits for it but the shrinking of metadata.
//
// A proposal names a finished writer of the proposer's name and, per
// object, the writer's count that every replica holds (its version entry,
// and for a [SplitCounter] how many of those events are of the first
// kind);
// the proposer waits until every replica reports the same count, so the
// writer's events all rename into one run. A writer thought finished may
// still write (a second process under the same name): whatever it writes
// beyond the agreed count keeps its own name, so nothing is lost. A writer
// that wrote to more objects than one entry may name (4,096) is never
// retired: no member could decode the entry; nor is one whose accept, a
// member's promise of its counts, or a promise carrying the accept's entry
// does not fit alone in a message (some seventy objects of short names,
// in messages of MinMessageBytes).
// Nor is a writer that an object counts more than vclock.MaxSeq (2^62)
// of, as a counter counts a writer whose totals passed it: an entry's
// Final is at most MaxSeq. Every object keeps such writers under their
// own names, the name's other writers are retired as usual, and
// Stats.UnretirableWriters counts the last kind.
//
// Replicas whose ledgers differ do not exchange data: a message from a peer
// with another ledger is set aside (and counted, PeerStats.LedgerWaits),
// while the message carries the entries the receiver lacks. A replica
// restored from an older snapshot thus takes the entries it missed before
// anything else. An entry too large for any message to the peer (one
// agreed by members of larger messages than the peer takes) goes in parts,
// each in a message of its own, and the peer installs it once it holds
// every part; a peer's digest names the limit of its messages even while
// the data it carries is set aside. Two different entries at one place of
// one list (which agreement rules out, barring a replica that forged one)
// are counted (Stats.LedgerConflicts) and logged, whether an entry or the
// list's hash in a summary shows them, and the two replicas stay apart:
// neither takes the other's later entries of that list.
//
// The writers of a replica removed from the group ([Replica.RemovePeer] on
// every replica) are proposed for retirement by the group's first replica
// by name, which holds them once it holds the writes of the removed replica
// that any member holds; for such a replica with no writer left to retire,
// every member that holds it back (having heard from it) proposes an entry
// that retires nothing and records that it has left (see RemovePeer): the
// group's first replica may never have heard from it. Proposers of one
// list do not disturb agreement: their ballots differ, so Paxos keeps them
// to one entry, and one that finds a higher ballot promised proposes again
// above it only a round (AntiEntropyTicks) later.
//
// An acceptor must not forget a vote it told a proposer of: restarted
// without it, it could promise or accept another value at the same place
// for another proposer (a second process under the name, or a proposal
// tried again above), and two different entries would be agreed there.
// So once a replica is persistent (a snapshot saved or restored), its
// promises and acceptances leave for their proposers only once a saved
// snapshot holds them (see Replica.SaveSnapshot and
// Config.OnSaveNeeded); the proposers ask again meanwhile. A replica that
// never saved a snapshot answers at once, as it ships its ops at once.
// Restoring an older snapshot than the last one saved (a backup) forgets
// the votes made since, with the same risk.
//
// The ledger itself, a few dozen bytes per retired writer, is kept in
// snapshots, never in states, versions or digests; a message carries a
// 64-bit sum of it, and the length and hash of each name's list only while
// the two replicas' sums differ. Retire runs under the replica's lock, once
// per object and retired writer, and costs one pass over the object's
// state.
//
// The group trusts its members. An entry is agreed once every member
// accepted it, but a replica takes an entry it lacks from any peer that
// holds it (a replica restored from an older snapshot, or added to the
// group later, catches up so), and nothing in an entry proves that it was
// agreed. A member, hostile or with a bug, can therefore make every
// replica install any well-formed entry at the end of any name's list:
// one that retires a live writer of any name (its run draws a new writer;
// what the writer wrote past the entry's finals keeps its name for good),
// with finals below what the replicas hold (the rest keeps its name for
// good) or above (the name's retired writer then counts events no replica
// holds, so every object the entry names holds updates past a gap from
// then on and is no longer compared: Stats.Uncompared), with finals that
// carry a name's sum past vclock.MaxSeq (every later retirement of the
// name fails in that object: Stats.RetireFailures), one that records the
// leaving of a member, or entries retiring writers that never wrote, each
// a ledger entry kept in every snapshot, so that the ledger grows with
// what the member sends; entries of made-up names take the room of the
// ledger's lists (maxLedgerNames) for good, after which no list of a name
// the ledger does not hold yet can begin. While it is a member it can
// also keep a list from taking an entry (as a member that never answers
// does). What one member cannot do unnoticed or for good: give two
// replicas different entries at one place (Stats.LedgerConflicts, and
// neither builds on the other's), keep a list from taking entries after
// it left the group by a promise of a value no member accepts or by a
// ballot near math.MaxUint64 (both refused and counted,
// PeerStats.Refused), make a replica drop its catch-ups to others by
// retiring writers that never wrote to its objects, or fill the ledger
// with promises for made-up names so that the list of a name the replica
// knows cannot begin (see Replica.ledgerFull; a list of a name it does
// not know, such as a removed replica it never heard from and holds no
// write of, can still be kept from beginning so).
type Retirer interface {
	Retire(vclock.Retirement) error
}

// Renamer is an optional interface of a [Retirer] that keeps in memory,
// beside its state, the retirements applied to it (ormap.Map, whose
// counters compare their chains as they were before renaming, so that a
// writer that went on past its Final continues its chains). Retire tells
// it of a retirement as it applies it; a state restored from a snapshot is
// already renamed but carries no retirements, so [Replica.Restore] hands
// Renamed every retirement of the snapshot's ledger that renamed dots of
// the object, per name in the list's order, with the Base Retire was
// given: Renamed records it, renaming nothing. An error is logged and
// counted as a refused retirement (Stats.RetireFailures).
type Renamer interface {
	Renamed(vclock.Retirement) error
}

// Limits of the ledger a decoder accepts.
const (
	maxLedgerNames   = 1 << 12 // names in one message's ledger summary
	maxLedgerEntries = 64      // entries carried by one message
	maxEntryObjects  = 1 << 12 // objects named by one entry (splits apart, see getFinals)
)

// retireEntry is one agreed retirement: writer From, and the count of its
// events in each object (objects not named count zero). An entry whose From
// is the list's name itself, without an epoch, retires no writer: it
// records that the name left the group (see leaves).
type retireEntry struct {
	From, Heir ReplicaID
	Finals     []objFinal // sorted by object, no repeats, no zero finals
}

type objFinal struct {
	Object string
	Final  uint64
}

func (e retireEntry) final(object string) uint64 {
	i, ok := slices.BinarySearchFunc(e.Finals, object, func(f objFinal, o string) int { return strings.Compare(f.Object, o) })
	if !ok {
		return 0
	}
	return e.Finals[i].Final
}

// leaves reports whether e retires no writer but records that its name
// left the group: every member had removed it (RemovePeer) when it was
// agreed. It is proposed by every member that holds back a removed peer it
// heard from that names no writer left to retire (one that never wrote, or
// whose every writer is retired), so that the versions that peer last
// reported stop holding back collection (see Replica.RemovePeer and
// Replica.mayProposeLeaving).
func (e retireEntry) leaves() bool {
	_, ok := e.From.Epoch()
	return !ok
}

func (e retireEntry) equal(o retireEntry) bool {
	return e.From == o.From && e.Heir == o.Heir && slices.Equal(e.Finals, o.Finals)
}

// hash chains the entry onto h, the hash of the entries before it.
func (e retireEntry) hash(h uint64) uint64 {
	h = codec.HashString(h, string(e.From))
	h = codec.HashString(h, string(e.Heir))
	for _, f := range e.Finals {
		h = codec.HashString(h, f.Object)
		h = codec.HashUint(h, f.Final)
	}
	return codec.Mix(h)
}

// check validates an entry of name's list received from a peer.
func (e retireEntry) check(name ReplicaID) error {
	if e.From == name {
		if e.Heir != "" || len(e.Finals) != 0 {
			return fmt.Errorf("leaving of %q with heir %q or %d finals", name, e.Heir, len(e.Finals))
		}
		return nil
	}
	if ep, ok := e.From.Epoch(); !ok || ep == 0 || e.From.Name() != name {
		return fmt.Errorf("retirement of %q in the list of %q", e.From, name)
	}
	if e.Heir != "" {
		if ep, ok := e.Heir.Epoch(); !ok || ep == 0 || e.Heir.Name() != name || e.Heir == e.From {
			return fmt.Errorf("retirement of %q with heir %q", e.From, e.Heir)
		}
	}
	for i, f := range e.Finals {
		if f.Final == 0 || f.Final > vclock.MaxSeq || (i > 0 && e.Finals[i-1].Object >= f.Object) {
			return fmt.Errorf("retirement of %q: finals not sorted, or out of range", e.From)
		}
	}
	return nil
}

// ballot orders proposals for one list: by the proposing run's
// incarnation, then its epoch, then its name (a list of a replica that left
// the group is proposed by another).
type ballot struct {
	Inc, Epoch uint64
	By         ReplicaID
}

func (b ballot) cmp(o ballot) int {
	if c := cmp.Compare(b.Inc, o.Inc); c != 0 {
		return c
	}
	if c := cmp.Compare(b.Epoch, o.Epoch); c != 0 {
		return c
	}
	return strings.Compare(string(b.By), string(o.By))
}

func (b ballot) zero() bool { return b == ballot{} }

// maxBallotInc bounds the incarnation part of a ballot a replica takes
// from a peer. A run's incarnation is its clock's reading in nanoseconds
// (an int64, so below 2^63) plus a step of at most 2^32+1 per restart,
// and a raised ballot passes one seen by 1: honest ballots stay far
// below. A ballot near math.MaxUint64, once promised, could never be
// passed (see Replica.raiseBallot): the list would take no entry again,
// even after its proposer left the group.
const maxBallotInc = 1<<63 | 1<<62

// forged reports whether b's incarnation part is past maxBallotInc.
func (b ballot) forged() bool { return b.Inc > maxBallotInc }

// votes returns a hash of what this replica promised and accepted, as an
// acceptor, in every list: 0 if nothing. A snapshot holds them (see
// ledger.encode), and an acceptor must not forget them across a crash,
// or two proposers (two processes under one name) may both have an entry
// agreed at one place of a list.
func (l *ledger) votes() uint64 {
	var h uint64
	for name, nl := range l.lists {
		if nl.promised.zero() && nl.accepted.zero() {
			continue
		}
		x := codec.HashString(codec.HashSeed, string(name))
		for _, b := range []ballot{nl.promised, nl.accepted} {
			x = codec.HashUint(codec.HashUint(codec.HashString(x, string(b.By)), b.Inc), b.Epoch)
		}
		h += nl.value.hash(x) | 1 // order-free over the names
	}
	return h
}

// nameList is one name's agreed retirements.
type nameList struct {
	entries []retireEntry
	hash    uint64            // chained hash of entries
	hashes  []uint64          // hashes[i]: the chained hash of entries[:i+1]
	bases   map[string]uint64 // per object, the sum of the entries' finals
	// acceptor state for the next entry (index len(entries))
	promised, accepted ballot
	value              retireEntry
}

// ledger is the replica's agreed retirements, per name.
type ledger struct {
	lists      map[ReplicaID]*nameList
	retired    map[string]bool // every From of every list
	conflicts  uint64
	failures   uint64 // objects that refused an agreed retirement
	pastFinal  uint64 // objects that held a retired writer's events past Final
	pastEvents uint64 // the events past Final they held, summed (saturating)
	// skip holds candidates that did not reach agreement, with the tick
	// until which others go first.
	skip map[ReplicaID]uint64
	// unretirable holds the finished writers this run found that an
	// object counts more than vclock.MaxSeq of (see Replica.candidate).
	unretirable map[ReplicaID]bool
	// sum is a hash of the whole ledger (0 while it is empty), which every
	// message carries: two replicas hold the same ledger when their sums
	// agree.
	sum uint64
	// installs counts the entries applied by this run, and saved how many
	// of them the last saved snapshot holds: the journal cannot carry a
	// retirement, so SaveOps asks for a snapshot in between.
	installs, saved uint64
	// savedVotes is votes() as the last snapshot saved or restored held
	// it: a promise or an acceptance since must reach a snapshot too.
	savedVotes uint64
	// voteSeq counts the changes of this run's votes (promises and
	// acceptances, as an acceptor), and savedVoteSeq how many of them the
	// last saved snapshot holds. Once the replica is persistent, an
	// answer to a peer's proposal leaves only once a saved snapshot holds
	// the votes it reveals (see promiseMsg.seq): an acceptor that told a
	// proposer of a vote and then forgot it in a crash could vote
	// otherwise at the same place for another proposer (a second process
	// under the name, or a retry at a higher ballot), and two different
	// entries could be agreed there.
	voteSeq, savedVoteSeq uint64
	// unsaved is set when an answer made while persistent waits for a
	// save: Receive tells the host (Config.OnSaveNeeded).
	unsaved bool
	// props holds this replica's proposals, by name: for its own name's
	// list, and for those of replicas that left the group.
	props map[ReplicaID]*proposal
	// raise is the least incarnation part of this run's ballots, above
	// its incarnation once a member refused a proposal for a higher
	// ballot (of a run gone since, say: a second process stopped).
	raise uint64
	// names holds the names of the objects' writers, read at tick
	// namesAt (nil: not read yet, or objects registered since): see
	// Replica.writerNames.
	names   map[ReplicaID]bool
	namesAt uint64
	// spare holds names of lists that may give way to a list of a name
	// this replica knows (see Replica.ledgerFull): every list made since
	// the names were read, and those that could give way then. A name
	// may be there twice, or its list no longer give way: ledgerFull
	// looks at each once, and drops it.
	spare []ReplicaID
	// examined counts the lists ledgerFull looked at for one to give
	// way, for tests.
	examined int
}

// proposal is this replica's attempt at the next entry of one name's list.
type proposal struct {
	name     ReplicaID
	index    uint64
	b        ballot
	cand     ReplicaID
	promises map[ReplicaID]*promiseMsg // by peer
	value    *retireEntry              // set in the second phase
	accepted map[ReplicaID]bool
	started  uint64 // tick of the proposal, or of its second phase
}

// nameLen is one name's list length and hash in a ledger summary.
type nameLen struct {
	Name ReplicaID
	Len  uint64
	Hash uint64
}

type ledgerEntry struct {
	Name  ReplicaID
	Index uint64
	Entry retireEntry
}

// promiseMsg answers a prepare for Name's list: the member promised
// ballot B for the entry at Index, had accepted Value at AccB (zero if
// none), holds Counts of the candidate per object, and has peer set
// Members. A promise of a ballot higher than the proposer's answers a
// proposal the member refused, having promised B: the proposer raises its
// ballot past B. Such a refusal carries refusedCounts for Counts (see
// refusal).
type promiseMsg struct {
	Name    ReplicaID
	Index   uint64
	B, AccB ballot
	Value   retireEntry
	Counts  []objFinal
	Members uint64
	// seq is the proposer's ledger's voteSeq when it made the answer:
	// the answer leaves once a saved snapshot holds that many votes.
	// Not encoded.
	seq uint64
	// counts, if set, says that Counts are still to be read, when the
	// promise is sent (see retireOut), of writer cand (of any writer of
	// Name not retired, if cand is Name: a proposal that it left). Not
	// on the wire.
	counts bool
	cand   ReplicaID
}

// proposalMsg is a proposer's message for Name's list, at Index with
// ballot B: a prepare for candidate Cand, or, if Accept is set, an accept.
type proposalMsg struct {
	Name   ReplicaID
	Index  uint64
	B      ballot
	Cand   ReplicaID
	Accept *retireEntry
}

// takeable reports whether a member may take the proposal m, given its
// ledger l: an accept of a well-formed entry of m.Name's list that does
// not retire a writer l retired already, or a prepare for a writer of
// m.Name (a run's, with an epoch) or for m.Name itself (its leaving). A
// proposal that is not changes nothing: no promise is made for it.
func (m proposalMsg) takeable(l *ledger) bool {
	if m.Accept != nil {
		return m.Accept.check(m.Name) == nil && !l.retired[string(m.Accept.From)]
	}
	if m.Cand == m.Name {
		return m.Name != ""
	}
	ep, ok := m.Cand.Epoch()
	return ok && ep != 0 && m.Cand.Name() == m.Name
}

// acceptedMsg says the member accepted the proposal at Index with ballot
// B for Name's list.
type acceptedMsg struct {
	Name  ReplicaID
	Index uint64
	B     ballot
	seq   uint64 // as in promiseMsg; not encoded
}

// maxProposals bounds the proposals, promises and acceptances of one
// message, each.
const maxProposals = 16

// retireSection is what a message carries about retirements.
type retireSection struct {
	Sum       uint64        // the sender's ledger's sum (see ledger.sum)
	Lens      []nameLen     // the sender's ledger, sorted by name, when the receiver's sum differs
	Entries   []ledgerEntry // entries the receiver lacks
	Proposals []proposalMsg // the sender's proposals
	Promises  []promiseMsg  // the sender's answers to the receiver's prepares
	Accepteds []acceptedMsg // and to its accepts
	// Part is a part of an entry the receiver lacks that no message to it
	// carries whole (see entryPart); nil if none. It travels alone in a
	// message of its own, under its own flag (see flagEntryPart).
	Part *entryPart
}

// entryPart is one of Parts parts of the entry at Index of Name's list,
// whose hash (retireEntry.hash(0)) is Hash: its writer and heir, and the
// finals of one run of its objects, in order. An entry that names more
// objects than a message to a peer of the smallest messages can carry
// (agreed by members of larger messages, before the peer joined or
// lowered its limit) travels so: the peer, whose ledger differs from the
// others' until it holds the entry, would otherwise never take their data.
type entryPart struct {
	Name        ReplicaID
	Index, Hash uint64
	Part, Parts uint64
	From, Heir  ReplicaID
	Finals      []objFinal
}

// partsIn gathers the parts of one entry from a peer: the first part's
// Name, Index, Hash and Parts say which entry, and got holds the finals of
// each part received, by its number (a map, not a slice of Parts, so that
// a part claiming thousands of others costs what it carries).
type partsIn struct {
	head entryPart // Finals unused
	got  map[uint64][]objFinal
	objs int // finals gathered
}

func (l *ledger) list(name ReplicaID) *nameList {
	if l.lists == nil {
		l.lists = map[ReplicaID]*nameList{}
	}
	nl := l.lists[name]
	if nl == nil {
		nl = &nameList{bases: map[string]uint64{}}
		l.lists[name] = nl
		l.spare = append(l.spare, name)
	}
	return nl
}

// full reports whether the ledger holds as many lists as a message may
// name and none for name: a peer cannot make it keep more.
func (l *ledger) full(name ReplicaID) bool {
	return l.lists[name] == nil && len(l.lists) >= maxLedgerNames
}

// prefixHash returns the chained hash of the list's first n entries (n at
// most its length).
func (nl *nameList) prefixHash(n uint64) uint64 {
	if n == 0 {
		return 0
	}
	return nl.hashes[n-1]
}

// add appends e to the list.
func (nl *nameList) add(e retireEntry) {
	for _, f := range e.Finals {
		nl.bases[f.Object] += f.Final
	}
	nl.entries = append(nl.entries, e)
	nl.hash = e.hash(nl.hash)
	nl.hashes = append(nl.hashes, nl.hash)
}

// ledgerFull reports whether the ledger cannot keep a list for name: it
// holds as many lists as a message may name and none for name (see
// ledger.full). A name this replica knows (see Replica.known) takes the
// place of a list that holds nothing but a promise for a name it does not
// know: a peer that proposed for made-up names, as a member may for names
// not in the group, would otherwise keep every list not yet begun, its
// members' own among them, from ever taking an entry. The caller holds
// r.mu.
func (r *Replica) ledgerFull(name ReplicaID) bool {
	l := &r.led
	if !l.full(name) {
		return false
	}
	if !r.known(name) {
		return true
	}
	// The lists that may give way are kept apart (ledger.spare), so that
	// each is looked at once, not every list for every entry or proposal
	// of a known name: with none that may, a message's entries and
	// proposals would each go through every list.
	for len(l.spare) > 0 {
		n := l.spare[len(l.spare)-1]
		l.spare = l.spare[:len(l.spare)-1]
		l.examined++
		if r.givesWay(n) {
			delete(l.lists, n)
			return false
		}
	}
	return true
}

// givesWay reports whether name's list may give way to the list of a name
// this replica knows: it holds nothing but a promise (no entry, no
// accepted value, no proposal of this replica's), for a name this replica
// does not know. The caller holds r.mu.
func (r *Replica) givesWay(name ReplicaID) bool {
	l := &r.led
	nl := l.lists[name]
	return nl != nil && len(nl.entries) == 0 && nl.accepted.zero() && l.props[name] == nil && !r.known(name)
}

// known reports whether this replica knows name: its own, a peer's, a
// removed peer's it holds back, or that of a writer its objects name (as
// writerNames read them). The caller holds r.mu.
func (r *Replica) known(name ReplicaID) bool {
	if _, ok := r.peers[name]; ok || name == r.id {
		return true
	}
	if _, ok := r.left[name]; ok {
		return true
	}
	return r.writerNames()[name]
}

// writerNames returns the names of the writers the objects name, as read
// at most an anti-entropy round ago (see retireEvery): reading them takes
// a pass over every object's version, which retireStep makes once a round
// anyway, and which a peer's messages, each naming a list the ledger has
// no room for, would otherwise cost each. A name that began to write here
// since is known from the next round on; until then, while the ledger is
// full, its list does not begin. The caller holds r.mu.
func (r *Replica) writerNames() map[ReplicaID]bool {
	l := &r.led
	if l.names == nil || r.ticks-l.namesAt >= r.retireEvery() {
		r.setWriterNames(r.versionsOf())
	}
	return l.names
}

// setWriterNames records the names of the writers of the versions vs
// (see Replica.versionsOf), read at this tick. The caller holds r.mu.
func (r *Replica) setWriterNames(vs []namedVersion) {
	names := map[ReplicaID]bool{}
	for _, nv := range vs {
		for w := range nv.v.All() {
			names[w.Name()] = true
		}
	}
	l := &r.led
	l.names, l.namesAt = names, r.ticks
	// A list may give way now that did not then: a name no longer known.
	l.spare = l.spare[:0]
	for n := range l.lists {
		if r.givesWay(n) {
			l.spare = append(l.spare, n)
		}
	}
}

// retireEvery is how many ticks pass between the passes of retireStep
// over the objects' versions, which look for writers to retire.
func (r *Replica) retireEvery() uint64 {
	if r.cfg.AntiEntropyTicks > 0 {
		return uint64(r.cfg.AntiEntropyTicks)
	}
	return 64
}

func (l *ledger) len(name ReplicaID) uint64 {
	if nl := l.lists[name]; nl != nil {
		return uint64(len(nl.entries))
	}
	return 0
}

// summaryBytes bounds the encoded size of the ledger's sum and summary.
// Every message carries the sum once the ledger holds an entry, and the
// summary while the peer's sum differs; a message's room keeps space for
// both, so that any message may carry them.
func (l *ledger) summaryBytes() int {
	n := 0
	for name, nl := range l.lists {
		if len(nl.entries) > 0 {
			n += len(name) + 5 + 18
		}
	}
	if n > 0 {
		n += 5*5 + 9
	}
	return n
}

// summary returns the ledger's lengths and hashes, sorted by name.
func (l *ledger) summary() []nameLen {
	var out []nameLen
	for name, nl := range l.lists {
		if len(nl.entries) > 0 {
			out = append(out, nameLen{name, uint64(len(nl.entries)), nl.hash})
		}
	}
	slices.SortFunc(out, func(a, b nameLen) int { return strings.Compare(string(a.Name), string(b.Name)) })
	return out
}

// listSum is what one name's list adds to the ledger's sum.
func listSum(name ReplicaID, nl *nameList) uint64 {
	if len(nl.entries) == 0 {
		return 0
	}
	return codec.Mix(codec.HashUint(codec.HashUint(codec.HashString(0, string(name)), uint64(len(nl.entries))), nl.hash))
}

// membersHash hashes the group as this replica sees it: itself and its
// peers. The caller holds r.mu.
func (r *Replica) membersHash() uint64 {
	ids := append(sortedPeerIDs(r.peers), r.id)
	slices.Sort(ids)
	var h uint64
	for _, id := range ids {
		h = codec.HashString(h, string(id))
	}
	return codec.Mix(h)
}

// counts returns, per object that can retire writers, the version entry
// of writer w: how many of its events the object holds from the first.
// The caller holds r.mu.
func (r *Replica) counts(w ReplicaID) []objFinal {
	return r.countsIn(w, r.versionsOf())
}

// countsIn returns, per object of vs (see Replica.versionsOf), the
// version entry of writer w, and for an object that is a SplitCounter the
// writer's increments too (see upPrefix). The caller holds r.mu.
func (r *Replica) countsIn(w ReplicaID, vs []namedVersion) []objFinal {
	var out []objFinal
	split := false
	for _, nv := range vs {
		n := nv.v.Get(w)
		if n == 0 {
			continue
		}
		out = append(out, objFinal{nv.object, n})
		if sc, ok := r.objects[nv.object].(SplitCounter); ok {
			// Reported as 1 + the count, under a name no object has, so
			// that a zero count has an entry and a ledger without one
			// (agreed before this was reported) says "not known".
			if up := sc.Increments(w); up <= n && up < vclock.MaxSeq {
				out = append(out, objFinal{upPrefix + nv.object, up + 1})
				split = true
			}
		}
	}
	if split {
		slices.SortFunc(out, func(a, b objFinal) int { return strings.Compare(a.Object, b.Object) })
	}
	return out
}

// upPrefix starts the name under which an entry carries, for an object
// that is a SplitCounter, 1 + the retired writer's increments within its
// Final. Object names never start with a NUL byte (see Register).
const upPrefix = "\x00up:"

// up returns what e says of the first kind of events of its writer in
// object (see vclock.Retirement.Up).
func (e retireEntry) up(object string) (uint64, bool) {
	if u := e.final(upPrefix + object); u > 0 {
		return u - 1, true
	}
	return 0, false
}

// SplitCounter is an optional interface of a [Retirer] whose writers'
// events are of two kinds, such as counter.PN's increments and
// decrements: a replica that holds more of a retired writer than the
// agreed count (a second process that went on under the name) cannot
// tell how the agreed events split between the kinds. The group agrees
// on it with the count, as vclock.Retirement.Up, so that Retire can keep
// the writer's further events under its own name. A replica of a release
// without it reports no split, and the group agrees no retirement of
// such a writer until every member reports the same.
type SplitCounter interface {
	// Increments returns how many of writer w's events the object holds
	// are of the first kind: at most its count of w's events.
	Increments(w vclock.ReplicaID) uint64
}

// WriterCounter is an optional interface of a [Retirer] whose version
// does not count its writers' events, or that has no version (it is no
// [DeltaObject]), such as counter.Bounded.
type WriterCounter interface {
	// Writers returns, for each writer the object names, how many of its
	// events the object holds: the units of a retirement's Base and Final.
	Writers() vclock.Clock
}

// versionsOf returns, sorted by object, the writers' event counts of the
// objects that can retire writers: a WriterCounter's, or a DeltaObject's
// version. The caller holds r.mu.
func (r *Replica) versionsOf() []namedVersion {
	var out []namedVersion
	for _, name := range r.sortedObjects() {
		if _, ok := r.objects[name].(Retirer); !ok {
			continue
		}
		if v, ok := writerCounts(r.objects[name]); ok {
			out = append(out, namedVersion{name, v})
		}
	}
	return out
}

// writerCounts returns the writers' event counts of obj: a
// WriterCounter's, or a DeltaObject's version; false if it has neither
// (or its version does not decode). A counter's version counts what its
// writers added, which may pass vclock.MaxSeq: it decodes all the same,
// so that the object's other writers can be retired (a writer with such
// a count cannot: see Replica.candidate).
func writerCounts(obj any) (vclock.Clock, bool) {
	if wc, ok := obj.(WriterCounter); ok {
		return wc.Writers(), true
	}
	d, ok := obj.(DeltaObject)
	if !ok {
		return vclock.Clock{}, false
	}
	b, err := d.VersionBinary()
	if err != nil {
		return vclock.Clock{}, false
	}
	v, err := vclock.UnmarshalTotals(b, codec.Limits{MaxBytes: max(len(b), 1)})
	if err != nil {
		return vclock.Clock{}, false
	}
	return v, true
}

type namedVersion struct {
	object string
	v      vclock.Clock
}

// candidate returns a writer of name that the objects name and that no
// entry retired yet, other than this run's own: for this replica's own
// name, a finished run's writer; for a replica that left the group, any of
// its writers. The caller holds r.mu.
//
// A writer that an object counts more than vclock.MaxSeq of (a counter's
// totals past 2^62) is never a candidate: an entry's Final is at most
// MaxSeq. Every object keeps it under its own name, and the ledger notes
// it for Stats.UnretirableWriters.
func (r *Replica) candidate(name ReplicaID, vs []namedVersion) ReplicaID {
	var huge map[ReplicaID]bool
	for _, nv := range vs {
		for w, n := range nv.v.All() {
			if n > vclock.MaxSeq && w.Name() == name && w != r.writer && !w.IsRetired() && !r.led.retired[string(w)] {
				if huge == nil {
					huge = map[ReplicaID]bool{}
				}
				huge[w] = true
				if r.led.unretirable == nil {
					r.led.unretirable = map[ReplicaID]bool{}
				}
				r.led.unretirable[w] = true
			}
		}
	}
	var best ReplicaID
	for _, nv := range vs {
		for w := range nv.v.All() {
			if w.Name() != name || w == r.writer || w.IsRetired() || r.led.retired[string(w)] || r.led.skip[w] > r.ticks || huge[w] {
				continue
			}
			if ep, ok := w.Epoch(); !ok || ep == 0 {
				continue
			}
			if best == "" || w < best {
				best = w
			}
		}
	}
	return best
}

// anyWriterIn returns the least writer of name that the versions vs name
// and that no entry of l retired, or "" if there is none.
func anyWriterIn(name ReplicaID, vs []namedVersion, l *ledger) ReplicaID {
	var best ReplicaID
	for _, nv := range vs {
		for w := range nv.v.All() {
			if w.Name() != name || w.IsRetired() || l.retired[string(w)] {
				continue
			}
			if ep, ok := w.Epoch(); !ok || ep == 0 {
				continue
			}
			if best == "" || w < best {
				best = w
			}
		}
	}
	return best
}

// myBallot is the ballot of this run's proposals: its incarnation, or
// higher once raised past a ballot a member promised.
func (r *Replica) myBallot() ballot {
	ep, _ := r.writer.Epoch()
	return ballot{max(r.incarnation, r.led.raise), ep, r.id}
}

// raiseBallot makes this run's ballots pass b. The caller holds r.mu.
func (r *Replica) raiseBallot(b ballot) {
	if b.Inc < math.MaxUint64 && r.myBallot().cmp(b) < 0 {
		r.led.raise = b.Inc + 1
	}
}

// mayPropose reports whether this replica proposes entries of name's list:
// its own, and, if it is the group's first by name, the list of a replica
// that is no longer in the group (RemovePeer on every replica). The
// caller holds r.mu.
func (r *Replica) mayPropose(name ReplicaID) bool {
	if name == r.id {
		return true
	}
	if _, member := r.peers[name]; member {
		return false
	}
	for id := range r.peers {
		if id < r.id {
			return false
		}
	}
	return true
}

// mayProposeLeaving reports whether this replica proposes that name has
// left the group: name is no longer in the group and this replica holds it
// back (see Replica.left), having heard from it. Any such member proposes,
// not only the group's first replica by name, which may never have heard
// from it (cut off from it the whole time, added to the group later, or
// back from an empty disk): were the first the only proposer, the members
// that heard from it would hold collection back for good. Several members
// may propose at once; the ballots, unique to their proposer, keep them
// agreeing on one entry (single-decree Paxos per entry), and a proposer
// that finds a higher ballot promised proposes again above it, a round
// (AntiEntropyTicks) later, which leaves the other the time to have its
// proposal agreed. Whoever proposes, every member must accept, so every
// member must have removed the name, and one that still holds a writer of
// it refuses. The caller holds r.mu.
func (r *Replica) mayProposeLeaving(name ReplicaID) bool {
	if name == r.id {
		return false
	}
	if _, member := r.peers[name]; member {
		return false
	}
	_, holds := r.left[name]
	return holds
}

// mayAccept reports whether this replica takes proposals for name's list
// from peer from: from the replica itself, or, for a replica no longer in
// the group, from any member. The caller holds r.mu.
func (r *Replica) mayAccept(name, from ReplicaID) bool {
	if name == from {
		return true
	}
	_, member := r.peers[name]
	return !member && name != r.id
}

// retireStep advances this replica's proposals, once a tick. The caller
// holds r.mu.
func (r *Replica) retireStep() {
	if len(r.peers) == 0 {
		return
	}
	l := &r.led
	for name, p := range l.props {
		may := r.mayPropose(name)
		if p.cand == name {
			may = r.mayProposeLeaving(name)
		}
		if p.index != l.len(name) || p.b != r.myBallot() || !may {
			delete(l.props, name) // agreed meanwhile (by another), or a new run
		}
	}
	// New proposals only now and then: a candidate is looked for by
	// decoding every object's version.
	if r.ticks%r.retireEvery() == 0 {
		vs := r.versionsOf()
		r.setWriterNames(vs)
		for name := range l.names {
			if l.props[name] != nil || len(l.props) >= maxProposals || !r.mayPropose(name) {
				continue
			}
			// Its list, if it has none yet, must have room, as a peer's
			// proposal's must (see ledgerFull): one past maxLedgerNames
			// would, once agreed, make a ledger summary no peer decodes.
			if cand := r.candidate(name, vs); cand != "" && !r.ledgerFull(name) {
				if l.props == nil {
					l.props = map[ReplicaID]*proposal{}
				}
				l.props[name] = &proposal{name: name, index: l.len(name), b: r.myBallot(), cand: cand,
					promises: map[ReplicaID]*promiseMsg{}, started: r.ticks}
			}
		}
		// A removed peer that still holds collection back and names no
		// writer to retire: propose that it has left (see leaves).
		for _, name := range slices.Sorted(maps.Keys(r.left)) {
			if anyWriterIn(name, vs, &r.led) != "" || l.props[name] != nil || len(l.props) >= maxProposals || !r.mayProposeLeaving(name) ||
				l.skip[name] > r.ticks || r.ledgerFull(name) {
				continue
			}
			if l.props == nil {
				l.props = map[ReplicaID]*proposal{}
			}
			l.props[name] = &proposal{name: name, index: l.len(name), b: r.myBallot(), cand: name,
				promises: map[ReplicaID]*promiseMsg{}, started: r.ticks}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(l.props)) {
		r.advance(l.props[name])
	}
}

// advance moves a proposal on as far as the answers allow. The caller
// holds r.mu.
func (r *Replica) advance(p *proposal) {
	l := &r.led
	nl := l.list(p.name)
	// This replica is a member too: it promises its own ballot.
	if nl.promised.cmp(p.b) > 0 {
		// A higher ballot exists. Propose again above it, later: for this
		// replica's own name, only runs of the name propose its list, and
		// the one that promised it may be gone for good (a second process
		// stopped); for a name that left the group, the member that
		// promised it may be away, or may propose what the group cannot
		// agree yet (that the name has left, while this replica holds a
		// writer of it to retire).
		delete(l.props, p.name)
		r.raiseBallot(nl.promised)
		return
	}
	if nl.promised != p.b {
		nl.promised = p.b
		l.voteSeq++
	}
	if p.value == nil {
		if len(p.promises) < len(r.peers) {
			return
		}
		members := r.membersHash()
		leave := p.cand == p.name
		var mine []objFinal
		if !leave {
			mine = r.counts(p.cand)
		}
		// The highest accepted value among the promises, this replica's
		// own acceptance included, must be proposed again: it may have been
		// agreed.
		var best *retireEntry
		bestB := nl.accepted
		if !nl.accepted.zero() {
			v := nl.value
			best = &v
		}
		agree := true
		for id := range r.peers {
			pm := p.promises[id]
			if pm == nil || pm.Index != p.index || pm.B != p.b {
				return
			}
			if pm.Members != members {
				agree = false
			}
			if !pm.AccB.zero() && pm.AccB.cmp(bestB) > 0 {
				v := pm.Value
				best, bestB = &v, pm.AccB
			}
			if !slices.Equal(pm.Counts, mine) {
				agree = false
			}
		}
		v := retireEntry{From: p.cand, Finals: mine}
		if p.name == r.id {
			v.Heir = r.writer
		}
		switch {
		case best != nil:
			p.value = best
		case !agree || (len(mine) == 0 && !leave) || !finalsFit(mine) || !r.acceptFits(p, v):
			// Not every replica holds the writer's every event yet (or
			// the groups differ): ask again later. A writer of more
			// objects than an entry may name, or with a count past
			// vclock.MaxSeq at a member (not a candidate here, see
			// candidate), is never retired: no member could decode the
			// entry; nor is one whose accept would not fit in a message
			// of its own to every member (see acceptFits).
			if r.ticks-p.started >= uint64(max(1, 4*r.cfg.RetransmitTicks)) {
				// Another candidate goes first for a while: this one may be
				// a writer still at work (a second process under the name).
				delete(l.props, p.name)
				if l.skip == nil {
					l.skip = map[ReplicaID]uint64{}
				}
				for w, until := range l.skip {
					if until <= r.ticks {
						delete(l.skip, w)
					}
				}
				l.skip[p.cand] = r.ticks + 16*uint64(max(1, r.cfg.AntiEntropyTicks))
			}
			return
		default:
			p.value = &v
		}
		p.accepted = map[ReplicaID]bool{}
		p.started = r.ticks // the accepts go out now
		nl.accepted, nl.value = p.b, *p.value
		l.voteSeq++
	}
	for id := range r.peers {
		if !p.accepted[id] {
			return
		}
	}
	// Every member accepted: the entry is agreed.
	e := *p.value
	delete(l.props, p.name)
	r.installEntry(p.name, e)
}

// acceptFits reports whether the accept of value v for p goes to every
// member, alone in a message if need be (see retireOut), and whether a
// promise that carries v as its accepted value does too: the accept of a
// writer of many objects may not, in messages of the smallest size, and a
// proposer that proposed it would wait for the members' acceptances for
// good, holding up its name's list; a member that accepted it must be
// able to tell a later proposer of it, or that proposer would wait for
// the member's promise for good. Both are measured as encoded (see
// fitsAlone). The caller holds r.mu.
func (r *Replica) acceptFits(p *proposal, v retireEntry) bool {
	// The widest ballot a member may have promised: the longest member
	// name, and numbers at their widest.
	by := r.id
	for id := range r.peers {
		if len(id) > len(by) {
			by = id
		}
	}
	wide := ballot{Inc: math.MaxUint64, Epoch: math.MaxUint64, By: by}
	accept := retireSection{Proposals: []proposalMsg{{Name: p.name, Index: p.index, B: p.b, Accept: &v}}}
	promise := retireSection{Promises: []promiseMsg{{Name: p.name, Index: p.index, B: wide, AccB: wide, Value: v,
		Counts: tooManyCounts, Members: math.MaxUint64}}}
	for _, peer := range r.peers {
		if !r.fitsAlone(peer, &accept) || !r.fitsAlone(peer, &promise) {
			return false
		}
	}
	return true
}

// fitsAlone reports whether a message to p that carries the retirement
// section one and nothing else (see retireOut) fits in the messages this
// replica sends p. It encodes such a message, with the fields prepare
// fills in (the acknowledgements, the clock, the ledger's sum) at their
// widest, and measures it: the bounds of retireSection.size and
// headerBytes count every name and number at its widest, and a message of
// one section at about twice its encoded size, so that in messages of
// the smallest size the accept of a writer of twenty objects seemed not
// to fit, when it takes half the message. The caller holds r.mu.
func (r *Replica) fitsAlone(p *peer, one *retireSection) bool {
	return r.aloneBytes(p, one) <= r.limitTo(p)
}

// aloneBytes returns the encoded size of a message to p that carries the
// retirement section one and nothing else, with the fields prepare fills
// in at their widest (see fitsAlone); math.MaxInt if it does not encode.
// The caller holds r.mu.
func (r *Replica) aloneBytes(p *peer, one *retireSection) int {
	sec := *one
	sec.Sum = math.MaxUint64
	env := envelope{From: r.id, To: p.id, Incarnation: math.MaxUint64,
		Now:    clock.Timestamp{Wall: math.MinInt64, Logical: math.MaxUint32},
		AckInc: math.MaxUint64, AckSeq: math.MaxUint64, CatchUpAck: math.MaxUint64, Retire: &sec}
	msg, err := env.encode()
	if err != nil {
		return math.MaxInt
	}
	return len(msg)
}

// maxPartsAtOnce bounds the parts of a cut entry that go with one message
// (see retireOut): the next message sends the next ones.
const maxPartsAtOnce = 4

// cutEntry cuts the entry le, which no message to p carries whole, into
// parts that each fit in a message of its own to p (see entryPart), in
// order of its finals; nil if a single final does not fit. The caller
// holds r.mu.
func (r *Replica) cutEntry(p *peer, le ledgerEntry) []*entryPart {
	head := entryPart{Name: le.Name, Index: le.Index, Hash: le.Entry.hash(0), Part: math.MaxUint64, Parts: math.MaxUint64,
		From: le.Entry.From, Heir: le.Entry.Heir}
	// A part without finals, its numbers at their widest, and 4 bytes
	// for the finals' array header growing from 1 byte to 5.
	base := r.aloneBytes(p, &retireSection{Part: &head}) + 4
	limit := r.limitTo(p)
	var parts []*entryPart
	lo, used := 0, base
	for i, f := range le.Entry.Finals {
		n := codec.StringLen(len(f.Object)) + codec.UintLen(f.Final)
		if used+n > limit {
			if i == lo {
				return nil
			}
			parts = append(parts, &entryPart{Finals: le.Entry.Finals[lo:i]})
			lo, used = i, base
			if used+n > limit {
				return nil
			}
		}
		used += n
	}
	parts = append(parts, &entryPart{Finals: le.Entry.Finals[lo:]})
	if len(parts) < 2 {
		return nil // it fits whole: not for cutting
	}
	for i, m := range parts {
		m.Name, m.Index, m.Hash, m.From, m.Heir = head.Name, head.Index, head.Hash, head.From, head.Heir
		m.Part, m.Parts = uint64(i), uint64(len(parts))
	}
	return parts
}

// takePart takes in the part m of an entry from p (see entryPart), and
// installs the entry once every part of it arrived, as an entry received
// whole. Parts of another entry than those gathered start over. The
// caller holds r.mu.
func (r *Replica) takePart(p *peer, m *entryPart) {
	l := &r.led
	if m.Index != l.len(m.Name) {
		return // a place of the list filled here already, or not reached yet
	}
	g := p.partsIn
	if g == nil || g.head.Name != m.Name || g.head.Index != m.Index || g.head.Hash != m.Hash || g.head.Parts != m.Parts ||
		g.head.From != m.From || g.head.Heir != m.Heir {
		head := *m
		head.Finals = nil
		g = &partsIn{head: head, got: map[uint64][]objFinal{}}
		p.partsIn = g
	}
	if _, ok := g.got[m.Part]; ok {
		return // received again
	}
	if g.objs+len(m.Finals) > 2*maxEntryObjects {
		// More finals than an entry may hold (see finalsFit).
		p.partsIn = nil
		p.refuse(ReasonMalformed)
		return
	}
	g.got[m.Part] = m.Finals
	g.objs += len(m.Finals)
	if uint64(len(g.got)) < m.Parts {
		return
	}
	p.partsIn = nil
	finals := make([]objFinal, 0, g.objs)
	for i := range m.Parts {
		finals = append(finals, g.got[i]...)
	}
	e := retireEntry{From: m.From, Heir: m.Heir, Finals: finals}
	if e.hash(0) != m.Hash || e.check(m.Name) != nil || !finalsFit(e.Finals) || l.retired[string(e.From)] {
		p.refuse(ReasonMalformed)
		return
	}
	if r.ledgerFull(m.Name) {
		p.refuse(ReasonLedgerFull)
		return
	}
	r.installEntry(m.Name, e)
}

// installEntry appends e to name's list and renames its writer in every
// object. The caller holds r.mu.
func (r *Replica) installEntry(name ReplicaID, e retireEntry) {
	l := &r.led
	nl := l.list(name)
	to := vclock.Retired(name)
	if e.From == r.writer {
		// Another run of this name retired this run's writer: it must
		// not mint another dot under it, and the objects refuse to retire
		// the writer they write under.
		r.newWriter()
	}
	renamed := map[string]vclock.Retirement{}
	held := false // whether an object may have held the writer's events
	// The objects the entry names, in order (its finals are sorted): an
	// entry costs what it names, not a pass over every object.
	for _, fin := range e.Finals {
		obj, f := fin.Object, fin.Final
		rt, ok := r.objects[obj].(Retirer) // a split's name is no object's
		if !ok {
			continue
		}
		ret := vclock.Retirement{From: e.From, To: to, Base: nl.bases[obj], Final: f, Heir: e.Heir}
		ret.Up, ret.UpKnown = e.up(obj)
		v, counted := writerCounts(rt)
		names := mayName(rt, v, counted, e.From)
		if counted {
			if n := v.Get(e.From); n > f {
				// The writer went on after the entry was agreed (a
				// second process under its name): see
				// Stats.RetiredPastFinal.
				l.pastFinal++
				l.pastEvents += min(n-f, math.MaxUint64-l.pastEvents)
				r.log.Warn("retiring a writer that wrote past the agreed count", "object", obj, "writer", string(e.From), "count", n, "final", f)
			}
		}
		if err := rt.Retire(ret); err == nil {
			renamed[obj] = ret
			held = held || names
		} else {
			// The object keeps the writer's dots under their old names
			// while its peers renamed them: counted, since the replicas
			// may now differ.
			l.failures++
			r.log.Error("retiring a writer failed", "object", obj, "writer", string(e.From), "err", err)
		}
	}
	l.sum -= listSum(name, nl)
	nl.add(e)
	l.sum += listSum(name, nl)
	nl.promised, nl.accepted, nl.value = ballot{}, ballot{}, retireEntry{}
	if l.retired == nil {
		l.retired = map[string]bool{}
	}
	if !e.leaves() {
		l.retired[string(e.From)] = true
	}
	l.installs++
	// Whatever was computed for peers before the renaming names the
	// writer: compute it again. The versions a peer reported before it
	// restarted guard against its return from an older backup (see
	// peer.reported): they are renamed as the objects were, not dropped.
	if _, member := r.peers[name]; !member && name != r.id {
		// The group retired a replica it removed: it has left.
		delete(r.left, name)
	}
	if e.leaves() {
		// Nothing was renamed.
		r.log.Info("replica left", "name", string(name), "index", len(nl.entries)-1)
		return
	}
	for id, lv := range r.left {
		// The versions of a removed peer are renamed as the objects were.
		p := &peer{reported: lv}
		p.renameReported(renamed, r.limit)
		r.left[id] = p.reported
	}
	for _, p := range r.peers {
		p.renameReported(renamed, r.limit)
		if !held {
			// No object here held the writer (this replica was restored
			// from a state older than its writes, or the writer's run
			// never wrote to the objects here): nothing computed for a
			// peer names it, so a catch-up on its way goes on. Were it
			// dropped, a peer retiring such a writer at every message
			// would keep every catch-up from ending.
			continue
		}
		p.out, p.frozen = nil, nil
		p.theirDig, p.hasTheir = nil, false
		p.versions = nil
		p.awaitDig, p.catchUpSent = true, 0
	}
	r.log.Info("writer retired", "name", string(name), "writer", string(e.From), "index", len(nl.entries)-1)
}

// mayName reports whether object obj, whose writers' counts are v
// (counted: writerCounts could read them), may hold events of writer w:
// v names w, or obj holds updates its version leaves out (see
// [GapReporter]), or its counts could not be read.
func mayName(obj any, v vclock.Clock, counted bool, w ReplicaID) bool {
	if g, ok := obj.(GapReporter); ok && g.HasGaps() {
		return true
	}
	return !counted || v.Get(w) > 0
}

// renamedAll hands every retirement in the ledger l to the objects that
// keep the retirements applied to them ([Renamer]), as installEntry gave
// them to Retire: per name, in list order, with the object's Base the sum
// of the name's earlier finals for it. The caller holds r.mu.
func (r *Replica) renamedAll(l *ledger) {
	for _, name := range slices.Sorted(maps.Keys(l.lists)) {
		to := vclock.Retired(name)
		bases := map[string]uint64{}
		for _, e := range l.lists[name].entries {
			for _, f := range e.Finals {
				if rn, ok := r.objects[f.Object].(Renamer); ok {
					ret := vclock.Retirement{From: e.From, To: to, Base: bases[f.Object], Final: f.Final, Heir: e.Heir}
					if err := rn.Renamed(ret); err != nil {
						l.failures++
						r.log.Error("restoring a retirement failed", "object", f.Object, "writer", string(e.From), "err", err)
					}
				}
				bases[f.Object] += f.Final
			}
		}
	}
}

// renameReported renames, in the versions the peer reported before it
// restarted, the writers the objects named in renamed were retired from.
// A version that cannot be decoded is kept as it was: compareReported
// drops it.
func (p *peer) renameReported(renamed map[string]vclock.Retirement, lim codec.Limits) {
	for name, ret := range renamed {
		old, ok := p.reported[name]
		if !ok {
			continue
		}
		v, err := vclock.UnmarshalClock(old, lim)
		if err != nil {
			continue
		}
		v.Retire(ret)
		if b, err := v.MarshalBinary(); err == nil {
			p.reported[name] = b
		}
	}
}

// newWriter draws a new writer for this run. The caller holds r.mu.
func (r *Replica) newWriter() {
	var epoch [8]byte
	if _, err := io.ReadFull(r.cfg.Entropy, epoch[:]); err != nil {
		// Config.Entropy failed after it served the first epoch: take one
		// from the old writer and the time, which no run drew before.
		r.log.Error("drawing a new epoch", "err", err)
		old, _ := r.writer.Epoch()
		binary.BigEndian.PutUint64(epoch[:], codec.Mix(old^uint64(r.clk.Now().Wall)))
	}
	r.writer = vclock.Writer(r.id, drawnEpoch(epoch))
	r.log.Info("new writer", "writer", string(r.writer))
	for _, obj := range r.objects {
		if w, ok := obj.(WriterSetter); ok {
			w.SetWriter(r.writer)
		}
	}
}

// retireOut fills the retirement section of a message to p, and reports
// whether it says anything the peer is waiting for. Beyond the ledger's
// summary, the section takes at most budget bytes. A promise, an entry
// or a proposal too large for that goes alone in a message of its own
// (one of each kind at most), returned in alone, if it fits in a message
// to p (see fitsAlone): those messages go with the message the section
// is for, if it goes. The caller holds r.mu.
func (r *Replica) retireOut(p *peer, env *envelope, budget int) (due bool, alone []*envelope) {
	l := &r.led
	sec := &retireSection{Sum: l.sum}
	if p.retSum != l.sum {
		sec.Lens = l.summary() // the peer's ledger differs: say what this one holds
	}
	base := sec.size()
	fits := func() bool { return sec.size()-base <= budget }
	// goAlone returns a message of its own for what one, a section
	// holding nothing else, says, if it fits in a message to p.
	goAlone := func(one *retireSection) *envelope {
		one.Sum = l.sum
		if !r.fitsAlone(p, one) {
			return nil
		}
		return &envelope{Retire: one}
	}
	// Entries the peer lacks. An entry naming many objects may not fit
	// in the section's half of the smallest messages, as its accept
	// did not (see the proposals below): the first the peer lacks of a
	// list then goes alone, or the peer, whose ledger differs from this
	// one's until it takes the entry, would never take in this
	// replica's data again.
	entryAlone := false
	for _, nl := range sec.Lens {
		have := p.retLens[nl.Name].Len
		if have >= nl.Len {
			continue
		}
		list := l.lists[nl.Name]
		if list.prefixHash(have) != p.retLens[nl.Name].Hash {
			// The peer's list differs from this one within its length
			// (counted in retireIn): appending to it would only make the
			// two name more dots differently.
			continue
		}
		for i := have; i < nl.Len && len(sec.Entries) < maxLedgerEntries; i++ {
			le := ledgerEntry{nl.Name, i, list.entries[i]}
			sec.Entries = append(sec.Entries, le)
			if !fits() {
				sec.Entries = sec.Entries[:len(sec.Entries)-1]
				if i == have && !entryAlone {
					if one := goAlone(&retireSection{Entries: []ledgerEntry{le}}); one != nil {
						alone = append(alone, one)
						entryAlone = true
					} else if parts := r.cutEntry(p, le); parts != nil {
						// Agreed by members of larger messages than
						// the peer's: it goes in parts, the next few
						// with each message.
						for k := range min(len(parts), maxPartsAtOnce) {
							m := parts[(p.partsOut+uint64(k))%uint64(len(parts))]
							alone = append(alone, &envelope{Retire: &retireSection{Sum: l.sum, Part: m}})
						}
						p.partsOut += uint64(min(len(parts), maxPartsAtOnce))
						entryAlone = true
					} else {
						r.log.Warn("a retirement entry does not fit in a message", "peer", string(p.id), "name", string(nl.Name), "index", i)
					}
				}
				break
			}
		}
		due = true
	}
	// Answers before proposals: a promise or an acceptance goes once (its
	// proposer asks again only every RetransmitTicks), while proposals
	// ride on every message. Were proposals first, two replicas proposing
	// at once, with room for one proposal and no more, would each crowd
	// out the promise the other waits for, every time: neither retirement
	// would ever be agreed. A promise that does not fit waits for the
	// next message.
	//
	// Once the replica is persistent, an answer waits until a saved
	// snapshot holds the votes it reveals (see ledger.voteSeq): the
	// proposer asks again, and SaveOps asks for a snapshot meanwhile.
	saved := func(seq uint64) bool { return !r.persistent || seq <= l.savedVoteSeq }
	// The objects' versions, read once for the message's promises.
	var vs []namedVersion
	versions := func() []namedVersion {
		if vs == nil {
			vs = r.versionsOf()
			if vs == nil {
				vs = []namedVersion{}
			}
		}
		return vs
	}
	promiseAlone := false
	for _, name := range slices.Sorted(maps.Keys(p.retPromises)) {
		if !saved(p.retPromises[name].seq) {
			continue
		}
		if pm := p.retPromises[name]; pm.counts {
			pm.counts = false
			switch {
			case pm.cand != pm.Name:
				pm.Counts = promisedCounts(r.countsIn(pm.cand, versions()))
			default:
				if w := anyWriterIn(pm.Name, versions(), l); w != "" {
					pm.Counts = promisedCounts(r.countsIn(w, versions()))
				}
			}
		}
		sec.Promises = append(sec.Promises, *p.retPromises[name])
		if !fits() {
			sec.Promises = sec.Promises[:len(sec.Promises)-1]
			// A promise that carries the value its member accepted is
			// the largest part of a section (the value, and two
			// ballots), larger than the accept that brought the value:
			// in the smallest messages it may not fit in the section's
			// half of the room, and a list whose members all restarted
			// holding an accepted value would never take an entry
			// again. It goes alone in a message of its own.
			if !promiseAlone {
				pm := *p.retPromises[name]
				one := goAlone(&retireSection{Promises: []promiseMsg{pm}})
				if one == nil && len(pm.Counts) > 0 && !pm.refusal() {
					// Counts too large even for a message of their own
					// (a writer of some eighty objects, in the smallest
					// messages): reported as those of a writer of too
					// many objects, so that the proposer does not wait
					// for them for good, holding up its name's list.
					pm.Counts = tooManyCounts
					one = goAlone(&retireSection{Promises: []promiseMsg{pm}})
				}
				if one != nil {
					alone = append(alone, one)
					promiseAlone = true
					delete(p.retPromises, name)
					due = true
					continue
				}
			}
			r.log.Warn("a retirement promise does not fit in a message", "peer", string(p.id), "name", string(name))
			continue
		}
		delete(p.retPromises, name)
		due = true
	}
	for _, name := range slices.Sorted(maps.Keys(p.retAccepted)) {
		if !saved(p.retAccepted[name].seq) {
			continue
		}
		sec.Accepteds = append(sec.Accepteds, p.retAccepted[name])
		delete(p.retAccepted, name)
		due = true
	}
	// Proposals ride on every message until the peer answers them, and
	// make one every RetransmitTicks for the first 4*RetransmitTicks of
	// each phase: after that, they wait for the peer's next message (a
	// heartbeat at least). A member that never answers (one that has not
	// removed the name yet, say) thus costs no message of its own, though
	// every member holding the name back proposes that it has left.
	//
	// An accept carries the whole entry: for a writer of a dozen objects,
	// more than the section's half of the smallest messages. The first
	// proposal that does not fit goes alone, with the message (as a
	// promise too large does), or it would never reach the peer, and the
	// list would never take an entry again.
	for _, name := range slices.Sorted(maps.Keys(l.props)) {
		pr := l.props[name]
		every := uint64(max(1, r.cfg.RetransmitTicks))
		resend := r.ticks-pr.started < 4*every && (r.ticks-pr.started)%every == 0
		m := proposalMsg{Name: name, Index: pr.index, B: pr.b}
		switch {
		case pr.value != nil && pr.accepted[p.id], pr.value == nil && pr.promises[p.id] != nil:
			continue // answered
		case pr.value != nil:
			v := *pr.value
			m.Accept = &v
			due = due || resend
		default:
			m.Cand = pr.cand
			due = due || resend
		}
		sec.Proposals = append(sec.Proposals, m)
		if !fits() {
			sec.Proposals = sec.Proposals[:len(sec.Proposals)-1]
			one := goAlone(&retireSection{Proposals: []proposalMsg{m}})
			if one == nil && m.Accept != nil {
				// An accept that fitted no longer does: the peer restarted
				// with smaller messages, or its limit was learned late.
				// Its prepare, of the same ballot, asks it instead
				// whether it accepted (see retireIn): a member that did
				// says so in an acceptance, which fits, where its promise,
				// carrying the value, may not.
				m.Accept, m.Cand = nil, pr.cand
				one = goAlone(&retireSection{Proposals: []proposalMsg{m}})
			}
			if one != nil {
				alone = append(alone, one)
			} else {
				r.log.Warn("a retirement proposal does not fit in a message", "peer", string(p.id), "name", string(name))
			}
			break
		}
	}
	if sec.Sum != 0 || !sec.onlyLens() {
		env.Retire = sec
	}
	return due, alone
}

// answersWait reports whether an answer to p waits for a saved snapshot
// to hold the votes it reveals (see ledger.voteSeq). The caller holds r.mu.
func (r *Replica) answersWait(p *peer) bool {
	if !r.persistent {
		return false
	}
	for _, pm := range p.retPromises {
		if pm.seq > r.led.savedVoteSeq {
			return true
		}
	}
	for _, a := range p.retAccepted {
		if a.seq > r.led.savedVoteSeq {
			return true
		}
	}
	return false
}

// retireIn takes in the retirement section of a message from p (nil if it
// has none), and reports whether the two replicas' ledgers are the same,
// so that the message's data may be taken in. The caller holds r.mu.
func (r *Replica) retireIn(p *peer, sec *retireSection, inc uint64) bool {
	l := &r.led
	if sec == nil {
		sec = &retireSection{}
	}
	p.retSum = sec.Sum
	if len(sec.Lens) > 0 || sec.Sum == 0 {
		old := p.retLens
		p.retLens = make(map[ReplicaID]nameLen, len(sec.Lens))
		for _, nl := range sec.Lens {
			p.retLens[nl.Name] = nl
			// A list of the peer's that differs from as many first
			// entries of this replica's: counted once per change of the
			// peer's list, as the peer says it holds it in every message
			// while the ledgers differ. A list longer than this replica's
			// is compared by the peer.
			if mine := l.lists[nl.Name]; mine != nil && uint64(len(mine.entries)) >= nl.Len && mine.prefixHash(nl.Len) != nl.Hash && old[nl.Name] != nl {
				l.conflicts++
				r.log.Error("retirement lists differ", "peer", string(p.id), "name", string(nl.Name), "length", nl.Len)
			}
		}
	}
	var differs map[ReplicaID]bool // lists whose entries differ from this replica's
	for _, le := range sec.Entries {
		have := l.len(le.Name)
		switch {
		case differs[le.Name]:
			// Appended to a list that differs from this one.
		case le.Index == have:
			if err := le.Entry.check(le.Name); err != nil || l.retired[string(le.Entry.From)] {
				p.refuse(ReasonMalformed)
				continue
			}
			if r.ledgerFull(le.Name) {
				p.refuse(ReasonLedgerFull)
				continue
			}
			r.installEntry(le.Name, le.Entry)
		case le.Index < have:
			if !l.lists[le.Name].entries[le.Index].equal(le.Entry) {
				if differs == nil {
					differs = map[ReplicaID]bool{}
				}
				differs[le.Name] = true
				l.conflicts++
				r.log.Error("retirement lists differ", "peer", string(p.id), "name", string(le.Name), "index", le.Index)
			}
		}
	}
	if sec.Part != nil {
		r.takePart(p, sec.Part)
	}
	// A sender proposes once per list in a message (see retireOut): a
	// list named again is refused, or a message of maxProposals prepares
	// for one list would count a candidate's events in every object as
	// many times over.
	var proposed map[ReplicaID]bool
	for _, m := range sec.Proposals {
		if proposed[m.Name] {
			p.refuse(ReasonMalformed)
			continue
		}
		if proposed == nil {
			proposed = make(map[ReplicaID]bool, len(sec.Proposals))
		}
		proposed[m.Name] = true
		if l.len(m.Name) != m.Index {
			// For a place of the list filled here already (a
			// retransmission that arrived late, or twice: its writer may
			// be retired since), or not reached yet: no promise is made,
			// and nothing is refused.
			continue
		}
		if m.B.forged() || !m.takeable(l) {
			p.refuse(ReasonMalformed)
			continue
		}
		// A ballot's incarnation part is the proposing run's, or higher
		// (see Replica.raiseBallot).
		if m.B.Inc < inc || m.B.By != p.id || !r.mayAccept(m.Name, p.id) || r.ledgerFull(m.Name) {
			continue
		}
		nl := l.list(m.Name)
		if m.B.cmp(nl.promised) < 0 {
			// Promised to a higher ballot, perhaps of a run of the
			// proposer gone for good: say which, so that it can pass it.
			// It is the promise as this replica would make it again,
			// with refusedCounts for the candidate's counts: were it to
			// reach the run of that ballot (two runs share the name's
			// address), that run learns no more than the truth, and
			// waits for the answer to its own prepare (see refusal). An
			// answer of that ballot not sent yet, the promise with the
			// counts, says all the refusal would: it stays, or the run
			// of that ballot would never have it.
			if p.retPromises == nil {
				p.retPromises = map[ReplicaID]*promiseMsg{}
			}
			if pm := p.retPromises[m.Name]; pm != nil && pm.Index == m.Index && pm.B == nl.promised {
				p.needAck = true
				continue
			}
			p.retPromises[m.Name] = &promiseMsg{Name: m.Name, Index: m.Index, B: nl.promised, AccB: nl.accepted, Value: nl.value,
				Counts: refusedCounts, Members: r.membersHash(), seq: l.voteSeq}
			p.needAck = true
			continue
		}
		if nl.promised != m.B {
			nl.promised = m.B
			l.voteSeq++
		}
		switch {
		case m.Accept != nil:
			if nl.accepted != m.B || !nl.value.equal(*m.Accept) {
				nl.accepted, nl.value = m.B, *m.Accept
				l.voteSeq++
			}
			if p.retAccepted == nil {
				p.retAccepted = map[ReplicaID]acceptedMsg{}
			}
			p.retAccepted[m.Name] = acceptedMsg{Name: m.Name, Index: m.Index, B: m.B, seq: l.voteSeq}
			p.needAck = true
		default:
			// A prepare: the promise carries the candidate's counts (for
			// a proposal that the name has left, those of a writer of the
			// name this replica still holds, if any, and the proposer,
			// holding none, does not agree). They are read when the
			// promise is sent (see retireOut), once for all the promises
			// of a message: reading them takes a pass over every
			// object's version, which a message of prepares, one after
			// another, would otherwise cost each.
			if p.retPromises == nil {
				p.retPromises = map[ReplicaID]*promiseMsg{}
			}
			p.retPromises[m.Name] = &promiseMsg{Name: m.Name, Index: m.Index, B: m.B, AccB: nl.accepted, Value: nl.value,
				Members: r.membersHash(), counts: true, cand: m.Cand, seq: l.voteSeq}
			if nl.accepted == m.B {
				// This replica accepted the proposer's value at this very
				// ballot: the prepare is a late copy, or it stands for an
				// accept that no longer fits in a message to this
				// replica (see retireOut), whose acceptance was lost (a
				// restart with smaller messages). Say it accepted: the
				// promise, carrying the value, may fit no message either,
				// and the proposer would wait for good, its name's list
				// taking no entry again.
				if p.retAccepted == nil {
					p.retAccepted = map[ReplicaID]acceptedMsg{}
				}
				p.retAccepted[m.Name] = acceptedMsg{Name: m.Name, Index: m.Index, B: m.B, seq: l.voteSeq}
			}
			p.needAck = true
		}
	}
	if r.answersWait(p) {
		l.unsaved = true // see Config.OnSaveNeeded
	}
	for i := range sec.Promises {
		pm := &sec.Promises[i]
		pr := l.props[pm.Name]
		switch {
		case pm.B.forged() || pm.AccB.forged():
			// Raising past it would make this replica's ballots refused.
			p.refuse(ReasonMalformed)
		case pr == nil || pm.Index != pr.index:
		case pm.B == pr.b && !pm.AccB.zero() && (pm.Value.check(pm.Name) != nil || l.retired[string(pm.Value.From)]):
			// An accepted value no member accepts (a member accepts only
			// what passes these checks): adopted, it would be proposed
			// for ever, and kept as this replica's own accepted value.
			p.refuse(ReasonMalformed)
		case pm.B == pr.b && pm.refusal():
			// The member's refusal of another run's prepare under this
			// name, which reached this run: no answer to this run's
			// prepare, which it answers (or answered) on its own.
		case pm.B == pr.b:
			pr.promises[p.id] = pm
		case pm.B.cmp(pr.b) > 0:
			// The member refused the proposal, having promised a higher
			// ballot: propose again above it. The ballot may be of a run
			// of this name gone for good (a second process stopped), or
			// of another member's run: the group's first replica by name
			// proposes for a replica it removed, and the replica may be
			// added back.
			delete(l.props, pm.Name)
			r.raiseBallot(pm.B)
		}
	}
	for _, a := range sec.Accepteds {
		if pr := l.props[a.Name]; pr != nil && pr.value != nil && a.Index == pr.index && a.B == pr.b {
			pr.accepted[p.id] = true
		}
	}
	if sec.Sum != l.sum {
		// Set the message's data aside; the answer carries this replica's
		// ledger, and the entries the peer lacks.
		p.stats.ledgerWaits++
		p.needAck = true
		return false
	}
	return true
}

// namesRetired reports whether op's replica table names a retired writer.
// Such an op was made before the writer's retirement (a restored op log,
// or an op in flight): its dots have another name now, so it is not
// applied, and the peer's state brings its effect. The caller holds r.mu.
func (r *Replica) namesRetired(op []byte) bool {
	if len(r.led.retired) == 0 {
		return false
	}
	named := false
	_ = codec.EachReplica(op, func(id []byte) {
		named = named || r.led.retired[string(id)]
	})
	return named
}

func putBallot(w *codec.Writer, b ballot) {
	w.Uint(b.Inc)
	w.Uint(b.Epoch)
	w.String(string(b.By))
}

func getBallot(r *codec.Reader) ballot { return ballot{r.Uint(), r.Uint(), ReplicaID(r.String())} }

func putEntry(w *codec.Writer, e retireEntry) {
	w.String(string(e.From))
	w.String(string(e.Heir))
	putFinals(w, e.Finals)
}

func putFinals(w *codec.Writer, fs []objFinal) {
	w.Array(2 * len(fs))
	for _, f := range fs {
		w.String(f.Object)
		w.Uint(f.Final)
	}
}

// getFinals reads finals written by putFinals: at most maxEntryObjects
// objects, each with, for a SplitCounter, its split under upPrefix (see
// Replica.countsIn), which does not count as an object.
func getFinals(r *codec.Reader) []objFinal {
	n := r.ArrayLen()
	if r.Err() == nil && (n%2 != 0 || n/2 > 2*maxEntryObjects) {
		r.Fail("retirement with %d fields of finals", n)
		return nil
	}
	if n == 0 {
		return nil
	}
	out := make([]objFinal, 0, n/2)
	for range n / 2 {
		out = append(out, objFinal{r.String(), r.Uint()})
	}
	if r.Err() == nil && !finalsFit(out) {
		r.Fail("retirement naming more than %d objects or splits", maxEntryObjects)
		return nil
	}
	return out
}

// finalsFit reports whether fs names at most maxEntryObjects objects and
// as many splits, each count at most vclock.MaxSeq: what getFinals takes.
func finalsFit(fs []objFinal) bool {
	splits := 0
	for _, f := range fs {
		if strings.HasPrefix(f.Object, upPrefix) {
			splits++
		}
		if f.Final > vclock.MaxSeq {
			return false
		}
	}
	return len(fs)-splits <= maxEntryObjects && splits <= maxEntryObjects
}

// tooManyCounts stands, in a promise, for the counts of a candidate that
// wrote to more objects than an entry may name, or that an object counts
// more than vclock.MaxSeq of (see finalsFit): they would not decode at
// the proposer, which would refuse the whole message.
// It decodes, and equals no count a replica reports (no count is zero),
// so the proposer does not agree: such a writer cannot be retired.
var tooManyCounts = []objFinal{{}}

// refusedCounts stands, in a promise that answers a prepare the member
// refused, having promised a higher ballot B (see retireIn), for the
// counts it does not carry: it names the empty object, which no object
// is, so a release that does not know it takes it for counts that
// differ from its own. Two runs of one name (a second process) share its
// address, so the refusal of one run's prepare may reach the other, the
// one B is of: that run must not take it for the member's answer to its
// own prepare, which carries the candidate's counts. A refusal with no
// counts at all, taken so, made the run find the member's counts
// different from its own, give the proposal up, and propose the
// candidate again only 16 anti-entropy rounds later.
var refusedCounts = []objFinal{{Final: 1}}

// refusal reports whether pm answers a prepare the member refused (see
// refusedCounts).
func (pm *promiseMsg) refusal() bool {
	return len(pm.Counts) == 1 && pm.Counts[0] == refusedCounts[0]
}

// promisedCounts returns counts as a promise carries them: tooManyCounts
// if they name more than an entry may.
func promisedCounts(counts []objFinal) []objFinal {
	if !finalsFit(counts) {
		return tooManyCounts
	}
	return counts
}

func getEntry(r *codec.Reader) retireEntry {
	e := retireEntry{From: ReplicaID(r.String()), Heir: ReplicaID(r.String())}
	e.Finals = getFinals(r)
	return e
}

// onlyLens reports whether the section says nothing but the sender's
// ledger's sum and summary.
func (s *retireSection) onlyLens() bool {
	return len(s.Entries) == 0 && len(s.Proposals) == 0 && len(s.Promises) == 0 && len(s.Accepteds) == 0 && s.Part == nil
}

func (m *entryPart) encode(w *codec.Writer) {
	w.Array(7)
	w.String(string(m.Name))
	w.Uint(m.Index)
	w.Uint(m.Hash)
	w.Uint(m.Part)
	w.Uint(m.Parts)
	putEntry(w, retireEntry{From: m.From, Heir: m.Heir, Finals: m.Finals})
}

// decodeEntryPart reads a part written by encode: at most maxEntryObjects
// parts, each of one final at least.
func decodeEntryPart(r *codec.Reader) *entryPart {
	if n := r.ArrayLen(); r.Err() == nil && n != 7 {
		r.Fail("ledger entry part with %d fields", n)
		return nil
	}
	m := &entryPart{Name: ReplicaID(r.String()), Index: r.Uint(), Hash: r.Uint(), Part: r.Uint(), Parts: r.Uint()}
	e := getEntry(r)
	m.From, m.Heir, m.Finals = e.From, e.Heir, e.Finals
	if r.Err() == nil && (m.Parts < 2 || m.Parts > maxEntryObjects || m.Part >= m.Parts || len(m.Finals) == 0) {
		r.Fail("ledger entry part %d of %d, of %d finals", m.Part, m.Parts, len(m.Finals))
	}
	return m
}

// size bounds the section's encoded size: a string of a name or an
// object takes its length and at most 5 bytes of header, an integer at
// most 9, an array header at most 5.
func (s *retireSection) size() int {
	str := func(x string) int { return len(x) + 5 }
	n := 5*5 + 9
	for _, nl := range s.Lens {
		n += str(string(nl.Name)) + 18
	}
	entry := func(e retireEntry) int {
		m := str(string(e.From)) + str(string(e.Heir)) + 5
		for _, f := range e.Finals {
			m += str(f.Object) + 9
		}
		return m
	}
	bal := func(b ballot) int { return 18 + str(string(b.By)) }
	for _, le := range s.Entries {
		n += 5 + str(string(le.Name)) + 9 + entry(le.Entry)
	}
	for _, m := range s.Proposals {
		n += 5 + str(string(m.Name)) + 9 + bal(m.B) + str(string(m.Cand)) + 5
		if m.Accept != nil {
			n += entry(*m.Accept)
		}
	}
	for _, pm := range s.Promises {
		n += 5 + str(string(pm.Name)) + 9 + bal(pm.B) + bal(pm.AccB) + entry(pm.Value) + entry(retireEntry{Finals: pm.Counts}) + 9
	}
	for _, a := range s.Accepteds {
		n += 5 + str(string(a.Name)) + 9 + bal(a.B)
	}
	return n
}

// encode writes the section into an engine message.
func (s *retireSection) encode(w *codec.Writer) {
	w.Uint(s.Sum)
	w.Array(3 * len(s.Lens))
	for _, nl := range s.Lens {
		w.String(string(nl.Name))
		w.Uint(nl.Len)
		w.Uint(nl.Hash)
	}
	w.Array(len(s.Entries))
	for _, le := range s.Entries {
		w.Array(3)
		w.String(string(le.Name))
		w.Uint(le.Index)
		putEntry(w, le.Entry)
	}
	w.Array(len(s.Proposals))
	for _, m := range s.Proposals {
		w.Array(5)
		w.String(string(m.Name))
		w.Uint(m.Index)
		putBallot(w, m.B)
		w.String(string(m.Cand))
		if m.Accept == nil {
			w.Nil()
		} else {
			w.Array(3)
			putEntry(w, *m.Accept)
		}
	}
	w.Array(len(s.Promises))
	for _, pm := range s.Promises {
		w.Array(9)
		w.String(string(pm.Name))
		w.Uint(pm.Index)
		putBallot(w, pm.B)
		putBallot(w, pm.AccB)
		putEntry(w, pm.Value)
		putFinals(w, pm.Counts)
		w.Uint(pm.Members)
	}
	w.Array(len(s.Accepteds))
	for _, a := range s.Accepteds {
		w.Array(3)
		w.String(string(a.Name))
		w.Uint(a.Index)
		putBallot(w, a.B)
	}
}

// decodeRetire reads a section written by encode.
func decodeRetire(r *codec.Reader) *retireSection {
	s := &retireSection{Sum: r.Uint()}
	n := r.ArrayLen()
	if r.Err() == nil && (n%3 != 0 || n/3 > maxLedgerNames) {
		r.Fail("ledger summary with %d fields", n)
		return s
	}
	for range n / 3 {
		nl := nameLen{ReplicaID(r.String()), r.Uint(), r.Uint()}
		if r.Err() == nil && (nl.Len == 0 || (len(s.Lens) > 0 && s.Lens[len(s.Lens)-1].Name >= nl.Name)) {
			r.Fail("ledger summary not sorted, or with an empty list")
		}
		s.Lens = append(s.Lens, nl)
	}
	fields := func(what string, limit int) int {
		n := r.ArrayLen()
		if r.Err() == nil && n > limit {
			r.Fail("%d %s, limit %d", n, what, limit)
			return 0
		}
		return n
	}
	check := func(what string, want int) {
		if m := r.ArrayLen(); r.Err() == nil && m != want {
			r.Fail("%s with %d fields", what, m)
		}
	}
	for range fields("ledger entries", maxLedgerEntries) {
		check("ledger entry", 3)
		le := ledgerEntry{Name: ReplicaID(r.String()), Index: r.Uint()}
		le.Entry = getEntry(r)
		s.Entries = append(s.Entries, le)
	}
	for range fields("retirement proposals", maxProposals) {
		check("retirement proposal", 5)
		m := proposalMsg{Name: ReplicaID(r.String()), Index: r.Uint(), B: getBallot(r), Cand: ReplicaID(r.String())}
		if !r.IsNil() {
			check("retirement", 3)
			e := getEntry(r)
			m.Accept = &e
		}
		s.Proposals = append(s.Proposals, m)
	}
	for range fields("retirement promises", maxProposals) {
		check("retirement promise", 9)
		pm := promiseMsg{Name: ReplicaID(r.String()), Index: r.Uint(), B: getBallot(r), AccB: getBallot(r)}
		pm.Value = getEntry(r)
		pm.Counts = getFinals(r)
		pm.Members = r.Uint()
		s.Promises = append(s.Promises, pm)
	}
	for range fields("retirement acceptances", maxProposals) {
		check("retirement acceptance", 3)
		s.Accepteds = append(s.Accepteds, acceptedMsg{Name: ReplicaID(r.String()), Index: r.Uint(), B: getBallot(r)})
	}
	return s
}

// encode writes the ledger into a snapshot.
func (l *ledger) encode(w *codec.Writer) {
	names := make([]ReplicaID, 0, len(l.lists))
	for name, nl := range l.lists {
		if len(nl.entries) > 0 || !nl.promised.zero() {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	w.Array(len(names))
	for _, name := range names {
		nl := l.lists[name]
		w.Array(5)
		w.String(string(name))
		w.Array(len(nl.entries))
		for _, e := range nl.entries {
			putEntry(w, e)
		}
		putBallot(w, nl.promised)
		putBallot(w, nl.accepted)
		putEntry(w, nl.value)
	}
}

// decodeLedger reads a ledger written by encode, checking every entry.
func decodeLedger(r *codec.Reader) (ledger, error) {
	var l ledger
	n := r.ArrayLen()
	for range n {
		if m := r.ArrayLen(); r.Err() == nil && m != 5 {
			r.Fail("ledger list with %d fields", m)
		}
		name := ReplicaID(r.String())
		k := r.ArrayLen()
		var entries []retireEntry
		for range k {
			entries = append(entries, getEntry(r))
		}
		promised, accepted := getBallot(r), getBallot(r)
		value := getEntry(r)
		if r.Err() != nil {
			return ledger{}, r.Err()
		}
		if l.lists[name] != nil {
			// Its entries would follow the first list's, and the sum
			// count the list twice: a sum no peer's ledger has.
			return ledger{}, fmt.Errorf("the ledger holds the list of %q twice", name)
		}
		nl := l.list(name)
		for i, e := range entries {
			if err := e.check(name); err != nil {
				return ledger{}, fmt.Errorf("ledger of %q, entry %d: %w", name, i, err)
			}
			if l.retired[string(e.From)] {
				return ledger{}, fmt.Errorf("ledger of %q, entry %d: retires writer %s, retired already", name, i, e.From)
			}
			nl.add(e)
			if l.retired == nil {
				l.retired = map[string]bool{}
			}
			if !e.leaves() {
				l.retired[string(e.From)] = true
			}
		}
		if !accepted.zero() && (value.check(name) != nil || l.retired[string(value.From)]) {
			// A value no member accepts, which a proposer of an earlier
			// release adopted from a member's promise: it was never
			// agreed, and proposed again it would hold the list up for
			// good (see retireIn).
			accepted, value = ballot{}, retireEntry{}
		}
		// Ballots past maxBallotInc, promised or accepted before they
		// were refused: no proposer could pass them. A bare promise of
		// one is dropped (its proposer can no longer have anything
		// accepted); a value accepted at one is kept, at the highest
		// ballot a proposer can still pass.
		if accepted.forged() {
			accepted = ballot{maxBallotInc - 1, accepted.Epoch, accepted.By}
		}
		if promised.forged() {
			promised = accepted
		}
		nl.promised, nl.accepted, nl.value = promised, accepted, value
		l.sum += listSum(name, nl)
	}
	return l, r.Err()
}

// drawnEpoch turns eight random bytes into a run's epoch: never 0, which
// names the retired writer of a name (see vclock.Retired).
func drawnEpoch(b [8]byte) uint64 {
	return max(1, binary.BigEndian.Uint64(b[:]))
}
