package ormap

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/activeactive/crdt/internal/dotkernel"
	"github.com/activeactive/crdt/vclock"
)

// The crdttest law Parts (laws_test.go) checks, on four map types, that
// parts merged one by one, some lost, never make a receiver's version
// claim what it lacks, and that all of them give what the whole gives.
// The tests here check what the law cannot see from outside: that no
// part brings back a leaf the receiver, or the whole merge, has dropped;
// that the index the map keeps of its store follows every part; and the
// parts' encoding and refusal of bad parts.

// heldLeaves returns every leaf m's store holds, by its dot.
func heldLeaves[K comparable, V Value[V]](m *Map[K, V]) map[vclock.Dot]leaf {
	out := map[vclock.Dot]leaf{}
	for key, l := range m.s.k.All() {
		for _, d := range m.s.k.Dots(key) {
			out[d] = l
		}
	}
	return out
}

// checkPartsKeepDrops runs replicas of Map[string, V] with mutate's
// writes, op deliveries, merges of states and deltas and collections,
// then cuts one replica's state, or its delta since another's version,
// into parts and merges them into the other, store parts in any order,
// some lost or twice, then a prefix of the ordered parts. After each
// part: the receiver holds no leaf that neither it before nor the whole
// merge holds; its index is the one its store makes (rebuiltIndex); and a
// delta since its version completes it. With every part merged it equals
// the whole merge, fingerprints and reads included.
func checkPartsKeepDrops[V Value[V]](t *testing.T, mutate func(t *rapid.T, m *Map[string, V]) Op, read func(m *Map[string, V]) map[string]any) {
	rapid.Check(t, func(t *rapid.T) {
		now := newManual()
		var reps []*Map[string, V]
		for i := range rapid.IntRange(2, 4).Draw(t, "replicas") {
			m := New[string, V](vclock.ReplicaID(fmt.Sprintf("r%d", i)))
			m.SetClock(now.clockAt(time.Duration(i) * time.Millisecond))
			reps = append(reps, m)
		}
		pick := func(label string) *Map[string, V] { return reps[rapid.IntRange(0, len(reps)-1).Draw(t, label)] }
		var ops []Op
		for range rapid.IntRange(0, 60).Draw(t, "steps") {
			x := pick("x")
			switch rapid.IntRange(0, 7).Draw(t, "step") {
			case 0, 1, 2:
				if op := mutate(t, x); op.Err() == nil && !op.IsNoop() {
					ops = append(ops, op)
				}
			case 3:
				if len(ops) > 0 {
					_ = x.Apply(rapid.SampledFrom(ops).Draw(t, "op"))
				}
			case 4:
				x.Merge(pick("y").Clone())
			case 5:
				x.Merge(pick("y").DeltaSince(x.Version()))
			case 6:
				var peers []vclock.Clock
				for _, r := range reps {
					peers = append(peers, r.Version())
				}
				x.CollectVersions(peers)
			case 7:
				now.advance(time.Duration(rapid.IntRange(1, 3).Draw(t, "tick")) * time.Second)
			}
		}
		sender, before := pick("sender"), pick("receiver").Clone()
		var version []byte
		if rapid.Bool().Draw(t, "delta") {
			version = marshal(t, before.Version())
		}
		want := before.Clone()
		want.Merge(sender)
		budget := rapid.IntRange(40, 160).Draw(t, "budget")
		parts, ordered, err := sender.ChunksBinary(version, budget)
		for err != nil && budget < 4096 {
			budget *= 2
			parts, ordered, err = sender.ChunksBinary(version, budget)
		}
		if err != nil {
			t.Fatal(err)
		}
		if parts == nil {
			return // it fits whole
		}
		allowed := heldLeaves(before)
		for d, l := range heldLeaves(want) {
			allowed[d] = l
		}
		var deliver []int
		lost := false
		for _, i := range rapid.Permutation(rangeTo(ordered)).Draw(t, "store parts") {
			switch rapid.IntRange(0, 9).Draw(t, "fate") {
			case 0:
				lost = true
				continue
			case 1:
				deliver = append(deliver, i)
			}
			deliver = append(deliver, i)
		}
		complete := !lost
		if !lost {
			n := len(parts) - ordered
			if !rapid.Bool().Draw(t, "all ordered parts") {
				n = rapid.IntRange(0, n).Draw(t, "ordered parts")
			}
			deliver = append(deliver, rangeTo(len(parts))[ordered:ordered+n]...)
			complete = ordered+n == len(parts)
		}
		got := before.Clone()
		for _, i := range deliver {
			if _, err := got.MergeChunkBinary(parts[i]); err != nil {
				t.Fatalf("part %d of %d (kind %d): %v", i, len(parts), parts[i][0], err)
			}
			for d, l := range heldLeaves(got) {
				if a, ok := allowed[d]; !ok || a != l {
					t.Fatalf("after part %d of %d (kind %d) the map holds %v under %v, which neither it before nor the whole merge holds", i, len(parts), parts[i][0], l, d)
				}
			}
			if a, b := dumpIndex(&got.s.ix), dumpIndex(rebuiltIndex(got.s)); a != b {
				t.Fatalf("after part %d (kind %d) the index is\n%s\nits store makes\n%s", i, parts[i][0], a, b)
			}
			caught := got.Clone()
			caught.Merge(sender.DeltaSince(got.Version()))
			if !caught.Equal(want) || caught.Fingerprint() != want.Fingerprint() {
				t.Fatalf("after part %d (kind %d) the version %v overstates: a delta for it gives %v, want %v", i, parts[i][0], got.Version(), read(caught), read(want))
			}
		}
		if complete {
			if !got.Equal(want) || got.Fingerprint() != want.Fingerprint() || got.ContentFingerprint() != want.ContentFingerprint() ||
				!got.Version().Equal(want.Version()) {
				t.Fatalf("every part merged gives %v at %v, the whole %v at %v", read(got), got.Version(), read(want), want.Version())
			}
			if g, w := fmt.Sprint(read(got)), fmt.Sprint(read(want)); g != w {
				t.Fatalf("every part merged reads %s, the whole %s", g, w)
			}
		}
	})
}

func rangeTo(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

func TestPartsKeepDrops(t *testing.T) {
	t.Run("counters", func(t *testing.T) {
		checkPartsKeepDrops(t, func(t *rapid.T, m *Map[string, *Counter]) Op {
			k := rapid.SampledFrom([]string{"a", "b", "c", "d"}).Draw(t, "key")
			switch rapid.IntRange(0, 7).Draw(t, "what") {
			case 0:
				return m.Delete(k)
			case 1:
				return m.Expire(k, time.Duration(rapid.IntRange(1, 4).Draw(t, "ttl"))*time.Second)
			case 2:
				return m.Persist(k)
			}
			return m.At(k).Add(rapid.Int64Range(-3, 3).Draw(t, "n"))
		}, func(m *Map[string, *Counter]) map[string]any {
			out := map[string]any{}
			for k, c := range m.All() {
				out[k] = c.Value()
			}
			return out
		})
	})
	t.Run("nested counters", func(t *testing.T) {
		checkPartsKeepDrops(t, func(t *rapid.T, m *Map[string, *Map[string, *Counter]]) Op {
			k := rapid.SampledFrom([]string{"a", "b"}).Draw(t, "key")
			k2 := rapid.SampledFrom([]string{"x", "y"}).Draw(t, "key2")
			switch rapid.IntRange(0, 5).Draw(t, "what") {
			case 0:
				return m.Delete(k)
			case 1:
				return m.At(k).Delete(k2)
			case 2:
				return m.At(k).Expire(k2, time.Second)
			}
			return m.At(k).At(k2).Add(rapid.Int64Range(1, 3).Draw(t, "n"))
		}, func(m *Map[string, *Map[string, *Counter]]) map[string]any {
			out := map[string]any{}
			for k, inner := range m.All() {
				for k2, c := range inner.All() {
					out[k+"/"+k2] = c.Value()
				}
			}
			return out
		})
	})
	t.Run("registers", func(t *testing.T) {
		checkPartsKeepDrops(t, func(t *rapid.T, m *Map[string, *Register[int]]) Op {
			k := rapid.SampledFrom([]string{"a", "b", "c"}).Draw(t, "key")
			if rapid.IntRange(0, 3).Draw(t, "what") == 0 {
				return m.Delete(k)
			}
			return m.At(k).Set(rapid.IntRange(0, 3).Draw(t, "v"))
		}, func(m *Map[string, *Register[int]]) map[string]any {
			out := map[string]any{}
			for k, r := range m.All() {
				vs := r.Values()
				slices.Sort(vs)
				out[k] = vs
			}
			return out
		})
	})
}

// TestPartContinuesAChain: a receiver holds the first leaf of east's
// apple chain; a store part brings the chain's third. The part's leaf
// replaces the first (the kernel keys both by the chain), the counter
// reads the chain's total, the index follows, and the version does not
// claim the leaf until the context parts come.
func TestPartContinuesAChain(t *testing.T) {
	east := New[string, *Counter]("us-east-1")
	west := New[string, *Counter]("eu-west-1")
	first := east.At("apple").Add(2)
	if err := west.Apply(first); err != nil {
		t.Fatal(err)
	}
	east.At("apple").Add(3)
	east.At("apple").Add(4)
	for i := range 30 {
		east.At(fmt.Sprintf("key-%02d", i)).Add(1) // a state of several parts
	}
	parts, ordered, err := east.ChunksBinary(mustMarshal(t, west.Version()), 120)
	if err != nil {
		t.Fatal(err)
	}
	if ordered < 2 || len(parts) <= ordered {
		t.Fatalf("%d parts, %d of them store parts", len(parts), ordered)
	}
	var apple []byte
	for _, p := range parts[:ordered] {
		k, err := decodeState(p[1:], east.s.sh, east.s.lim)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range k.All() {
			if l.path() == appendSeg("", "apple") {
				apple = p
			}
		}
	}
	if apple == nil {
		t.Fatal("no store part carries the apple")
	}
	if _, err := west.MergeChunkBinary(apple); err != nil {
		t.Fatal(err)
	}
	if got := west.At("apple").Value(); got != 9 {
		t.Fatalf("apple reads %d, want 9", got)
	}
	var apples []vclock.Dot
	for d, l := range heldLeaves(west) {
		if l.path() == appendSeg("", "apple") {
			apples = append(apples, d)
		}
	}
	if len(apples) != 1 || apples[0] != (vclock.Dot{Replica: "us-east-1", Seq: 3}) {
		t.Fatalf("the apple's leaves are %v, want east's third alone", apples)
	}
	if a, b := dumpIndex(&west.s.ix), dumpIndex(rebuiltIndex(west.s)); a != b {
		t.Fatalf("index\n%s\nstore's\n%s", a, b)
	}
	if n := west.Version().Get("us-east-1"); n != 1 {
		t.Fatalf("the version claims %d of east's writes after a store part, want 1", n)
	}
	for _, p := range parts {
		if _, err := west.MergeChunkBinary(p); err != nil {
			t.Fatal(err)
		}
	}
	if !west.Equal(east) || west.Fingerprint() != east.Fingerprint() || !west.Version().Equal(east.Version()) {
		t.Fatalf("after every part: %d keys (fingerprint %x) at %v, east %d (%x) at %v", west.Len(), west.Fingerprint(), west.Version(), east.Len(), east.Fingerprint(), east.Version())
	}
}

// framed returns the parts, each after its length as a uvarint.
func framed(parts [][]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = binary.AppendUvarint(out, uint64(len(p)))
		out = append(out, p...)
	}
	return out
}

// TestGoldenParts pins the parts of goldenState's state cut into parts
// of 100 bytes (each after its length), and checks that they merge, at a
// fresh replica, into that state.
func TestGoldenParts(t *testing.T) {
	m := goldenState(t)
	parts, ordered, err := m.ChunksBinary(nil, 100)
	if err != nil {
		t.Fatal(err)
	}
	b := golden(t, "state-parts", framed(parts))
	got := New[string, *Map[string, *Counter]]("ap-south-1")
	var kinds []dotkernel.PartKind
	for len(b) > 0 {
		n, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < n {
			t.Fatal("a malformed frame")
		}
		p := b[k : k+int(n)]
		b = b[k+int(n):]
		kinds = append(kinds, dotkernel.PartKind(p[0]))
		if _, err := got.MergeChunkBinary(p); err != nil {
			t.Fatal(err)
		}
	}
	// Three leaves (the continued apple, the fig, the reset of ann's
	// cart) in store parts, then the delete's record, then the context.
	if ordered < 1 || kinds[0] != dotkernel.PartStore || !slices.Contains(kinds, dotkernel.PartRecords) || kinds[len(kinds)-1] != dotkernel.PartContext {
		t.Fatalf("parts of kinds %v, %d unordered", kinds, ordered)
	}
	if !got.Equal(m) || got.Fingerprint() != m.Fingerprint() || !got.Version().Equal(m.Version()) {
		t.Fatal("the golden parts merge into another state")
	}
	if got.At("ann").At("apple").Value() != 1 || got.At("bob").At("fig").Value() != 1 {
		t.Fatalf("ann's apple %d, bob's fig %d", got.At("ann").At("apple").Value(), got.At("bob").At("fig").Value())
	}
}

// TestPartRefusedWhole checks that a part that is not one, or whose
// content does not fit its kind or the map's type, is refused with a
// *codec.DecodeError and changes nothing.
func TestPartRefusedWhole(t *testing.T) {
	m := goldenState(t)
	parts, _, err := m.ChunksBinary(nil, 100)
	if err != nil {
		t.Fatal(err)
	}
	state := mustMarshal(t, m)
	regs := New[string, *Register[string]]("x")
	regs.At("a").Set("v")
	regParts, _, err := regs.ChunksBinary(nil, 32)
	if err != nil || len(regParts) == 0 {
		t.Fatalf("a register map's parts: %v, %v", regParts, err)
	}
	bad := map[string][]byte{
		"empty":                        nil,
		"kind 0":                       {0},
		"kind 5":                       append([]byte{5}, parts[0][1:]...),
		"a whole state as store part":  append([]byte{byte(dotkernel.PartStore)}, state...), // its context is more than its dots
		"a whole state as record part": append([]byte{byte(dotkernel.PartRecords)}, state...),
		"a store part as removed part": append([]byte{byte(dotkernel.PartRemoved)}, parts[0][1:]...),
		"a register map's part":        regParts[0],
		"truncated":                    parts[0][:len(parts[0])-1],
	}
	for name, b := range bad {
		r := New[string, *Map[string, *Counter]]("b")
		r.At("z").At("w").Add(1)
		before := r.Clone()
		fp := r.Fingerprint()
		if _, err := r.MergeChunkBinary(b); err == nil {
			t.Errorf("%s: accepted", name)
			continue
		} else {
			requireDecodeError(t, name, err)
		}
		if !r.Equal(before) || r.Fingerprint() != fp || !bytes.Equal(mustMarshal(t, r), mustMarshal(t, before)) {
			t.Errorf("%s: a refused part changed the map", name)
		}
	}
}

// TestFreezeChunks: for a peer a few writes behind, a large map's delta
// fits, and FreezeChunks copies nothing (it returns nil, and the engine
// sends the delta whole); for a new peer, or one far behind, it returns
// a cut of the map as it was, whatever is written after, merging into
// what ChunksBinary's parts at that moment merge into.
func TestFreezeChunks(t *testing.T) {
	m := New[string, *Counter]("a")
	for i := range 2000 {
		m.At(fmt.Sprintf("key-%04d", i)).Add(int64(i%5 + 1))
	}
	near := mustMarshal(t, m.Version())
	m.At("key-0001").Add(1)
	const budget = 4096
	if cut := m.FreezeChunks(near, budget); cut != nil {
		t.Fatal("a delta of one write: FreezeChunks made a cut")
	}
	if parts, _, err := m.ChunksBinary(near, budget); err != nil || parts != nil {
		t.Fatalf("a delta of one write: %d parts, %v", len(parts), err)
	}
	if m.FreezeChunks([]byte{0xc1}, budget) != nil {
		t.Fatal("a malformed version: FreezeChunks made a cut (ChunksBinary tells the error)")
	}
	var far vclock.Clock
	far.Advance("a", 10)
	for _, version := range [][]byte{nil, mustMarshal(t, far)} {
		parts, _, err := m.ChunksBinary(version, budget)
		if err != nil || len(parts) < 2 {
			t.Fatalf("%d parts: %v", len(parts), err)
		}
		cut := m.FreezeChunks(version, budget)
		if cut == nil {
			t.Fatal("FreezeChunks made no cut of a large state")
		}
		before := m.Clone()
		m.At("key-0002").Add(7)
		m.Delete("key-0003")
		frozen, _, err := cut()
		if err != nil {
			t.Fatal(err)
		}
		into := func(ps [][]byte) *Map[string, *Counter] {
			r := New[string, *Counter]("b")
			for _, p := range ps {
				if _, err := r.MergeChunkBinary(p); err != nil {
					t.Fatal(err)
				}
			}
			return r
		}
		got, want := into(frozen), into(parts)
		if !got.Equal(want) || got.Fingerprint() != want.Fingerprint() {
			t.Fatalf("the frozen cut merges into %d keys (fingerprint %x), the parts at that moment into %d (%x)", got.Len(), got.Fingerprint(), want.Len(), want.Fingerprint())
		}
		if got.At("key-0002").Value() == before.At("key-0002").Value()+7 {
			t.Fatal("the frozen cut holds a write made after it")
		}
	}
}
