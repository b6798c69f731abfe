package lwwmap

import (
	"maps"
	"testing"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/vclock"
	"pgregory.net/rapid"
)

// twoProc simulates replicas a and c, and replica b run by one process or
// (twice is set) two processes, the second started from the first's
// state, the network routing b to one of them at a time. Every process
// writes under a writer of its own run, as the replication engine makes
// it; states travel as deltas since the receiver's version, and each
// replica collects with the versions of the peers it can reach (every
// state counts as saved). a and c restart now and then from their
// snapshots (save), under a new writer, as the engine restarts them.
type twoProc struct {
	t      *rapid.T
	time   *fakeTime
	procs  []*Map[string, int] // a, c, b's first process, b's second (nil until started)
	writes []write
	next   int
	routed int // index in procs of the process b's name reaches
	// save is what a restart reads back; runs counts each process's
	// runs; lateGone sums LateWrites of the runs that ended.
	save     func(*Map[string, int]) ([]byte, error)
	runs     [pb2 + 1]uint64
	lateGone uint64
}

const (
	pa, pc, pb1, pb2 = 0, 1, 2, 3
)

func newTwoProc(t *rapid.T) *twoProc {
	s := &twoProc{t: t, time: &fakeTime{now: start}, routed: pb1, save: (*Map[string, int]).SnapshotBinary}
	for i := range s.runs {
		s.runs[i] = 1
	}
	for _, w := range []vclock.ReplicaID{vclock.Writer("a", 1), vclock.Writer("c", 1), vclock.Writer("b", 1)} {
		s.procs = append(s.procs, s.newMap(w))
	}
	s.procs = append(s.procs, nil)
	return s
}

// newMap returns an empty map writing as w, with a clock of its own.
func (s *twoProc) newMap(w vclock.ReplicaID) *Map[string, int] {
	off := rapid.SampledFrom([]int64{0, 0, 3e6, -3e6, 1}).Draw(s.t, "offset")
	clk := clock.New(clock.WithSource(s.time.source(off)))
	clk.Now()
	m := New[string, int](w.Name(), clk)
	m.SetWriter(w)
	return m
}

// reachable returns the processes the network reaches: a, c, and the one
// b is routed to.
func (s *twoProc) reachable() []int { return []int{pa, pc, s.routed} }

func (s *twoProc) record(op Op[string, int]) {
	s.writes = append(s.writes, write{key: op.Key(), value: op.Value(), del: op.Deleted(), ts: op.Timestamp(), id: op.Replica(), dot: op.Dot()})
}

// sync merges into process to what from has that to lacks, through the
// bytes the engine sends.
func (s *twoProc) sync(from, to int) {
	v, err := s.procs[to].VersionBinary()
	if err != nil {
		s.t.Fatal(err)
	}
	d, err := s.procs[from].DeltaSinceBinary(v)
	if err != nil {
		s.t.Fatal(err)
	}
	if _, err := s.procs[to].MergeBinary(d); err != nil {
		s.t.Fatal(err)
	}
}

// collect collects at process i with the versions of the peers the
// network reaches.
func (s *twoProc) collect(i int) {
	var peers []vclock.Clock
	for _, j := range s.reachable() {
		if j != i && s.procs[j].ID().Name() != s.procs[i].ID().Name() {
			peers = append(peers, s.procs[j].Version())
		}
	}
	s.procs[i].CollectVersions(peers)
}

func (s *twoProc) step(twice bool) {
	switch a := rapid.IntRange(0, 12).Draw(s.t, "action"); {
	case a <= 2: // a put or a delete, at any process running
		i := rapid.IntRange(0, len(s.procs)).Draw(s.t, "writer")
		if i == len(s.procs) {
			i = pb1 + pb2 - s.routed // more often the process b's name does not reach
		}
		if s.procs[i] == nil {
			return
		}
		k := rapid.SampledFrom(keys[:2]).Draw(s.t, "key")
		if rapid.Bool().Draw(s.t, "delete") {
			s.record(s.procs[i].Delete(k))
		} else {
			s.next++
			s.record(s.procs[i].Put(k, s.next))
		}
	case a == 3:
		s.time.now += rapid.SampledFrom([]int64{1, 1e6, 5e6}).Draw(s.t, "advance")
	case a == 7: // a round among the reachable processes
		s.exchange()
	case a <= 6: // two reachable processes exchange
		r := s.reachable()
		from, to := rapid.SampledFrom(r).Draw(s.t, "from"), rapid.SampledFrom(r).Draw(s.t, "to")
		if from != to {
			s.sync(from, to)
		}
	case a <= 10:
		s.collect(rapid.SampledFrom(s.reachable()).Draw(s.t, "collector"))
	case a == 11: // b's second process starts, or the network reroutes b
		if twice {
			s.reroute()
		}
	default:
		s.restart(rapid.SampledFrom([]int{pa, pc}).Draw(s.t, "restarted"))
	}
}

// restart ends process i's run and starts the next from its snapshot,
// under a new writer, its clock restored first to the last reading of the
// run that ended, as the engine restores; the snapshot is read back by
// UnmarshalBinary or, as the engine does, merged into a map just made.
func (s *twoProc) restart(i int) {
	old := s.procs[i]
	b, err := s.save(old)
	if err != nil {
		s.t.Fatal(err)
	}
	s.lateGone += old.LateWrites()
	s.runs[i]++
	m := s.newMap(vclock.Writer(old.ID().Name(), s.runs[i]))
	m.clk.Restore(old.clk.Last())
	if rapid.Bool().Draw(s.t, "restore by merge") {
		_, err = m.MergeBinary(b)
	} else {
		err = m.UnmarshalBinary(b)
	}
	if err != nil {
		s.t.Fatal(err)
	}
	s.procs[i] = m
}

// reroute starts b's second process from the first's state if it has not
// started, and routes b to the process it does not reach now.
func (s *twoProc) reroute() {
	if s.procs[pb2] == nil {
		b, err := s.procs[pb1].MarshalBinary()
		if err != nil {
			s.t.Fatal(err)
		}
		m := s.newMap(vclock.Writer("b", 2))
		if err := m.UnmarshalBinary(b); err != nil {
			s.t.Fatal(err)
		}
		s.procs[pb2] = m
	}
	s.routed = pb1 + pb2 - s.routed
}

// settle runs every process b has in turn, each exchanging with a and c
// until they agree, so that every write reaches a, c and the last one.
func (s *twoProc) settle() {
	order := []int{pb1}
	if s.procs[pb2] != nil {
		order = []int{s.routed, pb1 + pb2 - s.routed, s.routed}
	}
	for _, b := range order {
		s.routed = b
		s.exchange()
		s.exchange()
	}
}

// exchange has every reachable process merge what every other has.
func (s *twoProc) exchange() {
	for _, i := range s.reachable() {
		for _, j := range s.reachable() {
			if i != j {
				s.sync(i, j)
			}
		}
	}
}

func (s *twoProc) late() uint64 {
	n := s.lateGone
	for _, m := range s.procs {
		if m != nil {
			n += m.LateWrites()
		}
	}
	return n
}

// runTwoProc runs a random schedule, and reports whether a, c and the
// process b ends with agree and hold what the conflict rule makes of
// every write, and the sum of LateWrites over every process. It fails t
// if they do not, and LateWrites reads zero.
func runTwoProc(t *rapid.T, twice bool) (exact bool, late uint64) {
	s := newTwoProc(t)
	if twice && rapid.Bool().Draw(t, "second process first") {
		s.reroute()
	}
	for range rapid.IntRange(1, 120).Draw(t, "steps") {
		s.step(twice)
	}
	s.settle()
	want, late := model(s.writes), s.late()
	exact = true
	for _, i := range s.reachable() {
		if got := contents(s.procs[i]); !maps.Equal(got, want) {
			exact = false
			if late == 0 {
				t.Fatalf("process %d holds %v, the conflict rule %v, and LateWrites reads zero", i, got, want)
			}
		}
	}
	return exact, late
}

// With one process per replica, collection loses no delete: the replicas
// agree on what the conflict rule makes of every write, and LateWrites
// reads zero. With two processes under b's name (the second started from
// the first's state, the network routing b to one or the other), the
// replicas agree, and a delete that a put of the other process's takes
// back after it was collected is counted by LateWrites.
func TestLateWritesTwoProcesses(t *testing.T) {
	var lost, counted int
	t.Run("oneProcess", func(t *testing.T) {
		rapid.Check(t, func(t *rapid.T) {
			if exact, late := runTwoProc(t, false); !exact || late != 0 {
				t.Fatalf("one process per replica: exact %v, LateWrites %d", exact, late)
			}
		})
	})
	t.Run("twoProcesses", func(t *testing.T) {
		rapid.Check(t, func(t *rapid.T) {
			exact, late := runTwoProc(t, true)
			if !exact {
				lost++
			}
			if late > 0 {
				counted++
			}
		})
		t.Logf("schedules with a write lost or the replicas apart %d, with LateWrites counted %d", lost, counted)
	})
}

// b's first process puts k, sends nothing, and the second, started from
// its state before the put, reports a version that counts c's later
// delete of k: a collects the marker, then takes b's put in, as an op or
// in a delta. The put is new to a and finds no marker: a takes k back,
// where c, which still holds the marker, keeps k deleted, at the same
// version. Both ways, a counts the put in LateWrites; c, which decided by
// the conflict rule, counts nothing. A put of another key, stamped after
// the delete, counts nothing either.
func TestLateWritesCountsPutOverCollectedDelete(t *testing.T) {
	for _, asOp := range []bool{true, false} {
		t.Run(map[bool]string{true: "op", false: "delta"}[asOp], func(t *testing.T) {
			ft := &fakeTime{now: start}
			mk := func(w vclock.ReplicaID) *Map[string, int] {
				m := New[string, int](w.Name(), clock.New(clock.WithSource(ft.source(0))))
				m.SetWriter(w)
				return m
			}
			a, c, b1 := mk(vclock.Writer("a", 1)), mk(vclock.Writer("c", 1)), mk(vclock.Writer("b", 1))
			ft.now++
			if err := a.Apply(a.Put("k", 1)); err != nil {
				t.Fatal(err)
			}
			c.Merge(a.Clone())
			b1.Merge(a.Clone())
			b2 := b1.Clone()
			b2.clk = clock.New(clock.WithSource(ft.source(0)))
			b2.SetWriter(vclock.Writer("b", 2))
			ft.now++
			put := b1.Put("k", 2) // not sent
			ft.now++
			del := c.Delete("k")
			if !del.Timestamp().After(put.Timestamp()) {
				t.Fatalf("the delete %v is not later than the put %v", del.Timestamp(), put.Timestamp())
			}
			for _, m := range []*Map[string, int]{a, b2} {
				if err := m.Apply(del); err != nil {
					t.Fatal(err)
				}
			}
			if n := a.CollectVersions([]vclock.Clock{c.Version(), b2.Version()}); n != 1 {
				t.Fatalf("a collected %d markers, want 1", n)
			}
			if asOp {
				if err := a.Apply(put); err != nil {
					t.Fatal(err)
				}
			} else {
				a.Merge(b1.DeltaSince(a.Version()))
			}
			c.Merge(b1.DeltaSince(c.Version()))
			if !a.Version().Equal(c.Version()) {
				t.Fatalf("a at %v, c at %v", a.Version(), c.Version())
			}
			va, oka := a.Get("k")
			_, okc := c.Get("k")
			if !oka || va != 2 || okc {
				t.Fatalf("k reads %d %v at a, present %v at c; want the put back at a only (as the collection makes it)", va, oka, okc)
			}
			if a.LateWrites() != 1 || c.LateWrites() != 0 {
				t.Fatalf("LateWrites reads %d at a, %d at c; want 1 and 0", a.LateWrites(), c.LateWrites())
			}
			ft.now++
			other := b1.Put("j", 3)
			if err := a.Apply(other); err != nil {
				t.Fatal(err)
			}
			if a.LateWrites() != 1 {
				t.Fatalf("LateWrites reads %d after a put stamped after the delete, want 1", a.LateWrites())
			}
		})
	}
}
