package ormap

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/vclock"
)

// ttlTag says what a leaf is: 0 for a value's write (an increment, a
// register value, a set element), or an expiry or a persist of the key
// whose path the leaf has.
type ttlTag uint8

const (
	tagExpire  ttlTag = iota + 1 // the key expires at the leaf's time
	tagPersist                   // the key does not expire
)

// inc returns the counter increment the leaf holds, 0 for one that holds
// none.
func (l leaf) inc() int64 {
	if l.tag != 0 {
		return 0
	}
	return l.n
}

// at returns the expiry time of an expiry leaf.
func (l leaf) at() clock.Timestamp { return clock.Timestamp{Wall: l.n, Logical: l.lg} }

// SetClock makes the map judge expiries (see [Map.Expire]) by the hybrid
// logical clock c, and date its own expiries by it. With the replication
// engine, pass the replica's clock (crdt.Replica.Clock), which follows the
// clocks of its peers. A map without a clock never finds a key expired,
// and its [Map.Expire] fails. SetClock panics on a nested map.
func (m *Map[K, V]) SetClock(c *clock.Clock) { m.mustTop("SetClock").clk = c }

// Expire makes key k expire ttl from now, as the map's clock (see
// [Map.SetClock]) tells the time, and returns the op to apply at the
// other replicas. From its expiry on, at every replica whose clock has
// reached it, the key reads as absent: [Map.Has] is false, its value
// reads as empty, and a write to it starts the key afresh, without an
// expiry, dropping what it held. [Map.CollectVersions] later deletes the
// expired key's writes, once every replica has seen them and this one has
// seen every write the others have.
//
// Expiries follow Redis Active-Active's rules for keys. An expiry or
// persist replaces those of k this replica had seen. Of concurrent
// expiries, the one that makes k live longest wins (their times are
// compared: the expiring replica's clock reading plus ttl). A persist
// ([Map.Persist]) wins over a concurrent expiry. A delete of k drops its
// expiries with its writes; an expiry concurrent with a delete survives
// it, as any write does, and holds for the key's next writes.
//
// If k is not present (or has expired), Expire does nothing and returns
// an op that does nothing. It returns an op that reports the error, and
// changes nothing, for a ttl that is not positive, a map without a clock,
// a key that cannot be encoded or a replica with no sequence number left.
// Expire panics on a map without a replica ID (the zero Map).
func (m *Map[K, V]) Expire(k K, ttl time.Duration) Op {
	s := m.st()
	s.mustWrite("Expire")
	p, err := m.keyPath(k)
	switch {
	case err != nil:
		return Op{err: err}
	case ttl <= 0:
		return Op{err: fmt.Errorf("%w: expiry in %v", ErrInvalidTTL, ttl)}
	case s.clk == nil:
		return Op{err: fmt.Errorf("%w: Expire on a map without a clock", ErrInvalidTTL)}
	}
	if s.find(p) == nil {
		return Op{kind: opNoop, leaf: leaf{pv: p, tag: tagExpire}, sh: s.sh}
	}
	now := s.clk.Now()
	wall := now.Wall + int64(ttl)
	if wall < now.Wall {
		wall = math.MaxInt64 // saturate: expires never
	}
	return s.write("Expire", leaf{pv: p, tag: tagExpire, n: wall, lg: now.Logical}, s.ttlDots(p))
}

// Persist removes the expiry of key k and returns the op to apply at the
// other replicas. It wins over an expiry made concurrently with it at
// another replica, and an expiry made after it (that saw it) wins over
// it. It writes its persist even if k has no expiry here, since another
// replica may be expiring k at the same time: as in Redis Active-Active,
// a PERSIST concurrent with an EXPIRE leaves the key without one,
// whether or not the persisting replica had seen an expiry. If k is not
// present or has expired, Persist does nothing and returns an op that
// does nothing. If k cannot be encoded or the replica has no sequence
// number left, it returns an op that reports the error.
//
// Persist panics on a map without a replica ID (the zero Map).
func (m *Map[K, V]) Persist(k K) Op {
	s := m.st()
	s.mustWrite("Persist")
	p, err := m.keyPath(k)
	if err != nil {
		return Op{err: err}
	}
	if s.find(p) == nil {
		return Op{kind: opNoop, leaf: leaf{pv: p, tag: tagPersist}, sh: s.sh}
	}
	return s.write("Persist", leaf{pv: p, tag: tagPersist}, s.ttlDots(p))
}

// ExpiresAt returns the time key k expires at, by the rules of
// [Map.Expire], and whether it has an expiry; false for a key that is
// not present, has expired, or does not expire.
func (m *Map[K, V]) ExpiresAt(k K) (clock.Timestamp, bool) {
	p, err := m.keyPath(k)
	if err != nil {
		return clock.Timestamp{}, false
	}
	s := m.rd()
	n := s.find(p)
	if n == nil {
		return clock.Timestamp{}, false
	}
	return s.expiryOf(n)
}

// noteTTL counts an expiry or persist at key path p in or out.
func (s *state) noteTTL(p string, added bool) {
	if added {
		if s.ttls == nil {
			s.ttls = make(map[string]int)
		}
		s.ttls[p]++
		return
	}
	if s.ttls[p]--; s.ttls[p] <= 0 {
		delete(s.ttls, p)
	}
}

// ttlDots returns a copy of the dots of the expiries and persists of key
// path p.
func (s *state) ttlDots(p string) []vclock.Dot {
	if n := s.ix.lookup(p); n != nil && len(n.ttlDots()) > 0 {
		return s.withoutResets(append([]vclock.Dot(nil), n.ttlDots()...))
	}
	return nil
}

// expiryOf returns the expiry of the key whose node is n: none if a
// persist is there or no expiry is, else the latest expiry time.
func (s *state) expiryOf(n *node) (clock.Timestamp, bool) {
	var at clock.Timestamp
	found := false
	for _, d := range n.ttlDots() {
		l, _ := s.k.Get(d)
		if l.isReset() {
			continue
		}
		if l.tag == tagPersist {
			return clock.Timestamp{}, false
		}
		if t := l.at(); !found || t.After(at) {
			at, found = t, true
		}
	}
	return at, found
}

// now returns the clock's time as the map judges expiries by it: the
// timestamp its next event would get at most, read without making one;
// false for a map without a clock.
func (s *state) now() (clock.Timestamp, bool) {
	if s.clk == nil {
		return clock.Timestamp{}, false
	}
	t := s.clk.Last()
	if pt := s.clk.Physical(); pt > t.Wall {
		t = clock.Timestamp{Wall: pt}
	}
	return t, true
}

// expired reports whether the key whose node is n has expired at now.
func (s *state) expired(n *node, now clock.Timestamp) bool {
	if len(n.ttlDots()) == 0 {
		return false
	}
	at, ok := s.expiryOf(n)
	return ok && !now.Before(at)
}

// expiredPrefix returns the path of the outermost key on path p that has
// expired, and whether there is one.
func (s *state) expiredPrefix(p string) (string, bool) {
	if len(s.ttls) == 0 {
		return "", false
	}
	now, ok := s.now()
	if !ok {
		return "", false
	}
	n, rest := &s.ix, p
	for rest != "" {
		_, r, ok := nextSeg(rest)
		if !ok {
			return "", false
		}
		if n = n.child(p[:len(p)-len(r)]); n == nil {
			return "", false
		}
		rest = r
		if s.expired(n, now) {
			return p[:len(p)-len(rest)], true
		}
	}
	return "", false
}

// find returns the node of path p if a value's write is at or below it
// and no key on the path has expired, else nil.
func (s *state) find(p string) *node {
	n := s.ix.find(p)
	if n == nil || len(s.ttls) == 0 {
		return n
	}
	if _, ok := s.expiredPrefix(p); ok {
		return nil
	}
	return n
}

// eachKid calls f with each present child of the node n, found by
// s.find, and its key path, in unspecified order, until f returns false:
// a child that holds no value's write or has expired is left out.
func (s *state) eachKid(n *node, f func(p string, c *node) bool) {
	if len(s.ttls) == 0 && len(s.resetDots) == 0 {
		n.eachKid(f)
		return
	}
	now, clocked := s.now()
	clocked = clocked && len(s.ttls) != 0
	n.eachKid(func(p string, c *node) bool {
		if c.live == 0 || (clocked && s.expired(c, now)) {
			return true
		}
		return f(p, c)
	})
}

// numKids returns the number of present children of the node n.
func (s *state) numKids(n *node) int {
	if len(s.ttls) == 0 && len(s.resetDots) == 0 {
		return n.numKids()
	}
	k := 0
	s.eachKid(n, func(string, *node) bool { k++; return true })
	return k
}

// collectExpired deletes, as a delete of this replica would, each key
// that has expired and whose writes, expiries and persists every replica
// has seen (stable is a version they have all reached), and returns how
// many keys it deleted. The caller must have seen every write any
// replica's version counts (see [Map.CollectVersions]): a write under
// the key that it has not seen would survive the delete without the
// expiry. A map without a replica ID or a clock deletes nothing.
func (s *state) collectExpired(stable vclock.Clock, peersAt *clock.Timestamp) int {
	if len(s.ttls) == 0 || s.id == "" {
		return 0
	}
	now, ok := s.now()
	if !ok {
		return 0
	}
	if peersAt != nil && peersAt.Before(now) {
		now = *peersAt // a key is due once every clock has passed its expiry
	}
	var due []string
	for p := range s.ttls {
		n := s.ix.lookup(p)
		if n == nil || !s.expired(n, now) {
			continue
		}
		ds := n.under(nil) // keys: a continued chain's dot is later (see state.watch)
		all := true
		for _, key := range ds {
			if _, d, ok := s.k.GetDot(key); ok && !stable.Contains(d) {
				all = false
				break
			}
		}
		if all {
			due = append(due, p)
		}
	}
	slices.Sort(due) // outer keys first, and the same order at every run
	done := 0
	for _, p := range due {
		// An earlier delete may have taken a key nested in this one.
		if n := s.ix.lookup(p); n != nil {
			if op := s.del("Collect", p, n.under(nil)); op.kind == opRemove {
				done++
			}
		}
	}
	return done
}
