package dotkernel

import (
	"fmt"
	"testing"

	"pgregory.net/rapid"

	"github.com/activeactive/crdt/vclock"
)

// checkOrderCovers checks that k's order of its dots, if made, references
// every dot of k's store.
func checkOrderCovers(t tb, k *kern) {
	t.Helper()
	ord := k.ix.Order()
	if ord == nil {
		return
	}
	for key, e := range k.m.all {
		for _, d := range k.dotsOf(key, e) {
			rep := k.repOf(d)
			found := false
			ord.Range(rep, d.Seq, d.Seq, func(seq uint64, got string) bool {
				found = found || got == key
				return k.supports(rep, seq, got)
			})
			if !found {
				t.Fatalf("dot %v of %q not in the order", d, key)
			}
		}
	}
}

// TestJoinOrderMatchesScan holds the joins that find what the other side
// dropped through the kernel's order of its dots to the same result as a
// pass over the store: two copies of each replica go through the same
// mutations and joins, one of them with scanSeen set. The joins include
// restored older states and states whose records cannot tell what they
// dropped, which are the ones that need the search.
func TestJoinOrderMatchesScan(t *testing.T) {
	defer func(s, i int) { compactSlack, minIdle = s, i }(compactSlack, minIdle)
	compactSlack = 2
	rapid.Check(t, func(t *rapid.T) {
		// A small minIdle lets orders go between joins, to be made again.
		minIdle = rapid.SampledFrom([]int{0, 3, 1024}).Draw(t, "minIdle")
		n := rapid.IntRange(2, 4).Draw(t, "replicas")
		nkeys := rapid.IntRange(1, 30).Draw(t, "keys")
		var ids []vclock.ReplicaID
		fast, slow := make([]*kern, n), make([]*kern, n)
		var saved [][2]*kern // older states, both copies
		for i := range n {
			ids = append(ids, vclock.ReplicaID(fmt.Sprintf("r%d", i)))
			all := rapid.Bool().Draw(t, "recordsAll")
			fast[i] = &kern{RecordsAll: all, MaxRecords: 3}
			slow[i] = &kern{RecordsAll: all, MaxRecords: 3}
		}
		join := func(i int, of, os *kern) {
			cf := fast[i].Join(of)
			scanSeen = true
			cs := slow[i].Join(os)
			scanSeen = false
			if cf != cs {
				t.Fatalf("join into r%d reports %v, by a pass %v", i, cf, cs)
			}
		}
		steps := rapid.IntRange(1, 80).Draw(t, "steps")
		for range steps {
			i := rapid.IntRange(0, n-1).Draw(t, "i")
			j := rapid.IntRange(0, n-1).Draw(t, "j")
			key := fmt.Sprint("k", rapid.IntRange(0, nkeys-1).Draw(t, "key"))
			switch rapid.IntRange(0, 9).Draw(t, "step") {
			case 0, 1, 2:
				for _, k := range []*kern{fast[i], slow[i]} {
					if _, _, err := k.MintPut(ids[i], key, unit{}); err != nil {
						t.Fatal(err)
					}
				}
			case 3:
				for _, k := range []*kern{fast[i], slow[i]} {
					if _, _, err := k.MintRemove(ids[i], key); err != nil {
						t.Fatal(err)
					}
				}
			case 4:
				join(i, fast[j], slow[j])
			case 5:
				saved = append(saved, [2]*kern{fast[i].Clone(), slow[i].Clone()})
			case 6:
				// A replica restored from an older state.
				if len(saved) > 0 {
					s := saved[rapid.IntRange(0, len(saved)-1).Draw(t, "saved")]
					fast[i], slow[i] = s[0].Clone(), s[1].Clone()
				}
			case 7:
				// An older state merged in, and a state whose records
				// are not trusted.
				if len(saved) > 0 {
					s := saved[rapid.IntRange(0, len(saved)-1).Draw(t, "saved")]
					join(i, s[0], s[1])
				}
				of, os := fast[j].Clone(), slow[j].Clone()
				of.RecordsAll, os.RecordsAll = false, false
				join(i, of, os)
			case 8:
				// What a peer that collected every record sends.
				of, os := fast[j].Clone(), slow[j].Clone()
				of.Collect(of.Version())
				os.Collect(os.Version())
				join(i, of, os)
			case 9:
				st := fast[0].Version()
				for _, k := range fast[1:] {
					st.Meet(k.Version())
				}
				for x := range n {
					fast[x].Collect(st)
					slow[x].Collect(st)
				}
			}
			requireEqual(t, fast[i], slow[i], "by the order and by a pass")
			if fast[i].Fingerprint() != slow[i].Fingerprint() || fast[i].Fingerprint() != fast[i].ScanFingerprint() {
				t.Fatalf("fingerprint %x, by a pass %x, from the store %x", fast[i].Fingerprint(), slow[i].Fingerprint(), fast[i].ScanFingerprint())
			}
			checkOrderCovers(t, fast[i])
		}
	})
}
