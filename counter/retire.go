package counter

import (
	"fmt"
	"math"
	"slices"

	"github.com/activeactive/crdt/vclock"
)

// Retiring a finished writer from a counter (see vclock.Retirement).
//
// A counter's version counts, for each writer, its events: the total of a
// G, the sum of the two totals of a PN. The events of a finished writer
// From become events of To, its name's retired writer, whose entry thus
// holds every finished run of the name. To's entry absorbs From's by
// addition: it becomes To's count plus From's (for a G, plus From's up to
// Final, see G.Retire). At a replica that holds every event of the
// writers retired before From, To's count is Base, and the sum is Base
// plus From's count, as vclock.Clock.Retire has it. At a replica that
// lacks some of them (an older state), the sum still counts exactly the
// events it holds, so the value does not change; it is below the count of
// any replica holding more, and a merge with one of those, which takes
// the larger count, brings it up to date.
//
// Retirements commute with merges (Retire(x ⊔ y) = Retire(x) ⊔ Retire(y))
// whenever, for each retired writer, one of x and y holds at least as much
// as the other of both From and To: in particular when both hold every
// event of the writers retired before (what the replication engine waits
// for before it retires a writer) or when one is an older state of the
// other. Two older states that each lack something the other holds join,
// after a retirement, into a count below the true one (never above it),
// which the next merge with an up-to-date replica repairs.
//
// Events of From above Final (a writer thought finished that went on: a
// second process under its name) are the exception. A G keeps them under
// From's name, so that To counts exactly Base+Final wherever the
// replica held all of it, and nothing is lost. A PN does the same when
// the retirement says how many of From's first Final events were
// increments (vclock.Retirement.Up, which the replication engine agrees
// on with Final): a replica holding more than Final cannot tell it from
// its own state. Without it, a PN folds them into To whole; when two
// successive retirements of one name each leave an excess at different
// replicas, the larger of the two replicas' sums for To is below their
// join, and the merged value misses changes. The replication engine
// counts the retirements installed past Final
// (crdt.Stats.RetiredPastFinal).

// Retire renames the finished writer r.From into r.To in g: the first
// r.Final increments of From become To's, added to its total, and From's
// entry keeps only the rest. r.Base and r.Final count in the units of
// [G.Version]: a writer's total. A total of From above r.Final
// (increments of a writer thought finished: a second process under its
// name, a disk restored later) keeps its excess under From's own name, as
// the dots of a dot store do (see [vclock.Retirement]): From's entry
// becomes its total less r.Final, which every replica subtracts alike, so
// a merge, which keeps the larger total, still joins From's runs exactly.
// Folding the excess into To instead would lose increments: To's total
// is a sum over every writer retired into it, and the larger of two sums
// that each hold a different excess is below their join. A total of From
// at or below r.Final goes into To whole. The value never changes. A
// counter holding nothing of From, or a retirement with Final 0, leaves
// the counter as it is. The replication engine calls Retire on every
// replica in the same order, so replicas holding equal counters hold
// equal counters after it; it refuses, after the retirement, every op
// naming From, so From's remaining entry only changes by merges with
// replicas that retired it too.
//
// Retire fails with an error wrapping [vclock.ErrRetirement], changing
// nothing, if r.Check fails or if To's total would pass math.MaxUint64.
// It takes one pass over the entries, and allocates only when From keeps
// an excess and g held nothing of To.
func (g *G) Retire(r vclock.Retirement) error {
	if err := r.Check(); err != nil {
		return err
	}
	i, ok := findG(g.e, r.From)
	if !ok || r.Final == 0 {
		return nil
	}
	j, hasTo := findG(g.e, r.To)
	var t uint64
	if hasTo {
		t = g.e[j].n
	}
	n := min(g.e[i].n, r.Final) // what goes into To
	rest := g.e[i].n - n        // what From keeps
	if t > math.MaxUint64-n {
		return fmt.Errorf("%w: %q and %q together count past %d", vclock.ErrRetirement, r.To, r.From, uint64(math.MaxUint64))
	}
	g.fp -= g.e[i].h * n
	switch {
	case rest > 0:
		g.e[i].n = rest
		if hasTo {
			g.e[j].n += n
		} else {
			g.e = slices.Insert(g.e, j, gEntry{id: r.To, n: n, h: idHash(r.To)})
		}
	case hasTo:
		g.e[j].n += n
		g.e = append(g.e[:i], g.e[i+1:]...)
	default:
		// To sorts before From (epoch 0 is the smallest): move the
		// entries between them up one place, into From's.
		copy(g.e[j+1:i+1], g.e[j:i])
		g.e[j] = gEntry{id: r.To, n: n, h: idHash(r.To)}
	}
	g.fp += idHash(r.To) * n
	var total uint64
	for _, e := range g.e {
		total = addSat(total, e.n)
	}
	g.total, g.self = total, 0
	return nil
}

// Increments returns the total of writer id's increments in c (0 if c
// holds nothing of it). Of a writer's events, the units of [PN.Version],
// the increments are the first kind: the replication engine reads them
// (through crdt.SplitCounter) to agree, with a retirement's Final, on
// the vclock.Retirement's Up, which [PN.Retire] needs to keep the
// changes of a writer past Final under its name.
func (c *PN) Increments(id vclock.ReplicaID) uint64 {
	if i, ok := findPN(c.e, id); ok {
		return c.e[i].p
	}
	return 0
}

// Retire renames the finished writer r.From into r.To in c. r.Base and
// r.Final count in the units of [PN.Version]: the number of a writer's
// changes, the sum of its two totals.
//
// When r.UpKnown, From's first r.Final changes are r.Up increments and
// r.Final-r.Up decrements: those (or as much of them as c holds) become
// To's, added to its totals, and From's entry keeps only what it holds
// beyond them, under its own name, as [G.Retire] does. Every replica
// subtracts the same, and the replication engine refuses, after the
// retirement, every op naming From, so merges of the remaining entry
// stay exact and nothing is lost.
//
// Without r.Up (a retirement agreed by replicas that did not report it),
// From's whole entry is folded into To, including changes beyond r.Final
// (a writer thought finished that changed more: a second process under
// its name), since the counter cannot tell which of From's totals its
// first r.Final changes raised: the value here does not change, but To
// then counts more here than at the replicas that held From up to
// r.Final, and when a later retirement into To leaves such changes at
// another replica, a merge, which keeps the larger of the two sums,
// misses some of them (see the package's retirement notes). A counter
// holding nothing of From is left as it is.
//
// Retire fails with an error wrapping [vclock.ErrRetirement], changing
// nothing, if r.Check fails or if To's totals would pass their bounds (see
// [PN.Add]). It takes one pass over the entries, and allocates only when
// From keeps changes and c held nothing of To.
func (c *PN) Retire(r vclock.Retirement) error {
	if err := r.Check(); err != nil {
		return err
	}
	i, ok := findPN(c.e, r.From)
	if !ok || (r.UpKnown && r.Final == 0) {
		return nil
	}
	j, hasTo := findPN(c.e, r.To)
	var to pnEntry
	if hasTo {
		to = c.e[j]
	}
	from := c.e[i]
	p, n := from.p, from.n // what goes into To
	if r.UpKnown {
		p, n = min(p, r.Up), min(n, r.Final-r.Up)
	}
	if p == 0 && n == 0 {
		// From's first changes are not of the kinds c holds of it (its
		// entry is not a later one of the agreed run): nothing is its.
		return nil
	}
	restP, restN := from.p-p, from.n-n // what From keeps
	if to.p > maxP-p || to.n > maxN-n {
		return fmt.Errorf("%w: %q and %q together count more than a writer may", vclock.ErrRetirement, r.To, r.From)
	}
	// From's entry and To's change: their shares are replaced.
	toH := idHash(r.To)
	c.fp -= share(from.h, from.p, from.n) + share(toH, to.p, to.n)
	c.fp += share(from.h, restP, restN) + share(toH, to.p+p, to.n+n)
	switch {
	case restP > 0 || restN > 0:
		c.e[i].p, c.e[i].n = restP, restN
		if hasTo {
			c.e[j].p += p
			c.e[j].n += n
		} else {
			c.e = slices.Insert(c.e, j, pnEntry{id: r.To, p: p, n: n, h: toH})
		}
	case hasTo:
		c.e[j].p += p
		c.e[j].n += n
		c.e = append(c.e[:i], c.e[i+1:]...)
	default:
		copy(c.e[j+1:i+1], c.e[j:i]) // To sorts before From
		c.e[j] = pnEntry{id: r.To, p: p, n: n, h: toH}
	}
	var sp, sn u128
	for _, e := range c.e {
		sp, sn = sp.add(e.p), sn.add(e.n)
	}
	c.p, c.n, c.self = sp, sn, 0
	return nil
}
