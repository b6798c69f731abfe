package lwwmap

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/vclock"
	"pgregory.net/rapid"
)

// A simulation of replicas putting, deleting, expiring and persisting
// keys over a network that loses, repeats and reorders ops, states and
// deltas, checked against a naive model computed from the causal history
// alone.

// ttlEvent is one write as the model sees it.
type ttlEvent struct {
	key   string
	kind  string // "put", "delete", "expire", "persist"
	value int
	ttl   time.Duration
	ts    clock.Timestamp
	id    crdt.ReplicaID
	past  []int // the events its replica had seen when it was made
}

// ttlModel computes what a replica that has seen every event shows at
// wall time now: for each key, the put or delete that wins by timestamp
// (the smaller replica ID on a tie); present if a put, unless the key has
// expired. The expire and persist events in force are those of the key
// that no event of the key (of any kind) made by a replica that had taken
// them in follows;
// a persist among them means no expiry, otherwise the key expires at the
// latest of their timestamps plus time to live.
func ttlModel(evs []ttlEvent, now int64) map[string]int {
	// past[i] holds the events the replica of event i had taken in when
	// it made it: ops travel alone, in any order, so this is not
	// transitive (a replica may take in an op without the ops its writer
	// had seen).
	past := make([]map[int]bool, len(evs))
	for i, e := range evs {
		past[i] = map[int]bool{}
		for _, j := range e.past {
			past[i][j] = true
		}
	}
	out := map[string]int{}
	for _, k := range keys {
		win := -1
		for i, e := range evs {
			if e.key != k || (e.kind != "put" && e.kind != "delete") {
				continue
			}
			if win < 0 || e.ts.After(evs[win].ts) || (e.ts == evs[win].ts && e.id < evs[win].id) {
				win = i
			}
		}
		if win < 0 || evs[win].kind == "delete" {
			continue
		}
		var at int64
		persisted := false
		for i, e := range evs {
			if e.key != k || (e.kind != "expire" && e.kind != "persist") {
				continue
			}
			followed := false
			for j, f := range evs {
				if f.key == k && past[j][i] {
					followed = true
					break
				}
			}
			// An expire whose instant is not after the value's write had
			// ended the key when the value made it anew: it does not
			// touch the value.
			switch {
			case followed:
			case e.kind == "persist":
				persisted = true
			case e.ts.Wall+int64(e.ttl) > evs[win].ts.Wall:
				at = max(at, e.ts.Wall+int64(e.ttl))
			}
		}
		if persisted || at == 0 || now < at {
			out[k] = evs[win].value
		}
	}
	return out
}

type ttlMsg struct {
	to    int
	op    []byte // an op, encoded
	opv   *Op[string, int]
	state []byte // a state or delta, encoded
	knows []int  // the events it teaches the receiver
}

type ttlSim struct {
	t         *rapid.T
	time      *fakeTime
	reps      []*Map[string, int]
	seen      []map[int]bool
	evs       []ttlEvent
	net       []ttlMsg
	next      int
	collected int
	partial   bool // some replica skipped a collection the others made
}

func newTTLSim(t *rapid.T) *ttlSim {
	s := &ttlSim{t: t, time: &fakeTime{now: start}}
	for i := range rapid.IntRange(2, 4).Draw(t, "replicas") {
		clk := clock.New(clock.WithSource(s.time.source(0)))
		clk.Now()
		s.reps = append(s.reps, New[string, int](crdt.ReplicaID(fmt.Sprintf("r%d", i)), clk))
		s.seen = append(s.seen, map[int]bool{})
	}
	return s
}

func (s *ttlSim) write(i int) {
	m := s.reps[i]
	k := rapid.SampledFrom(keys[:3]).Draw(s.t, "key")
	ev := ttlEvent{key: k, id: m.ID(), past: slices.Sorted(maps.Keys(s.seen[i]))}
	var op Op[string, int]
	_, present := m.Get(k)
	switch a := rapid.IntRange(0, 5).Draw(s.t, "write"); {
	case a <= 1 || !present:
		s.next++
		ev.kind, ev.value, op = "put", s.next, m.Put(k, s.next)
	case a == 2:
		ev.kind, op = "delete", m.Delete(k)
	case a <= 4:
		ev.kind = "expire"
		ev.ttl = time.Duration(rapid.SampledFrom([]int64{1, 3, 5, 20}).Draw(s.t, "ttl") * ms)
		op = m.Expire(k, ev.ttl)
	default:
		ev.kind, op = "persist", m.Persist(k)
	}
	b, err := op.MarshalBinary()
	if err != nil {
		s.t.Fatalf("%s of %q at %s: %v", ev.kind, k, m.ID(), err)
	}
	ev.ts = op.Timestamp()
	s.t.Logf("#%d %s %s %q %v drops=%v past=%v", len(s.evs), m.ID(), ev.kind, k, op.Dot(), slices.Collect(op.drops().all()), ev.past)
	s.evs = append(s.evs, ev)
	n := len(s.evs) - 1
	s.seen[i][n] = true
	for j := range s.reps {
		if j != i {
			msg := ttlMsg{to: j, knows: []int{n}}
			if rapid.Bool().Draw(s.t, "op as bytes") {
				msg.op = b
			} else {
				msg.opv = &op
			}
			s.net = append(s.net, msg)
		}
	}
}

func (s *ttlSim) deliver(msg ttlMsg) {
	m := s.reps[msg.to]
	var err error
	switch {
	case msg.op != nil:
		_, err = m.ApplyBinaryFrom(msg.op, s.evs[msg.knows[0]].id)
	case msg.opv != nil:
		err = m.Apply(*msg.opv)
	default:
		_, err = m.MergeBinary(msg.state)
	}
	if err != nil {
		if msg.op != nil && errorsIsUnseen(err) {
			return // refused until the overwritten write arrives; kept
		}
		s.t.Fatalf("delivering to replica %d: %v", msg.to, err)
	}
	for _, d := range msg.knows {
		s.seen[msg.to][d] = true
	}
	s.t.Logf("deliver to %d op=%v %v: %s", msg.to, msg.op != nil || msg.opv != nil, msg.knows, ttlDump(m))
}

func (s *ttlSim) step() {
	n := len(s.reps)
	switch a := rapid.IntRange(0, 9).Draw(s.t, "action"); {
	case a <= 3:
		s.write(rapid.IntRange(0, n-1).Draw(s.t, "replica"))
	case a == 4:
		s.time.now += rapid.SampledFrom([]int64{0, 1, ms, 2 * ms}).Draw(s.t, "advance")
	case a == 5:
		from, to := rapid.IntRange(0, n-1).Draw(s.t, "from"), rapid.IntRange(0, n-1).Draw(s.t, "to")
		var b []byte
		var err error
		if rapid.Bool().Draw(s.t, "delta") {
			v, verr := s.reps[to].VersionBinary()
			if verr != nil {
				s.t.Fatal(verr)
			}
			b, err = s.reps[from].DeltaSinceBinary(v)
		} else {
			b, err = s.reps[from].MarshalBinary()
		}
		if err != nil {
			s.t.Fatalf("encoding replica %d: %v", from, err)
		}
		s.net = append(s.net, ttlMsg{to: to, state: b, knows: slices.Collect(maps.Keys(s.seen[from]))})
	case a <= 8:
		if len(s.net) == 0 {
			return
		}
		k := rapid.IntRange(0, len(s.net)-1).Draw(s.t, "message")
		msg := s.net[k]
		switch rapid.IntRange(0, 3).Draw(s.t, "fate") {
		case 0: // lost
		case 1:
			s.deliver(msg)
			return // kept, for a duplicate
		default:
			s.deliver(msg)
		}
		s.net = slices.Delete(s.net, k, k+1)
	default:
		// A reliable round, then, now and then, collection with every
		// replica's current version: every replica then holds the same
		// state and reads the same time. Some replicas collect and others
		// not yet, as when each learns its peers' versions at its own
		// moment: the fingerprints must not tell them apart.
		s.settle()
		if rapid.Bool().Draw(s.t, "collect") {
			for i := range s.reps {
				if rapid.Bool().Draw(s.t, "collects") {
					s.collectAt(i)
				} else {
					s.partial = true
				}
			}
			s.sameFingerprints()
		}
	}
}

// collectAt has replica i collect with every other replica's version.
func (s *ttlSim) collectAt(i int) {
	m := s.reps[i]
	var peers []vclock.Clock
	for j, p := range s.reps {
		if j != i {
			peers = append(peers, p.Version())
		}
	}
	s.collected += m.CollectVersions(peers)
	s.t.Logf("collect at %d: %s", i, ttlDump(m))
}

// sameFingerprints checks that replicas at one version have one
// fingerprint and one content fingerprint, whatever each has collected.
func (s *ttlSim) sameFingerprints() {
	for i, m := range s.reps {
		checkFingerprint(s.t, m)
		if !m.Version().Equal(s.reps[0].Version()) {
			continue
		}
		if m.Fingerprint() != s.reps[0].Fingerprint() || m.ContentFingerprint() != s.reps[0].ContentFingerprint() {
			s.t.Fatalf("replicas 0 and %d at version %v: fingerprints %x, %x, content fingerprints %x, %x\n%s %s\n%s %s",
				i, m.Version(), s.reps[0].Fingerprint(), m.Fingerprint(), s.reps[0].ContentFingerprint(), m.ContentFingerprint(),
				dump(s.reps[0]), ttlDump(s.reps[0]), dump(m), ttlDump(m))
		}
	}
}

// settle has every replica merge every other's delta, twice over.
func (s *ttlSim) settle() {
	for range 2 {
		for i := range s.reps {
			for j := range s.reps {
				v, err := s.reps[j].VersionBinary()
				if err != nil {
					s.t.Fatal(err)
				}
				b, err := s.reps[i].DeltaSinceBinary(v)
				if err != nil {
					s.t.Fatal(err)
				}
				if _, err := s.reps[j].MergeBinary(b); err != nil {
					s.t.Fatalf("merging replica %d into %d: %v", i, j, err)
				}
				for d := range s.seen[i] {
					s.seen[j][d] = true
				}
			}
		}
	}
}

// check compares every replica, settled, with the model now and once
// every expiry has passed.
func (s *ttlSim) check() {
	for _, later := range []int64{0, time.Hour.Nanoseconds()} {
		s.time.now += later
		want := ttlModel(s.evs, s.time.now)
		for i, m := range s.reps {
			if got := contents(m); !maps.Equal(got, want) {
				s.t.Fatalf("replica %d shows %v, the model %v\n%s\n%s", i, got, want, dump(m), ttlDump(m))
			}
			if m.Len() != len(want) {
				s.t.Fatalf("replica %d: Len %d, want %d", i, m.Len(), len(want))
			}
			checkFingerprint(s.t, m)
			if !m.Equal(s.reps[0]) {
				s.t.Fatalf("replica %d and replica 0 differ:\n%s %s\n%s %s", i, dump(m), ttlDump(m), dump(s.reps[0]), ttlDump(s.reps[0]))
			}
		}
	}
}

func TestTTLReplicasConvergeToTheModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := newTTLSim(t)
		for range rapid.IntRange(0, 120).Draw(t, "steps") {
			s.step()
			for _, m := range s.reps {
				checkFingerprint(t, m) // kept right through every change
			}
		}
		s.settle()
		if s.partial {
			// Replicas that collected at different moments hold different
			// delete markers and expire writes; once all have collected
			// at one version they hold one state.
			for i := range s.reps {
				s.collectAt(i)
			}
		}
		s.check()
	})
}

func errorsIsUnseen(err error) bool { return errors.Is(err, vclock.ErrUnseen) }

// Parts of a state or delta with expire and persist writes and drop
// records merge, one by one, into what the whole merges into.
func TestTTLPartsMergeLikeTheWhole(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := newTTLSim(t)
		for range rapid.IntRange(0, 80).Draw(t, "steps") {
			s.step()
		}
		n := len(s.reps)
		from, to := rapid.IntRange(0, n-1).Draw(t, "from"), rapid.IntRange(0, n-1).Draw(t, "to")
		var version, whole []byte
		var err error
		if rapid.Bool().Draw(t, "full") {
			whole, err = s.reps[from].MarshalBinary()
		} else if version, err = s.reps[to].VersionBinary(); err == nil {
			whole, err = s.reps[from].DeltaSinceBinary(version)
		}
		if err != nil {
			t.Fatal(err)
		}
		want := s.reps[to].Clone()
		if _, err := want.MergeBinary(whole); err != nil {
			t.Fatal(err)
		}
		// A write in force and the record of what it overwrote travel
		// in one part, of up to 100 bytes here.
		budget := rapid.IntRange(120, 300).Draw(t, "budget")
		parts, ordered, err := s.reps[from].ChunksBinary(version, budget)
		if err != nil {
			t.Fatal(err)
		}
		if parts == nil {
			return
		}
		got := s.reps[to].Clone()
		for i, p := range append(rapid.Permutation(parts[:ordered]).Draw(t, "entries parts"), parts[ordered:]...) {
			if len(p) > budget {
				t.Fatalf("part of %d bytes, budget %d", len(p), budget)
			}
			if _, err := got.MergeChunkBinary(p); err != nil {
				t.Fatalf("part %d: %v", i, err)
			}
			t.Logf("part %d kind %d: %s %s", i, p[0], dump(got), ttlDump(got))
		}
		t.Logf("from %d to %d version %v; before %s %s", from, to, version != nil, dump(s.reps[to]), ttlDump(s.reps[to]))
		if !maps.Equal(contents(got), contents(want)) || !got.equalTTL(want) || !got.ctx.Equal(&want.ctx) {
			t.Fatalf("parts give\n%s %s\nthe whole gives\n%s %s", dump(got), ttlDump(got), dump(want), ttlDump(want))
		}
	})
}
