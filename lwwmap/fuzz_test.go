package lwwmap

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/vclock"
)

// seeds returns encodings of a few states, ops and versions for the fuzzers
// to start from.
func seeds() (states, ops, versions [][]byte) {
	m, put, del := sample()
	// Writes over another replica's carry bases.
	eu := New[string, string]("eu-west-1", m.clk)
	eu.Merge(m)
	over := eu.Put("color", "red")
	gone := eu.Delete("color")
	// A writer whose ID is too long for the short header of version 3.
	lw := New[string, string]("a-writer-whose-id-takes-40-bytes-in-all", m.clk)
	lw.Merge(m)
	longPut := lw.Put("color", "black")
	longDel := lw.Delete("size")
	// Each op in every layout: version 3, as written now (short header and
	// long), version 2 and version 1.
	for _, op := range []Op[string, string]{over, gone, put, del, longPut, longDel} {
		if b, err := op.MarshalBinary(); err == nil {
			ops = append(ops, b)
		}
		if b, err := op.marshalV2(); err == nil {
			ops = append(ops, b)
		}
		if b, err := op.marshalV1(); err == nil {
			ops = append(ops, b)
		}
	}
	if b, err := eu.MarshalBinary(); err == nil {
		states = append(states, b)
	}
	// A state that has collected its delete marker (format version 2),
	// and its parts.
	col := eu.Clone()
	col.CollectVersions(nil)
	if b, err := col.MarshalBinary(); err == nil {
		states = append(states, b)
	}
	// Its snapshot, with the latest write collected (format version 3).
	if b, err := col.SnapshotBinary(); err == nil {
		states = append(states, b)
	}
	if ps, _, err := col.ChunksBinary(nil, 60); err == nil {
		states = append(states, ps...)
	}
	var empty Map[string, string]
	early := vclock.Of(map[crdt.ReplicaID]uint64{"us-east-1": 1})
	for _, s := range []*Map[string, string]{m, &empty, m.DeltaSince(early), m.DeltaSince(m.Version())} {
		if b, err := s.MarshalBinary(); err == nil {
			states = append(states, b)
		}
	}
	// Times to live: expire and persist ops, a put that overwrote an
	// expire, a state with writes in force and drop records, a delta and
	// its parts.
	tm, expire, persist, clears := ttlSample()
	for _, op := range []Op[string, string]{expire, persist, clears} {
		if b, err := op.MarshalBinary(); err == nil {
			ops = append(ops, b)
		}
	}
	for _, s := range []*Map[string, string]{tm, tm.DeltaSince(early)} {
		if b, err := s.MarshalBinary(); err == nil {
			states = append(states, b)
		}
	}
	if parts, _, err := tm.ChunksBinary(nil, 120); err == nil {
		states = append(states, parts...)
	}
	for _, v := range []vclock.Clock{{}, early, m.Version()} {
		if b, err := v.MarshalBinary(); err == nil {
			versions = append(versions, b)
		}
	}
	return states, ops, versions
}

func isDecodeError(err error) bool {
	var de *codec.DecodeError
	return errors.As(err, &de)
}

func FuzzUnmarshalState(f *testing.F) {
	states, ops, _ := seeds()
	for _, s := range append(states, ops...) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var m Map[string, string]
		if err := m.UnmarshalBinary(data); err != nil {
			if !isDecodeError(err) {
				t.Fatalf("error %v is not a *codec.DecodeError", err)
			}
			if m.Len() != 0 || !m.ctx.IsEmpty() {
				t.Fatal("a refused state changed the map")
			}
		} else {
			// Whatever decodes re-encodes to bytes that decode to the same
			// state and encode the same again.
			b1, err := m.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			var m2 Map[string, string]
			if err := m2.UnmarshalBinary(b1); err != nil {
				t.Fatalf("re-encoding does not decode: %v", err)
			}
			if !m2.Equal(&m) || !mapsEqual(contents(&m2), contents(&m)) {
				t.Fatalf("re-encoding changed the state:\n%s\n%s", dump(&m), dump(&m2))
			}
			b2, err := m2.MarshalBinary()
			if err != nil || !bytes.Equal(b1, b2) {
				t.Fatalf("encoding not stable:\n%x\n%x", b1, b2)
			}
			// So does its snapshot, with the latest write collected.
			s1, err := m.SnapshotBinary()
			if err != nil {
				t.Fatal(err)
			}
			var m3 Map[string, string]
			if err := m3.UnmarshalBinary(s1); err != nil {
				t.Fatalf("the snapshot does not decode: %v", err)
			}
			if !m3.Equal(&m) || (m3.collTS == nil) != (m.collTS == nil) || (m.collTS != nil && *m3.collTS != *m.collTS) {
				t.Fatalf("the snapshot changed the state:\n%s collected %v\n%s collected %v", dump(&m), m.collTS, dump(&m3), m3.collTS)
			}
			if s2, err := m3.SnapshotBinary(); err != nil || !bytes.Equal(s1, s2) {
				t.Fatalf("snapshot not stable:\n%x\n%x", s1, s2)
			}
		}

		// Merging it into a live replica either works or changes nothing.
		tg := newTarget()
		if _, err := tg.m.MergeBinary(data); err != nil {
			if errors.Is(err, clock.ErrClockSkew) {
				if !tg.m.Equal(tg.before) || tg.m.clk.Last() != tg.last {
					t.Fatal("a skewed state changed the map")
				}
				return
			}
			tg.refused(t, "MergeBinary", err, nil)
		}
	})
}

func FuzzUnmarshalOp(f *testing.F) {
	states, ops, _ := seeds()
	for _, s := range append(ops, states...) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var op Op[string, string]
		if err := op.UnmarshalBinary(data); err != nil {
			if !isDecodeError(err) {
				t.Fatalf("error %v is not a *codec.DecodeError", err)
			}
			if op != (Op[string, string]{}) {
				t.Fatal("a refused op was decoded into")
			}
		} else {
			b1, err := op.MarshalBinary()
			if err != nil {
				t.Fatalf("a decoded op does not encode: %v", err)
			}
			var op2 Op[string, string]
			if err := op2.UnmarshalBinary(b1); err != nil || op2 != op {
				t.Fatalf("re-encoding changed the op: %+v, %v", op2, err)
			}
		}
		tg := newTarget()
		if _, err := tg.m.ApplyBinary(data); err != nil {
			if errors.Is(err, clock.ErrClockSkew) || errors.Is(err, ErrInvalidOp) {
				if !tg.m.Equal(tg.before) || tg.m.clk.Last() != tg.last {
					t.Fatal("a refused op changed the map")
				}
				return
			}
			tg.refused(t, "ApplyBinary", err, nil)
		}
	})
}

func FuzzDeltaSinceBinary(f *testing.F) {
	_, _, versions := seeds()
	for _, v := range slices.Backward(versions) { // latest first: the index's floors go down
		f.Add(v)
	}
	m, _, _ := sample()
	f.Fuzz(func(t *testing.T, version []byte) {
		// CollectBinary decodes versions too: a bad one drops nothing.
		c := m.Clone()
		if err := c.CollectBinary([][]byte{version}); err != nil && (!isDecodeError(err) || !c.Equal(m)) {
			t.Fatalf("CollectBinary refused %x with %v and changed the map", version, err)
		}
		if !mapsEqual(contents(c), contents(m)) {
			t.Fatal("CollectBinary changed the visible content")
		}
		d, err := m.DeltaSinceBinary(version)
		if err != nil {
			if !isDecodeError(err) {
				t.Fatalf("error %v is not a *codec.DecodeError", err)
			}
			return
		}
		var got Map[string, string]
		if err := got.UnmarshalBinary(d); err != nil {
			t.Fatalf("a delta does not decode: %v", err)
		}
		// Whatever the version, the delta is a part of m: merging it
		// into m changes nothing.
		full := m.Clone()
		full.Merge(&got)
		if !full.Equal(m) {
			t.Fatalf("a delta of m is not part of m:\n%s", dump(&got))
		}
		// m serves every version the fuzzer tries, so its index is built
		// and its floors lowered in every order: the delta is still the
		// one a scan of m gives.
		var v vclock.Clock
		if err := v.UnmarshalBinary(version); err != nil {
			t.Fatal(err)
		}
		want, err := deltaSinceScan(m, v).MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(d, want) {
			t.Fatalf("DeltaSince(%v) differs from the scan", v)
		}
	})
}
