package counter

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/vclock"
)

// ErrInsufficientRights is returned, wrapped, by [Bounded.Dec] and
// [Bounded.Transfer] when the replica holds fewer rights than asked for.
// The error says how many it holds and how many each other replica holds,
// as far as this replica knows, so the host can ask one of them for a
// [Bounded.Transfer].
var ErrInsufficientRights = errors.New("counter: not enough rights held here")

// MaxBoundedTotal bounds every total a [Bounded] keeps (increments,
// decrements, rights given or taken): 2⁶². A decoder refuses larger ones,
// and a change that would pass it fails with [ErrOverflow].
const MaxBoundedTotal = 1 << 62

// Bounded is a counter that never goes below a floor, without coordination:
// stock that must not be oversold. Its rule is an escrow of rights: an
// increment gives its replica as many rights, a decrement spends rights the
// replica holds (and fails if it holds too few), and a replica may hand
// rights to another with a transfer, which the receiver takes up at its
// next change. Since no replica spends more rights than it holds, the value
// seen at any replica, at any time, is at or above the floor, and the
// decrements of all replicas together never exceed the increments.
//
// Each replica keeps one entry, written by it alone: its increments, its
// decrements, the rights it gave each other replica, and the rights it took
// up from each. Every total only grows, an op carries its writer's whole
// entry, and a merge keeps, for each entry, the later one (the larger of
// each total), so ops and states may arrive in any order, late or twice.
//
// The value counts what every replica holds plus the rights in transit
// (given, not yet taken up); once every entry is known, it is the floor plus
// all increments minus all decrements.
//
// A Bounded made by [NewBounded] counts for one replica. The zero Bounded
// has floor 0 and no replica of its own: it can be merged into and have ops
// applied, and its mutators return [ErrNoReplica]. A Bounded is not safe for
// concurrent use (like a Go map), and must not be copied after first use;
// use [Bounded.Clone].
type Bounded struct {
	id    vclock.ReplicaID
	own   *bEntry // id's entry, if it has one
	floor int64
	e     map[vclock.ReplicaID]*bEntry
	live  u128   // the value less the floor: the sum of the entries' terms (see terms)
	reads uint64 // entries and rights read to keep live, for tests that hold it linear
	fp    uint64 // wrapping sum of the entries' hashes
	lim   codec.Limits
	hook  func(RightsRequest)
	twins map[vclock.ReplicaID]bool // replicas of which twins were met (see Merge)
}

// bEntry is one replica's entry. in and out are sorted by replica and are
// replaced, never changed in place, so an op may share them.
type bEntry struct {
	id           vclock.ReplicaID
	p, n         uint64
	in, out, ask []Rights
	h            uint64 // hash of the entry, counted in Bounded.fp
	// hid and idh are the replica whose ID hash idh is: the hash of id,
	// once hash has taken it (a decrement hashes its entry again, and the
	// ID's bytes would be most of that work).
	hid vclock.ReplicaID
	idh uint64
}

// Rights is a total of rights given to (in an entry's Out), taken up from
// (in its In) or asked of (in its Ask) another replica.
type Rights struct {
	Replica vclock.ReplicaID // the other replica
	Total   uint64           // the total so far, absolute, not a change
}

// BoundedOp is the op of a [Bounded]: the whole entry of the replica that
// made the change, every total absolute, so applying it twice, late, or
// after a newer op of the same replica does no harm. Ask holds the
// requests for rights the replica made with [Bounded.Request]: for each
// replica asked, the total it asked that replica to have given it.
type BoundedOp struct {
	Replica vclock.ReplicaID // the replica that changed its entry
	P, N    uint64           // its increments and decrements
	In      []Rights         // rights it took up, by giver, sorted
	Out     []Rights         // rights it gave, by receiver, sorted
	Ask     []Rights         // rights it asked for, by replica asked, sorted
}

// NewBounded returns a counter whose value starts at floor and never goes
// below it, counting for replica id.
func NewBounded(id vclock.ReplicaID, floor int64) *Bounded {
	return &Bounded{id: id, floor: floor}
}

// SetWriter makes the counter count as w from now on: its changes count in
// an entry of w's own, beside those of the replica's earlier runs, and it
// holds the rights that entry holds (none, for a new writer: rights held
// by an earlier run stay with it, and count in the value). The replication
// engine calls it when the counter is registered. An empty w changes
// nothing.
//
// So a replica restarted under a replication engine holds no rights: it
// asks for some with [Bounded.Request]. The rights its earlier run held
// are not spent by anyone, since no run can prove that the entry it
// restored is the earlier run's last one (an older backup may hold an
// older entry, and spending from it could oversell); they stay counted in
// the value. Hosts that need them back hand them on before a planned
// stop, with [Bounded.Transfer] to a peer.
func (b *Bounded) SetWriter(w vclock.ReplicaID) {
	if w != "" {
		b.id = w
		b.own = b.e[w]
	}
}

// SetLimits sets the limits every decoding method applies to its input.
// Zero fields take the values of [codec.DefaultLimits].
func (b *Bounded) SetLimits(l codec.Limits) { b.lim = l }

// Floor returns the value the counter never goes below.
func (b *Bounded) Floor() int64 { return b.floor }

// Value returns the counter's value: the floor plus the rights every
// replica holds and those in transit. It is never below the floor.
func (b *Bounded) Value() int64 {
	return satAdd128(b.floor, b.live, u128{})
}

// Rights returns the rights replica id holds, as far as this replica
// knows: what it may still decrement.
func (b *Bounded) Rights(id vclock.ReplicaID) uint64 {
	e := b.e[id]
	if e == nil {
		return 0
	}
	return e.rights()
}

// Holders returns every replica that holds rights, as far as this replica
// knows, with the rights it holds, sorted by replica: whom to ask with
// [Bounded.Request]. The rights a replica holds include those given to it
// that it has not taken up yet (it takes them up at its next change). A
// retired writer (see [vclock.ReplicaID.IsRetired]) is left out: it makes
// no change, and what it holds nobody spends. Under a replication engine
// the replicas are writers, a replica's name and the epoch of one of its
// runs.
func (b *Bounded) Holders() []Rights {
	var rs []Rights
	for _, h := range b.holders() {
		rs = append(rs, Rights{Replica: h.id, Total: h.total()})
	}
	return rs
}

// holding is what a replica holds, as far as this counter knows: the
// rights its entry holds, and the rights given to it that it has not taken
// up.
type holding struct {
	id          vclock.ReplicaID
	held, given uint64
}

// total returns what h's replica may spend, saturating at
// math.MaxUint64 (the rights given to one replica by many may add up past
// it).
func (h holding) total() uint64 { return addSat(h.held, h.given) }

// holders returns what each replica holding rights holds (see
// [Bounded.Holders]), sorted by replica, in one pass over the entries.
func (b *Bounded) holders() []holding {
	var given map[vclock.ReplicaID]uint64
	for _, e := range b.e {
		for _, r := range e.out {
			if t := inTransit(e.id, r.Total, b.e[r.Replica]); t > 0 && !r.Replica.IsRetired() {
				if given == nil {
					given = map[vclock.ReplicaID]uint64{}
				}
				given[r.Replica] = addSat(given[r.Replica], t)
			}
		}
	}
	var hs []holding
	for _, e := range b.e {
		if e.id.IsRetired() {
			continue
		}
		if h := (holding{id: e.id, held: e.rights(), given: given[e.id]}); h.total() > 0 {
			hs = append(hs, h)
		}
		delete(given, e.id)
	}
	for id, n := range given {
		hs = append(hs, holding{id: id, given: n})
	}
	slices.SortFunc(hs, func(x, y holding) int { return strings.Compare(string(x.id), string(y.id)) })
	return hs
}

// Inc adds n to the counter; the replica gains n rights.
func (b *Bounded) Inc(n uint64) (BoundedOp, error) {
	e, err := b.mine()
	if err != nil {
		return BoundedOp{}, err
	}
	if n > MaxBoundedTotal-e.p-e.sumIn() {
		return BoundedOp{}, fmt.Errorf("%w: increments of replica %q total %d and cannot grow by %d", ErrOverflow, b.id, e.p, n)
	}
	// The rights e holds grow by n, and nothing else in the value moves.
	b.fp -= e.h
	e.p += n
	e.h = e.hash()
	b.fp += e.h
	b.live = b.live.add(n)
	return e.op(), nil
}

// Dec takes n from the counter, spending n of the rights this replica
// holds (taking up first any rights given to it). If it holds fewer, Dec
// fails with an error wrapping [ErrInsufficientRights] that says who holds
// rights, and nothing changes.
func (b *Bounded) Dec(n uint64) (BoundedOp, error) {
	e, err := b.mine()
	if err != nil {
		return BoundedOp{}, err
	}
	if e.rights() < n {
		e = b.takeUp(e)
		if e.rights() < n {
			return BoundedOp{}, b.short(e, n)
		}
	}
	// The rights e holds fall by n (it holds at least n), and nothing else
	// in the value moves: it stays at or above the floor.
	b.fp -= e.h
	e.n += n
	e.h = e.hash()
	b.fp += e.h
	b.live = b.live.sub(u128{lo: n})
	return e.op(), nil
}

// Transfer gives n of this replica's rights to replica to, which takes
// them up at its next change; until then they count in the value as rights
// in transit. It fails like [Bounded.Dec] if this replica holds fewer than
// n, and with [ErrInvalidOp] if to is this replica or empty.
func (b *Bounded) Transfer(to vclock.ReplicaID, n uint64) (BoundedOp, error) {
	e, err := b.mine()
	if err != nil {
		return BoundedOp{}, err
	}
	if to == "" || to == b.id {
		return BoundedOp{}, fmt.Errorf("%w: transfer of rights from %q to %q", ErrInvalidOp, b.id, to)
	}
	if e.rights() < n {
		e = b.takeUp(e)
		if e.rights() < n {
			return BoundedOp{}, b.short(e, n)
		}
	}
	if n == 0 {
		return e.op(), nil
	}
	out := slices.Clone(e.out)
	i, ok := slices.BinarySearchFunc(out, to, byReplica)
	if !ok {
		out = slices.Insert(out, i, Rights{Replica: to})
	}
	out[i].Total += n // at most the rights held, below MaxBoundedTotal
	b.change(e, func() { e.out = out })
	return e.op(), nil
}

// RightsRequest is a request for rights addressed to this counter's
// replica: Replica asks for Rights more than this replica has given it so
// far.
type RightsRequest struct {
	Replica vclock.ReplicaID // the replica asking
	Rights  uint64           // how many more it asks for
}

// Request asks replica from to give this replica n rights more than from
// has given it so far, as far as this replica knows. The request travels
// in this replica's entry like every change: the op Request returns
// carries it, and from sees it in [Bounded.Requests] (and in the hook set
// by [Bounded.SetRequestHook]) once the op or a state holding it reaches
// it. It is up to from's host to answer with a [Bounded.Transfer]; a
// transfer, from any cause, answers the request as far as it goes. Asking
// again before an answer replaces the request, it does not add to it:
// Request(from, 5) twice asks for 5. Request fails with [ErrInvalidOp] if
// from is this replica or empty, and nothing changes.
func (b *Bounded) Request(from vclock.ReplicaID, n uint64) (BoundedOp, error) {
	e, err := b.mine()
	if err != nil {
		return BoundedOp{}, err
	}
	if from == "" || from == b.id {
		return BoundedOp{}, fmt.Errorf("%w: request for rights from %q by %q", ErrInvalidOp, from, b.id)
	}
	var given uint64
	if g := b.e[from]; g != nil {
		given = totalOf(g.out, b.id)
	}
	if n > MaxBoundedTotal-given {
		return BoundedOp{}, fmt.Errorf("%w: request of %q for %d rights more than the %d %q gave it", ErrOverflow, b.id, n, given, from)
	}
	want := given + n
	if n == 0 || want <= totalOf(e.ask, from) {
		return e.op(), nil
	}
	ask := slices.Clone(e.ask)
	i, ok := slices.BinarySearchFunc(ask, from, byReplica)
	if !ok {
		ask = slices.Insert(ask, i, Rights{Replica: from})
	}
	ask[i].Total = want
	b.change(e, func() { e.ask = ask })
	return e.op(), nil
}

// Requests returns the requests for rights addressed to this replica that
// are still open, as far as it knows: for each replica that asked, the
// rights it asked for beyond what this replica gave it. They are sorted by
// replica.
func (b *Bounded) Requests() []RightsRequest {
	var rs []RightsRequest
	for _, id := range b.sortedIDs() {
		if n := b.open(id); n > 0 {
			rs = append(rs, RightsRequest{Replica: id, Rights: n})
		}
	}
	return rs
}

// open returns what the entry of id asks of this replica beyond what this
// replica gave it.
func (b *Bounded) open(id vclock.ReplicaID) uint64 {
	e := b.e[id]
	if e == nil || b.id == "" || id == b.id {
		return 0
	}
	asked := totalOf(e.ask, b.id)
	var given uint64
	if b.own != nil {
		given = totalOf(b.own.out, id)
	}
	if asked <= given {
		return 0
	}
	return asked - given
}

// SetRequestHook sets a function called with each request for rights
// addressed to this replica that an op or a merge opens or raises: the
// host can answer it with a [Bounded.Transfer]. It is called from inside
// [Bounded.Apply], [Bounded.Merge] and their binary forms, once per
// request that grew, after the counter changed; under a replication
// engine, that is while the engine holds the replica's lock, so the hook
// must not call the replica: it should hand the request to another
// goroutine. A nil hook, the default, costs nothing.
func (b *Bounded) SetRequestHook(hook func(RightsRequest)) { b.hook = hook }

// short returns the error of a change that needs more rights than e holds.
func (b *Bounded) short(e *bEntry, n uint64) error {
	var others []string
	for _, h := range b.holders() {
		switch {
		case h.id == e.id:
		case h.given == 0:
			others = append(others, fmt.Sprintf("%s holds %d", h.id, h.held))
		default:
			others = append(others, fmt.Sprintf("%s holds %d (%d of them given to it, not taken up yet)", h.id, h.total(), h.given))
		}
	}
	where := "no other replica holds any, as far as this one knows"
	if len(others) > 0 {
		where = strings.Join(others, ", ")
	}
	return fmt.Errorf("%w: %q holds %d, %d asked; %s", ErrInsufficientRights, b.id, e.rights(), n, where)
}

// mine returns the counter's own entry, making it if need be.
func (b *Bounded) mine() (*bEntry, error) {
	if b.id == "" {
		return nil, ErrNoReplica
	}
	if b.own == nil {
		if b.e == nil {
			b.e = map[vclock.ReplicaID]*bEntry{}
		}
		b.put(&bEntry{id: b.id})
	}
	return b.own, nil
}

// takeUp records in e, the counter's own entry, every right given to e's
// replica that it has not taken up yet, and returns the entry that
// replaces e. The value does not change: rights in transit become rights
// held.
func (b *Bounded) takeUp(e *bEntry) *bEntry {
	var in []Rights
	for _, id := range b.sortedIDs() {
		o := b.e[id]
		if o == e {
			continue
		}
		given := totalOf(o.out, e.id)
		if given > totalOf(e.in, id) {
			if in == nil {
				in = slices.Clone(e.in)
			}
			i, ok := slices.BinarySearchFunc(in, id, byReplica)
			if !ok {
				in = slices.Insert(in, i, Rights{Replica: id})
			}
			in[i].Total = given
		}
	}
	if in == nil {
		return e
	}
	next := *e
	next.in = in
	b.put(&next)
	return &next
}

// The value is the floor plus the sum, over the entries, of each entry's
// terms: the rights its replica holds, and the rights it gave that are in
// transit (given, not yet taken up as far as this replica knows). b.live
// keeps that sum. A change of one entry changes its own terms, and the
// terms of the replicas whose rights to it its In names (what it took up
// of them): nothing else. So keeping the sum costs, per change, work in
// proportion to the size of the entry, whatever the number of entries.

// terms returns what e, the entry of replica id, counts for in the value:
// the rights id holds, the rights it gave that their receivers have not
// taken up, and the rights given to id by each replica that e's In or
// also names that e has not taken up (those terms belong to the givers,
// but change with e's In). A nil e is an entry id does not have yet, which
// holds and gave nothing, and took up nothing.
func (b *Bounded) terms(id vclock.ReplicaID, e *bEntry, also []Rights) (s u128) {
	var in []Rights
	if e != nil {
		s = s.add(e.rights())
		for _, r := range e.out {
			s = s.add(inTransit(e.id, r.Total, b.e[r.Replica]))
		}
		b.reads += uint64(1 + len(e.out))
		in = e.in
	}
	// The givers named in in or also, each once (both lists are sorted).
	i, j := 0, 0
	for i < len(in) || j < len(also) {
		var giver vclock.ReplicaID
		switch {
		case j == len(also) || i < len(in) && in[i].Replica < also[j].Replica:
			giver = in[i].Replica
			i++
		case i == len(in) || also[j].Replica < in[i].Replica:
			giver = also[j].Replica
			j++
		default:
			giver = in[i].Replica
			i++
			j++
		}
		b.reads++
		if g := b.e[giver]; g != nil && giver != id {
			s = s.add(inTransit(giver, totalOf(g.out, id), e))
		}
	}
	return s
}

// inTransit returns the part of the rights giver gave to the replica of
// the entry to (nil if this counter holds none) that to has not taken up.
func inTransit(giver vclock.ReplicaID, given uint64, to *bEntry) uint64 {
	var taken uint64
	if to != nil {
		taken = totalOf(to.in, giver)
	}
	if given > taken {
		return given - taken
	}
	return 0
}

// change runs f, which changes e (an entry the counter holds) in place,
// all but its In, and refreshes e's hash, the fingerprint and the value.
func (b *Bounded) change(e *bEntry, f func()) {
	b.live = b.live.sub(b.terms(e.id, e, nil))
	b.fp -= e.h
	f()
	e.h = e.hash()
	b.fp += e.h
	b.live = b.live.plus(b.terms(e.id, e, nil))
}

// revalue computes the value from every entry, in one pass.
func (b *Bounded) revalue() {
	b.live = u128{}
	for _, e := range b.e {
		b.live = b.live.add(e.rights())
		for _, r := range e.out {
			b.live = b.live.add(inTransit(e.id, r.Total, b.e[r.Replica]))
		}
		b.reads += uint64(1 + len(e.out))
	}
}

// Apply applies an op of any replica. It fails with [ErrInvalidOp] if the
// op is malformed or its entry, joined with what this counter holds of it,
// would spend rights the replica did not hold; the counter is then
// unchanged. (Such an entry and the one held are twins: see
// [Bounded.Merge], which keeps one of them, the same everywhere. The op's
// replica counts in [Bounded.Equivocations].)
func (b *Bounded) Apply(op BoundedOp) error {
	_, err := b.apply(op, false)
	return err
}

// apply takes in op's entry, joined with the one held of its replica. If
// the two are twins (see [Bounded.Merge]), apply fails, unless choose is
// set: it then keeps the later of the two in the order of [Bounded.Merge].
func (b *Bounded) apply(op BoundedOp, choose bool) (changed bool, err error) {
	if why := op.invalid(); why != "" {
		return false, fmt.Errorf("%w: %s", ErrInvalidOp, why)
	}
	cur := b.e[op.Replica]
	// The op's lists are the caller's: keep copies, so that nothing the
	// caller does later changes the counter.
	next := &bEntry{id: op.Replica, p: op.P, n: op.N, in: slices.Clone(op.In), out: slices.Clone(op.Out), ask: slices.Clone(op.Ask)}
	if cur != nil {
		joined := cur.join(next)
		if joined == cur {
			return false, nil
		}
		if why := joined.check(); why != "" {
			if b.twins == nil {
				b.twins = map[vclock.ReplicaID]bool{}
			}
			b.twins[op.Replica] = true
			if !choose {
				return false, fmt.Errorf("%w: joined with what is held here, %s", ErrInvalidOp, why)
			}
			if op.Replica == b.id || !next.later(cur) {
				return false, nil
			}
		} else {
			next = joined
		}
	}
	var before uint64
	if b.hook != nil {
		before = b.open(op.Replica)
	}
	b.put(next)
	if b.hook != nil {
		if after := b.open(op.Replica); after > before {
			b.hook(RightsRequest{Replica: op.Replica, Rights: after})
		}
	}
	return true, nil
}

// put stores e in place of the entry of its replica, keeping the
// fingerprint and the value.
func (b *Bounded) put(e *bEntry) {
	if b.e == nil {
		b.e = map[vclock.ReplicaID]*bEntry{}
	}
	old := b.e[e.id]
	var was []Rights
	if old != nil {
		b.fp -= old.h
		was = old.in
	}
	b.live = b.live.sub(b.terms(e.id, old, e.in))
	e.h = e.hash()
	b.fp += e.h
	b.e[e.id] = e
	b.live = b.live.plus(b.terms(e.id, e, was))
	if e.id == b.id {
		b.own = e
	}
}

// Merge joins o into b: for every replica, the later of the two entries.
// Merge is commutative, associative and idempotent. Merge costs work in
// proportion to the size of o's entries, whatever the size of b (the value
// is kept up to date entry by entry).
//
// Two entries of one replica are twins if their join spends rights the
// replica never held (or gains past [MaxBoundedTotal]): each alone is
// valid, and no one history of the replica makes both. A replica that
// sent others different changes under one identity makes them (a hostile
// peer, or two processes writing as one writer), and so does a state that
// carries a forged entry. Of twins, Merge keeps one, the same on every
// replica: the one with the larger count of [Bounded.Events], or, for
// equal counts, the one with the larger hash. So replicas that exchange
// states end with the same entry, whatever order they met the twins in,
// rather than each keeping the one it met first. The exception is
// the counter's own entry (see [Bounded.SetWriter]), which a merge never
// replaces: what this replica did stays in its entry. Every replica that
// meets twins counts their replica in [Bounded.Equivocations].
//
// What the rights of the entry kept account for: rights the other entry
// gave and that their receivers took up stay with the receivers (their own
// entries say so), and count in the value; the sales of the other entry
// are gone from the value. The value stays at or above the floor, but the
// sales of all replicas together may then pass what was put in: a replica
// that sells twice under one identity sells what it never held, and no
// counter can undo that; it can only make it show.
func (b *Bounded) Merge(o *Bounded) { b.merge(o) }

func (b *Bounded) merge(o *Bounded) (changed bool) {
	for _, id := range o.sortedIDs() {
		ch, _ := b.apply(o.e[id].op(), true)
		changed = changed || ch
	}
	return changed
}

// Equivocations returns the number of replicas of which this counter met
// twins, two entries that no one history of the replica makes (see
// [Bounded.Merge]), since it was made or its state last replaced by
// [Bounded.UnmarshalBinary]. It should stay zero. The replication engine
// sums it over the registered objects in its Stats.
func (b *Bounded) Equivocations() int { return len(b.twins) }

// later reports whether e comes after f, an entry of the same replica, in
// the order that chooses between twins: the larger count of events, then
// the larger hash.
func (e *bEntry) later(f *bEntry) bool {
	if ev, fv := e.events(), f.events(); ev != fv {
		return ev > fv
	}
	return e.hash() > f.hash()
}

// Clone returns an independent copy of b.
func (b *Bounded) Clone() *Bounded {
	c := &Bounded{id: b.id, floor: b.floor, live: b.live, fp: b.fp, lim: b.lim, twins: maps.Clone(b.twins)}
	if b.e != nil {
		c.e = make(map[vclock.ReplicaID]*bEntry, len(b.e))
		for id, e := range b.e {
			cp := *e // In, Out and Ask are never changed in place
			c.e[id] = &cp
		}
		c.own = c.e[c.id]
	}
	return c
}

// Equal reports whether b and o hold the same entries and floor. Their own
// replica IDs are not compared.
func (b *Bounded) Equal(o *Bounded) bool {
	if b.floor != o.floor || b.fp != o.fp || len(b.e) != len(o.e) {
		return false
	}
	for id, e := range b.e {
		f := o.e[id]
		if f == nil || e.p != f.p || e.n != f.n || !slices.Equal(e.in, f.in) || !slices.Equal(e.out, f.out) || !slices.Equal(e.ask, f.ask) {
			return false
		}
	}
	return true
}

// Fingerprint returns an order-independent hash of b's entries: equal for
// counters that are [Bounded.Equal], almost surely different otherwise. It
// is the same in every process and costs nothing to read.
func (b *Bounded) Fingerprint() uint64 { return b.fp }

func (b *Bounded) sortedIDs() []vclock.ReplicaID {
	ids := make([]vclock.ReplicaID, 0, len(b.e))
	for id := range b.e {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// rights returns what e's replica holds: its increments and the rights it
// took up, less its decrements and the rights it gave.
func (e *bEntry) rights() uint64 {
	return e.p + e.sumIn() - e.n - e.sumOut() // every total is below 2⁶², a valid entry is not negative
}

func (e *bEntry) sumIn() (s uint64) {
	for _, r := range e.in {
		s += r.Total
	}
	return s
}

func (e *bEntry) sumOut() (s uint64) {
	for _, r := range e.out {
		s += r.Total
	}
	return s
}

// op returns e as an op; it shares e's lists.
func (e *bEntry) op() BoundedOp {
	return BoundedOp{Replica: e.id, P: e.p, N: e.n, In: e.in, Out: e.out, Ask: e.ask}
}

// join returns the entry holding the larger of each total of e and f, or
// e itself if f adds nothing.
func (e *bEntry) join(f *bEntry) *bEntry {
	in, inUp := joinRights(e.in, f.in)
	out, outUp := joinRights(e.out, f.out)
	ask, askUp := joinRights(e.ask, f.ask)
	if f.p <= e.p && f.n <= e.n && !inUp && !outUp && !askUp {
		return e
	}
	return &bEntry{id: e.id, p: max(e.p, f.p), n: max(e.n, f.n), in: in, out: out, ask: ask}
}

// joinRights returns the larger total of each replica in a or b, and
// whether b raised any of a's.
func joinRights(a, b []Rights) ([]Rights, bool) {
	up := false
	for _, r := range b {
		if r.Total > totalOf(a, r.Replica) {
			up = true
			break
		}
	}
	if !up {
		return a, false
	}
	return combineRights(a, b, func(x, y uint64) uint64 { return max(x, y) }), true
}

// combineRights returns, in a new list sorted by replica, the totals of
// the replicas in a or b, combining by f those in both.
func combineRights(a, b []Rights, f func(x, y uint64) uint64) []Rights {
	out := make([]Rights, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || i < len(a) && a[i].Replica < b[j].Replica:
			out = append(out, a[i])
			i++
		case i == len(a) || b[j].Replica < a[i].Replica:
			out = append(out, b[j])
			j++
		default:
			out = append(out, Rights{Replica: a[i].Replica, Total: f(a[i].Total, b[j].Total)})
			i++
			j++
		}
	}
	return out
}

func totalOf(rs []Rights, id vclock.ReplicaID) uint64 {
	if i, ok := slices.BinarySearchFunc(rs, id, byReplica); ok {
		return rs[i].Total
	}
	return 0
}

func byReplica(r Rights, id vclock.ReplicaID) int {
	return strings.Compare(string(r.Replica), string(id))
}

// hash returns what e counts for in the fingerprint.
func (e *bEntry) hash() uint64 {
	if e.hid != e.id || e.hid == "" {
		e.hid, e.idh = e.id, codec.HashString(codec.HashSeed, string(e.id))
	}
	h := codec.HashUint(codec.HashUint(e.idh, e.p), e.n)
	h = hashRights(h, e.in)
	h = hashRights(h, e.out)
	if len(e.ask) > 0 { // else as before requests existed: fingerprints stay the same
		h = hashRights(h, e.ask)
	}
	return codec.Mix(h)
}

// hashRights returns h extended with the list rs.
func hashRights(h uint64, rs []Rights) uint64 {
	h = codec.HashUint(h, uint64(len(rs)))
	for _, r := range rs {
		h = codec.HashUint(codec.HashString(h, string(r.Replica)), r.Total)
	}
	return h
}

// invalid says what is wrong with op, or "" if nothing is.
func (op BoundedOp) invalid() string {
	if op.Replica == "" {
		return "bounded counter op without a replica"
	}
	if op.P > MaxBoundedTotal || op.N > MaxBoundedTotal {
		return fmt.Sprintf("total of replica %q above %d", op.Replica, uint64(MaxBoundedTotal))
	}
	for _, rs := range [][]Rights{op.In, op.Out, op.Ask} {
		for k, r := range rs {
			switch {
			case r.Replica == "" || r.Replica == op.Replica:
				return fmt.Sprintf("rights of replica %q with %q", op.Replica, r.Replica)
			case r.Total == 0 || r.Total > MaxBoundedTotal:
				return fmt.Sprintf("rights total %d of replica %q with %q", r.Total, op.Replica, r.Replica)
			case k > 0 && rs[k-1].Replica >= r.Replica:
				return fmt.Sprintf("rights of replica %q out of order at %q", op.Replica, r.Replica)
			}
		}
	}
	return (&bEntry{id: op.Replica, p: op.P, n: op.N, in: op.In, out: op.Out}).check()
}

// check says what makes e an entry no real history produces, or "" if
// nothing does: what its replica gained (increments and rights taken up)
// is at most MaxBoundedTotal, and what it spent (decrements and rights
// given) is at most what it gained. Every sum of a valid entry then fits in
// a uint64.
func (e *bEntry) check() string {
	gained, spent := u128{}.add(e.p), u128{}.add(e.n)
	for _, r := range e.in {
		gained = gained.add(r.Total)
	}
	for _, r := range e.out {
		spent = spent.add(r.Total)
	}
	switch {
	case gained.hi != 0 || gained.lo > MaxBoundedTotal:
		return fmt.Sprintf("entry of %q gains more than %d rights", e.id, uint64(MaxBoundedTotal))
	case spent.hi != 0 || spent.lo > gained.lo:
		return fmt.Sprintf("entry of %q spends rights it does not hold", e.id)
	}
	return ""
}

// satAdd returns v+n, saturating at math.MaxInt64.
func satAdd(v int64, n uint64) int64 {
	room := uint64(math.MaxInt64) // math.MaxInt64 - v, as a uint64
	if v >= 0 {
		room -= uint64(v)
	} else {
		room += uint64(-(v + 1)) + 1
	}
	if n > room {
		return math.MaxInt64
	}
	return int64(uint64(v) + n) // wraps back into range: v+n fits
}

// satAdd128 returns floor+pos-neg, saturating at the bounds of int64; pos
// is at least neg.
func satAdd128(floor int64, pos, neg u128) int64 {
	lo, borrow := bitsSub(pos.lo, neg.lo)
	hi := pos.hi - neg.hi - borrow
	if hi != 0 || lo > math.MaxInt64 {
		return math.MaxInt64
	}
	return satAdd(floor, lo)
}

func bitsSub(a, b uint64) (uint64, uint64) {
	d := a - b
	if a < b {
		return d, 1
	}
	return d, 0
}
