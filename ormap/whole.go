package ormap

import (
	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/internal/dotkernel"
	"github.com/activeactive/crdt/vclock"
)

// SetLimits sets the limits every decoding method of the map applies to
// its input: [Map.UnmarshalBinary], [Map.MergeBinary], [Map.ApplyBinary],
// [Map.ApplyBinaryFrom], [Map.DecodeOp], the version of
// [Map.DeltaSinceBinary] and the versions of [Map.CollectBinary]. Zero
// fields take the values of [codec.DefaultLimits]. Clones keep the
// limits; decoding a state does not change them.
func (m *Map[K, V]) SetLimits(l codec.Limits) { m.mustTop("SetLimits").lim = l }

// Apply applies an op made at another replica (or this one). Ops may
// arrive in any order and any number of times: applying one twice, or
// after ops that came later, is harmless; a delete that arrives before a
// write it observed still drops that write.
//
// Apply refuses an invalid op (the zero Op, a failed mutator's op, dots
// that name no event, a value that does not fit the map's type) with an
// error matching [ErrInvalidOp] or the mutator's error, and changes
// nothing.
func (m *Map[K, V]) Apply(op Op) error {
	_, err := m.mustTop("Apply").apply(op)
	return err
}

// Merge sets m to the join of m and o: a write survives if both hold it,
// or if one holds it and the other has never seen it; the causal contexts
// are united. Merge is commutative, associative and idempotent, and never
// fails. A nil o changes nothing.
func (m *Map[K, V]) Merge(o *Map[K, V]) {
	s := m.mustTop("Merge")
	if o == nil || o == m {
		return
	}
	s.join(&o.readTop("Merge").k)
}

// Heal sets m to the causal join of m and o, as [Map.Merge] does, without
// trusting o's drop records: every write o has seen and no longer holds is
// dropped here too, whether or not a record says so. A merge trusts the
// records, and in a map of counters a chain's later leaf or a delete's
// reset drops the older leaves without one; a crafted drop of such a leaf
// (see "Untrusted peers" in the package documentation) can leave a
// replica holding an older leaf that the others dropped, which every
// merge keeps. Heal drops it. Use it once the two replicas are known to
// have diverged (the same version, different fingerprints); it costs as
// much as a merge plus a look at every write of m that o has seen, and
// the merges after it cost what they did before. On maps that agree on
// every drop (no tampering) it gives exactly what Merge gives. A nil o
// changes nothing.
func (m *Map[K, V]) Heal(o *Map[K, V]) {
	s := m.mustTop("Heal")
	if o == nil || o == m {
		return
	}
	s.heal(&o.readTop("Heal").k)
}

// Version returns the map's version: for each replica, how many of its
// writes and deletes the map has seen, counting only those received
// without gaps. Pass a peer's version to [Map.DeltaSince] to send it what
// it lacks.
func (m *Map[K, V]) Version() vclock.Clock { return m.readTop("Version").k.Version() }

// DeltaSince returns a map holding what a replica whose version is v
// lacks: the writes v has not seen, the events beyond v, and the drops
// (deletes, overwrites, removes) v has not seen. Merging it into a
// replica whose version is v gives the same state as merging all of m. If
// v is older than a drop record m has discarded (see [Map.Collect]), the
// delta is a full copy. v must be a version the receiver really has. The
// delta has no replica ID: it is for merging and encoding.
func (m *Map[K, V]) DeltaSince(v vclock.Clock) *Map[K, V] {
	s := m.readTop("DeltaSince")
	d := &Map[K, V]{s: &state{sh: m.shape()}}
	d.s.adopt(s.k.DeltaSince(v))
	return d
}

// Collect discards the drop records of the writes and deletes every
// replica has seen, and returns how many it discarded. stable must be a
// version every replica has reached (the meet of all their versions).
// Collecting never changes the map's value or its state as [Map.Equal]
// sees it. A peer whose version is older than stable is later sent a
// full copy instead of a delta.
//
// Expired keys (see [Map.Expire]) and what deletes of counters keep of
// the chains they reset (see [Counter]) need every replica's version,
// not their meet, to be collected: only [Map.CollectVersions] collects
// them.
func (m *Map[K, V]) Collect(stable vclock.Clock) int {
	return m.mustTop("Collect").k.Collect(stable)
}

// CollectVersions collects what this replica and every peer have seen,
// given the versions of every peer (for the engine, those of their saved
// snapshots): it does what [Map.Collect] does with their meet and this
// replica's version, and also removes what deletes of counters keep of
// the counter chains they reset (see [Counter]) once no replica can hold
// a leaf that still needs it. It returns how many drop records it
// discarded.
//
// It also deletes, as [Map.Delete] would at this replica, each key that
// has expired here and whose writes, expiries and persists every peer
// has seen, but only while this replica has seen every write each peer's
// version counts. The delete gets a dot of this replica and reaches the
// others with [Map.DeltaSince]. A write to the key that this replica has
// not seen would survive the delete without the expiry, as a write
// concurrent with a delete does, and read as present again where the
// expiry had hidden it; waiting until no peer is ahead keeps every
// write a peer has made before its version out of that case. One case
// is left: a write a peer makes after its version, while its clock has
// not reached the expiry (it runs behind this replica's clock), still
// survives the delete, and the key reads as present there after the
// expiry. A peer whose clock has passed the expiry starts the key afresh
// with its next write, which the delete does not touch. A map without a
// replica ID or a clock deletes nothing.
//
// Expiry is judged here by this replica's clock alone: if it runs ahead
// of another's, the delete removes the key there before its expiry by
// that clock. [Map.CollectVersionsAt] waits for every clock.
func (m *Map[K, V]) CollectVersions(peers []vclock.Clock) int {
	return m.collectVersions("CollectVersions", peers, nil, nil)
}

// CollectVersionsAt is [Map.CollectVersions] for a caller that also knows
// peersAt, a time every peer's clock has reached (the replication engine
// does, from the timestamps of their messages; see crdt.ClockCollector):
// it deletes an expired key only if peersAt is at or past its expiry too,
// so that the delete finds the key expired wherever it arrives. A replica
// whose clock ran ahead (stepped forward, then back) thus deletes no key
// before the others' clocks reach its expiry. A zero peersAt deletes no
// key; the rest of the collection is CollectVersions'.
func (m *Map[K, V]) CollectVersionsAt(peers []vclock.Clock, peersAt clock.Timestamp) int {
	return m.collectVersions("CollectVersionsAt", peers, nil, &peersAt)
}

// CollectVersionsFrom is [Map.CollectVersionsAt] for a caller that also
// knows, for each version in peers, the writer of the run that reported
// it (runs[i] for peers[i], empty if unknown), as the replication engine
// does (see crdt.RunCollector). CollectVersions takes a peer's version
// that holds a delete for proof that every run of the peer's name has
// seen the delete; a second process under the name, which writes under a
// writer of its own, makes that untrue: the process that did not see the
// delete may go on with a counter chain the delete noted, and its next
// increment would count the deleted increments again wherever the note
// was collected. Here a delete's note of a writer's chains stays until
// that writer's own run has reported a version holding the delete (this
// replica's writer counts as reporting its own version), or the writer
// is retired. runs must be as long as peers; otherwise it panics.
func (m *Map[K, V]) CollectVersionsFrom(peers []vclock.Clock, runs []vclock.ReplicaID, peersAt clock.Timestamp) int {
	if len(runs) != len(peers) {
		panic("ormap: CollectVersionsFrom with runs not matching peers")
	}
	if runs == nil {
		runs = []vclock.ReplicaID{}
	}
	return m.collectVersions("CollectVersionsFrom", peers, runs, &peersAt)
}

func (m *Map[K, V]) collectVersions(what string, peers []vclock.Clock, runs []vclock.ReplicaID, peersAt *clock.Timestamp) int {
	s := m.mustTop(what)
	own := s.k.Version()
	stable := own.Clone()
	behind := true // every peer's version is within this replica's
	for _, v := range peers {
		behind = behind && v.LessOrEqual(own)
		stable.Meet(v)
	}
	if behind {
		s.collectExpired(stable, peersAt)
	}
	s.collectResets(own, peers, runs)
	return s.k.Collect(stable)
}

// Clone returns an independent copy of m, with the same replica ID. Do
// not mutate both the original and the clone: they would make different
// writes with the same dots.
func (m *Map[K, V]) Clone() *Map[K, V] {
	s := m.readTop("Clone")
	c := &Map[K, V]{s: &state{id: s.id, lim: s.lim, sh: m.shape(), clk: s.clk}}
	c.s.copyOf(s)
	return c
}

// Equal reports whether m and o are in the same state: the same writes,
// under the same dots, after seeing the same events. Replica IDs, drop
// records and what deletes of counters keep of the chains they reset (see
// [Counter]) are not compared. A nil map equals an empty one.
func (m *Map[K, V]) Equal(o *Map[K, V]) bool {
	empty := func(x *Map[K, V]) bool {
		return x == nil || (x.rd().k.Len() == 0 && x.rd().k.Context().IsEmpty())
	}
	if m == nil || o == nil {
		return empty(m) && empty(o)
	}
	a, b := m.readTop("Equal"), o.readTop("Equal")
	return withoutResets(a).Equal(withoutResets(b), func(a, b leaf) bool { return a == b })
}

// withoutResets returns s's store, or a copy of it without its reset
// leaves if it has any: what deletes of counters keep of the chains they
// reset, which replicas collect each on its own (see [Map.CollectVersions]),
// is left out of Equal as it is of Fingerprint.
func withoutResets(s *state) *dotkernel.Kernel[vclock.Dot, leaf] {
	if len(s.resetDots) == 0 {
		return &s.k
	}
	k := s.k.Clone()
	for d := range s.resetDots {
		k.Remove(d)
	}
	return k
}

// Fingerprint returns a hash of the map's content: every write with its
// dot and key path. Replicas whose states are [Map.Equal] have the same
// fingerprint whatever order changes arrived in, and maps whose content
// differs almost surely do not. It is kept up to date by every change and
// costs nothing to read.
//
// What deletes of counters keep of the counter chains they reset (see
// [Counter]) is left out: replicas collect it each on its own, without a
// write.
func (m *Map[K, V]) Fingerprint() uint64 {
	s := m.readTop("Fingerprint")
	return s.k.Fingerprint() - s.resetFP
}

// ContentFingerprint returns a hash of the map's content with the values
// of its writes, deletes' notes of counter chains left out as in
// [Map.Fingerprint]. The fingerprint hashes each write's dot alone, since
// a dot names one write; two replicas that hold one dot with different
// writes (a peer sent each a different write under one dot) have the same
// fingerprint and different content fingerprints. It implements
// crdt.ContentFingerprinter: the replication engine compares it with a
// peer's, counts a difference as a divergence, and heals it with
// [Map.HealBinary], which drops such a dot on both sides.
//
// It costs a pass over the map when the map has changed since the last
// call (as the fingerprint tells), and nothing otherwise. It panics on a
// nested map.
func (m *Map[K, V]) ContentFingerprint() uint64 {
	return m.readTop("ContentFingerprint").contentFingerprint()
}

// contentFP is a content fingerprint and the fingerprint and size of the
// store it was computed for.
type contentFP struct {
	fp, sum uint64
	n       int
}

// contentFingerprint is ContentFingerprint, computed again only if the
// store's fingerprint or size changed: a dot's leaf never changes, so
// equal dots mean equal leaves. Readers may call it at the same time.
//
// Reset leaves are left out, since replicas collect them at different
// times; what they take from counters is not: for each counter a reset
// entry names whose value differs from the sum of its leaves' totals,
// the value is hashed in. A reset leaf is collected only once it takes
// nothing from any live leaf, so the terms do not depend on when each
// replica collected; and two different resets under one dot (a hostile
// writer's delete sent in two versions) show in them.
func (s *state) contentFingerprint() uint64 {
	fp, n := s.k.Fingerprint(), s.k.Len()
	if c := s.cfp.Load(); c != nil && c.fp == fp && c.n == n {
		return c.sum
	}
	sum := s.k.ContentFingerprint(hashLeaf)
	if len(s.resetDots) > 0 {
		// The counters the entries name, found by their paths below
		// each reset's key under its node, without a path made for each
		// entry; each counter once, each reset leaf's entries read once.
		below := map[string]map[string]bool{} // by the resets' key paths
		for d := range s.resetDots {
			l, _ := s.k.Get(d)
			bs := below[l.path()]
			if bs == nil {
				bs = map[string]bool{}
				below[l.path()] = bs
			}
			for e := range entriesIn(l) {
				bs[e.below] = true
			}
		}
		counters := map[string]*node{}
		for q, bs := range below {
			if x := s.ix.find(q); x != nil {
				x.eachAt(q, len(s.sh.segs)-countSegs(q), func(p string, c *node) {
					if c.live != 0 && bs[p[len(q):]] {
						counters[p] = c
					}
				})
			}
		}
		cache := map[vclock.Dot][]resetEntry{}
		for p, x := range counters {
			if v := s.valueWith(x, p, cache); v != x.sum() {
				sum += codec.Mix(codec.HashString(codec.HashSeed, p) ^ codec.Mix(uint64(v)))
			}
		}
	}
	s.cfp.Store(&contentFP{fp: fp, sum: sum, n: n})
	return sum
}

// hashLeaf hashes the leaf l for the content fingerprint, and reports
// false for a reset leaf, which it leaves out.
func hashLeaf(l leaf) (uint64, bool) {
	if l.isReset() {
		return 0, false
	}
	flags := uint64(l.lg)<<16 | uint64(l.tag)<<1
	if l.reg {
		flags |= 1
	}
	h := codec.HashString(codec.HashSeed, l.pv)
	return codec.HashUint(codec.HashUint(h, uint64(l.n)), flags), true
}

// HasGaps reports whether the map holds writes or deletes that its
// [Map.Version] leaves out, received past a gap in their writer's
// sequence (as after a restart from an older snapshot). Two maps at one
// version hold the same content, and so the same [Map.Fingerprint], if
// they hold the same updates past it: none, or those [Map.GapHash]
// names alike; the replication engine compares fingerprints only then.
func (m *Map[K, V]) HasGaps() bool { return m.readTop("HasGaps").k.HasGaps() }

// GapHash returns a hash of the writes and deletes the map holds past its
// [Map.Version] (0 if none), the same on every machine and whatever order
// they arrived in, with the writes it has seen only as deleted, and true;
// or false while a part of a large catch-up has set deletes aside, which
// the hash does not describe. Two maps at one version with equal gap
// hashes hold the same content, so the replication engine compares their
// fingerprints even across a gap.
func (m *Map[K, V]) GapHash() (uint64, bool) { return m.readTop("GapHash").k.GapHash() }
