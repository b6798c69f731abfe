package crdt_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/counter"
	"github.com/activeactive/crdt/lwwmap"
	"github.com/activeactive/crdt/memnet"
	"github.com/activeactive/crdt/ormap"
	"github.com/activeactive/crdt/orset"
	"github.com/activeactive/crdt/register"
	"github.com/activeactive/crdt/vclock"
)

// allNode is a replica with a dot store of every kind the engine retires
// writers of.
type allNode struct {
	r     *crdt.Replica
	set   *crdt.Handle[*orset.Set[string]]
	m     *crdt.Handle[*lwwmap.Map[string, int]]
	mv    *crdt.Handle[*register.MV[string]]
	lww   *crdt.Handle[*register.LWW[string]]
	carts *crdt.Handle[*ormap.Map[string, *ormap.Counter]]
	hits  *crdt.Handle[*counter.G]
	bal   *crdt.Handle[*counter.PN]
	snaps [][]byte // the snapshots write saved, oldest first
	// onSaveNeeded, if set, is what the node's host does when the
	// replica asks for a save (Config.OnSaveNeeded); unset, it saves a
	// snapshot into snaps.
	onSaveNeeded func()
}

// allNodeClock makes the clock of each allNode started.
var allNodeClock = testClock

func startAllNode(t *testing.T, net *memnet.Network, id, peer crdt.ReplicaID, snap []byte) *allNode {
	t.Helper()
	clk := allNodeClock()
	n := &allNode{}
	r, err := crdt.NewReplica(crdt.Config{ID: id, Transport: net.Transport(id), Clock: clk, AntiEntropyTicks: 10,
		OnSaveNeeded: func() {
			if n.onSaveNeeded != nil {
				n.onSaveNeeded()
				return
			}
			n.snaps = append(n.snaps, savedSnapshot(t, n.r))
		}})
	if err != nil {
		t.Fatal(err)
	}
	n.r = r
	reg := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	n.set, err = crdt.Register(r, "s", orset.New[string](id))
	reg(err)
	n.m, err = crdt.Register(r, "m", lwwmap.New[string, int](id, clk))
	reg(err)
	n.mv, err = crdt.Register(r, "mv", register.NewMV[string](id))
	reg(err)
	n.lww, err = crdt.Register(r, "lww", register.NewLWW[string](id, clk))
	reg(err)
	n.carts, err = crdt.Register(r, "carts", ormap.New[string, *ormap.Counter](id))
	reg(err)
	n.hits, err = crdt.Register(r, "hits", counter.NewG(id))
	reg(err)
	n.bal, err = crdt.Register(r, "balance", counter.NewPN(id))
	reg(err)
	attachRestored(t, net, r, snap, peer)
	return n
}

// write writes tag into every object, and saves the replica so that the
// ops may leave.
func (n *allNode) write(t *testing.T, tag string, i int) {
	t.Helper()
	n.writeOnly(t, tag, i)
	n.snaps = append(n.snaps, savedSnapshot(t, n.r))
}

// containsTag reports whether content names tag.
func containsTag(content, tag string) bool {
	return strings.Contains(content, " "+tag+" ") || strings.Contains(content, "["+tag+" ") ||
		strings.Contains(content, " "+tag+"]") || strings.Contains(content, "["+tag+"]")
}

// writeOnly writes tag into every object.
func (n *allNode) writeOnly(t *testing.T, tag string, i int) {
	t.Helper()
	for _, err := range []error{
		n.set.Update(func(s *orset.Set[string]) (crdt.Op, error) { return s.Add(tag), nil }),
		n.m.Update(func(m *lwwmap.Map[string, int]) (crdt.Op, error) { return m.Put(tag, i), nil }),
		n.mv.Update(func(m *register.MV[string]) (crdt.Op, error) { return m.Set(tag), nil }),
		n.lww.Update(func(r *register.LWW[string]) (crdt.Op, error) { return r.Set(tag), nil }),
		n.carts.Update(func(m *ormap.Map[string, *ormap.Counter]) (crdt.Op, error) {
			op := m.At("k").Add(1)
			return op, op.Err()
		}),
		n.hits.Update(func(c *counter.G) (crdt.Op, error) { return c.Inc(1) }),
		n.bal.Update(func(c *counter.PN) (crdt.Op, error) {
			if i%2 == 0 {
				return c.Add(2)
			}
			return c.Add(-1)
		}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// content describes what n holds, for comparing replicas.
func (n *allNode) content() string {
	var elems, keys []string
	var mv []string
	var lww string
	var k, bal int64
	var hits uint64
	n.hits.Read(func(c *counter.G) { hits = c.Value() })
	n.bal.Read(func(c *counter.PN) { bal = c.Value() })
	n.set.Read(func(s *orset.Set[string]) {
		for _, tag := range knownTags {
			if s.Contains(tag) {
				elems = append(elems, tag)
			}
		}
		for i := range 200 {
			if tag := fmt.Sprintf("t%d", i); s.Contains(tag) {
				elems = append(elems, tag)
			}
		}
	})
	n.m.Read(func(m *lwwmap.Map[string, int]) { keys = slices.Sorted(m.Keys()) })
	n.mv.Read(func(m *register.MV[string]) { mv = slices.Sorted(slices.Values(m.Values())) })
	n.lww.Read(func(r *register.LWW[string]) { lww, _ = r.Get() })
	n.carts.Read(func(m *ormap.Map[string, *ormap.Counter]) {
		if c, ok := m.Get("k"); ok {
			k = c.Value()
		}
	})
	return fmt.Sprintf("set %v, map keys %v, mv %v, lww %q, counter %d, G %d, PN %d", elems, keys, mv, lww, k, hits, bal)
}

func (n *allNode) names(w vclock.ReplicaID) bool {
	named := false
	n.set.Read(func(s *orset.Set[string]) { named = s.Version().Get(w) != 0 })
	return named
}

var allTags = []string{"a0", "b0", "s1", "f1", "f2", "s2", "s3"}

// knownTags are the tags content looks for in a set.
var knownTags = append(slices.Clone(allTags), "x0", "x1", "x2", "x3")

// Two processes under replica ID a retire each other's writer in turn
// (a copied disk started twice), each writing between the agreement of
// its own writer's retirement and its install. Once both are back, every
// object converges with every write of both.
func TestTwoProcessesRetireEachOtherEveryType(t *testing.T) {
	t.Run("first stays", func(t *testing.T) { twoProcessesRetireEachOther(t, false) })
	t.Run("second stays", func(t *testing.T) { twoProcessesRetireEachOther(t, true) })
}

func twoProcessesRetireEachOther(t *testing.T, secondStays bool) {
	net := memnet.New(9)
	first := startAllNode(t, net, "a", "b", nil)
	b := startAllNode(t, net, "b", "a", nil)
	rounds := roundsOf(net, (*allNode).replica)
	first.write(t, "a0", 0)
	b.write(t, "b0", 0)
	rounds(30, first, b)
	w1 := first.r.Writer()
	second := startAllNode(t, net, "a", "b", savedSnapshot(t, first.r))
	w2 := second.r.Writer()
	second.write(t, "s1", 1)
	first.write(t, "f1", 2)
	rounds(3, second, b)
	first.write(t, "f2", 3)
	runUntilRetired(t, rounds, b, w1, second, b)
	net.Attach("a", first.r)
	second.write(t, "s2", 4)
	rounds(3, first, b)
	second.write(t, "s3", 5)
	runUntilRetired(t, rounds, b, w2, first, b)
	takeTurns(net, rounds, 100, second, first, b)
	last := first
	if secondStays {
		net.Attach("a", second.r)
		last = second
	}
	rounds(100, last, b)
	if st := first.r.Stats(); st.RetiredPastFinal == 0 {
		t.Fatalf("the first process installed the retirement of %s holding nothing past Final: the accident did not happen", w1)
	}
	if st := second.r.Stats(); st.RetiredPastFinal == 0 {
		t.Fatalf("the second process installed the retirement of %s holding nothing past Final: the accident did not happen", w2)
	}
	want := fmt.Sprintf("set %v, map keys %v", allTags, slices.Sorted(slices.Values(allTags)))
	for _, n := range []*allNode{first, second, b} {
		t.Logf("%s %s: %s", n.r.ID(), n.r.Writer(), n.content())
	}
	if last.content() != b.content() {
		t.Fatalf("a and b differ:\na %s\nb %s", last.content(), b.content())
	}
	if got := b.content(); got[:len(want)] != want {
		t.Fatalf("b holds %s, want %s ...", got, want)
	}
}
