package lwwmap

import (
	"fmt"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/internal/dotkernel"
	"github.com/activeactive/crdt/vclock"
)

// checkOrderCovers checks that m's order of its dots, if made, references
// every entry of m.
func checkOrderCovers(t *rapid.T, m *Map[string, string]) {
	t.Helper()
	ord := m.ix.Order()
	if ord == nil {
		return
	}
	for k, e := range m.m.All() {
		found := false
		ord.Range(e.writer(), e.seq, e.seq, func(seq uint64, got string) bool {
			found = found || got == k
			return m.holds(e.writer(), seq, got)
		})
		if !found {
			t.Fatalf("entry %q %v not in the order", k, m.dot(e))
		}
	}
	if m.ttlOrd == nil {
		return
	}
	for k, ws := range m.ttl {
		for _, w := range ws {
			found := false
			m.ttlOrd.Range(w.rep, w.seq, w.seq, func(seq uint64, got string) bool {
				found = found || got == k
				return m.holdsTTLWrite(w.rep, seq, got)
			})
			if !found {
				t.Fatalf("expire or persist write %q %s:%d not in the order", k, m.reps[w.rep], w.seq)
			}
		}
	}
}

// TestMergeOrderMatchesScan holds merges that find the entries the other
// side has seen and overwritten (and the writes seen yet newer, see
// takeSeen) through the map's order of its dots to the same result as a
// pass over the map. Each replica has a twin that takes in its writes as
// ops and makes the same merges with scanSeen set. The merges include
// older states, states that lost delete markers (collected, or taken out
// as a peer could) and states with a timestamp forged later.
func TestMergeOrderMatchesScan(t *testing.T) {
	defer dotkernel.SetMinIdle(dotkernel.SetMinIdle(1024))
	rapid.Check(t, func(t *rapid.T) {
		// A small minIdle lets the order go between merges, to be made
		// again (see TestOrderLetGoWhenIdle).
		dotkernel.SetMinIdle(rapid.SampledFrom([]int{0, 3, 1024}).Draw(t, "minIdle"))
		n := rapid.IntRange(2, 3).Draw(t, "replicas")
		nkeys := rapid.IntRange(1, 30).Draw(t, "keys")
		fast, slow := make([]*Map[string, string], n), make([]*Map[string, string], n)
		var saved [][2]*Map[string, string]
		for i := range n {
			fast[i] = New[string, string](vclock.ReplicaID(fmt.Sprint("r", i)), clock.New())
			slow[i] = &Map[string, string]{}
		}
		merge := func(i int, of, os *Map[string, string]) {
			cf := fast[i].merge(of)
			scanSeen = true
			cs := slow[i].merge(os)
			scanSeen = false
			if cf != cs {
				t.Fatalf("merge into r%d reports %v, by a pass %v", i, cf, cs)
			}
		}
		apply := func(i int, op Op[string, string]) {
			if x, _ := op.x.(opMore); x.err != nil {
				return // nothing written: an expire of an absent key
			}
			if err := slow[i].Apply(op); err != nil {
				t.Fatal(err)
			}
		}
		steps := rapid.IntRange(1, 80).Draw(t, "steps")
		for range steps {
			i := rapid.IntRange(0, n-1).Draw(t, "i")
			j := rapid.IntRange(0, n-1).Draw(t, "j")
			key := fmt.Sprint("k", rapid.IntRange(0, nkeys-1).Draw(t, "key"))
			switch rapid.IntRange(0, 11).Draw(t, "step") {
			case 11:
				// A delta, as replicas exchange them.
				merge(i, fast[j].DeltaSince(fast[i].Version()), slow[j].DeltaSince(slow[i].Version()))
			case 0, 1, 2:
				apply(i, fast[i].Put(key, "v"))
			case 3:
				apply(i, fast[i].Delete(key))
			case 4:
				if rapid.Bool().Draw(t, "persist") {
					apply(i, fast[i].Persist(key))
				} else {
					apply(i, fast[i].Expire(key, time.Duration(rapid.IntRange(1, 3).Draw(t, "hours"))*time.Hour))
				}
			case 5:
				merge(i, fast[j], slow[j])
			case 6:
				saved = append(saved, [2]*Map[string, string]{fast[j].Clone(), slow[j].Clone()})
			case 7:
				if len(saved) > 0 {
					s := saved[rapid.IntRange(0, len(saved)-1).Draw(t, "saved")]
					merge(i, s[0], s[1])
				}
			case 8:
				// A state without one of its keys, as if it had
				// collected a marker there.
				of, os := fast[j].Clone(), slow[j].Clone()
				of.m.Remove(key)
				os.m.Remove(key)
				merge(i, of, os)
			case 9:
				// A state whose entry of key is forged: the dot of
				// another key's entry, or an earlier dot of its writer,
				// stamped later.
				other := fmt.Sprint("k", rapid.IntRange(0, nkeys-1).Draw(t, "other"))
				earlier := rapid.Bool().Draw(t, "earlier")
				of, os := fast[j].Clone(), slow[j].Clone()
				for _, o := range []*Map[string, string]{of, os} {
					o.m = o.m.Clone()
					e, e2 := o.m.Find(key), o.m.Find(other)
					switch {
					case e == nil:
					case earlier && e.seq > 1:
						e.seq--
						e.wall += int64(time.Millisecond)
					case !earlier && e2 != nil && e2 != e:
						e.rep = e2.writer() | e.rep&delBit
						e.seq = e2.seq
						e.wall = max(e.wall, e2.wall) + int64(time.Millisecond)
					}
					// No other key of o holds the forged dot: no
					// encoding expresses a state where one does.
					if e != nil {
						for k2, x := range o.m.All() {
							if k2 != key && x.writer() == e.writer() && x.seq == e.seq {
								o.m.Remove(k2)
								break
							}
						}
					}
				}
				merge(i, of, os)
			case 10:
				// Every replica collects what the others have seen.
				for c := range n {
					var vs []vclock.Clock
					for x := range n {
						if x != c {
							vs = append(vs, fast[x].Version())
						}
					}
					if fast[c].CollectVersions(vs) != slow[c].CollectVersions(vs) {
						t.Fatal("CollectVersions differs")
					}
				}
			}
			if !fast[i].Equal(slow[i]) {
				t.Fatalf("r%d: by the order and by a pass, the states differ:\n%v\n%v", i, dumpMap(fast[i]), dumpMap(slow[i]))
			}
			if fast[i].Fingerprint() != slow[i].Fingerprint() {
				t.Fatalf("r%d: fingerprint %x, by a pass %x", i, fast[i].Fingerprint(), slow[i].Fingerprint())
			}
			checkOrderCovers(t, fast[i])
		}
	})
}

func dumpMap(m *Map[string, string]) string {
	s := m.ctx.String()
	for k, e := range m.m.All() {
		s += fmt.Sprintf(" %s=%v@%d del=%v", k, m.dot(e), e.wall, e.deleted())
	}
	return s
}

// craftedMerges merges 40 small states into a map of n keys: a state
// whose context holds a write the map holds, that the state has
// overwritten and no longer holds (so that the map cannot tell from the
// state alone that none of its other keys was overwritten there), merged
// again and again, and at every 10th round a state forged with a write
// the map has seen, stamped later than the map's entry of its key. It
// returns the entries of the map the 40 merges looked at, and what they
// may look at: a constant times the states' bytes plus the entries they
// dropped.
func craftedMerges(t *testing.T, n int) (work, bound int) {
	t.Helper()
	clk := clock.New()
	big := New[string, string]("A", clk)
	first := big.Put("key-0000000", "first")
	for i := range n {
		big.Put(fmt.Sprintf("key-%07d", i), "v")
	}
	z := New[string, string]("Z", clk)
	if err := z.Apply(first); err != nil {
		t.Fatal(err)
	}
	z.Put("key-0000000", "z")
	state, err := z.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := big.MergeBinary(state); err != nil {
		t.Fatal(err)
	}
	work0, len0 := big.seenWork, big.Len()
	bytes := 0
	for r := range 40 {
		s := state
		if r%10 == 9 {
			// A write of one key forged with the dot big's entry of
			// another key holds (r == 9: the dot of key-0000000's
			// first write, which no entry holds), stamped later.
			f := New[string, string]("F", clk)
			f.Put(fmt.Sprintf("key-%07d", 100+r), "forged")
			e := f.m.Find(fmt.Sprintf("key-%07d", 100+r))
			e.rep, e.seq = f.intern("A"), uint64(1)
			if r > 9 {
				e.seq = big.m.Find(fmt.Sprintf("key-%07d", 500+r)).seq
			}
			f.ctx.Add(vclock.Dot{Replica: "A", Seq: e.seq})
			if s, err = f.MarshalBinary(); err != nil {
				t.Fatal(err)
			}
		}
		bytes += len(s)
		if _, err := big.MergeBinary(s); err != nil {
			t.Fatal(err)
		}
	}
	dropped := len0 - big.Len()
	t.Logf("map of %d: 40 merges of %d bytes in all, dropping %d entries, looked at %d", n, bytes, dropped, big.seenWork-work0)
	return big.seenWork - work0, 2 * (bytes + dropped)
}

// TestMergeCraftedStateCost bounds the work of merges of small crafted
// states: the entries of the map they look at are within a constant
// times their bytes plus the entries they drop, however large the map.
func TestMergeCraftedStateCost(t *testing.T) {
	if work, bound := craftedMerges(t, 20_000); work > bound {
		t.Fatalf("looked at %d entries, bound %d", work, bound)
	}
}

// TestMergeCraftedStateCostByScan checks that the bound of
// TestMergeCraftedStateCost is one that a pass over the whole map, as
// merges made before they kept an order of the map's dots, does not
// meet.
func TestMergeCraftedStateCostByScan(t *testing.T) {
	scanSeen = true
	defer func() { scanSeen = false }()
	if work, bound := craftedMerges(t, 20_000); work <= bound {
		t.Fatalf("by a pass over the map: looked at %d entries, within the bound %d", work, bound)
	}
}

// TestMergeTTLCost bounds the work of small merges into a map whose keys
// all have a time to live: the expire writes of the map they look at are
// within a constant times their bytes plus the writes they drop, however
// many the map holds. With a pass over every key with a time to live, as
// merges made before, it fails.
func TestMergeTTLCost(t *testing.T) {
	for _, scan := range []bool{false, true} {
		scanSeen = scan
		clk := clock.New()
		big := New[string, string]("A", clk)
		for i := range 5_000 {
			k := fmt.Sprintf("key-%07d", i)
			big.Put(k, "v")
			big.Expire(k, time.Hour)
		}
		peer := New[string, string]("B", clk)
		peer.Merge(big)
		peer.Put("first", "v")
		if _, err := big.MergeBinary(mustState(t, peer.DeltaSince(big.Version()))); err != nil {
			t.Fatal(err) // the first merge, which may prepare the map
		}
		work0 := big.seenWork
		bytes := 0
		for r := range 40 {
			v := peer.Version()
			k := fmt.Sprintf("key-%07d", r)
			if r%2 == 0 {
				peer.Expire(k, 2*time.Hour) // overwrites big's expire of k
			} else {
				peer.Put(fmt.Sprint("new-", r), "v")
			}
			state := mustState(t, peer.DeltaSince(v))
			bytes += len(state)
			if _, err := big.MergeBinary(state); err != nil {
				t.Fatal(err)
			}
		}
		scanSeen = false
		work, bound := big.seenWork-work0, 2*(bytes+20)
		t.Logf("scan %v: 40 merges of %d bytes, looked at %d expire writes and entries (bound %d)", scan, bytes, work, bound)
		if scan != (work > bound) {
			t.Fatalf("scan %v: looked at %d, bound %d", scan, work, bound)
		}
		if ttl, _ := big.TTL("key-0000000"); ttl <= time.Hour {
			t.Fatalf("the later expire did not take: %v", ttl)
		}
	}
}

func mustState(t *testing.T, m *Map[string, string]) []byte {
	t.Helper()
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestOrderLetGoWhenIdle: once a merge made the map's order of its dots,
// every write keeps it up to date; after as many writes as the map has
// keys (at least minIdle) with no merge needing it, the map lets it go,
// and the next merge that needs it makes it again, finding what it must.
func TestOrderLetGoWhenIdle(t *testing.T) {
	defer dotkernel.SetMinIdle(dotkernel.SetMinIdle(4))
	m := New[string, string]("a", clock.New())
	for i := range 6 {
		m.Put(fmt.Sprint(i), "v")
	}
	m.makeOrder()
	for i := range 6 {
		m.Put(fmt.Sprint(i), "w")
		if m.ix.Order() == nil {
			t.Fatalf("the order went after %d writes, with 6 keys", i+1)
		}
	}
	m.Put("0", "x")
	if m.ix.Order() != nil {
		t.Fatal("the order stayed after 7 writes unqueried, with 6 keys")
	}
	// A peer that has seen every write of m and holds none of its keys
	// (it deleted them and collected the markers): the merge drops them
	// all, through an order made again.
	peer := New[string, string]("b", clock.New())
	peer.Merge(m)
	for i := range 6 {
		peer.Delete(fmt.Sprint(i))
	}
	peer.CollectVersions([]vclock.Clock{peer.Version()})
	m.Merge(peer)
	if m.Len() != 0 || m.ix.Order() == nil {
		t.Fatalf("after the merge: %d keys, order %v", m.Len(), m.ix.Order() != nil)
	}
}
