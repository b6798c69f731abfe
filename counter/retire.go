package counter

import (
	"fmt"

	"github.com/activeactive/crdt/vclock"
)

// Retiring a finished writer from a counter (see vclock.Retirement).
//
// A counter's version counts, for each writer, its events: the total of a
// G, the sum of the two totals of a PN. The events of a finished writer
// From, 1..Final, become the events Base+1..Base+Final of To, its name's
// retired writer, whose entry thus holds every finished run of the name
// one after the other. To's entry absorbs From's by addition: it becomes
// To's count plus From's (up to Final). At a replica that holds every
// event of the writers retired before From, To's count is Base, and the
// sum is exactly Base plus From's count, as vclock.Clock.Retire has it. At
// a replica that lacks some of them (an older state), To's count is below
// Base and the sum still counts exactly the events it holds, so the
// value does not change; it is below the count of any replica holding
// more, and a merge with one of those, which takes the larger count,
// brings it up to date.
//
// Retirements commute with merges (Retire(x ⊔ y) = Retire(x) ⊔ Retire(y))
// whenever, for each retired writer, one of x and y holds at least as much
// as the other of both From and To: in particular when both hold every
// event of the writers retired before (what the replication engine waits
// for before it retires a writer) or when one is an older state of the
// other. Two older states that each lack something the other holds join,
// after a retirement, into a count below the true one (never above it),
// which the next merge with an up-to-date replica repairs.

// Retire renames the finished writer r.From into r.To in g: To's total
// becomes its own plus From's, up to r.Final, and From's entry goes away.
// r.Base and r.Final count in the units of [G.Version]: a writer's total.
// A total of From above r.Final names increments no replica took in before
// the writer was retired (a disk restored later): they are dropped, and
// the value loses exactly them. A counter holding nothing of From is left
// as it is, and so is the value of one that holds no more than r.Final.
// The replication engine calls Retire on every replica in the same order,
// so replicas holding equal counters hold equal counters after it.
//
// Retire fails with an error wrapping [vclock.ErrRetirement], changing
// nothing, if r.Check fails or if To's total is above r.Base (it would
// count events of writers not yet retired). It takes one pass over the
// entries and allocates nothing.
func (g *G) Retire(r vclock.Retirement) error {
	if err := r.Check(); err != nil {
		return err
	}
	i, ok := findG(g.e, r.From)
	if !ok {
		return nil
	}
	j, hasTo := findG(g.e, r.To)
	var t uint64
	if hasTo {
		t = g.e[j].n
	}
	if t > r.Base {
		return fmt.Errorf("%w: %q counts %d, more than the %d events retired into it before %q", vclock.ErrRetirement, r.To, t, r.Base, r.From)
	}
	n := min(g.e[i].n, r.Final)
	g.fp -= g.e[i].h * g.e[i].n
	switch {
	case n == 0:
		g.e = append(g.e[:i], g.e[i+1:]...)
	case hasTo:
		g.e[j].n += n // at most Base+Final, within vclock.MaxSeq
		g.fp += g.e[j].h * n
		g.e = append(g.e[:i], g.e[i+1:]...)
	default:
		// To sorts before From (epoch 0 is the smallest): move the
		// entries between them up one place, into From's.
		copy(g.e[j+1:i+1], g.e[j:i])
		g.e[j] = gEntry{id: r.To, n: n, h: idHash(r.To)}
		g.fp += g.e[j].h * n
	}
	var total uint64
	for _, e := range g.e {
		total = addSat(total, e.n)
	}
	g.total, g.self = total, 0
	return nil
}

// Retire renames the finished writer r.From into r.To in c: To's
// increments and decrements become its own plus From's, and From's entry
// goes away. r.Base and r.Final count in the units of [PN.Version]: the
// number of a writer's changes, the sum of its two totals.
//
// From's changes beyond r.Final (the sum of its totals above r.Final)
// were taken in by no replica before the writer was retired (a disk
// restored later): they are dropped. A PN does not know which of its
// totals they raised, so it keeps of each total only what every history of
// r.Final changes holds: Final less the other total (or nothing). That may
// leave out changes made up to Final; it never counts one twice, and a
// merge with a replica that holds them brings them back. A counter holding
// nothing of From is left as it is, and so is the value of one that holds
// no more than r.Final changes of it.
//
// Retire fails with an error wrapping [vclock.ErrRetirement], changing
// nothing, if r.Check fails, if To's changes are more than r.Base, or if
// To's totals would pass their bounds (see [PN.Add]). It takes one pass
// over the entries and allocates nothing.
func (c *PN) Retire(r vclock.Retirement) error {
	if err := r.Check(); err != nil {
		return err
	}
	i, ok := findPN(c.e, r.From)
	if !ok {
		return nil
	}
	j, hasTo := findPN(c.e, r.To)
	var to pnEntry
	if hasTo {
		to = c.e[j]
	}
	if to.p+to.n > r.Base {
		return fmt.Errorf("%w: %q counts %d changes, more than the %d retired into it before %q", vclock.ErrRetirement, r.To, to.p+to.n, r.Base, r.From)
	}
	from := c.e[i]
	p, n := from.p, from.n
	if p+n > r.Final {
		p, n = r.Final-min(r.Final, from.n), r.Final-min(r.Final, from.p)
	}
	if to.p > maxP-p || to.n > maxN-n {
		return fmt.Errorf("%w: %q and %q together count more than a writer may", vclock.ErrRetirement, r.To, r.From)
	}
	c.fp -= weigh(from.h, from.p, from.n)
	switch {
	case p == 0 && n == 0:
		c.e = append(c.e[:i], c.e[i+1:]...)
	case hasTo:
		c.e[j].p += p
		c.e[j].n += n
		c.fp += weigh(to.h, p, n)
		c.e = append(c.e[:i], c.e[i+1:]...)
	default:
		copy(c.e[j+1:i+1], c.e[j:i]) // To sorts before From
		c.e[j] = pnEntry{id: r.To, p: p, n: n, h: idHash(r.To)}
		c.fp += weigh(c.e[j].h, p, n)
	}
	var sp, sn u128
	for _, e := range c.e {
		sp, sn = sp.add(e.p), sn.add(e.n)
	}
	c.p, c.n, c.self = sp, sn, 0
	return nil
}
