package dotkernel

import (
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/activeactive/crdt/vclock"
)

// TestPutNewMatchesPut: a write under a fresh dot through PutNew leaves
// the kernel as one through Put does (the store, the fingerprint, the
// look-ups by key), through removes that leave deleted marks and tables
// that grow over many inserts (moves spread out, as for a large table).
func TestPutNewMatchesPut(t *testing.T) {
	spreadMoves(t)
	rapid.Check(t, func(t *rapid.T) {
		var slow, fast Kernel[vclock.Dot, int]
		var live []vclock.Dot
		ids := []vclock.ReplicaID{"a", "b"}
		for i := range rapid.IntRange(0, 400).Draw(t, "steps") {
			if len(live) > 0 && rapid.IntRange(0, 3).Draw(t, "remove") == 0 {
				j := rapid.IntRange(0, len(live)-1).Draw(t, "which")
				slow.Remove(live[j])
				fast.Remove(live[j])
				live = append(live[:j], live[j+1:]...)
				continue
			}
			id := ids[rapid.IntRange(0, 1).Draw(t, "id")]
			d := slow.Mint(id)
			if fd := fast.Mint(id); fd != d {
				t.Fatalf("minted %v and %v", d, fd)
			}
			slow.Put(d, i, d)
			fast.PutNew(d, i, d)
			live = append(live, d)
		}
		if !slow.Equal(&fast, func(a, b int) bool { return a == b }) {
			t.Fatal("PutNew left another store than Put")
		}
		if slow.Fingerprint() != fast.Fingerprint() || fast.Fingerprint() != fast.ScanFingerprint() {
			t.Fatalf("fingerprints %x, %x, scanned %x", slow.Fingerprint(), fast.Fingerprint(), fast.ScanFingerprint())
		}
		if slow.Len() != fast.Len() || fast.Len() != len(live) {
			t.Fatalf("%d and %d keys, want %d", slow.Len(), fast.Len(), len(live))
		}
		n := 0
		for d, v := range fast.All() {
			n++
			if sv, ok := slow.Get(d); !ok || sv != v {
				t.Fatalf("key %v: %d, Put's %d %v", d, v, sv, ok)
			}
		}
		if n != len(live) {
			t.Fatalf("%d keys listed, want %d", n, len(live))
		}
		for _, d := range live {
			if v, ok := fast.Get(d); !ok {
				t.Fatalf("key %v lost (%d)", d, v)
			}
		}
	})
}

// TestMintOwnMatchesTryMintPutNew: MintOwn (and MintOwnUnwatched, whose
// caller tells the Watch) leaves the kernel as TryMint and then PutNew do (the dots minted, the store, the context, the
// fingerprint, what the Watch hears, what a delta carries), with writers
// that change from call to call (the writer cache missing), an ID of
// equal bytes but another string, removes, and a replica with no
// sequence number left, for which both fail and change nothing.
func TestMintOwnMatchesTryMintPutNew(t *testing.T) {
	spreadMoves(t)
	rapid.Check(t, func(t *rapid.T) {
		var slow, fast Kernel[vclock.Dot, int]
		type heard struct {
			key, d vclock.Dot
			v      int
			added  bool
		}
		var slowHeard, fastHeard []heard
		slow.Watch = func(key vclock.Dot, v int, d vclock.Dot, added bool) {
			slowHeard = append(slowHeard, heard{key, d, v, added})
		}
		fast.Watch = func(key vclock.Dot, v int, d vclock.Dot, added bool) {
			fastHeard = append(fastHeard, heard{key, d, v, added})
		}
		full := vclock.Dot{Replica: "z", Seq: vclock.MaxSeq}
		slow.Context().Add(full)
		fast.Context().Add(full)
		var live []vclock.Dot
		ids := []vclock.ReplicaID{"a", "b", "z", vclock.ReplicaID(string([]byte("a")))}
		var mid vclock.Clock
		for i := range rapid.IntRange(0, 300).Draw(t, "steps") {
			if rapid.IntRange(0, 30).Draw(t, "delta") == 0 {
				// A delta asked for keeps the kernel's index of dots.
				mid = slow.Version()
				slow.DeltaSince(mid)
				fast.DeltaSince(mid)
			}
			if len(live) > 0 && rapid.IntRange(0, 3).Draw(t, "remove") == 0 {
				j := rapid.IntRange(0, len(live)-1).Draw(t, "which")
				slow.Remove(live[j])
				fast.Remove(live[j])
				live = append(live[:j], live[j+1:]...)
				continue
			}
			id := ids[rapid.IntRange(0, len(ids)-1).Draw(t, "id")]
			d, err := slow.TryMint(id)
			if err == nil {
				slow.PutNew(d, i, d)
			}
			var fd vclock.Dot
			var ferr error
			if rapid.Bool().Draw(t, "unwatched") {
				// MintOwnUnwatched, its caller telling the Watch itself.
				if fd, ferr = MintOwnUnwatched(&fast, id, i); ferr == nil {
					fast.Watch(fd, i, fd, true)
				}
			} else {
				fd, ferr = MintOwn(&fast, id, i)
			}
			if fd != d || (err == nil) != (ferr == nil) {
				t.Fatalf("%q: MintOwn gave %v, %v; TryMint %v, %v", id, fd, ferr, d, err)
			}
			if err == nil {
				live = append(live, d)
			}
		}
		if !slow.Equal(&fast, func(a, b int) bool { return a == b }) {
			t.Fatal("MintOwn left another kernel than TryMint and PutNew")
		}
		if slow.Fingerprint() != fast.Fingerprint() || fast.Fingerprint() != fast.ScanFingerprint() {
			t.Fatalf("fingerprints %x, %x, scanned %x", slow.Fingerprint(), fast.Fingerprint(), fast.ScanFingerprint())
		}
		if fast.Len() != len(live) {
			t.Fatalf("%d keys, want %d", fast.Len(), len(live))
		}
		for _, d := range live {
			if v, ok := fast.Get(d); !ok {
				t.Fatalf("key %v lost (%d)", d, v)
			} else if sv, _ := slow.Get(d); sv != v {
				t.Fatalf("key %v: %d, want %d", d, v, sv)
			}
		}
		if !slices.Equal(slowHeard, fastHeard) {
			t.Fatalf("the Watch heard %v, want %v", fastHeard, slowHeard)
		}
		var none vclock.Clock
		for _, v := range []vclock.Clock{mid, none} { // mid first: the index answers it
			ds, df := slow.DeltaSince(v), fast.DeltaSince(v)
			if !ds.Equal(df, func(a, b int) bool { return a == b }) {
				t.Fatalf("deltas since %v differ", v)
			}
		}
	})
}
