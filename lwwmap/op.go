package lwwmap

import (
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/vclock"
)

// ErrInvalidOp is returned by [Map.Apply] and [Op.MarshalBinary] for an op
// that means nothing: the zero Op, or one with a zero timestamp, an empty
// replica ID, a zero sequence number, or a delete carrying a value. The map
// is left unchanged.
var ErrInvalidOp = errors.New("lwwmap: invalid op")

// ErrNoDot is reported by the op [Map.Put] or [Map.Delete] returns when the
// replica has used every sequence number a decoder accepts (up to
// [vclock.MaxSeq]); the map was left unchanged. It can only happen if the
// map's causal context was made to hold such a dot of the replica.
var ErrNoDot = errors.New("lwwmap: no sequence number left")

// Op is one write to a [Map]: a put of a value or a delete of a key (or an
// expire or persist of it, see [Map.Expire]), with
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
	base  clock.Timestamp // see Map.SetConflictHook
	del   bool
	x     any // an opMore, not zero, or nil: what only some ops carry
}

// opMore holds the fields of an op that most ops leave zero, so that a
// put or delete of a map without times to live stays small to return and
// to copy. An op holds it by value in an interface (which ops compare by
// value, as they compare their other fields), or nil where it would be
// zero.
type opMore struct {
	err   error         // why the mutator that returned the op changed nothing
	kind  uint8         // opExpire or opPersist, or 0 for a put or delete
	ttl   time.Duration // for opExpire
	drops dotList       // the expire and persist writes of the key it overwrote (see ttl.go)
}

// setMore makes x what the op holds of opMore.
func (op *Op[K, V]) setMore(x opMore) {
	if x == (opMore{}) {
		op.x = nil
		return
	}
	op.x = x
}

// failure returns why the mutator that returned the op changed nothing,
// or nil.
func (op *Op[K, V]) failure() error {
	if op.x == nil {
		return nil
	}
	x, _ := op.x.(opMore)
	return x.err
}

// kind returns opExpire or opPersist, or 0 for a put or delete.
func (op *Op[K, V]) kind() uint8 {
	if op.x == nil {
		return 0
	}
	x, _ := op.x.(opMore)
	return x.kind
}

// ttl returns the time to live of an expire, or 0.
func (op *Op[K, V]) ttl() time.Duration {
	if op.x == nil {
		return 0
	}
	x, _ := op.x.(opMore)
	return x.ttl
}

// drops returns the expire and persist writes of the key the op
// overwrote.
func (op *Op[K, V]) drops() dotList {
	if op.x == nil {
		return ""
	}
	x, _ := op.x.(opMore)
	return x.drops
}

// Key returns the key written.
func (op Op[K, V]) Key() K { return op.key }

// Value returns the value put, or the zero V for a delete.
func (op Op[K, V]) Value() V { return op.value }

// TTL returns the time to live an op of [Map.Expire] set, or 0 for any
// other op.
func (op Op[K, V]) TTL() time.Duration { return op.ttl() }

// Persisted reports whether the op is a [Map.Persist].
func (op Op[K, V]) Persisted() bool { return op.kind() == opPersist }

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
	var x opMore // zero if the op holds none
	if op.x != nil {
		x, _ = op.x.(opMore)
	}
	switch {
	case x.err != nil:
		return x.err
	case op.dot.Replica == "":
		return fmt.Errorf("%w: empty replica ID", ErrInvalidOp)
	case op.dot.Seq == 0:
		return fmt.Errorf("%w: zero sequence number", ErrInvalidOp)
	case op.dot.Seq > vclock.MaxSeq:
		return fmt.Errorf("%w: sequence number %d beyond %d", ErrInvalidOp, op.dot.Seq, uint64(vclock.MaxSeq))
	case op.ts.Wall <= 0:
		return fmt.Errorf("%w: timestamp %v has no wall time", ErrInvalidOp, op.ts)
	case op.del && !reflect.ValueOf(&op.value).Elem().IsZero():
		return fmt.Errorf("%w: delete of dot %v carries a value", ErrInvalidOp, op.dot)
	case x.kind != 0 && (op.del || !reflect.ValueOf(&op.value).Elem().IsZero()):
		return fmt.Errorf("%w: expire or persist of dot %v carries a value", ErrInvalidOp, op.dot)
	case x.kind == opExpire && x.ttl <= 0:
		return fmt.Errorf("%w: expire of dot %v with time to live %v", ErrInvalidOp, op.dot, x.ttl)
	case x.kind == opPersist && x.ttl != 0:
		return fmt.Errorf("%w: persist of dot %v with time to live %v", ErrInvalidOp, op.dot, x.ttl)
	case x.kind > opPersist:
		return fmt.Errorf("%w: unknown kind of op %d", ErrInvalidOp, x.kind)
	}
	for d := range x.drops.all() {
		if d.Replica == "" || d.Seq == 0 || d.Seq > vclock.MaxSeq || d == op.dot {
			return fmt.Errorf("%w: write %v overwrites the invalid dot %v", ErrInvalidOp, op.dot, d)
		}
	}
	return nil
}

func wrapSkew(d vclock.Dot, err error) error {
	return fmt.Errorf("lwwmap: write %v: %w", d, err)
}
