package crdt

import (
	"errors"
	"fmt"
)

// ErrTx is returned when a [Tx] is used where it cannot be: after its
// function returned, on another replica's handle, or to change objects in a
// read-only view.
var ErrTx = errors.New("crdt: transaction misused")

// Tx groups reads and changes of several objects of one replica. A Tx made
// by [Replica.Update] changes objects through [Handle.UpdateIn]: the ops
// of its changes are shipped together, as one group, and every replica
// applies the group at once, so no reader anywhere sees some of its changes
// without the others (provided readers use [Replica.View]). A Tx made by
// [Replica.View] reads objects through [Handle.ReadIn] at a single instant.
//
// The one exception is an op a receiver refuses (for an object it does not
// have, or timestamped too far ahead of its clock): the rest of the group
// is applied, and the refused op when it is offered again and accepted.
// Replicas that register the same objects and keep their clocks within
// MaxOffset never see it.
//
// A Tx is valid only inside the function it was handed to, and only for
// handles of its replica.
type Tx struct {
	r        *Replica
	writable bool
	done     bool
	ops      []txOp
}

type txOp struct {
	object string
	op     []byte
}

// Update runs f with a transaction that changes objects of the replica
// through [Handle.UpdateIn], and ships the ops of all its changes as one
// group (once saved, if the replica persists: see [Replica.SaveSnapshot]). The replica's lock is held while f runs: f must not call the
// replica or its handles other than through the Tx, and should be quick.
//
// If f returns an error, Update returns it, but the changes f made before
// it stay made and are shipped: a change to a replicated object cannot be
// taken back, only followed by another (a remove after an add, say).
func (r *Replica) Update(f func(tx *Tx) error) error {
	r.mu.Lock()
	if r.broken != nil {
		r.mu.Unlock()
		return r.broken
	}
	tx := &Tx{r: r, writable: true}
	err := f(tx)
	tx.done = true
	if len(tx.ops) > 0 {
		r.appendGroup(tx.ops)
	}
	cs := r.takeConflicts()
	r.mu.Unlock()
	if len(tx.ops) > 0 {
		r.poke()
	}
	r.passConflicts(cs)
	return err
}

// View runs f with a read-only transaction: every object read through
// [Handle.ReadIn] within it is seen at the same instant, with no change,
// local or remote, in between. f must not keep the objects, nor call the
// replica or its handles other than through the Tx.
func (r *Replica) View(f func(tx *Tx)) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	tx := &Tx{r: r}
	f(tx)
	tx.done = true
}

func (tx *Tx) check(r *Replica, write bool) error {
	switch {
	case tx == nil:
		return fmt.Errorf("%w: nil transaction", ErrTx)
	case tx.done:
		return fmt.Errorf("%w: used after its function returned", ErrTx)
	case tx.r != r:
		return fmt.Errorf("%w: handle of replica %s in a transaction of %s", ErrTx, r.id, tx.r.id)
	case write && !tx.writable:
		return fmt.Errorf("%w: change in a read-only view", ErrTx)
	}
	return nil
}

// UpdateIn changes the object within tx, as [Handle.Update] does on its
// own: f applies a local mutation and returns its op (or nil if nothing
// changed). The op ships with the rest of the transaction. If f returns an
// error, UpdateIn returns it and ships nothing for this change.
func (h *Handle[T]) UpdateIn(tx *Tx, f func(obj T) (Op, error)) error {
	if err := tx.check(h.r, true); err != nil {
		return err
	}
	op, err := f(h.obj)
	if err != nil || op == nil {
		return err
	}
	b, err := op.MarshalBinary()
	if err != nil {
		return fmt.Errorf("crdt: encoding the op on %q: %w", h.name, err)
	}
	tx.ops = append(tx.ops, txOp{object: h.name, op: b})
	return nil
}

// ReadIn calls f with the object within tx, a transaction of
// [Replica.View] or [Replica.Update]. f must not keep the object.
func (h *Handle[T]) ReadIn(tx *Tx, f func(obj T)) error {
	if err := tx.check(h.r, false); err != nil {
		return err
	}
	f(h.obj)
	return nil
}
