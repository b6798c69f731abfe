package ormap

import (
	"maps"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/vclock"
)

// The expiry rules against a naive model: three replicas with skewed
// clocks increment, delete, expire and persist two keys while time
// moves; ops are delivered late, twice, out of order or not at all, and
// states and deltas are merged at random. Once everything reached
// everyone, the replicas must be equal, and each key's sum and expiry
// must be what the model computes from the causal history alone, knowing
// nothing of dots: an op's effect is what its replica had seen. Collect
// runs too, and may delete only keys that have expired where it runs.

type ttlEvent struct {
	op   Op
	key  string
	what string          // "add", "delete", "expire", "persist"
	now  clock.Timestamp // the writer's time when it wrote
	seen map[int]bool    // the events its replica had taken in
}

// ttlModel computes, for each key, the sum of the surviving increments
// and the expiry, and checks that each event's op did something exactly
// when the model says it should. A replica holds the writes it has taken
// in that no event it has taken in dropped; an event drops, of what its
// replica held, the writes it covers. (An event a replica knows of only
// because a later one dropped it drops nothing there: the replica does not
// know what it dropped.)
type ttlModel struct {
	h       []ttlEvent
	dropped []map[int]bool
	reset   []bool // the write found its key expired and started it afresh
}

func (md *ttlModel) isTTL(j int) bool {
	return md.h[j].what == "expire" || md.h[j].what == "persist"
}

// covers reports whether event w drops event j if its replica holds j.
func (md *ttlModel) covers(w, j int) bool {
	ew, ej := md.h[w], md.h[j]
	if ew.op.IsNoop() || ej.op.IsNoop() || ej.what == "delete" || ew.key != ej.key {
		return false
	}
	switch ew.what {
	case "delete":
		return true
	case "expire", "persist":
		return md.isTTL(j)
	}
	return md.reset[w]
}

// held returns the writes a replica that has taken in the events seen
// holds.
//
// An increment that continues its writer's chain tells of the chain's
// earlier increments (see closure): they are held too, unless an event
// seen dropped them, but what they dropped is not known (a write to an
// expired key drops what its key held there).
func (md *ttlModel) held(seen map[int]bool) []int {
	known := md.closure(seen)
	var out []int
	for j := range known {
		if md.h[j].what == "delete" || md.h[j].op.IsNoop() {
			continue
		}
		dropped := false
		for p := range seen {
			if md.dropped[p][j] {
				dropped = true
				break
			}
		}
		if !dropped {
			out = append(out, j)
		}
	}
	slices.Sort(out)
	return out
}

// closure returns seen with the increments each increment in it
// continues (its counter chain's earlier leaves, whose increments its
// total holds, which a replica that took it in knows of however ops
// arrived).
func (md *ttlModel) closure(seen map[int]bool) map[int]bool {
	out := maps.Clone(seen)
	for j := range seen {
		for {
			op := md.h[j].op
			if md.h[j].what != "add" || op.kind != opWrite || op.leaf.lg == 0 || len(op.dropped) != 1 {
				break
			}
			prev := slices.IndexFunc(md.h, func(e ttlEvent) bool { return e.op.kind == opWrite && e.op.dot == op.dropped[0] })
			if prev < 0 || out[prev] {
				break
			}
			out[prev] = true
			j = prev
		}
	}
	return out
}

// view returns key's sum, whether a write of it is held, and its expiry,
// at a replica that has taken in the events seen.
func (md *ttlModel) view(seen map[int]bool, key string) (sum int64, present bool, at clock.Timestamp, expires bool) {
	persisted := false
	for _, j := range md.held(seen) {
		e := md.h[j]
		if e.key != key {
			continue
		}
		switch e.what {
		case "add":
			sum += e.op.inc
			present = true
		case "persist":
			persisted = true
		case "expire":
			if t := e.op.leaf.at(); !expires || t.After(at) {
				at, expires = t, true
			}
		}
	}
	if !expires || persisted {
		return sum, present, clock.Timestamp{}, false
	}
	return sum, present, at, true
}

// add takes in event i, which the test has just recorded, and fails if
// its op did something the model says it should not have, or nothing
// when it should.
func (md *ttlModel) add(t *rapid.T, i int) {
	e := md.h[i]
	_, present, at, expires := md.view(e.seen, e.key)
	expired := expires && !e.now.Before(at)
	md.reset = append(md.reset, e.what == "add" && expired)
	md.dropped = append(md.dropped, map[int]bool{})
	held := md.held(e.seen)
	for _, j := range held {
		if md.covers(i, j) {
			md.dropped[i][j] = true
		}
	}
	// A delete that drops a key's counter also carries forward what the
	// earlier deletes (and writes to the expired key) its replica saw had
	// reset of the key's counter chains: the increments they dropped are
	// dropped by it too, wherever it arrives first. (A delete of a key
	// that holds nothing but such notes is a no-op: it carries nothing.)
	// A write to an expired key carries nothing forward: it resets what it
	// drops, and leaves the notes of earlier deletes where they are.
	if e.what == "delete" && !e.op.IsNoop() {
		for j := range md.closure(e.seen) {
			if md.h[j].what != "add" || md.h[j].key != e.key || md.h[j].op.IsNoop() {
				continue
			}
			for p := range e.seen {
				if md.dropped[p][j] && (md.h[p].what == "delete" || md.reset[p]) {
					md.dropped[i][j] = true
					break
				}
			}
		}
	}
	var want bool // whether the op should do something
	switch e.what {
	case "add":
		want = true
	case "delete":
		for _, j := range held {
			if md.h[j].key == e.key {
				want = true
			}
		}
	case "expire":
		want = present && !expired
	case "persist":
		want = present && !expired
	}
	if want == e.op.IsNoop() {
		t.Fatalf("event %d (%s %s at %v): op %v, the model says it should do something: %v", i, e.what, e.key, e.now, e.op, want)
	}
}

func TestTTLModel(t *testing.T) { rapid.Check(t, func(t *rapid.T) { ttlModelRun(t, false) }) }

// TestTTLModelPastGaps is TestTTLModel with a fourth replica, g, that
// takes in the others' ops and states but sends only its ops, which the
// network may lose: the writes of g that reach none of the others leave
// gaps in their contexts that never fill, as an op every replica refuses
// does. Collect (with g's version among the peers') goes on past those
// gaps. g only increments a key of its own, "g", so that what the others
// read of a and b does not depend on what g's lost ops meant. The three
// others must end equal, and equal to the model of what they have taken
// in; g is left out of the end.
func TestTTLModelPastGaps(t *testing.T) { rapid.Check(t, func(t *rapid.T) { ttlModelRun(t, true) }) }

// ttlModelRun is one run of TestTTLModel, or with outsider set, of
// TestTTLModelPastGaps.
func ttlModelRun(t *rapid.T, outsider bool) {
	var now int64 = t0
	skews := []int64{0, -2_000_000, 1_500_000, 500_000}
	ids := []vclock.ReplicaID{"r0", "r1", "r2"}
	honest := len(ids)
	if outsider {
		ids = append(ids, "g")
	}
	reps := make([]*Map[string, *Counter], len(ids))
	seen := make([]map[int]bool, len(ids))
	for i, id := range ids {
		skew := skews[i]
		reps[i] = clocked[string, *Counter](id, clock.New(clock.WithSource(func() int64 { return now + skew }), clock.WithMaxOffset(0)))
		seen[i] = map[int]bool{}
	}
	md := &ttlModel{}
	// took adds e, an event of replica r, to the history, with what r had
	// taken in, and returns its index.
	took := func(r int, e ttlEvent) int {
		for p := range seen[r] {
			e.seen[p] = true
		}
		i := len(md.h)
		md.h = append(md.h, e)
		md.add(t, i)
		seen[r][i] = true
		return i
	}
	type msg struct{ ev, to int }
	var pending []msg
	keys := rapid.SampledFrom([]string{"a", "b"})
	pick := rapid.IntRange(0, len(ids)-1)
	for range rapid.IntRange(1, 50).Draw(t, "steps") {
		sameFingerprints(t, reps)
		switch rapid.IntRange(0, 11).Draw(t, "action") {
		case 0, 1, 2, 3:
			r := pick.Draw(t, "replica")
			m := reps[r]
			key := keys.Draw(t, "key")
			what := rapid.IntRange(0, 5).Draw(t, "what")
			if r >= honest {
				// g increments a key of its own: what its lost ops
				// meant is no concern of the others' keys.
				key, what = "g", 0
			}
			e := ttlEvent{key: key, seen: map[int]bool{}}
			e.now, _ = m.s.now()
			switch what {
			case 0, 1:
				e.what, e.op = "add", m.At(key).Add(rapid.Int64Range(1, 5).Draw(t, "n"))
			case 2:
				e.what, e.op = "delete", m.Delete(key)
			case 3, 4:
				ttl := time.Duration(rapid.IntRange(1, 6).Draw(t, "ms")) * time.Millisecond
				e.what, e.op = "expire", m.Expire(key, ttl)
			default:
				e.what, e.op = "persist", m.Persist(key)
			}
			if e.op.Err() != nil {
				t.Fatal(e.op.Err())
			}
			i := took(r, e)
			for to := range ids {
				if to != r {
					pending = append(pending, msg{i, to})
				}
			}
		case 4:
			now += int64(rapid.IntRange(0, 3).Draw(t, "advance ms")) * 1_000_000
		case 5, 6:
			if len(pending) == 0 {
				continue
			}
			j := rapid.IntRange(0, len(pending)-1).Draw(t, "msg")
			p := pending[j]
			if err := reps[p.to].Apply(md.h[p.ev].op); err != nil {
				t.Fatal(err)
			}
			seen[p.to][p.ev] = true
			if !rapid.Bool().Draw(t, "duplicate") {
				pending = slices.Delete(pending, j, j+1)
			}
		case 7, 8:
			from, to := pick.Draw(t, "from"), pick.Draw(t, "to")
			if from == to || from >= honest {
				continue
			}
			if rapid.Bool().Draw(t, "delta") {
				b, err := reps[from].DeltaSince(reps[to].Version()).MarshalBinary()
				if err != nil {
					t.Fatal(err)
				}
				if _, err := reps[to].MergeBinary(b); err != nil {
					t.Fatal(err)
				}
			} else {
				reps[to].Merge(reps[from])
			}
			for e := range seen[from] {
				seen[to][e] = true
			}
		case 9:
			pending = nil // the network loses what is in flight
		case 11: // every replica merges every other's state
			for i := range ids {
				for j := range honest {
					reps[i].Merge(reps[j])
					for e := range seen[j] {
						seen[i][e] = true
					}
				}
			}
		case 10:
			// Collect at r with what every replica has seen: the
			// expired keys it deletes join the history as deletes
			// of r's, which only merges carry (the test has no op
			// of theirs to deliver).
			r := pick.Draw(t, "replica")
			m := reps[r]
			held := map[string]bool{}
			for _, key := range []string{"a", "b"} {
				held[key] = holds(m.s, appendSeg("", key))
			}
			rnow, _ := m.s.now()
			// With every replica's version: the deletes' reset
			// leaves are collected too.
			var peers []vclock.Clock
			for i, o := range reps {
				if i != r {
					peers = append(peers, o.Version())
				}
			}
			m.CollectVersions(peers)
			for _, key := range []string{"a", "b"} {
				if !held[key] || holds(m.s, appendSeg("", key)) {
					continue
				}
				_, _, at, expires := md.view(seen[r], key)
				if !expires || rnow.Before(at) {
					t.Fatalf("%s collected %s, which has not expired there (expiry %v, now %v)", ids[r], key, at, rnow)
				}
				took(r, ttlEvent{key: key, what: "delete", now: rnow, op: Op{kind: opRemove}, seen: map[int]bool{}})
			}
		}
	}
	for i := range honest {
		for j := range honest {
			reps[i].Merge(reps[j])
		}
	}
	for i := range honest {
		if !reps[i].Equal(reps[0]) || reps[i].ContentFingerprint() != reps[0].ContentFingerprint() {
			t.Fatalf("%s and %s differ", ids[i], ids[0])
		}
	}
	all := map[int]bool{} // what the three took in: every event, less g's lost ones
	for i := range honest {
		maps.Copy(all, seen[i])
	}
	for _, key := range []string{"a", "b"} {
		sum, present, at, expires := md.view(all, key)
		for i, m := range reps[:honest] {
			p := appendSeg("", key)
			n := m.s.ix.find(p)
			if got := m.s.value(n, p); got != sum || (n != nil) != present {
				t.Fatalf("%s: %s = %d (held %v), model %d (held %v)", ids[i], key, got, n != nil, sum, present)
			}
			gotAt, gotExp := clock.Timestamp{}, false
			if l := m.s.ix.lookup(p); l != nil { // a key may hold an expiry and no write
				gotAt, gotExp = m.s.expiryOf(l)
			}
			if gotExp != expires || gotAt != at {
				t.Fatalf("%s: %s expires %v (%v), model %v (%v)", ids[i], key, gotAt, gotExp, at, expires)
			}
			rnow, _ := m.s.now()
			visible := present && !(expires && !rnow.Before(at))
			if m.Has(key) != visible {
				t.Fatalf("%s: Has(%s) = %v at %v, model %v", ids[i], key, m.Has(key), rnow, visible)
			}
			if v := m.At(key).Value(); (visible && v != sum) || (!visible && v != 0) {
				t.Fatalf("%s: %s reads %d, model %d (visible %v)", ids[i], key, v, sum, visible)
			}
		}
	}
}

// holds reports whether s holds a write, expiry or persist of the key at
// path p (a reset leaf, which a delete leaves, does not count).
func holds(s *state, p string) bool {
	n := s.ix.lookup(p)
	return n != nil && len(s.withoutResets(n.under(nil))) > 0
}

// sameFingerprints checks what the engine's digests rely on: replicas at
// one version holding the same writes past it (equal gap hashes) have
// equal fingerprints and content fingerprints, whatever each has
// collected; else the engine would count a divergence that is none.
func sameFingerprints(t *rapid.T, reps []*Map[string, *Counter]) {
	for i, a := range reps {
		ga, _ := a.GapHash()
		for _, b := range reps[i+1:] {
			if gb, _ := b.GapHash(); ga != gb || !a.Version().Equal(b.Version()) {
				continue
			}
			if a.Fingerprint() != b.Fingerprint() || a.ContentFingerprint() != b.ContentFingerprint() {
				t.Fatalf("%s and %s at version %v: fingerprints %x, %x; content fingerprints %x, %x",
					a.ID(), b.ID(), a.Version(), a.Fingerprint(), b.Fingerprint(), a.ContentFingerprint(), b.ContentFingerprint())
			}
		}
	}
}
