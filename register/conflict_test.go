package register

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/vclock"
)

// reports collects the conflict reports of one register.
type reports struct{ got []vclock.Conflict }

func (r *reports) hook(c vclock.Conflict) { r.got = append(r.got, c) }

func (r *reports) String() string {
	var out []string
	for _, c := range r.got {
		out = append(out, fmt.Sprintf("%v (%s) < %v (%s)", c.Lost.Value, c.Lost.Writer, c.Won.Value, c.Won.Writer))
	}
	return fmt.Sprint(out)
}

// lwwPair makes two registers, us and eu, on one fake time source, eu's
// clock reading 1 ns later than us's, each with its reports.
func lwwPair(ft *fakeTime) (us, eu *LWW[string], rus, reu *reports) {
	us = NewLWW[string]("us", clock.New(clock.WithSource(ft.now)))
	eu = NewLWW[string]("eu", clock.New(clock.WithSource(func() int64 { return ft.now() + 1 })))
	rus, reu = &reports{}, &reports{}
	us.SetConflictHook(rus.hook)
	eu.SetConflictHook(reu.hook)
	return
}

func TestLWWConcurrentWritesReportTheLoserOnEachSide(t *testing.T) {
	for _, path := range []string{"Apply", "ApplyBinary", "ApplyBinaryFrom", "Merge", "MergeBinary"} {
		t.Run(path, func(t *testing.T) {
			ft := newFakeTime(t0)
			us, eu, rus, reu := lwwPair(ft)
			_ = eu.Apply(us.Set("milk"))
			ft.add(10)
			a := us.Set("oat milk")
			ft.add(10)
			b := eu.Set("soy milk") // later: wins
			deliver := func(dst, src *LWW[string], op LWWOp[string]) {
				t.Helper()
				opb, err := op.MarshalBinary()
				if err != nil {
					t.Fatal(err)
				}
				st, err := src.MarshalBinary()
				if err != nil {
					t.Fatal(err)
				}
				switch path {
				case "Apply":
					err = dst.Apply(op)
				case "ApplyBinary":
					_, err = dst.ApplyBinary(opb)
				case "ApplyBinaryFrom":
					_, err = dst.ApplyBinaryFrom(opb, op.Replica())
				case "Merge":
					dst.Merge(src)
				case "MergeBinary":
					_, err = dst.MergeBinary(st)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			usBefore := us.Clone()
			for range 3 { // duplicates report nothing more
				deliver(us, eu, b)
				deliver(eu, usBefore, a)
			}
			want := "[oat milk (us) < soy milk (eu)]"
			if rus.String() != want || reu.String() != want {
				t.Fatalf("us reported %v, eu %v; want %s on each side", rus, reu, want)
			}
			if c := rus.got[0]; c.Lost.Time != a.Timestamp() || c.Won.Time != b.Timestamp() || c.Key != nil {
				t.Fatalf("report %+v does not name the writes", c)
			}
		})
	}
}

func TestLWWCausallyOrderedWritesReportNothing(t *testing.T) {
	ft := newFakeTime(t0)
	us, eu, rus, reu := lwwPair(ft)
	a := us.Set("a")
	_ = eu.Apply(a)
	ft.add(10)
	b1 := eu.Set("b1")
	ft.add(10)
	b2 := eu.Set("b2") // over b1: its base is still a
	_ = us.Apply(b2)   // b1 never arrives before b2
	_ = us.Apply(b1)   // late: superseded by its own writer
	_ = us.Apply(a)    // redelivered
	ft.add(10)
	c := us.Set("c")
	_ = eu.Apply(c)
	_ = eu.Apply(b1)
	if len(rus.got)+len(reu.got) != 0 {
		t.Fatalf("reports for causally ordered writes: us %v, eu %v", rus, reu)
	}
}

// A write that lost to one of the replica's own makes the replica's next
// write a successor of it: the peer holding it reports nothing.
func TestLWWWriteAfterAConflictReportsNothingMore(t *testing.T) {
	ft := newFakeTime(t0)
	us, eu, rus, reu := lwwPair(ft)
	a := us.Set("a")
	ft.add(10)
	b := eu.Set("b") // later
	_ = us.Apply(b)  // a lost to b: reported at us
	_ = eu.Apply(a)  // a lost to b: reported at eu
	ft.add(10)
	_ = eu.Apply(us.Set("a2")) // us had seen b
	ft.add(10)
	e2 := eu.Set("b2")
	ft.add(10)
	a3 := us.Set("a3") // concurrent with b2, later
	_ = us.Apply(e2)
	_ = eu.Apply(a3)
	want := "[a (us) < b (eu) b2 (eu) < a3 (us)]"
	if rus.String() != want || reu.String() != want {
		t.Fatalf("us reported %v, eu %v; want %s", rus, reu, want)
	}
}

func TestLWWBadInputReportsNothing(t *testing.T) {
	ft := newFakeTime(t0)
	us, eu, rus, _ := lwwPair(ft)
	us.Set("a")
	ft.add(10)
	op, _ := eu.Set("b").MarshalBinary()
	st, _ := eu.MarshalBinary()
	for i := range len(op) - 1 {
		_, _ = us.ApplyBinary(op[:i])
	}
	for i := range len(st) - 1 {
		_, _ = us.MergeBinary(st[:i])
	}
	if _, err := us.ApplyBinary(st); err == nil {
		t.Fatal("a state was taken as an op")
	}
	if _, err := us.ApplyBinaryFrom(op, "mallory"); err == nil {
		t.Fatal("a foreign write was accepted")
	}
	if len(rus.got) != 0 {
		t.Fatalf("bad input reported %v", rus)
	}
	if _, err := us.ApplyBinary(op); err != nil || len(rus.got) != 1 {
		t.Fatalf("the good op: %v, reports %v", err, rus)
	}
}

func TestLWWSkewedWriteDiscardingALocalOneIsReported(t *testing.T) {
	ft := newFakeTime(t0)
	us, _, rus, _ := lwwPair(ft)
	far := NewLWW[string]("far", clock.New(clock.WithSource(func() int64 { return ft.now() + 3600e9 })))
	far.Set("future")
	us.Merge(far) // trusted: taken in although the clock refuses it
	us.Set("now")
	if want := "[now (us) < future (far)]"; rus.String() != want {
		t.Fatalf("reports %v, want %s", rus, want)
	}
}

func TestLWWNoHookAllocatesNothing(t *testing.T) {
	ft := newFakeTime(t0)
	us := NewLWW[string]("us", clock.New(clock.WithSource(ft.now)))
	eu := NewLWW[string]("eu", clock.New(clock.WithSource(func() int64 { return ft.now() + 1 })))
	us.Set("a")
	op := eu.Set("b")
	older := us.Set("c")
	if n := testing.AllocsPerRun(100, func() { _ = eu.Apply(older); _ = us.Apply(op) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}

// The bytes are derived by hand from the msgpack specification and the
// layout documented in lww.go.
func TestLWWBaseEncodingByHand(t *testing.T) {
	be := func(w int64) []byte { return binary.BigEndian.AppendUint64([]byte{0xcf}, uint64(w)) }
	op := LWWOp[string]{w: stamp{ts: clock.Timestamp{Wall: t0, Logical: 2}, id: "a"}, base: clock.Timestamp{Wall: t0 - 9, Logical: 1}, v: "x"}
	want := bytes.Join([][]byte{
		{0x01, 0x11},   // format version 1, kind LWW op
		{0xa1, 'a'},    // replica table: "a"
		{0x96},         // six fields
		be(t0), {0x02}, // timestamp
		{0x00},             // replica 0
		{0xa1, 'x'},        // value
		be(t0 - 9), {0x01}, // base
	}, nil)
	got, err := op.MarshalBinary()
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("got %x, %v\nwant %x", got, err, want)
	}
	back, err := decodeLWWOp[string](want, codec.Limits{})
	if err != nil || back.base != op.base || back.w != op.w || back.v != "x" {
		t.Fatalf("decoded %+v, %v", back, err)
	}
	// A state holds the same fields.
	r := &LWW[string]{w: op.w, base: op.base, v: "x"}
	st, err := r.MarshalBinary()
	if err != nil || !bytes.Equal(st[2:], want[2:]) || st[1] != byte(codec.KindLWW) {
		t.Fatalf("state %x, %v", st, err)
	}
	// Five fields, or a base of no wall time, are refused.
	five := slices.Clone(want)
	five[4] = 0x95
	if _, err := decodeLWWOp[string](five[:len(five)-10], codec.Limits{}); err == nil {
		t.Fatal("five fields accepted")
	}
	zero := append(slices.Clone(want[:len(want)-10]), 0x00, 0x00)
	if _, err := decodeLWWOp[string](zero, codec.Limits{}); err == nil {
		t.Fatal("a base of wall time 0 accepted")
	}
}

// A property: two or three registers write and exchange ops and states,
// late, twice and out of order. Every report names writes of different
// writers neither of which had seen the other, no write is reported lost
// twice at one register, and, with two, each writer's last write, if
// concurrent with the final winner, is reported lost at its writer.
func TestLWWConflictReportsProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ft := newFakeTime(t0)
		names := []vclock.ReplicaID{"us", "eu", "ap"}[:rapid.IntRange(2, 3).Draw(t, "replicas")]
		regs := make([]*LWW[int], len(names))
		recs := make([]*reports, len(names))
		type key struct {
			id vclock.ReplicaID
			ts clock.Timestamp
		}
		seen := []map[key]bool{{}, {}, {}}
		past := map[key]map[key]bool{}
		var ops []LWWOp[int]
		// see makes replica i see write k, and so every write k's writer
		// had seen.
		see := func(i int, k key) {
			seen[i][k] = true
			for z := range past[k] {
				seen[i][z] = true
			}
		}
		for i, n := range names {
			off := int64(i)
			regs[i] = NewLWW[int](n, clock.New(clock.WithSource(func() int64 { return ft.now() + off })))
			recs[i] = &reports{}
			regs[i].SetConflictHook(recs[i].hook)
		}
		steps := rapid.IntRange(1, 40).Draw(t, "steps")
		for s := range steps {
			ft.add(2)
			i := rapid.IntRange(0, len(names)-1).Draw(t, "replica")
			switch act := rapid.IntRange(0, 4).Draw(t, "act"); {
			case act <= 1 || len(ops) == 0:
				op := regs[i].Set(s)
				k := key{op.Replica(), op.Timestamp()}
				past[k] = map[key]bool{}
				for x := range seen[i] {
					past[k][x] = true
				}
				seen[i][k] = true
				ops = append(ops, op)
			case act <= 3:
				op := ops[rapid.IntRange(0, len(ops)-1).Draw(t, "op")]
				b, _ := op.MarshalBinary()
				if _, err := regs[i].ApplyBinary(b); err != nil {
					t.Fatal(err)
				}
				see(i, key{op.Replica(), op.Timestamp()})
			default:
				j := (i + rapid.IntRange(1, len(names)-1).Draw(t, "from")) % len(names)
				b, _ := regs[j].MarshalBinary()
				if _, err := regs[i].MergeBinary(b); err != nil {
					t.Fatal(err)
				}
				// A state carries one write: it and its past are seen.
				if w := regs[j].w; w.isSet() {
					see(i, key{w.id, w.ts})
				}
			}
		}
		for i := range regs {
			for j := range regs {
				regs[j].Merge(regs[i])
			}
		}
		concurrent := func(x, y key) bool {
			return x.id != y.id && !past[x][y] && !past[y][x]
		}
		win := key{regs[0].w.id, regs[0].w.ts}
		for i, r := range recs {
			lost := map[key]bool{}
			for _, c := range r.got {
				l, w := key{c.Lost.Writer, c.Lost.Time}, key{c.Won.Writer, c.Won.Time}
				if !concurrent(l, w) {
					t.Fatalf("%s reported %v lost to %v, not concurrent", names[i], l, w)
				}
				if lost[l] {
					t.Fatalf("%s reported %v lost twice", names[i], l)
				}
				lost[l] = true
			}
			var last key
			for _, op := range ops {
				if op.Replica() == names[i] {
					last = key{op.Replica(), op.Timestamp()}
				}
			}
			if len(names) == 2 && last.id != "" && last != win && concurrent(last, win) && !lost[last] {
				t.Fatalf("%s did not report its last write %v, concurrent with the winner %v; reports %v", names[i], last, win, r)
			}
		}
	})
}

func TestMVReportsSiblings(t *testing.T) {
	us, eu := NewMV[string]("us"), NewMV[string]("eu")
	var rus, reu reports
	us.SetConflictHook(rus.hook)
	eu.SetConflictHook(reu.hook)
	_ = eu.Apply(us.Set("milk"))
	a := us.Set("oat milk")
	b := eu.Set("soy milk")
	usState := us.Clone()
	_ = us.Apply(b)
	_ = us.Apply(b) // again: nothing more
	eu.Merge(usState)
	eu.Merge(usState)
	for _, r := range []*reports{&rus, &reu} {
		if len(r.got) != 1 {
			t.Fatalf("reports %+v, want one", r.got)
		}
		sib := r.got[0].Siblings
		if len(sib) != 2 || sib[0].Writer != "eu" || sib[0].Value != "soy milk" || sib[1].Writer != "us" || sib[1].Value != "oat milk" || sib[1].Seq != a.Dot().Seq {
			t.Fatalf("siblings %+v", sib)
		}
	}
	// Resolving the siblings reports nothing; a write seen by nobody else
	// joining one value does not either.
	c := us.Set("milk")
	_ = eu.Apply(c)
	if len(rus.got) != 1 || len(reu.got) != 1 {
		t.Fatalf("after resolving: %+v, %+v", rus.got, reu.got)
	}
	// Bad input reports nothing.
	st, _ := us.MarshalBinary()
	for i := range len(st) - 1 {
		_, _ = eu.MergeBinary(st[:i])
	}
	if len(reu.got) != 1 {
		t.Fatalf("bad input reported %+v", reu.got)
	}
}
