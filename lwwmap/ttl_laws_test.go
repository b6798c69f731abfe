package lwwmap

import (
	"testing"
	"time"

	"github.com/activeactive/crdt/crdttest"
	"pgregory.net/rapid"
)

// The law harness run on Map with expire and persist writes among the
// puts and deletes. Times to live are hours, longer than any run, so the
// value checked is each key's value and the time it expires at (0 for
// never), not whether it has expired yet; TestTTLReplicasConvergeToTheModel
// checks that.

// ttlView is a key's value and expiry, as the harness compares them.
type ttlView struct {
	V  int
	At int64
}

func mapTTLLawType() crdttest.Type[*Map[string, int], Op[string, int]] {
	ty := mapLawType()
	ty.Name = "lwwmap.Map with times to live"
	ty.Mutate = func(t *rapid.T, x *Map[string, int]) Op[string, int] {
		k := rapid.SampledFrom(lawKeys).Draw(t, "key")
		_, present := x.Get(k)
		switch a := rapid.IntRange(0, 5).Draw(t, "write"); {
		case a == 0:
			return x.Delete(k)
		case a <= 2 || !present:
			return x.Put(k, rapid.IntRange(0, 9).Draw(t, "v"))
		case a <= 4:
			return x.Expire(k, time.Duration(rapid.IntRange(1, 3).Draw(t, "hours"))*time.Hour)
		default:
			return x.Persist(k)
		}
	}
	ty.Value = func(x *Map[string, int]) any {
		out := map[string]ttlView{}
		for k, v := range x.All() {
			out[k] = ttlView{V: v, At: deadline(x.ttl[k], x.m.Find(k).wall)}
		}
		return out
	}
	ty.Model = func(h crdttest.History[Op[string, int]]) any {
		out := map[string]ttlView{}
		for k, v := range lwwValues(h) {
			// The expire and persist writes of k that no write of k
			// made by a replica that had seen them follows; of the
			// expires, those whose instant is after the value's write
			// (one not after it ended the key before the value made it
			// anew).
			vw := h[lwwWinner(h, k)].Time.Wall
			var at int64
			persisted := false
			for i, e := range h {
				if e.Op.Key() != k || e.Op.kind() == 0 {
					continue
				}
				followed := false
				for j := i + 1; j < len(h) && !followed; j++ {
					followed = h[j].Op.Key() == k && h.Saw(i, j)
				}
				switch {
				case followed:
				case e.Op.Persisted():
					persisted = true
				case e.Time.Wall+int64(e.Op.TTL()) > vw:
					at = max(at, e.Time.Wall+int64(e.Op.TTL()))
				}
			}
			if persisted {
				at = 0
			}
			out[k] = ttlView{V: v, At: at}
		}
		return out
	}
	return ty
}

func TestMapTTLHarnessLaws(t *testing.T) { crdttest.Run(t, mapTTLLawType()) }

// lwwValues is mapLawModel's rule over the puts and deletes of the
// history (all of a history without expire and persist writes): for each
// key, of its puts and deletes that happened before no other, the one
// with the greatest timestamp, the smaller replica ID winning an exact
// tie; absent if a delete.
func lwwValues(h crdttest.History[Op[string, int]]) map[string]int {
	out := map[string]int{}
	for _, k := range lawKeys {
		if best := lwwWinner(h, k); best >= 0 && !h[best].Op.Deleted() {
			out[k] = h[best].Op.Value()
		}
	}
	return out
}

// lwwWinner returns the event of lwwValues's put or delete of k, or -1 if
// none.
func lwwWinner(h crdttest.History[Op[string, int]], k string) int {
	return h.LastWrite(func(e crdttest.Event[Op[string, int]]) bool { return e.Op.Key() == k && e.Op.kind() == 0 })
}
