package orset

import (
	"bytes"
	"errors"
	"github.com/activeactive/crdt/internal/costcheck"
	"slices"
	"testing"

	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/vclock"
)

// TestRegressionDotsQuadraticPerElement pins issue 9 finding 2: an element
// supported by many dots made adding each further dot look up every
// dot's replica, and dropping them cloned the element's dots twice per
// dot dropped, so a remove of an element with n dots allocated O(n²)
// bytes (6.3 GB for a 64 KB op). Now a decode, and a remove, cost
// allocation linear in their input.
func TestRegressionDotsQuadraticPerElement(t *testing.T) {
	const n = 4000
	s := New[string]("r")
	var dots []vclock.Dot
	for i := range n {
		d := vclock.Dot{Replica: "a", Seq: uint64(i + 1)}
		if err := s.Apply(Op[string]{kind: opAdd, elem: "x", dot: d}); err != nil {
			t.Fatal(err)
		}
		dots = append(dots, d)
	}
	state := mustMarshal(t, s)
	var got Set[string]
	// The bound: the dots themselves (24 bytes each, doubled by append's
	// growth) and a table, well under 64 bytes per byte of input; the
	// quadratic code needed about n²·24 bytes.
	if b := costcheck.Allocated(func() {
		if err := got.UnmarshalBinary(state); err != nil {
			t.Fatal(err)
		}
	}); b > 64*uint64(len(state))+1<<16 {
		t.Fatalf("decoding a %d-byte state of one element with %d dots allocated %d bytes", len(state), n, b)
	}
	remove := mustMarshal(t, Op[string]{kind: opRemove, elem: "x", dot: vclock.Dot{Replica: "b", Seq: 1}, dropped: slices.Clone(dots)})
	if b := costcheck.Allocated(func() {
		if _, err := got.ApplyBinary(remove); err != nil {
			t.Fatal(err)
		}
	}); b > 64*uint64(len(remove))+1<<16 {
		t.Fatalf("applying a %d-byte remove of %d dots allocated %d bytes", len(remove), n, b)
	}
	if got.Contains("x") {
		t.Fatal("the remove of every dot of x left x")
	}
}

// manyWriters returns a set holding one element added by each of n
// replicas, so that its state names n replicas.
func manyWriters(t testing.TB, n int) *Set[string] {
	s := New[string]("r")
	for i := range n {
		op := Op[string]{kind: opAdd, elem: keyOf(i), dot: vclock.Dot{Replica: vclock.ReplicaID(keyOf(i)), Seq: 1}}
		if err := s.Apply(op); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// TestRegressionDecodingQuadraticInReplicas pins issue 9 finding 3: the
// decoder rebuilt the whole version vector for each replica's group of
// dots, so a state naming n replicas allocated O(n²) bytes (1.5 GB for
// 8,000). Now it allocates in proportion to the state.
func TestRegressionDecodingQuadraticInReplicas(t *testing.T) {
	state := mustMarshal(t, manyWriters(t, 3000))
	var got Set[string]
	// A table slot, a replica entry and an index entry per element: a
	// few hundred bytes per replica, against ~20 bytes of input each.
	if b := costcheck.Allocated(func() {
		if err := got.UnmarshalBinary(state); err != nil {
			t.Fatal(err)
		}
	}); b > 64*uint64(len(state))+1<<16 {
		t.Fatalf("decoding a %d-byte state naming 3000 replicas allocated %d bytes", len(state), b)
	}
	if got.Len() != 3000 {
		t.Fatalf("decoded %d elements, want 3000", got.Len())
	}
}

// TestRegressionMergeCostGrowsWithReplicas pins issue 9 finding 4: merging
// a one-add delta built the receiver's version vector and listed the runs
// of both contexts, costing in proportion to every replica the receiver
// had seen (7.4 ms with 10,000). Now it costs in proportion to the delta:
// its allocation is the same for a receiver that knows 10 replicas and one
// that knows 10,000.
func TestRegressionMergeCostGrowsWithReplicas(t *testing.T) {
	cost := func(n int) uint64 {
		s := manyWriters(t, n)
		z := New[string]("zz")
		z.Add("new")
		delta := z.DeltaSince(s.Version())
		return costcheck.Allocated(func() { s.Merge(delta) })
	}
	small, large := cost(10), cost(10000)
	// A few hundred bytes of slack for the maps' and slices' own growth,
	// which depends on what the receiver held before; the old code
	// allocated over 1 MB for 10,000 replicas.
	if large > small+1024 {
		t.Fatalf("merging a one-add delta allocated %d bytes into a set knowing 10 replicas, %d into one knowing 10,000", small, large)
	}
}

// TestRegressionPeerPoisonsOwnWrites pins issue 9 finding 5: an op whose
// dot was (receiver, 2⁶⁴-1) made the receiver's next dot wrap to 0, after
// which its writes failed yet changed the set, and its next snapshot could
// not be restored. Such an op is now refused, and a replica that has no
// sequence number left fails its mutations cleanly: the set is unchanged
// and the returned op reports the error.
func TestRegressionPeerPoisonsOwnWrites(t *testing.T) {
	at := func(seq uint64) Op[string] {
		return Op[string]{kind: opAdd, elem: "x", dot: vclock.Dot{Replica: "r", Seq: seq}}
	}
	last := mustMarshal(t, at(vclock.MaxSeq))
	// The same op with the sequence number 2⁶⁴-1: MaxSeq is 2⁶², written
	// as cf 40 00 00 00 00 00 00 00.
	wrapped := bytes.Replace(last, []byte{0xcf, 0x40, 0, 0, 0, 0, 0, 0, 0}, []byte{0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 1)
	if bytes.Equal(wrapped, last) {
		t.Fatalf("the sequence number is not where expected in %x", last)
	}
	s := New[string]("r")
	s.Add("a")
	if _, err := s.ApplyBinary(wrapped); !errors.Is(err, codec.ErrMalformed) {
		t.Fatalf("ApplyBinary of a dot 2⁶⁴-1: %v, want ErrMalformed", err)
	}
	if op := s.Add("b"); op.Err() != nil || op.Dot().Seq != 2 {
		t.Fatalf("the next add after the refused op: %v, %v", op, op.Err())
	}
	// A dot at MaxSeq itself is accepted; then no dot is left.
	if _, err := s.ApplyBinary(last); err != nil {
		t.Fatal(err)
	}
	before := s.Clone()
	for _, op := range []Op[string]{s.Add("c"), s.Remove("a"), s.Add("a")} {
		if !errors.Is(op.Err(), vclock.ErrSeqExhausted) {
			t.Fatalf("%v: Err() = %v, want ErrSeqExhausted", op, op.Err())
		}
		if _, err := op.MarshalBinary(); !errors.Is(err, vclock.ErrSeqExhausted) {
			t.Fatalf("%v: MarshalBinary: %v, want ErrSeqExhausted", op, err)
		}
		if err := before.Clone().Apply(op); err == nil {
			t.Fatalf("Apply(%v) of a failed op succeeded", op)
		}
	}
	if !s.Equal(before) || !s.Contains("a") || s.Contains("c") || s.Fingerprint() != before.Fingerprint() {
		t.Fatalf("failed mutations changed the set: %s", dump(s))
	}
	if op := s.Remove("absent"); !op.IsNoop() || op.Err() != nil {
		t.Fatalf("a remove of an absent element, with no dot left: %v, %v", op, op.Err())
	}
	var restored Set[string]
	if err := restored.UnmarshalBinary(mustMarshal(t, s)); err != nil {
		t.Fatalf("the snapshot cannot be restored: %v", err)
	}
}

// unencodable is a comparable element type msgpack cannot encode.
type unencodable struct{ C chan int }

// TestRegressionFailedMutationChangesState pins the orset part of issue 9
// finding 12: a remove of an element that cannot be encoded removed it,
// then returned an op that could not be shipped, so replicas diverged.
// Now the set is unchanged and the op reports the error.
func TestRegressionFailedMutationChangesState(t *testing.T) {
	e := unencodable{C: make(chan int)}
	s := New[unencodable]("r")
	// Taken in from a Go value, never encoded.
	if err := s.Apply(Op[unencodable]{kind: opAdd, elem: e, dot: vclock.Dot{Replica: "p", Seq: 1}}); err != nil {
		t.Fatal(err)
	}
	before := s.Clone()
	for _, op := range []Op[unencodable]{s.Remove(e), s.Add(e), s.Add(unencodable{})} {
		if !errors.Is(op.Err(), ErrInvalidOp) {
			t.Fatalf("Err() = %v, want ErrInvalidOp", op.Err())
		}
		if _, err := op.MarshalBinary(); err == nil {
			t.Fatal("the op of a failed mutation encodes")
		}
	}
	// (Contains(e) is false: an element type holding a channel is
	// refused as a key, so none is looked for.)
	if !s.Equal(before) || s.Len() != 1 || s.Version().Get("r") != 0 {
		t.Fatal("failed mutations changed the set")
	}
}

// TestRegressionAllocationBeforeValidation pins the orset part of issue 9
// finding 10: a state claiming as many elements as it has bytes made the
// decoder reserve a table for all of them before finding there were none,
// allocating 28.6 times the input. The reservation is now bounded by what
// the input can hold.
func TestRegressionAllocationBeforeValidation(t *testing.T) {
	const size = 1 << 20
	w := codec.NewWriter(codec.KindSet, 0)
	w.Array(3)
	w.Array(0)        // empty context
	w.Uint(size - 64) // elements claimed
	w.Array(0)        // none stored
	w.Raw(make([]byte, size-64))
	data, err := w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	var s Set[string]
	b := costcheck.Allocated(func() {
		if err := s.UnmarshalBinary(data); err == nil {
			t.Fatal("a state claiming elements it does not hold was accepted")
		}
	})
	// At most a table for one element per 8 bytes left, about 5 bytes
	// per byte of input.
	if b > 8*uint64(len(data)) {
		t.Fatalf("refusing a %d-byte state allocated %d bytes", len(data), b)
	}
}

// TestRegressionFabricatedDots pins the kernel part of issue 9 finding 7:
// a peer that sent an add minting a third replica's future dot made the
// receiver discard that replica's real write when it came. Through
// ApplyBinaryFrom such an op is refused; a peer's own far-off dot holds
// back only its own entry of the version.
func TestRegressionFabricatedDots(t *testing.T) {
	c := New[string]("c")
	for range 3 {
		c.Add("warm-up")
	}
	r := New[string]("r")
	if _, err := r.MergeBinary(mustMarshal(t, c)); err != nil {
		t.Fatal(err)
	}
	// p forges c's next add, and sends an add of its own far ahead.
	forged := mustMarshal(t, Op[string]{kind: opAdd, elem: "forged", dot: vclock.Dot{Replica: "c", Seq: 4}})
	if _, err := r.ApplyBinaryFrom(forged, "p"); !errors.Is(err, vclock.ErrForeignWrite) {
		t.Fatalf("p sending c's add: %v, want ErrForeignWrite", err)
	}
	far := mustMarshal(t, Op[string]{kind: opAdd, elem: "far", dot: vclock.Dot{Replica: "p", Seq: 1000}})
	if _, err := r.ApplyBinaryFrom(far, "p"); err != nil {
		t.Fatal(err)
	}
	real := c.Add("real")
	if real.Dot() != (vclock.Dot{Replica: "c", Seq: 4}) {
		t.Fatalf("c's next dot is %v", real.Dot())
	}
	if changed, err := r.ApplyBinaryFrom(mustMarshal(t, real), "c"); err != nil || !changed {
		t.Fatalf("c's real add after the forgery: changed %v, %v", changed, err)
	}
	if !r.Contains("real") || r.Contains("forged") {
		t.Fatalf("after the forgery: %s", dump(r))
	}
	if v := r.Version(); v.Get("c") != 4 || v.Get("p") != 0 {
		t.Fatalf("Version() = %v, want c:4 and nothing of p", v)
	}
}

// TestRegressionRemoveOfFutureDots pins the rest of issue 9 finding 7: a
// remove could drop dots of another replica that did not exist yet, and
// every replica then took that replica's later write as removed. A remove
// from p that drops a dot of c this set has not seen is now refused
// (vclock.ErrUnseen) and changes nothing; once the set has seen the dot,
// the same remove applies, as a real one, sent again, does.
func TestRegressionRemoveOfFutureDots(t *testing.T) {
	c := New[string]("c")
	c.Add("x")
	r := New[string]("r")
	if _, err := r.ApplyBinaryFrom(mustMarshal(t, c.Add("y")), "c"); err != nil {
		t.Fatal(err)
	}
	future := vclock.Dot{Replica: "c", Seq: 5}
	forged := mustMarshal(t, Op[string]{kind: opRemove, elem: "z", dot: vclock.Dot{Replica: "p", Seq: 1}, dropped: []vclock.Dot{future}})
	before := mustMarshal(t, r)
	if _, err := r.ApplyBinaryFrom(forged, "p"); !errors.Is(err, vclock.ErrUnseen) {
		t.Fatalf("a remove of c's future dot: %v, want ErrUnseen", err)
	}
	if !bytes.Equal(mustMarshal(t, r), before) {
		t.Fatal("a refused remove changed the set")
	}
	// A remove of what p really saw (c's first add, which r has not seen
	// yet) waits until r has seen it.
	x := vclock.Dot{Replica: "c", Seq: 1}
	real := mustMarshal(t, Op[string]{kind: opRemove, elem: "x", dot: vclock.Dot{Replica: "p", Seq: 2}, dropped: []vclock.Dot{x}})
	if _, err := r.ApplyBinaryFrom(real, "p"); !errors.Is(err, vclock.ErrUnseen) {
		t.Fatalf("a remove of a dot r has not seen: %v, want ErrUnseen", err)
	}
	if _, err := r.MergeBinary(mustMarshal(t, c)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ApplyBinaryFrom(real, "p"); err != nil {
		t.Fatalf("the remove sent again once r has seen the dot: %v", err)
	}
	if r.Contains("x") || !r.Contains("y") {
		t.Fatalf("after the remove: %s", dump(r))
	}
	// c's writes up to 5 go on.
	for _, e := range []string{"a", "b", "w"} {
		op := c.Add(e)
		if _, err := r.ApplyBinaryFrom(mustMarshal(t, op), "c"); err != nil {
			t.Fatal(err)
		}
	}
	if !r.Contains("w") {
		t.Fatalf("c's write at %v is gone: %s", future, dump(r))
	}
}
