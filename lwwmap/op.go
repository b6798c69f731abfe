package lwwmap

import (
	"errors"
	"fmt"
	"reflect"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/vclock"
)

// ErrInvalidOp is returned by [Map.Apply] and [Op.MarshalBinary] for an op
// that means nothing: the zero Op, or one with a zero timestamp, an empty
// replica ID, a zero sequence number, or a delete carrying a value. The map
// is left unchanged.
var ErrInvalidOp = errors.New("lwwmap: invalid op")

// Op is one write to a [Map]: a put of a value or a delete of a key, with
// the timestamp it was made at and its dot (the writing replica and the
// write's sequence number at that replica). [Map.Put] and [Map.Delete]
// return it; apply it at the other replicas with [Map.Apply], or ship it as
// bytes with [Op.MarshalBinary] and [Map.ApplyBinary].
//
// The zero Op names no write: [Map.Apply] refuses it. An Op may be copied
// freely; copies share whatever memory the key and value refer to.
type Op[K comparable, V any] struct {
	key   K
	value V
	ts    clock.Timestamp
	dot   vclock.Dot
	del   bool
}

// Key returns the key written.
func (op Op[K, V]) Key() K { return op.key }

// Value returns the value put, or the zero V for a delete.
func (op Op[K, V]) Value() V { return op.value }

// Deleted reports whether the op is a delete.
func (op Op[K, V]) Deleted() bool { return op.del }

// Timestamp returns the time the write was made at.
func (op Op[K, V]) Timestamp() clock.Timestamp { return op.ts }

// Replica returns the replica that made the write.
func (op Op[K, V]) Replica() vclock.ReplicaID { return op.dot.Replica }

// Dot returns the write's dot: its replica and sequence number there.
func (op Op[K, V]) Dot() vclock.Dot { return op.dot }

// check reports why op cannot name a write, or nil.
func (op *Op[K, V]) check() error {
	switch {
	case op.dot.Replica == "":
		return fmt.Errorf("%w: empty replica ID", ErrInvalidOp)
	case op.dot.Seq == 0:
		return fmt.Errorf("%w: zero sequence number", ErrInvalidOp)
	case op.ts.Wall <= 0:
		return fmt.Errorf("%w: timestamp %v has no wall time", ErrInvalidOp, op.ts)
	case op.del && !reflect.ValueOf(&op.value).Elem().IsZero():
		return fmt.Errorf("%w: delete of dot %v carries a value", ErrInvalidOp, op.dot)
	}
	return nil
}

func wrapSkew(d vclock.Dot, err error) error {
	return fmt.Errorf("lwwmap: write %v: %w", d, err)
}
