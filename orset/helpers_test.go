package orset

import (
	"fmt"
	"maps"
	"slices"

	"pgregory.net/rapid"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/vclock"
)

// tb is what the helpers need of *testing.T and *rapid.T.
type tb interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

var elems = []string{"a", "b", "c", "d", "e"}

// sorted returns the elements of s in increasing order.
func sorted(s *Set[string]) []string {
	out := slices.Collect(s.All())
	slices.Sort(out)
	return out
}

func mustMarshal(t tb, m interface{ MarshalBinary() ([]byte, error) }) []byte {
	t.Helper()
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func requireEqual(t tb, got, want *Set[string], what string) {
	t.Helper()
	if !got.Equal(want) {
		t.Fatalf("%s: states differ:\n got %s\nwant %s", what, dump(got), dump(want))
	}
}

// The naive model keeps the whole history: every add (its element and a
// unique id) and every remove (its element and the ids of the adds of that
// element its replica had seen). An element is present iff some add of it
// is observed by no remove. Replicas learn of adds by taking in ops and
// states; what a replica has seen is tracked here, apart from the sets.
type model struct {
	adds    []string       // adds[id] is the element added
	removes []modelRemove  // in the order they happened
	seen    []map[int]bool // seen[i]: the adds replica i has seen
}

type modelRemove struct {
	elem     string
	observed map[int]bool
}

func newModel(replicas int) *model {
	m := &model{}
	for range replicas {
		m.seen = append(m.seen, map[int]bool{})
	}
	return m
}

// observedBy returns the adds of e replica i has seen.
func (m *model) observedBy(i int, e string) map[int]bool {
	out := map[int]bool{}
	for id := range m.seen[i] {
		if m.adds[id] == e {
			out[id] = true
		}
	}
	return out
}

// add records an add of e at replica i and returns what an op carrying it
// tells its receiver: the add, and the adds of e its replica had seen.
func (m *model) add(i int, e string) map[int]bool {
	know := m.observedBy(i, e)
	id := len(m.adds)
	m.adds = append(m.adds, e)
	m.seen[i][id] = true
	know[id] = true
	return know
}

// remove records a remove of e at replica i and returns what an op
// carrying it tells its receiver.
func (m *model) remove(i int, e string) map[int]bool {
	obs := m.observedBy(i, e)
	m.removes = append(m.removes, modelRemove{elem: e, observed: obs})
	return maps.Clone(obs)
}

// learn makes replica i aware of the adds in know.
func (m *model) learn(i int, know map[int]bool) {
	maps.Copy(m.seen[i], know)
}

// value returns the present elements, sorted.
func (m *model) value() []string {
	present := map[string]bool{}
	for id, e := range m.adds {
		removed := false
		for _, r := range m.removes {
			if r.observed[id] {
				removed = true
				break
			}
		}
		if !removed {
			present[e] = true
		}
	}
	out := slices.Collect(maps.Keys(present))
	slices.Sort(out)
	return out
}

// msg is a message in flight: an op or a state (whole or delta) for one
// replica, with what it tells the model.
type msg struct {
	to    int
	state bool
	data  []byte
	know  map[int]bool
	what  string
}

// world is a group of replicas that mutate and exchange ops, states and
// deltas over a network that loses, duplicates and reorders messages, all
// as rapid chooses.
type world struct {
	sets []*Set[string]
	m    *model
	net  []msg
	ops  []Op[string] // every op made, no-ops included
}

func newWorld(t *rapid.T, minReplicas, maxReplicas int) *world {
	n := rapid.IntRange(minReplicas, maxReplicas).Draw(t, "replicas")
	w := &world{m: newModel(n)}
	for i := range n {
		w.sets = append(w.sets, New[string](crdt.ReplicaID(fmt.Sprintf("r%d", i))))
	}
	return w
}

func (w *world) broadcast(t tb, from int, op Op[string], know map[int]bool) {
	b := mustMarshal(t, op)
	for j := range w.sets {
		if j != from {
			w.net = append(w.net, msg{to: j, data: b, know: know, what: op.String()})
		}
	}
}

func (w *world) deliver(t tb, m msg) {
	t.Helper()
	s := w.sets[m.to]
	var err error
	if m.state {
		_, err = s.MergeBinary(m.data)
	} else {
		_, err = s.ApplyBinary(m.data)
	}
	if err != nil {
		t.Fatalf("delivering %s to r%d: %v", m.what, m.to, err)
	}
	w.m.learn(m.to, m.know)
}

func (w *world) step(t *rapid.T) {
	n := len(w.sets)
	i := rapid.IntRange(0, n-1).Draw(t, "i")
	switch rapid.IntRange(0, 11).Draw(t, "action") {
	case 0, 1, 2:
		e := rapid.SampledFrom(elems).Draw(t, "elem")
		op := w.sets[i].Add(e)
		w.ops = append(w.ops, op)
		w.broadcast(t, i, op, w.m.add(i, e))
	case 3, 4:
		e := rapid.SampledFrom(elems).Draw(t, "elem")
		had := w.sets[i].Contains(e)
		op := w.sets[i].Remove(e)
		w.ops = append(w.ops, op)
		know := w.m.remove(i, e)
		if op.IsNoop() == had || w.sets[i].Contains(e) {
			t.Fatalf("remove of %q (present: %v) returned %v and left it present: %v", e, had, op, w.sets[i].Contains(e))
		}
		if !op.IsNoop() {
			w.broadcast(t, i, op, know)
		}
	case 5, 6, 7:
		if len(w.net) == 0 {
			return
		}
		k := rapid.IntRange(0, len(w.net)-1).Draw(t, "msg")
		m := w.net[k]
		if !rapid.Bool().Draw(t, "duplicate") {
			w.net = slices.Delete(w.net, k, k+1)
		}
		w.deliver(t, m)
	case 8:
		if len(w.net) == 0 {
			return
		}
		k := rapid.IntRange(0, len(w.net)-1).Draw(t, "lost")
		w.net = slices.Delete(w.net, k, k+1)
	case 9:
		j := rapid.IntRange(0, n-1).Draw(t, "j")
		w.net = append(w.net, msg{to: j, state: true, data: mustMarshal(t, w.sets[i]), know: maps.Clone(w.m.seen[i]), what: "state"})
	case 10:
		j := rapid.IntRange(0, n-1).Draw(t, "j")
		v, err := w.sets[j].VersionBinary()
		if err != nil {
			t.Fatal(err)
		}
		d, err := w.sets[i].DeltaSinceBinary(v)
		if err != nil {
			t.Fatal(err)
		}
		w.net = append(w.net, msg{to: j, state: true, data: d, know: maps.Clone(w.m.seen[i]), what: "delta"})
	case 11:
		var vs [][]byte
		for j, s := range w.sets {
			if j != i {
				v, err := s.VersionBinary()
				if err != nil {
					t.Fatal(err)
				}
				vs = append(vs, v)
			}
		}
		if err := w.sets[i].CollectBinary(vs); err != nil {
			t.Fatal(err)
		}
	}
}

// run makes a world and plays up to maxSteps steps in it.
func run(t *rapid.T, minReplicas, maxReplicas, maxSteps int) *world {
	w := newWorld(t, minReplicas, maxReplicas)
	steps := rapid.IntRange(0, maxSteps).Draw(t, "steps")
	for range steps {
		w.step(t)
	}
	return w
}

// exchange delivers every replica's state to every other, reliably, by
// whole states or by deltas.
func (w *world) exchange(t *rapid.T) {
	useDeltas := rapid.Bool().Draw(t, "deltas")
	send := func(from, to int) {
		var data []byte
		if useDeltas {
			v, err := w.sets[to].VersionBinary()
			if err != nil {
				t.Fatal(err)
			}
			if data, err = w.sets[from].DeltaSinceBinary(v); err != nil {
				t.Fatal(err)
			}
		} else {
			data = mustMarshal(t, w.sets[from])
		}
		w.deliver(t, msg{to: to, state: true, data: data, know: maps.Clone(w.m.seen[from]), what: "exchange"})
	}
	for j := 1; j < len(w.sets); j++ {
		send(j, 0)
	}
	for j := 1; j < len(w.sets); j++ {
		send(0, j)
	}
}

// dump describes a set's state: each element with its dots, sorted, and
// the causal context.
func dump(s *Set[string]) string {
	var parts []string
	for _, e := range sorted(s) {
		ds := s.k.Dots(e)
		slices.SortFunc(ds, vclock.Dot.Compare)
		parts = append(parts, fmt.Sprintf("%s%v", e, ds))
	}
	return fmt.Sprintf("%v %s", parts, s.k.Context())
}
