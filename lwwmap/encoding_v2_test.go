package lwwmap

import (
	"math"

	"github.com/activeactive/crdt/codec"
)

// maxOpWall bounds the wall times the layout of version 2 carries.
const maxOpWall = math.MaxUint64 >> opFlags >> 1

// marshalV2 encodes the op in the layout of format version 2, as
// MarshalBinary did before version 3, or in that of version 1 where
// version 2 could not carry it: for the compatibility tests and the size
// comparisons, since only the decoder of version 2 is left.
func (op Op[K, V]) marshalV2() ([]byte, error) {
	if err := op.check(); err != nil {
		return nil, err
	}
	if op.kind() != 0 {
		return op.marshalTTL()
	}
	if op.ts.Wall > maxOpWall || len(op.drops()) > 0 {
		return op.marshalV1()
	}
	kind := codec.KindMapPut
	if op.del {
		kind = codec.KindMapDelete
	}
	w := codec.NewWriter(kind, 32)
	w.SetVersion(2)
	w.Table(string(op.dot.Replica))
	w.Uint(op.dot.Seq)
	tag := uint64(op.ts.Wall) << opFlags
	if op.ts.Logical != 0 {
		tag |= opLogical
	}
	if !op.base.IsZero() {
		tag |= opBase
	}
	w.Uint(tag)
	if op.ts.Logical != 0 {
		w.Uint(uint64(op.ts.Logical))
	}
	codec.PutValue(w, op.key)
	if !op.del {
		codec.PutValue(w, op.value)
	}
	if !op.base.IsZero() {
		w.Int(op.ts.Wall - op.base.Wall)
		w.Uint(uint64(op.base.Logical))
	}
	return w.Bytes()
}
