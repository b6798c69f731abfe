package register

import (
	"github.com/activeactive/crdt/vclock"
)

// Retire renames the finished writer r.From into r.To, its name's retired
// writer (see vclock.Retirement): if the register's write is From's, it
// becomes To's, with the same timestamp and value; so do the writes the
// conflict hook remembers. An LWW register has no version and no dots, so
// r.Base and r.Final are only checked (r.Check), not used: whatever write
// of From the register holds is renamed. A register holding no write of
// From is left as it is.
//
// Renaming changes the tie-break between writes of equal timestamps: To
// sorts before every live writer of its name (epoch 0 is the smallest) and
// where the names sort, so after a retirement a write of From wins a tie
// against a write of a live run of the same name that it lost before. The
// order among writers of different names does not change. The rule is
// the same at every replica, which applies the same retirements in the same
// order: replicas holding equal states hold equal states after Retire,
// and merges of retired states converge, to the winner by the renamed
// order. Retire(x ⊔ y) = Retire(x) ⊔ Retire(y) holds unless x and y hold
// two writes of one name with the same timestamp.
//
// Two writes of two runs of one name with the same timestamp, both
// retired, carry one stamp: a replica holding one and a replica holding
// the other would then hold different values that compare equal. It takes
// two runs of one replica minting the same timestamp and a replica that
// took one in without ever seeing the other before the later run was
// retired, which the replication engine rules out by retiring a writer
// only once every replica has seen all of its writes.
//
// Retire fails with an error wrapping [vclock.ErrRetirement], changing
// nothing, if r.Check fails. It costs a look at the write and at the
// writers the conflict hook remembers, and allocates nothing.
func (r *LWW[T]) Retire(ret vclock.Retirement) error {
	if err := ret.Check(); err != nil {
		return err
	}
	if r.w.id == ret.From {
		r.w.id = ret.To
		r.fp = r.w.hash()
	}
	// The hook's memory keeps one write per writer: From's joins To's.
	from, to := -1, -1
	for i, s := range r.seen {
		switch s.id {
		case ret.From:
			from = i
		case ret.To:
			to = i
		}
	}
	switch {
	case from < 0:
	case to < 0:
		r.seen[from].id = ret.To
	default:
		if r.seen[from].ts.After(r.seen[to].ts) {
			r.seen[to].ts = r.seen[from].ts
		}
		last := len(r.seen) - 1
		r.seen[from] = r.seen[last]
		r.seen = r.seen[:last]
	}
	return nil
}

// Writers returns the writer of the write the register holds, counted
// once, or an empty clock if it holds none. The replication engine reads
// it (through crdt.WriterCounter) to agree that every replica holds the
// same write of a writer before it retires the writer.
func (r *LWW[T]) Writers() vclock.Clock {
	var c vclock.Clock
	if r.w.id != "" {
		c.Set(r.w.id, 1)
	}
	return c
}
