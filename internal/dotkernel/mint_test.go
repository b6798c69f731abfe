package dotkernel

import (
	"errors"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/vclock"
)

// slowPut is MintPut the long way: TryMint, Put, Record, one look-up of
// the writer each.
func slowPut(k *kern, id crdt.ReplicaID, key string) (vclock.Dot, []vclock.Dot, error) {
	d, err := k.TryMint(id)
	if err != nil {
		return vclock.Dot{}, nil, err
	}
	dropped := k.Put(key, unit{}, d)
	if len(dropped) > 1 {
		slices.SortFunc(dropped, vclock.Dot.Compare)
	}
	k.Record(d, key, dropped)
	return d, dropped, nil
}

// slowRemove is MintRemove the long way: Next, Remove, Observe, Record.
func slowRemove(k *kern, id crdt.ReplicaID, key string) (vclock.Dot, []vclock.Dot, error) {
	d, err := k.Next(id)
	if err != nil {
		if !k.Has(key) {
			return vclock.Dot{}, nil, nil
		}
		return vclock.Dot{}, nil, err
	}
	dropped := k.Remove(key)
	if dropped == nil {
		return vclock.Dot{}, nil, nil
	}
	if len(dropped) > 1 {
		slices.SortFunc(dropped, vclock.Dot.Compare)
	}
	k.Observe(d)
	k.Record(d, key, dropped)
	return d, dropped, nil
}

// requireSame checks that the kernel written by MintPut and MintRemove
// (fast) is in every way the one written the long way (slow): store,
// context, ghosts, fingerprint, records, horizon and the clock of
// recorded dots.
func requireSame(t *rapid.T, fast, slow *kern, what string) {
	t.Helper()
	requireEqual(t, fast, slow, what)
	if fast.Fingerprint() != slow.Fingerprint() || fast.Fingerprint() != fast.ScanFingerprint() {
		t.Fatalf("%s: fingerprint %x, long way %x, from the store %x", what, fast.Fingerprint(), slow.Fingerprint(), fast.ScanFingerprint())
	}
	if !slices.EqualFunc(fast.Records(), slow.Records(), func(a, b Record[string]) bool {
		return a.Dot == b.Dot && a.Key == b.Key && slices.Equal(a.Dropped, b.Dropped)
	}) {
		t.Fatalf("%s: records %v, long way %v", what, fast.Records(), slow.Records())
	}
	if !fast.horizon.Equal(slow.horizon) || !fast.recMax.Equal(slow.recMax) || fast.capped != slow.capped {
		t.Fatalf("%s: horizon %v, recorded %v, capped %d; long way %v, %v, %d", what,
			fast.horizon, fast.recMax, fast.capped, slow.horizon, slow.recMax, slow.capped)
	}
	checkInvariants(t, fast)
}

// TestMintMatchesLongWay checks that MintPut and MintRemove (or
// MintRemoveOwn), which keep
// where their writer is in the kernel from one call to the next, do what
// minting, writing and recording one step at a time does, however the
// kernel changed in between: joins with replicas the writer's entries must
// make room for, collection, the cap on records, a writer change, the
// retirement of writers (which moves replicas in the kernel's table of
// them), clones and restores from bytes.
func TestMintMatchesLongWay(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := newSim(t) // the others; the twins write as wA1, then wA2
		capRecs := rapid.SampledFrom([]int{0, 1, 2, 5}).Draw(t, "twinCap")
		fast := &kern{MaxRecords: capRecs, RecordsAll: true}
		slow := &kern{MaxRecords: capRecs, RecordsAll: true}
		id := wA1
		retired := false
		for step := range rapid.IntRange(0, 80).Draw(t, "steps") {
			_ = step
			key := rapid.SampledFrom(keys[:s.nkeys]).Draw(t, "key")
			j := rapid.IntRange(0, len(s.ks)-1).Draw(t, "j")
			var what string
			switch rapid.IntRange(0, 12).Draw(t, "step") {
			case 0, 1, 2:
				what = "put " + key
				fd, fdr, ferr := fast.MintPut(id, key, unit{})
				sd, sdr, serr := slowPut(slow, id, key)
				if fd != sd || !slices.Equal(fdr, sdr) || (ferr == nil) != (serr == nil) {
					t.Fatalf("put %s: %v %v %v, long way %v %v %v", key, fd, fdr, ferr, sd, sdr, serr)
				}
			case 3, 4:
				what = "remove " + key
				var fd vclock.Dot
				var fdr []vclock.Dot
				var ferr error
				if rapid.Bool().Draw(t, "own") {
					var own uint64
					fd, own, fdr, ferr = fast.MintRemoveOwn(id, key)
					if own != 0 {
						if fdr != nil {
							t.Fatalf("remove %s: own %d and %v", key, own, fdr)
						}
						fdr = []vclock.Dot{{Replica: id, Seq: own}}
					}
				} else {
					fd, fdr, ferr = fast.MintRemove(id, key)
				}
				sd, sdr, serr := slowRemove(slow, id, key)
				if fd != sd || !slices.Equal(fdr, sdr) || (ferr == nil) != (serr == nil) {
					t.Fatalf("remove %s: %v %v %v, long way %v %v %v", key, fd, fdr, ferr, sd, sdr, serr)
				}
			case 5:
				what = "others step"
				s.step(t)
			case 6:
				what = "join a state"
				fast.Join(s.ks[j])
				slow.Join(s.ks[j])
			case 7:
				what = "join a delta"
				d := s.ks[j].DeltaSince(slow.Version())
				fast.Join(d)
				slow.Join(d)
			case 8:
				what = "a peer joins"
				s.ks[j].Join(slow)
			case 9:
				what = "collect"
				st := s.stable()
				st.Meet(slow.Version())
				fast.Collect(st)
				slow.Collect(st)
			case 10:
				what = "clone"
				fast, slow = fast.Clone(), slow.Clone()
			case 11:
				what = "restore"
				fast, slow = roundTrip(t, fast), roundTrip(t, slow)
			case 12:
				if id == wA1 && rapid.Bool().Draw(t, "newWriter") {
					what = "new writer"
					id = wA2
					continue
				}
				if retired {
					continue
				}
				what = "retire the first writer" // the twins may still write as it
				retired = true
				final := max(fast.ctx.Prefix(wA1), slow.ctx.Prefix(wA1))
				for _, k := range s.ks {
					final = max(final, k.ctx.Prefix(wA1))
				}
				r := vclock.Retirement{From: wA1, To: retiredA, Final: final}
				ferr, serr := fast.Retire(r), slow.Retire(r)
				if !errors.Is(ferr, vclock.ErrRetirement) && ferr != nil || (ferr == nil) != (serr == nil) {
					t.Fatalf("retire: %v, long way %v", ferr, serr)
				}
				for _, k := range s.ks {
					_ = k.Retire(r)
				}
			}
			requireSame(t, fast, slow, what)
		}
	})
}

// TestMintAfterRetireRenamesWriter pins one way the writer's place in
// the kernel's table of replicas changes under it: retiring the writer
// itself (a kernel allows it; the data types refuse it) renames its entry
// of the table in place, at the same index. The next MintPut must not
// take that index for the writer's own.
func TestMintAfterRetireRenamesWriter(t *testing.T) {
	k, long := &kern{RecordsAll: true}, &kern{RecordsAll: true}
	for _, x := range []*kern{k, long} {
		x.Insert("b", unit{}, vclock.Dot{Replica: wB1, Seq: 1}, nil)
	}
	if _, _, err := k.MintPut(wA1, "x", unit{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := slowPut(long, wA1, "x"); err != nil {
		t.Fatal(err)
	}
	before := k.w.rep
	r := vclock.Retirement{From: wA1, To: retiredA, Final: 1}
	for _, x := range []*kern{k, long} {
		if err := x.Retire(r); err != nil {
			t.Fatal(err)
		}
	}
	if int(before) >= len(k.reps) || k.reps[before] != retiredA {
		t.Fatalf("replicas %v: the test no longer renames the writer's entry in place", k.reps)
	}
	for _, key := range []string{"x", "y"} {
		fd, _, _ := k.MintPut(wA1, key, unit{})
		sd, _, _ := slowPut(long, wA1, key)
		if fd != sd {
			t.Fatalf("put %s: %v, long way %v", key, fd, sd)
		}
	}
	if !k.Equal(long, unitEq) || k.Fingerprint() != long.Fingerprint() || k.Fingerprint() != k.ScanFingerprint() {
		t.Fatalf("after the renaming: %s, long way %s", dump(k), dump(long))
	}
	for _, key := range []string{"b", "x", "y"} {
		got, want := k.Dots(key), long.Dots(key)
		slices.SortFunc(got, vclock.Dot.Compare)
		slices.SortFunc(want, vclock.Dot.Compare)
		if !slices.Equal(got, want) {
			t.Fatalf("%s: dots %v, long way %v", key, got, want)
		}
	}
}
