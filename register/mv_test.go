package register

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/vclock"
)

func applyMV[T any](t tb, op MVOp[T], ms ...*MV[T]) {
	t.Helper()
	for _, m := range ms {
		if err := m.Apply(op); err != nil {
			t.Fatalf("Apply(%v): %v", op.Dot(), err)
		}
	}
}

func wantValues(t *testing.T, m *MV[string], want ...string) {
	t.Helper()
	if got := m.Values(); !slices.Equal(got, want) {
		t.Fatalf("%s: Values() = %q; want %q", m.id, got, want)
	}
}

func TestMVEmpty(t *testing.T) {
	m := NewMV[string]("us-east-1")
	wantValues(t, m)
	if !m.Version().IsZero() {
		t.Fatalf("Version() = %v; want empty", m.Version())
	}
	var zero MV[string]
	if !zero.Equal(m) || !m.Equal(&zero) {
		t.Fatal("an empty register differs from the zero register")
	}
}

func TestMVSetReplacesOwnValue(t *testing.T) {
	m := NewMV[string]("us-east-1")
	first := m.Set("a")
	second := m.Set("b")
	wantValues(t, m, "b")
	if first.Dot() != (vclock.Dot{Replica: "us-east-1", Seq: 1}) || second.Dot() != (vclock.Dot{Replica: "us-east-1", Seq: 2}) {
		t.Fatalf("dots %v, %v; want us-east-1:1, us-east-1:2", first.Dot(), second.Dot())
	}
	if got := second.Replaced(); !slices.Equal(got, []vclock.Dot{first.Dot()}) {
		t.Fatalf("second write replaced %v; want [%v]", got, first.Dot())
	}
}

// The multi-value register's defining case: concurrent writes are both
// kept, in the same order everywhere.
func TestMVConcurrentWritesAreBothKept(t *testing.T) {
	east, west := NewMV[string]("us-east-1"), NewMV[string]("eu-west-1")
	a := east.Set("from us-east-1")
	b := west.Set("from eu-west-1")
	applyMV(t, b, east)
	applyMV(t, a, west)
	// Ordered by replica ID: eu-west-1 before us-east-1.
	wantValues(t, east, "from eu-west-1", "from us-east-1")
	wantValues(t, west, "from eu-west-1", "from us-east-1")
	if !east.Equal(west) {
		t.Fatal("replicas differ after exchanging their writes")
	}
}

func TestMVWriteAfterSeeingBothSiblingsReplacesBoth(t *testing.T) {
	east, west := NewMV[string]("us-east-1"), NewMV[string]("eu-west-1")
	a := east.Set("a")
	b := west.Set("b")
	applyMV(t, b, east)
	applyMV(t, a, west)
	c := east.Set("c, resolving")
	if got := c.Replaced(); !slices.Equal(got, []vclock.Dot{b.Dot(), a.Dot()}) {
		t.Fatalf("resolving write replaced %v; want both siblings", got)
	}
	wantValues(t, east, "c, resolving")
	applyMV(t, c, west)
	wantValues(t, west, "c, resolving")
}

// A write replaces only the values its replica had seen: a sibling it had
// not seen survives it.
func TestMVWriteKeepsUnseenSibling(t *testing.T) {
	east, west := NewMV[string]("us-east-1"), NewMV[string]("eu-west-1")
	a1 := east.Set("a1")
	b := west.Set("b")
	a2 := east.Set("a2") // east has not seen b
	for _, op := range []MVOp[string]{b} {
		applyMV(t, op, east)
	}
	for _, op := range []MVOp[string]{a2, a1} { // out of order
		applyMV(t, op, west)
	}
	wantValues(t, east, "b", "a2")
	wantValues(t, west, "b", "a2")
}

// A write that arrives after the write that replaced it stays replaced.
func TestMVLateReplacedWriteStaysReplaced(t *testing.T) {
	east, west, south := NewMV[string]("us-east-1"), NewMV[string]("eu-west-1"), NewMV[string]("sa-east-1")
	x := east.Set("x")
	applyMV(t, x, west)
	y := west.Set("y, after x")
	applyMV(t, y, south)
	applyMV(t, x, south) // late, and again
	applyMV(t, x, south)
	wantValues(t, south, "y, after x")
	m := &MV[string]{}
	applyMV(t, y, m)
	wantValues(t, m, "y, after x")
	changed, err := m.ApplyBinary(mustMarshal(t, x))
	if changed || err != nil {
		t.Fatalf("ApplyBinary of a replaced write: %v, %v; want false, nil", changed, err)
	}
}

func mustMarshal(t tb, m interface{ MarshalBinary() ([]byte, error) }) []byte {
	t.Helper()
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatalf("MarshalBinary: %v", err)
	}
	return b
}

func TestMVValuesOrder(t *testing.T) {
	m := &MV[string]{}
	for _, id := range []crdt.ReplicaID{"us-east-1", "ap-south-1", "eu-west-1"} {
		w := NewMV[string](id)
		w.Set(string(id) + " 1")
		applyMV(t, w.Set(string(id)+" 2"), m)
	}
	wantValues(t, m, "ap-south-1 2", "eu-west-1 2", "us-east-1 2")
	// Within one replica, by sequence number: two writes of one replica are
	// siblings when a write replaced neither (a replica applying its own
	// ops out of band is the only way; build that by hand).
	o := &MV[string]{}
	applyMV(t, MVOp[string]{dot: vclock.Dot{Replica: "b", Seq: 10}, v: "b10"}, o)
	applyMV(t, MVOp[string]{dot: vclock.Dot{Replica: "b", Seq: 9}, v: "b9"}, o)
	applyMV(t, MVOp[string]{dot: vclock.Dot{Replica: "a", Seq: 11}, v: "a11"}, o)
	wantValues(t, o, "a11", "b9", "b10")
}

func TestMVApplyRefusesMeaninglessOps(t *testing.T) {
	d := func(id crdt.ReplicaID, seq uint64) vclock.Dot { return vclock.Dot{Replica: id, Seq: seq} }
	for _, tc := range []struct {
		name string
		op   MVOp[string]
	}{
		{"zero op", MVOp[string]{}},
		{"sequence number 0", MVOp[string]{dot: d("a", 0), v: "x"}},
		{"empty replica", MVOp[string]{dot: d("", 1), v: "x"}},
		{"replaces a dot with sequence number 0", MVOp[string]{dot: d("a", 2), replaced: []vclock.Dot{d("b", 0)}}},
		{"replaces a dot of no replica", MVOp[string]{dot: d("a", 2), replaced: []vclock.Dot{d("", 1)}}},
		{"replaces itself", MVOp[string]{dot: d("a", 2), replaced: []vclock.Dot{d("a", 2)}}},
		{"replaces its replica's later write", MVOp[string]{dot: d("a", 2), replaced: []vclock.Dot{d("a", 3)}}},
		{"replaced out of order", MVOp[string]{dot: d("a", 2), replaced: []vclock.Dot{d("b", 1), d("a", 1)}}},
		{"replaced twice", MVOp[string]{dot: d("a", 2), replaced: []vclock.Dot{d("b", 1), d("b", 1)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMV[string]("us-east-1")
			m.Set("kept")
			want := m.Clone()
			if err := m.Apply(tc.op); !errors.Is(err, ErrInvalidOp) {
				t.Fatalf("Apply: err = %v; want ErrInvalidOp", err)
			}
			if !m.Equal(want) {
				t.Fatal("a refused op changed the register")
			}
			wantValues(t, m, "kept")
			if _, err := tc.op.MarshalBinary(); !errors.Is(err, ErrInvalidOp) {
				t.Fatalf("MarshalBinary: err = %v; want ErrInvalidOp", err)
			}
		})
	}
}

func TestMVSetOnZeroValuePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Set on a zero MV did not panic")
		}
	}()
	var m MV[string]
	m.Set("x")
}

func TestNewMVPanicsOnEmptyID(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("NewMV(\"\") did not panic")
		}
	}()
	NewMV[string]("")
}

func TestMVCloneIsIndependent(t *testing.T) {
	m := NewMV[string]("us-east-1")
	m.Set("a")
	c := m.Clone()
	m.Set("b")
	wantValues(t, c, "a")
	if c.Equal(m) {
		t.Fatal("clone equal to the original after the original changed")
	}
	c.Merge(m)
	wantValues(t, c, "b")
	wantValues(t, m, "b")
}

func TestMVDeltaSince(t *testing.T) {
	east, west := NewMV[string]("us-east-1"), NewMV[string]("eu-west-1")
	x := east.Set("x")
	applyMV(t, x, west)
	// west has seen everything east has: nothing to send.
	d := east.DeltaSince(west.Version())
	if len(d.Values()) != 0 || !d.Version().IsZero() || !d.k.Context().IsEmpty() {
		t.Fatalf("delta to an up-to-date peer holds %q, context %v; want nothing", d.Values(), d.k.Context())
	}
	// east replaces x: west's version lacks the replacing write, so the
	// delta carries it, and merging it drops x at west.
	east.Set("y")
	d = east.DeltaSince(west.Version())
	w := west.Clone()
	w.Merge(d)
	wantValues(t, w, "y")
	if d.id != "" {
		t.Fatalf("delta has replica ID %q; want none", d.id)
	}
}

// mvHistory runs a random history on three replicas, writing, applying
// each other's ops and merging each other's states, and returns snapshots
// of states taken along the way (all from one history, so a dot names one
// value throughout), the final states and every op made.
func mvHistory(t *rapid.T) (snaps, finals []*MV[string], ops []MVOp[string]) {
	ids := []crdt.ReplicaID{"a", "b", "c"}
	rs := make([]*MV[string], len(ids))
	for i := range rs {
		rs[i] = NewMV[string](ids[i])
	}
	snaps = append(snaps, &MV[string]{})
	for range rapid.IntRange(0, 15).Draw(t, "steps") {
		i := rapid.IntRange(0, len(rs)-1).Draw(t, "replica")
		switch rapid.IntRange(0, 2).Draw(t, "action") {
		case 0:
			ops = append(ops, rs[i].Set(fmt.Sprintf("%s%d", ids[i], len(ops))))
		case 1:
			if len(ops) > 0 {
				applyMV(t, ops[rapid.IntRange(0, len(ops)-1).Draw(t, "op")], rs[i])
			}
		case 2:
			rs[i].Merge(rs[rapid.IntRange(0, len(rs)-1).Draw(t, "from")])
		}
		if rapid.IntRange(0, 2).Draw(t, "snapshot") == 0 {
			snaps = append(snaps, rs[i].Clone())
		}
	}
	for _, r := range rs {
		snaps = append(snaps, r.Clone())
	}
	return snaps, rs, ops
}

func sameMV(a, b *MV[string]) bool {
	return a.Equal(b) && b.Equal(a) && slices.Equal(a.Values(), b.Values())
}

func mergedMV(ms ...*MV[string]) *MV[string] {
	out := &MV[string]{}
	for _, m := range ms {
		out.Merge(m)
	}
	return out
}

func TestMVMergeIsASemilattice(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		snaps, _, _ := mvHistory(t)
		pick := rapid.SampledFrom(snaps)
		a, b, c := pick.Draw(t, "a"), pick.Draw(t, "b"), pick.Draw(t, "c")
		if ab, ba := mergedMV(a, b), mergedMV(b, a); !sameMV(ab, ba) {
			t.Fatalf("not commutative: %q vs %q", ab.Values(), ba.Values())
		}
		if l, r := mergedMV(mergedMV(a, b), c), mergedMV(a, mergedMV(b, c)); !sameMV(l, r) {
			t.Fatalf("not associative: %q vs %q", l.Values(), r.Values())
		}
		aa := a.Clone()
		aa.Merge(a)
		aa.Merge(a.Clone())
		if !sameMV(aa, a) {
			t.Fatal("not idempotent")
		}
		ab := mergedMV(a, b)
		for _, x := range []*MV[string]{a, b} {
			y := ab.Clone()
			y.Merge(x)
			if !sameMV(y, ab) {
				t.Fatal("merging an input into the join changed it")
			}
		}
		// The byte path agrees with the typed one, and reports change.
		viaBytes := a.Clone()
		changed, err := viaBytes.MergeBinary(mustMarshal(t, b))
		if err != nil {
			t.Fatal(err)
		}
		if !sameMV(viaBytes, ab) {
			t.Fatal("MergeBinary and Merge disagree")
		}
		if want := !slices.Equal(a.dots(), ab.dots()); changed != want {
			t.Fatalf("MergeBinary reported changed=%v; values went from %q to %q", changed, a.Values(), ab.Values())
		}
	})
}

// Ops applied in any order, some twice, give the state the replicas'
// states merge to.
func TestMVOpsInAnyOrderEqualMergedStates(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		_, finals, ops := mvHistory(t)
		delivered := slices.Clone(ops)
		if len(ops) > 0 {
			for _, k := range rapid.SliceOfN(rapid.IntRange(0, len(ops)-1), 0, 5).Draw(t, "duplicates") {
				delivered = append(delivered, ops[k])
			}
		}
		delivered = rapid.Permutation(delivered).Draw(t, "order")
		applied := &MV[string]{}
		for _, op := range delivered {
			if rapid.Bool().Draw(t, "as bytes") {
				if _, err := applied.ApplyBinary(mustMarshal(t, op)); err != nil {
					t.Fatal(err)
				}
				continue
			}
			applyMV(t, op, applied)
		}
		if want := mergedMV(finals...); !sameMV(applied, want) {
			t.Fatalf("ops give %q; merged states give %q", applied.Values(), want.Values())
		}
	})
}

// Merging the delta a sends for b's version does to b what merging all of
// a does.
func TestMVDeltaSinceThenMergeEqualsMerge(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		snaps, _, _ := mvHistory(t)
		pick := rapid.SampledFrom(snaps)
		a, b := pick.Draw(t, "a"), pick.Draw(t, "b")
		want := mergedMV(b, a)

		viaDelta := b.Clone()
		viaDelta.Merge(a.DeltaSince(b.Version()))
		if !sameMV(viaDelta, want) {
			t.Fatalf("b ⊔ Δ gives %q; b ⊔ a gives %q", viaDelta.Values(), want.Values())
		}

		// The same through bytes, as the engine does it.
		version, err := b.VersionBinary()
		if err != nil {
			t.Fatal(err)
		}
		delta, err := a.DeltaSinceBinary(version)
		if err != nil {
			t.Fatal(err)
		}
		viaBytes := b.Clone()
		if _, err := viaBytes.MergeBinary(delta); err != nil {
			t.Fatal(err)
		}
		if !sameMV(viaBytes, want) {
			t.Fatalf("through bytes b ⊔ Δ gives %q; b ⊔ a gives %q", viaBytes.Values(), want.Values())
		}
		// Nothing is sent to a peer that has seen everything.
		if a.k.Context().CoveredBy(b.Version()) {
			if d := a.DeltaSince(b.Version()); !d.Equal(&MV[string]{}) {
				t.Fatal("non-empty delta to a peer that has seen every write")
			}
		}
	})
}

// mvModel is the naive reference: the values of the writes that are in no
// other write's causal past, by the sim's record of what each replica had
// seen, in the order of (replica ID, the replica's count of writes).
func mvModel(s *sim) []string {
	type w struct {
		id  crdt.ReplicaID
		seq int
		v   string
	}
	var live []w
	for k, x := range s.writes {
		replaced := false
		for _, y := range s.writes {
			if y.past[k] {
				replaced = true
			}
		}
		if !replaced {
			live = append(live, w{s.nodes[x.node].id, x.seq, x.op.(MVOp[string]).Value()})
		}
	}
	slices.SortFunc(live, func(a, b w) int {
		if a.id != b.id {
			if a.id < b.id {
				return -1
			}
			return 1
		}
		return a.seq - b.seq
	})
	var out []string
	for _, x := range live {
		out = append(out, x.v)
	}
	return out
}

// Replicas over a network that loses, duplicates and reorders converge
// after a final reliable exchange to the values the naive model picks.
func TestMVConvergesToModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(2, 5).Draw(t, "replicas")
		regs := make([]*MV[string], n)
		s := newSim(t, n, func(i int, id crdt.ReplicaID, _ *fakeTime) crdt.Object {
			regs[i] = NewMV[string](id)
			return regs[i]
		})
		write := func(i int) {
			op := regs[i].Set(fmt.Sprintf("w%d", len(s.writes)))
			s.wrote(i, op, mustMarshal(t, op))
			// The dot is the replica's count of writes, counted apart.
			if w := s.writes[len(s.writes)-1]; op.Dot() != (vclock.Dot{Replica: regs[i].id, Seq: uint64(w.seq)}) {
				t.Fatalf("write %d of %s has dot %v", w.seq, regs[i].id, op.Dot())
			}
		}
		for range rapid.IntRange(0, 60).Draw(t, "steps") {
			s.step(write)
		}
		s.finish()
		want := mvModel(s)
		for _, r := range regs {
			if got := r.Values(); !slices.Equal(got, want) {
				t.Fatalf("%s: Values() = %q; the model says %q", r.id, got, want)
			}
			if !r.Equal(regs[0]) {
				t.Fatalf("%s and %s differ", r.id, regs[0].id)
			}
		}
	})
}
