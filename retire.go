package crdt

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/vclock"
)

// Retiring finished writers.
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
// ledger), and apply each entry in list order. The run of a name with the
// highest ballot (its incarnation, then its epoch) proposes the next entry
// of its own name's list, and an entry is agreed once every replica of the
// group (this replica and every peer added) has accepted it: single-decree
// Paxos per entry, with the whole group as the only quorum. A group member
// that is away delays retirement; it never blocks writes, and nothing
// waits for it but the shrinking of metadata.
//
// A proposal names a finished writer of the proposer's name and, per
// object, the writer's count that every replica holds (its version entry);
// the proposer waits until every replica reports the same count, so the
// writer's events all rename into one run. A writer thought finished may
// still write (a second process under the same name): whatever it writes
// beyond the agreed count keeps its own name, so nothing is lost.
//
// Replicas whose ledgers differ do not exchange data: a message from a peer
// with another ledger is set aside (and counted, PeerStats.LedgerWaits),
// while the message carries the entries the receiver lacks. A replica
// restored from an older snapshot thus takes the entries it missed before
// anything else. Two different entries at one place of one list (which
// agreement rules out, barring a replica that forged one) are counted
// (Stats.LedgerConflicts) and logged, and the two replicas stay apart.

// Retirer is an optional interface of an [Object] that can rename a
// finished writer's dots (see vclock.Retirement): every data type of this
// module but the OR-Map implements it. Objects without it keep their
// finished writers.
type Retirer interface {
	Retire(vclock.Retirement) error
}

// Limits of the ledger a decoder accepts.
const (
	maxLedgerNames   = 1 << 12 // names in one message's ledger summary
	maxLedgerEntries = 64      // entries carried by one message
	maxEntryObjects  = 1 << 12 // objects named by one entry
)

// retireEntry is one agreed retirement: writer From, and the count of its
// events in each object (objects not named count zero).
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

// ballot orders the proposals of the runs of one name.
type ballot struct{ Inc, Epoch uint64 }

func (b ballot) cmp(o ballot) int {
	if c := cmp.Compare(b.Inc, o.Inc); c != 0 {
		return c
	}
	return cmp.Compare(b.Epoch, o.Epoch)
}

func (b ballot) zero() bool { return b == ballot{} }

// nameList is one name's agreed retirements.
type nameList struct {
	entries []retireEntry
	hash    uint64            // chained hash of entries
	bases   map[string]uint64 // per object, the sum of the entries' finals
	// acceptor state for the next entry (index len(entries))
	promised, accepted ballot
	value              retireEntry
}

// ledger is the replica's agreed retirements, per name.
type ledger struct {
	lists     map[ReplicaID]*nameList
	retired   map[string]bool // every From of every list
	conflicts uint64
	// installs counts the entries applied by this run, and saved how many
	// of them the last saved snapshot holds: the journal cannot carry a
	// retirement, so SaveOps asks for a snapshot in between.
	installs, saved uint64
	prop            *proposal // this replica's proposal for its own name, if any
}

// proposal is this replica's attempt at the next entry of its own list.
type proposal struct {
	index    uint64
	b        ballot
	cand     ReplicaID
	promises map[ReplicaID]*promiseMsg // by peer
	value    *retireEntry              // set in the second phase
	accepted map[ReplicaID]bool
	started  uint64 // tick
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

// promiseMsg answers a prepare: the member promised ballot B for the entry
// at Index, had accepted Value at AccB (zero if none), holds Counts of the
// candidate per object, and has peer set Members.
type promiseMsg struct {
	Index   uint64
	B, AccB ballot
	Value   retireEntry
	Counts  []objFinal
	Members uint64
}

// retireSection is what a message carries about retirements.
type retireSection struct {
	Lens    []nameLen     // the sender's ledger, sorted by name
	Entries []ledgerEntry // entries the receiver lacks
	// The sender's proposal for its own name: a prepare (Cand set) or an
	// accept (Accept set), at Index with ballot B.
	HasProposal bool
	Index       uint64
	B           ballot
	Cand        ReplicaID
	Accept      *retireEntry
	// The sender's answers to the receiver's proposal.
	Promise  *promiseMsg
	Accepted *ballot // accepted the receiver's proposal at Index (of Promise's index field AccIndex)
	AccIndex uint64
}

func (l *ledger) list(name ReplicaID) *nameList {
	if l.lists == nil {
		l.lists = map[ReplicaID]*nameList{}
	}
	nl := l.lists[name]
	if nl == nil {
		nl = &nameList{bases: map[string]uint64{}}
		l.lists[name] = nl
	}
	return nl
}

func (l *ledger) len(name ReplicaID) uint64 {
	if nl := l.lists[name]; nl != nil {
		return uint64(len(nl.entries))
	}
	return 0
}

// summaryBytes bounds the encoded size of the ledger's summary, which
// every message carries once the ledger holds an entry.
func (l *ledger) summaryBytes() int {
	n := 0
	for name, nl := range l.lists {
		if len(nl.entries) > 0 {
			n += len(name) + 24
		}
	}
	if n > 0 {
		n += 16
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

// sameLedger reports whether the summary describes this ledger.
func (l *ledger) same(s []nameLen) bool {
	n := 0
	for _, nl := range l.lists {
		if len(nl.entries) > 0 {
			n++
		}
	}
	if n != len(s) {
		return false
	}
	for _, e := range s {
		nl := l.lists[e.Name]
		if nl == nil || uint64(len(nl.entries)) != e.Len || nl.hash != e.Hash {
			return false
		}
	}
	return true
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

// counts returns, per object, the version entry of writer w: how many of
// its events the object holds from the first. The caller holds r.mu.
func (r *Replica) counts(w ReplicaID) []objFinal {
	var out []objFinal
	for _, name := range r.sortedObjects() {
		d, ok := r.objects[name].(DeltaObject)
		if !ok {
			continue
		}
		if _, ok := r.objects[name].(Retirer); !ok {
			continue
		}
		b, err := d.VersionBinary()
		if err != nil {
			continue
		}
		v, err := vclock.UnmarshalClock(b, codec.Limits{MaxBytes: max(len(b), 1)})
		if err != nil {
			continue
		}
		if n := v.Get(w); n > 0 {
			out = append(out, objFinal{name, n})
		}
	}
	return out
}

// candidate returns a finished writer of this replica's name that its
// objects name, and that no entry retired yet. The caller holds r.mu.
func (r *Replica) candidate() ReplicaID {
	var best ReplicaID
	for _, name := range r.sortedObjects() {
		d, ok := r.objects[name].(DeltaObject)
		if !ok {
			continue
		}
		if _, ok := r.objects[name].(Retirer); !ok {
			continue
		}
		b, err := d.VersionBinary()
		if err != nil {
			continue
		}
		v, err := vclock.UnmarshalClock(b, codec.Limits{MaxBytes: max(len(b), 1)})
		if err != nil {
			continue
		}
		for w := range v.All() {
			if w.Name() != r.id || w == r.writer || w.IsRetired() || r.led.retired[string(w)] {
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

// myBallot is the ballot of this run's proposals.
func (r *Replica) myBallot() ballot {
	ep, _ := r.writer.Epoch()
	return ballot{r.incarnation, ep}
}

// retireStep advances this replica's proposal, once a tick. The caller
// holds r.mu.
func (r *Replica) retireStep() {
	if len(r.peers) == 0 {
		return
	}
	l := &r.led
	k := l.len(r.id)
	if p := l.prop; p != nil && (p.index != k || p.b != r.myBallot()) {
		l.prop = nil // committed meanwhile (by another run), or a new run
	}
	if l.prop == nil {
		// Start anew only now and then: a candidate is looked for by
		// decoding every object's version.
		every := uint64(64)
		if r.cfg.AntiEntropyTicks > 0 {
			every = uint64(r.cfg.AntiEntropyTicks)
		}
		if r.ticks%every != 0 {
			return
		}
		cand := r.candidate()
		if cand == "" {
			return
		}
		l.prop = &proposal{index: k, b: r.myBallot(), cand: cand, promises: map[ReplicaID]*promiseMsg{}, started: r.ticks}
	}
	p := l.prop
	nl := l.list(r.id)
	// This replica is a member too: it promises its own ballot.
	if nl.promised.cmp(p.b) > 0 {
		l.prop = nil // a higher ballot of this name exists: not ours to propose
		return
	}
	nl.promised = p.b
	if p.value == nil {
		if len(p.promises) < len(r.peers) {
			return
		}
		members := r.membersHash()
		mine := r.counts(p.cand)
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
		switch {
		case best != nil:
			p.value = best
		case !agree || len(mine) == 0:
			// Not every replica holds the writer's every event yet (or
			// the groups differ): ask again later.
			if r.ticks-p.started >= uint64(max(1, 4*r.cfg.RetransmitTicks)) {
				l.prop = nil
			}
			return
		default:
			p.value = &retireEntry{From: p.cand, Heir: r.writer, Finals: mine}
		}
		p.accepted = map[ReplicaID]bool{}
		nl.accepted, nl.value = p.b, *p.value
	}
	for id := range r.peers {
		if !p.accepted[id] {
			return
		}
	}
	// Every member accepted: the entry is agreed.
	e := *p.value
	l.prop = nil
	r.installEntry(r.id, e)
}

// installEntry appends e to name's list and renames its writer in every
// object. The caller holds r.mu.
func (r *Replica) installEntry(name ReplicaID, e retireEntry) {
	l := &r.led
	nl := l.list(name)
	to := vclock.Retired(name)
	for _, obj := range r.sortedObjects() {
		f := e.final(obj)
		if f == 0 {
			continue
		}
		rt, ok := r.objects[obj].(Retirer)
		if !ok {
			continue
		}
		ret := vclock.Retirement{From: e.From, To: to, Base: nl.bases[obj], Final: f, Heir: e.Heir}
		if err := rt.Retire(ret); err != nil {
			r.log.Error("retiring a writer failed", "object", obj, "writer", string(e.From), "err", err)
		}
		nl.bases[obj] += f
	}
	nl.entries = append(nl.entries, e)
	nl.hash = e.hash(nl.hash)
	nl.promised, nl.accepted, nl.value = ballot{}, ballot{}, retireEntry{}
	if l.retired == nil {
		l.retired = map[string]bool{}
	}
	l.retired[string(e.From)] = true
	l.installs++
	if e.From == r.writer {
		// Another run of this name retired this run's writer: it must
		// not mint another dot under it.
		r.newWriter()
	}
	// Whatever was computed for peers before the renaming names the
	// writer: compute it again.
	for _, p := range r.peers {
		p.out, p.frozen = nil, nil
		p.theirDig, p.hasTheir = nil, false
		p.versions = nil
		p.awaitDig, p.catchUpSent = true, 0
	}
	r.log.Info("writer retired", "name", string(name), "writer", string(e.From), "index", len(nl.entries)-1)
}

// newWriter draws a new writer for this run. The caller holds r.mu.
func (r *Replica) newWriter() {
	var epoch [8]byte
	if _, err := r.cfg.Entropy.Read(epoch[:]); err != nil {
		r.log.Error("drawing a new epoch", "err", err)
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
// summary, the section takes at most budget bytes. The caller holds r.mu.
func (r *Replica) retireOut(p *peer, env *envelope, budget int) bool {
	l := &r.led
	sec := &retireSection{Lens: l.summary()}
	base := sec.size()
	fits := func() bool { return sec.size()-base <= budget }
	due := false
	// Entries the peer lacks.
	for _, nl := range sec.Lens {
		have := p.retLens[nl.Name]
		if have >= nl.Len {
			continue
		}
		list := l.lists[nl.Name]
		for i := have; i < nl.Len && len(sec.Entries) < maxLedgerEntries; i++ {
			sec.Entries = append(sec.Entries, ledgerEntry{nl.Name, i, list.entries[i]})
			if !fits() {
				sec.Entries = sec.Entries[:len(sec.Entries)-1]
				break
			}
		}
		due = true
	}
	if pr := l.prop; pr != nil {
		// A proposal rides on every message, and makes one every
		// RetransmitTicks while the peer has not answered it.
		resend := (r.ticks-pr.started)%uint64(max(1, r.cfg.RetransmitTicks)) == 0
		switch {
		case pr.value != nil:
			if !pr.accepted[p.id] {
				v := *pr.value
				sec.HasProposal, sec.Index, sec.B, sec.Accept = true, pr.index, pr.b, &v
				due = due || resend
			}
		default:
			sec.HasProposal, sec.Index, sec.B, sec.Cand = true, pr.index, pr.b, pr.cand
			pm := pr.promises[p.id]
			due = due || resend || pm == nil
		}
	}
	if sec.HasProposal && !fits() {
		sec.HasProposal, sec.Cand, sec.Accept = false, "", nil
		r.log.Warn("a retirement proposal does not fit in a message", "peer", string(p.id))
	}
	if p.retPromise != nil {
		sec.Promise, p.retPromise = p.retPromise, nil
		if !fits() {
			sec.Promise = nil
			r.log.Warn("a retirement promise does not fit in a message", "peer", string(p.id))
		}
		due = true
	}
	if p.retAccepted != nil {
		sec.Accepted, sec.AccIndex, p.retAccepted = p.retAccepted, p.retAccIndex, nil
		due = true
	}
	if len(sec.Lens) > 0 || len(sec.Entries) > 0 || sec.HasProposal || sec.Promise != nil || sec.Accepted != nil {
		env.Retire = sec
	}
	return due
}

// retireIn takes in the retirement section of a message from p (nil if it
// has none), and reports whether the two replicas' ledgers are the same,
// so that the message's data may be taken in. The caller holds r.mu.
func (r *Replica) retireIn(p *peer, sec *retireSection, inc uint64) bool {
	l := &r.led
	if sec == nil {
		sec = &retireSection{}
	}
	p.retLens = nil
	if len(sec.Lens) > 0 {
		p.retLens = make(map[ReplicaID]uint64, len(sec.Lens))
	}
	for _, nl := range sec.Lens {
		p.retLens[nl.Name] = nl.Len
	}
	for _, le := range sec.Entries {
		have := l.len(le.Name)
		switch {
		case le.Index == have:
			if err := le.Entry.check(le.Name); err != nil || l.retired[string(le.Entry.From)] {
				p.refuse(ReasonMalformed)
				continue
			}
			r.installEntry(le.Name, le.Entry)
		case le.Index < have:
			if !l.lists[le.Name].entries[le.Index].equal(le.Entry) {
				l.conflicts++
				r.log.Error("retirement lists differ", "peer", string(p.id), "name", string(le.Name), "index", le.Index)
			}
		}
	}
	if sec.HasProposal && l.len(p.id) == sec.Index && sec.B.Inc == inc {
		nl := l.list(p.id)
		if sec.B.cmp(nl.promised) >= 0 {
			nl.promised = sec.B
			switch {
			case sec.Accept != nil:
				if sec.Accept.check(p.id) == nil && !l.retired[string(sec.Accept.From)] {
					nl.accepted, nl.value = sec.B, *sec.Accept
					b := sec.B
					p.retAccepted, p.retAccIndex = &b, sec.Index
					p.needAck = true
				}
			case sec.Cand != "":
				if ep, ok := sec.Cand.Epoch(); ok && ep != 0 && sec.Cand.Name() == p.id {
					p.retPromise = &promiseMsg{Index: sec.Index, B: sec.B, AccB: nl.accepted, Value: nl.value,
						Counts: r.counts(sec.Cand), Members: r.membersHash()}
					p.needAck = true
				}
			}
		}
	}
	if pr := l.prop; pr != nil {
		if pm := sec.Promise; pm != nil && pm.Index == pr.index && pm.B == pr.b {
			pr.promises[p.id] = pm
		}
		if a := sec.Accepted; a != nil && pr.value != nil && sec.AccIndex == pr.index && *a == pr.b {
			pr.accepted[p.id] = true
		}
	}
	if !l.same(sec.Lens) {
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
}

func getBallot(r *codec.Reader) ballot { return ballot{r.Uint(), r.Uint()} }

func putEntry(w *codec.Writer, e retireEntry) {
	w.String(string(e.From))
	w.String(string(e.Heir))
	w.Array(2 * len(e.Finals))
	for _, f := range e.Finals {
		w.String(f.Object)
		w.Uint(f.Final)
	}
}

func getFinals(r *codec.Reader) []objFinal {
	n := r.ArrayLen()
	if r.Err() == nil && (n%2 != 0 || n/2 > maxEntryObjects) {
		r.Fail("retirement with %d fields of finals", n)
		return nil
	}
	out := make([]objFinal, 0, n/2)
	for range n / 2 {
		out = append(out, objFinal{r.String(), r.Uint()})
	}
	return out
}

func getEntry(r *codec.Reader) retireEntry {
	e := retireEntry{From: ReplicaID(r.String()), Heir: ReplicaID(r.String())}
	e.Finals = getFinals(r)
	return e
}

// onlyLens reports whether the section says nothing but the sender's
// ledger summary.
func (s *retireSection) onlyLens() bool {
	return len(s.Entries) == 0 && !s.HasProposal && s.Promise == nil && s.Accepted == nil
}

// size bounds the section's encoded size.
func (s *retireSection) size() int {
	n := 16
	for _, nl := range s.Lens {
		n += len(nl.Name) + 24
	}
	entry := func(e retireEntry) int {
		m := len(e.From) + len(e.Heir) + 12
		for _, f := range e.Finals {
			m += len(f.Object) + 12
		}
		return m
	}
	for _, le := range s.Entries {
		n += len(le.Name) + 16 + entry(le.Entry)
	}
	if s.HasProposal {
		n += 40 + len(s.Cand)
	}
	if s.Accept != nil {
		n += entry(*s.Accept)
	}
	if pm := s.Promise; pm != nil {
		n += 64 + entry(pm.Value) + entry(retireEntry{Finals: pm.Counts})
	}
	if s.Accepted != nil {
		n += 32
	}
	return n
}

// encode writes the section into an engine message.
func (s *retireSection) encode(w *codec.Writer) {
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
	var flags uint64
	if s.HasProposal {
		flags |= 1
	}
	if s.Accept != nil {
		flags |= 2
	}
	if s.Promise != nil {
		flags |= 4
	}
	if s.Accepted != nil {
		flags |= 8
	}
	w.Uint(flags)
	if s.HasProposal {
		w.Uint(s.Index)
		putBallot(w, s.B)
		w.String(string(s.Cand))
	}
	if s.Accept != nil {
		putEntry(w, *s.Accept)
	}
	if pm := s.Promise; pm != nil {
		w.Uint(pm.Index)
		putBallot(w, pm.B)
		putBallot(w, pm.AccB)
		putEntry(w, pm.Value)
		w.Array(2 * len(pm.Counts))
		for _, c := range pm.Counts {
			w.String(c.Object)
			w.Uint(c.Final)
		}
		w.Uint(pm.Members)
	}
	if s.Accepted != nil {
		w.Uint(s.AccIndex)
		putBallot(w, *s.Accepted)
	}
}

// decodeRetire reads a section written by encode.
func decodeRetire(r *codec.Reader) *retireSection {
	s := &retireSection{}
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
	n = r.ArrayLen()
	if r.Err() == nil && n > maxLedgerEntries {
		r.Fail("%d ledger entries, limit %d", n, maxLedgerEntries)
		return s
	}
	for range n {
		if m := r.ArrayLen(); r.Err() == nil && m != 3 {
			r.Fail("ledger entry with %d fields", m)
		}
		le := ledgerEntry{Name: ReplicaID(r.String()), Index: r.Uint()}
		le.Entry = getEntry(r)
		s.Entries = append(s.Entries, le)
	}
	flags := r.Uint()
	if r.Err() == nil && flags&^15 != 0 {
		r.Fail("unknown retirement flags %#x", flags)
	}
	if flags&1 != 0 {
		s.HasProposal = true
		s.Index = r.Uint()
		s.B = getBallot(r)
		s.Cand = ReplicaID(r.String())
	}
	if flags&2 != 0 {
		e := getEntry(r)
		s.Accept = &e
	}
	if flags&4 != 0 {
		pm := &promiseMsg{Index: r.Uint(), B: getBallot(r), AccB: getBallot(r)}
		pm.Value = getEntry(r)
		pm.Counts = getFinals(r)
		pm.Members = r.Uint()
		s.Promise = pm
	}
	if flags&8 != 0 {
		s.AccIndex = r.Uint()
		b := getBallot(r)
		s.Accepted = &b
	}
	return s
}

// empty reports whether the ledger holds nothing a snapshot must keep.
func (l *ledger) empty() bool {
	for _, nl := range l.lists {
		if len(nl.entries) > 0 || !nl.promised.zero() {
			return false
		}
	}
	return true
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
		nl := l.list(name)
		for _, e := range entries {
			if err := e.check(name); err != nil || l.retired[string(e.From)] {
				return ledger{}, fmt.Errorf("ledger of %q: %v", name, err)
			}
			for _, f := range e.Finals {
				nl.bases[f.Object] += f.Final
			}
			nl.entries = append(nl.entries, e)
			nl.hash = e.hash(nl.hash)
			if l.retired == nil {
				l.retired = map[string]bool{}
			}
			l.retired[string(e.From)] = true
		}
		nl.promised, nl.accepted, nl.value = promised, accepted, value
	}
	return l, r.Err()
}

// drawnEpoch turns eight random bytes into a run's epoch: never 0, which
// names the retired writer of a name (see vclock.Retired).
func drawnEpoch(b [8]byte) uint64 {
	return max(1, binary.BigEndian.Uint64(b[:]))
}
