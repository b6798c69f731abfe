package ormap

import (
	"fmt"
	"strings"

	"github.com/activeactive/crdt/internal/dotkernel"
	"github.com/activeactive/crdt/vclock"
)

type opKind uint8

const (
	opInvalid opKind = iota // the zero Op
	opWrite                 // a counter increment, register write or set add
	opRemove                // a delete of a key or a remove of a set element
	opNoop                  // a delete or remove of something absent
)

// Op is one change made at one replica to a map or to a value nested in
// it: the dot (replica, sequence number) that names it, the leaf it
// writes, if any (a counter increment, a register value, a set element,
// each under its key path), and the dots it drops (the register values it
// overwrites, the dots of the key or element it deletes). The mutators
// return it; apply it at the other replicas with [Map.Apply], or ship it
// as bytes with [Op.MarshalBinary] and [Map.ApplyBinary].
//
// A delete or remove of something the replica did not hold returns an op
// that does nothing anywhere ([Op.IsNoop]). An Op returned by a mutator
// that failed reports why through [Op.Err], and cannot be encoded or
// applied. The zero Op names no change: [Map.Apply] refuses it with
// [ErrInvalidOp]. An Op may be copied freely.
//
// An Op's bytes mean something only to a map of the type that made it
// (they carry its keys and values typed), so Op has no UnmarshalBinary:
// the map decodes them, with [Map.ApplyBinary] or [Map.DecodeOp].
type Op struct {
	kind    opKind
	dot     vclock.Dot
	leaf    leaf
	dropped []vclock.Dot // sorted by vclock.Dot.Compare, no repeats; never modified
	sh      *shape       // the shape of the map that made or decoded it
	err     error
	inc     int64 // what a Counter.Add added (leaf.n is its chain's total); not encoded
	// pre, if a reset leaf, is what a write that found its key expired
	// (see Map.Expire) wrote first, under the dot before the op's: the
	// delete of the expired key that resets its counters' chains. The
	// dots in dropped are that delete's.
	pre *leaf
}

// preLeaf returns the op's reset before its write, or the zero leaf.
func (op Op) preLeaf() leaf {
	if op.pre == nil {
		return leaf{}
	}
	return *op.pre
}

// preDot returns the dot of the op's reset before its write.
func (op Op) preDot() vclock.Dot { return vclock.Dot{Replica: op.dot.Replica, Seq: op.dot.Seq - 1} }

// Err returns why the mutator that made op failed, or nil.
func (op Op) Err() error { return op.err }

// IsNoop reports whether op does nothing anywhere.
func (op Op) IsNoop() bool { return op.kind == opNoop }

// IsRemove reports whether op deletes a key or removes a set element.
func (op Op) IsRemove() bool { return op.kind == opRemove || op.kind == opNoop }

// Dot returns the dot that names the change; a no-op has none.
func (op Op) Dot() vclock.Dot { return op.dot }

// Dropped returns the dots the op drops, sorted.
func (op Op) Dropped() []vclock.Dot { return append([]vclock.Dot(nil), op.dropped...) }

// String describes the op, for example "write@us-east-1:3 drops 2 dots".
func (op Op) String() string {
	switch op.kind {
	case opWrite:
		switch op.leaf.tag {
		case tagExpire:
			return fmt.Sprintf("expire@%v at %v drops %d dots", op.dot, op.leaf.at(), len(op.dropped))
		case tagPersist:
			return fmt.Sprintf("persist@%v drops %d dots", op.dot, len(op.dropped))
		}
		return fmt.Sprintf("write@%v drops %d dots", op.dot, len(op.dropped))
	case opRemove:
		if op.leaf.isReset() {
			return fmt.Sprintf("remove@%v drops %d dots, resets %d counter chains", op.dot, len(op.dropped), countEntries(op.leaf))
		}
		return fmt.Sprintf("remove@%v drops %d dots", op.dot, len(op.dropped))
	case opNoop:
		return "no-op"
	}
	if op.err != nil {
		return "failed op: " + op.err.Error()
	}
	return "invalid op"
}

// check reports why op cannot be applied to a map of shape sh, or nil.
func (op Op) check(sh *shape) error {
	if op.err != nil {
		return op.err
	}
	switch op.kind {
	case opNoop:
		return nil
	case opWrite, opRemove:
	default:
		return fmt.Errorf("%w: the zero Op", ErrInvalidOp)
	}
	if why := dotkernel.CheckOp(op.dot, op.dropped, op.kind == opRemove, true); why != "" {
		return fmt.Errorf("%w: %s", ErrInvalidOp, why)
	}
	if op.pre != nil {
		if op.kind != opWrite || !op.pre.isReset() || op.dot.Seq < 2 || op.leaf.tag != 0 || !strings.HasPrefix(op.leaf.path(), op.pre.path()) {
			return fmt.Errorf("%w: a write with a reset that does not fit it", ErrInvalidOp)
		}
		if why := dotkernel.CheckOp(op.preDot(), op.dropped, true, true); why != "" {
			return fmt.Errorf("%w: %s", ErrInvalidOp, why)
		}
		if sh != nil {
			if err := sh.checkLeaf(*op.pre); err != nil {
				return err
			}
		}
	}
	if op.leaf.tag == 0 && uint64(op.leaf.lg) >= op.dot.Seq {
		return fmt.Errorf("%w: a counter chain starting after its leaf %v", ErrInvalidOp, op.dot)
	}
	if (op.kind == opWrite || op.leaf.isReset()) && sh != nil {
		return sh.checkLeaf(op.leaf)
	}
	return nil
}
