package dotkernel

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/internal/costcheck"
	"github.com/activeactive/crdt/vclock"
)

// naiveEncode writes k the plain way the encoding is specified (see the
// top of encoding.go): every dot of the store with its key, sorted by
// replica ID and then sequence number, then the live records in order,
// the horizon and the sorted ghosts. Encode must write the same bytes by
// its own route (windows over the table, or a sort of coordinates).
func naiveEncode(t tb, k *kern) []byte {
	t.Helper()
	type stored struct {
		d   vclock.Dot
		key string
	}
	var all []stored
	for key := range k.All() {
		for _, d := range k.Dots(key) {
			all = append(all, stored{d, key})
		}
	}
	slices.SortFunc(all, func(a, b stored) int { return a.d.Compare(b.d) })
	recs := k.liveRecords()
	fields := 3
	switch {
	case !k.ghosts.isEmpty():
		fields = 6
	case !k.horizon.IsZero():
		fields = 5
	case len(recs) > 0:
		fields = 4
	}
	w := codec.NewWriter(codec.KindSet, 0)
	w.Array(fields)
	k.ctx.Encode(w)
	w.Uint(uint64(k.Len()))
	var groups [][]stored
	for i, s := range all {
		if i == 0 || s.d.Replica != all[i-1].d.Replica {
			groups = append(groups, nil)
		}
		groups[len(groups)-1] = append(groups[len(groups)-1], s)
	}
	w.Array(len(groups))
	for _, g := range groups {
		w.Array(1 + 2*len(g))
		w.Replica(string(g[0].d.Replica))
		prev := uint64(0)
		for _, s := range g {
			w.Uint(s.d.Seq - prev)
			prev = s.d.Seq
			w.String(s.key)
		}
	}
	if fields >= 4 {
		w.Array(len(recs))
		for _, r := range recs {
			w.Array(3 + 2*len(r.Dropped))
			w.Replica(string(r.Dot.Replica))
			w.Uint(r.Dot.Seq)
			w.String(r.Key)
			for _, d := range r.Dropped {
				w.Replica(string(d.Replica))
				w.Uint(d.Seq)
			}
		}
	}
	if fields >= 5 {
		k.horizon.Encode(w)
	}
	if fields == 6 {
		w.Array(2 * len(k.Ghosts()))
		for _, g := range k.Ghosts() {
			w.Replica(string(g.Replica))
			w.Uint(g.Seq)
		}
	}
	b, err := w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkStreamed checks that Encode writes what naiveEncode does, both
// with a function that writes the keys and with none (string keys then
// written by Encode itself), and that the bytes decode to k.
func checkStreamed(t tb, k *kern) []byte {
	t.Helper()
	got, want := encode(t, k), naiveEncode(t, k)
	if !slices.Equal(got, want) {
		t.Fatalf("Encode wrote %d bytes, the plain encoding %d; first difference at %d",
			len(got), len(want), firstDiff(got, want))
	}
	if own := encodeOwnKeys(t, k); !slices.Equal(own, want) {
		t.Fatalf("Encode writing the keys itself wrote %d bytes, the plain encoding %d; first difference at %d",
			len(own), len(want), firstDiff(own, want))
	}
	roundTrip(t, k)
	return got
}

// encodeOwnKeys encodes k with no function for the keys: Encode writes
// them as codec.PutValue does, string keys without a call per key.
func encodeOwnKeys(t tb, k *kern) []byte {
	t.Helper()
	w := codec.NewWriter(codec.KindSet, 0)
	k.Encode(w, nil, nil)
	b, err := w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func addN(k *kern, id vclock.ReplicaID, keys []string) {
	for _, key := range keys {
		d := k.Mint(id)
		if dropped := k.Put(key, unit{}, d); len(dropped) > 0 {
			k.Record(d, key, dropped)
		}
	}
}

func keysFrom(prefix string, lo, hi int) []string {
	keys := make([]string, 0, hi-lo)
	for i := lo; i < hi; i++ {
		keys = append(keys, fmt.Sprintf("%s%06d", prefix, i))
	}
	return keys
}

// TestEncodeStreamsDenseStoreInWindows: a store of 30,000 dots, a third
// of them removed, spans more coordinates than one window holds, so
// Encode passes over the table several times.
func TestEncodeStreamsDenseStoreInWindows(t *testing.T) {
	var k kern
	keys := keysFrom("key-", 0, 30_000)
	addN(&k, "us-east-1", keys)
	for i := 0; i < len(keys); i += 3 {
		d := k.Mint("us-east-1")
		k.Record(d, keys[i], k.Remove(keys[i]))
	}
	p := k.planStore(false, true)
	if win := p.window(); p.span <= win || (p.span+win-1)/win > maxWindows {
		t.Fatalf("span %d, window %d: the test no longer takes several windows", p.span, win)
	}
	checkStreamed(t, &k)
}

// TestEncodeSortsSparseStore: 800 dots left over a span of 40,000 would
// take more than maxWindows passes; Encode sorts them instead.
func TestEncodeSortsSparseStore(t *testing.T) {
	var k kern
	keys := keysFrom("key-", 0, 40_000)
	addN(&k, "eu-west-1", keys)
	for i, key := range keys {
		if i%50 != 7 {
			k.Remove(key)
		}
	}
	k.Mint("eu-west-1") // the removes' dot, once for all: records are not the point here
	p := k.planStore(false, true)
	if win := p.window(); (p.span+win-1)/win <= maxWindows {
		t.Fatalf("span %d, window %d: the test no longer takes the sorted path", p.span, win)
	}
	checkStreamed(t, &k)
}

// TestEncodeStreamsLongKeysAndSteps: keys of every string header (fixstr,
// str8, str16, str32 lengths about their bounds) after steps of every
// integer form (one byte, uint8, uint16, uint32), which Encode writes
// past the common case of a short step and a short key.
func TestEncodeStreamsLongKeysAndSteps(t *testing.T) {
	var k kern
	for _, n := range []int{0, 1, 31, 32, 255, 256, 65535, 65536} {
		addN(&k, "us-east-1", []string{strings.Repeat("x", n)}) // a step of 1
	}
	for _, gap := range []int{126, 127, 128, 255, 256, 65535, 65536} {
		for range gap {
			k.Mint("us-east-1") // dots whose adds were lost: a step of gap+1
		}
		addN(&k, "us-east-1", []string{fmt.Sprint("after-", gap)})
	}
	out := checkStreamed(t, &k)
	if len(out) < 65536*2 {
		t.Fatalf("%d bytes: the long keys are missing", len(out))
	}
}

// TestEncodeStreamsLongKeysBeforeShortOnes: a set's store whose first
// keys are long and whose last are short, with removed keys between them.
// Encode places the slot numbers
// at the end of the buffer it then writes from the front; the long keys'
// entries take more bytes per coordinate than the average, so the writing
// catches up with the slot numbers not yet read, and Encode must copy
// those out of the way before writing over them.
func TestEncodeStreamsLongKeysBeforeShortOnes(t *testing.T) {
	for _, n := range []int{100, 1_000, 20_000} {
		var k kern
		long := make([]string, n)
		for i := range long {
			long[i] = fmt.Sprintf("%031d", i)
		}
		addN(&k, "us-east-1", long)
		gone := keysFrom("gone-", 0, 2*n)
		addN(&k, "us-east-1", gone)
		short := make([]string, n)
		for i := range short {
			short[i] = string([]byte{byte(i >> 8), byte(i)})
		}
		addN(&k, "us-east-1", short)
		for _, key := range gone {
			k.Remove(key)
		}
		k.Mint("us-east-1") // the removes' dot, once for all: records are not the point here
		checkStreamed(t, &k)
	}
}

// TestEncodeStreamsRareLongKeys: a set's store of short keys and two
// long ones, which the keys Encode samples to size its buffer most likely
// miss: the buffer then grows again once the store is measured, and the
// slot numbers placed in the first one are read from there.
func TestEncodeStreamsRareLongKeys(t *testing.T) {
	var k kern
	keys := keysFrom("k", 0, 20_000)
	keys[7_000] = strings.Repeat("a", 40_000)
	keys[13_000] = strings.Repeat("b", 40_000)
	addN(&k, "us-east-1", keys)
	checkStreamed(t, &k)
}

// TestEncodeStreamsManyReplicas: a set's store of twelve replicas' adds,
// each replica's span laid after the one before in order of ID.
func TestEncodeStreamsManyReplicas(t *testing.T) {
	var k kern
	for r := range 12 {
		addN(&k, vclock.ReplicaID(fmt.Sprintf("r%02d", 11-r)), keysFrom(fmt.Sprint("k", r, "-"), 0, 500+r))
	}
	checkStreamed(t, &k)
}

// TestEncodeStoreOutsideItsContext: a store whose dots are not all in its
// causal context, which no kernel reaches, is still encoded as the plain
// encoding says (by the plan, which does not lean on the context).
func TestEncodeStoreOutsideItsContext(t *testing.T) {
	var k kern
	addN(&k, "us-east-1", keysFrom("key-", 0, 2_000))
	k.ctx = vclock.Context{}
	k.ctx.AddRange("us-east-1", 1, 1_000)
	if got, want := encodeOwnKeys(t, &k), naiveEncode(t, &k); !slices.Equal(got, want) {
		t.Fatalf("Encode wrote %d bytes, the plain encoding %d; first difference at %d",
			len(got), len(want), firstDiff(got, want))
	}
}

// TestEncodeStreamsKeysWithSeveralDots: three replicas add overlapping
// ranges of keys concurrently; keys added by two or three of them have as
// many dots, which Encode places apart from the table's single dots.
func TestEncodeStreamsKeysWithSeveralDots(t *testing.T) {
	var a, b, c kern
	addN(&a, "a", keysFrom("k", 0, 12_000))
	addN(&b, "b", keysFrom("k", 6_000, 18_000))
	addN(&c, "c", keysFrom("k", 9_000, 10_000))
	a.Join(&b)
	a.Join(&c)
	if len(a.more) < 6_000 {
		t.Fatalf("%d keys with several dots", len(a.more))
	}
	checkStreamed(t, &a)
}

// TestEncodeStreamsRandomKernels compares Encode with the plain encoding
// on the kernels of random histories of several replicas.
func TestEncodeStreamsRandomKernels(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := run(t)
		for _, k := range s.ks {
			checkStreamed(t, k)
		}
	})
}

// TestEncodeAllocatesAboutItsOutput: the message is built in one buffer
// sized once, and the array that orders the dots takes about a sixth of
// it (with a function for the keys) or lies in the buffer itself (string
// keys written by Encode, whose buffer is sized from an estimate: a
// sixteenth more); nothing else grows with the store.
func TestEncodeAllocatesAboutItsOutput(t *testing.T) {
	if costcheck.Race {
		t.Skip("the race detector allocates for itself")
	}
	for _, n := range []int{10_000, 100_000} {
		var k kern
		addN(&k, "us-east-1", keysFrom("key-", 0, n))
		var out []byte
		got := costcheck.Allocated(func() { out = encode(t, &k) })
		if limit := uint64(len(out)) * 6 / 5; got > limit {
			t.Errorf("%d keys: encoding %d bytes allocated %d, more than %d", n, len(out), got, limit)
		}
		got = costcheck.Allocated(func() { out = encodeOwnKeys(t, &k) })
		if limit := uint64(len(out)) * 23 / 20; got > limit {
			t.Errorf("%d keys written by Encode: %d bytes allocated %d, more than %d", n, len(out), got, limit)
		}
	}
}
