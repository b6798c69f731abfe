package dotkernel

import (
	"errors"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/vclock"
)

// replaceSteps is ReplaceOwn one step at a time: Get, Next, Remove,
// Mint, PutNew (and no Record: ReplaceOwn keeps none).
func replaceSteps(k *Kernel[vclock.Dot, int], id vclock.ReplicaID, last vclock.Dot, next func(int, vclock.Dot) (int, error)) (vclock.Dot, int, []vclock.Dot, error) {
	old, ok := k.Get(last)
	if !ok {
		return vclock.Dot{}, 0, nil, ErrNotHeld
	}
	d, err := k.Next(id)
	if err != nil {
		return vclock.Dot{}, 0, nil, err
	}
	v, err := next(old, d)
	if err != nil {
		return vclock.Dot{}, 0, nil, err
	}
	dropped := k.Remove(last)
	k.Mint(id)
	k.PutNew(d, v, d)
	return d, v, dropped, nil
}

// encodeDots returns the bytes of a kernel keyed by dot.
func encodeDots(t *rapid.T, k *Kernel[vclock.Dot, int]) []byte {
	w := codec.NewWriter(codec.KindMV, 0)
	k.Encode(w, func(w *codec.Writer, d vclock.Dot) { w.Replica(string(d.Replica)); w.Uint(d.Seq) },
		func(w *codec.Writer, v int) { w.Int(int64(v)) })
	b, err := w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestReplaceOwnMatchesSteps: ReplaceOwn leaves the kernel as the steps
// it stands for do (the dot minted, the value, the dropped dots, the
// store, the context, the fingerprint, the records (it keeps none of its
// own) and the horizon under a small cap on records, the encoding, the deltas), never calls the
// Watch, and fails alike, changing nothing: a key not held, a writer with
// no sequence number left, an error of next. The keys replaced are the
// writer's own dots (the fast way, also when the new dot is too large to
// pack), others' dots, and keys in the old array of a table that grows
// (both taken the slow way).
func TestReplaceOwnMatchesSteps(t *testing.T) {
	spreadMoves(t)
	rapid.Check(t, func(t *rapid.T) {
		capRecs := rapid.SampledFrom([]int{0, 1, 2, 5}).Draw(t, "cap")
		fast := &Kernel[vclock.Dot, int]{MaxRecords: capRecs, RecordsAll: true}
		slow := &Kernel[vclock.Dot, int]{MaxRecords: capRecs, RecordsAll: true}
		replacing := false
		fast.Watch = func(key vclock.Dot, v int, d vclock.Dot, added bool) {
			if replacing {
				t.Fatalf("the Watch heard of %v during ReplaceOwn", d)
			}
		}
		full := vclock.Dot{Replica: "z", Seq: vclock.MaxSeq - 1}
		for _, k := range []*Kernel[vclock.Dot, int]{fast, slow} {
			k.Context().Add(full)
			k.PutNew(full, 0, full) // z's one write: none after it
		}
		// y holds a leaf it can replace in the fast way, and has no
		// sequence number left.
		y1 := vclock.Dot{Replica: "y", Seq: 1}
		for _, k := range []*Kernel[vclock.Dot, int]{fast, slow} {
			k.Context().Add(vclock.Dot{Replica: "y", Seq: vclock.MaxSeq})
			k.Context().Add(y1)
			k.PutNew(y1, 0, y1)
		}
		// x holds a leaf that packs, and its next dot does not.
		x1 := vclock.Dot{Replica: "x", Seq: 1}
		for _, k := range []*Kernel[vclock.Dot, int]{fast, slow} {
			k.Context().Add(vclock.Dot{Replica: "x", Seq: maxPackSeq + 1})
			k.Context().Add(x1)
			k.PutNew(x1, 0, x1)
		}
		live := []vclock.Dot{full, y1, x1}
		ids := []vclock.ReplicaID{"a", "b", "z", "y", "x", vclock.ReplicaID(string([]byte("a")))}
		var mid vclock.Clock
		errNext := errors.New("next says no")
		for i := range rapid.IntRange(0, 300).Draw(t, "steps") {
			id := ids[rapid.IntRange(0, len(ids)-1).Draw(t, "id")]
			switch rapid.IntRange(0, 9).Draw(t, "what") {
			case 0:
				mid = slow.Version() // a delta asked for keeps the index of dots
				slow.DeltaSince(mid)
				fast.DeltaSince(mid)
			case 1:
				if len(live) > 0 {
					j := rapid.IntRange(0, len(live)-1).Draw(t, "which")
					slow.Remove(live[j])
					fast.Remove(live[j])
					live = slices.Delete(live, j, j+1)
				}
			case 2, 3:
				d, err := slow.TryMint(id)
				if err == nil {
					slow.PutNew(d, i, d)
					fast.Mint(id)
					fast.PutNew(d, i, d)
					live = append(live, d)
				}
			case 4:
				st := slow.Version()
				st.Meet(mid)
				slow.Collect(st)
				fast.Collect(st)
			default:
				var last vclock.Dot
				if len(live) > 0 && rapid.IntRange(0, 9).Draw(t, "absent") > 0 {
					last = live[rapid.IntRange(0, len(live)-1).Draw(t, "last")]
					if rapid.IntRange(0, 3).Draw(t, "others") > 0 {
						id = last.Replica // mostly the writer's own
					}
				} else {
					last = vclock.Dot{Replica: id, Seq: uint64(rapid.IntRange(1, 400).Draw(t, "seq"))}
				}
				fail := rapid.IntRange(0, 9).Draw(t, "fail") == 0
				next := func(old int, d vclock.Dot) (int, error) {
					if fail {
						return 0, errNext
					}
					return old + int(d.Seq), nil
				}
				sd, sv, sdr, serr := replaceSteps(slow, id, last, next)
				replacing = true
				fd, fv, fdr, ferr := ReplaceOwn(fast, id, last, next)
				replacing = false
				if fd != sd || fv != sv || !slices.Equal(fdr, sdr) || !errors.Is(ferr, serr) && (ferr == nil || serr == nil || ferr.Error() != serr.Error()) {
					t.Fatalf("replace %v by %q: %v %d %v %v; by steps %v %d %v %v", last, id, fd, fv, fdr, ferr, sd, sv, sdr, serr)
				}
				if serr == nil {
					live = slices.DeleteFunc(live, func(x vclock.Dot) bool { return x == last })
					live = append(live, sd)
				}
			}
			checkReplaced(t, fast, slow, mid)
		}
	})
}

func checkReplaced(t *rapid.T, fast, slow *Kernel[vclock.Dot, int], mid vclock.Clock) {
	eq := func(a, b int) bool { return a == b }
	if !fast.Equal(slow, eq) {
		t.Fatal("ReplaceOwn left another kernel than its steps")
	}
	if fast.Fingerprint() != slow.Fingerprint() || fast.Fingerprint() != fast.ScanFingerprint() {
		t.Fatalf("fingerprints %x, by steps %x, scanned %x", fast.Fingerprint(), slow.Fingerprint(), fast.ScanFingerprint())
	}
	if !slices.EqualFunc(fast.Records(), slow.Records(), func(a, b Record[vclock.Dot]) bool {
		return a.Dot == b.Dot && a.Key == b.Key && slices.Equal(a.Dropped, b.Dropped)
	}) {
		t.Fatalf("records %v, by steps %v", fast.Records(), slow.Records())
	}
	if !fast.horizon.Equal(slow.horizon) || !fast.recMax.Equal(slow.recMax) || fast.capped != slow.capped {
		t.Fatalf("horizon %v, recorded %v, capped %d; by steps %v, %v, %d",
			fast.horizon, fast.recMax, fast.capped, slow.horizon, slow.recMax, slow.capped)
	}
	if (fast.ix == nil) != (slow.ix == nil) || fast.ix != nil && (fast.ix.Refs() != slow.ix.Refs() || fast.ix.stale != slow.ix.stale) {
		t.Fatal("the indexes of dots differ")
	}
	if string(encodeDots(t, fast)) != string(encodeDots(t, slow)) {
		t.Fatal("the encodings differ")
	}
	var none vclock.Clock
	for _, v := range []vclock.Clock{mid, none} { // mid first: the index answers it
		ds, df := slow.DeltaSince(v), fast.DeltaSince(v)
		if !ds.Equal(df, eq) || string(encodeDots(t, ds)) != string(encodeDots(t, df)) {
			t.Fatalf("deltas since %v differ", v)
		}
	}
}

// TestLargeJoinGrowsAtOnce: a join that brings in at least half as many
// keys as the kernel holds moves the table's keys at once when it grows,
// not a group every few inserts with the old array probed meanwhile, and
// leaves the table growing by steps again; the store is the one the join
// makes either way.
func TestLargeJoinGrowsAtOnce(t *testing.T) {
	spreadMoves(t) // every growth is a migration, but for atOnce
	var k, o Kernel[vclock.Dot, int]
	for i := range 300 { // 64 groups, full at 448 keys
		d := k.Mint("a")
		k.PutNew(d, i, d)
		if i < 200 { // the table grows at the join's 149th key
			e := o.Mint("b")
			o.PutNew(e, i, e)
		}
	}
	migrating := false
	k.Watch = func(vclock.Dot, int, vclock.Dot, bool) { // dot by dot, as a map's
		migrating = migrating || k.m.oldCtrl != nil
	}
	k.Join(&o)
	if migrating || k.m.atOnce || len(k.m.ctrl) != 128 {
		t.Fatalf("the join migrated %v, grows at once %v after it, %d groups", migrating, k.m.atOnce, len(k.m.ctrl))
	}
	var want Kernel[vclock.Dot, int]
	for d, v := range k.All() {
		want.Context().Add(d)
		want.PutNew(d, v, d)
	}
	if k.Len() != 500 || !k.Equal(&want, func(a, b int) bool { return a == b }) || k.Fingerprint() != k.ScanFingerprint() {
		t.Fatalf("the join holds %d keys, fingerprint %x, scanned %x", k.Len(), k.Fingerprint(), k.ScanFingerprint())
	}
}
