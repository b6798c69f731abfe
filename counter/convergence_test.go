package counter

import (
	"fmt"
	"testing"

	"github.com/activeactive/crdt"
	"pgregory.net/rapid"
)

// A message in flight between two replicas of a simulated network.
type message struct {
	to    int
	state bool // a state or delta for MergeBinary; otherwise an op for ApplyBinary
	data  []byte
}

// simulate runs replicas over a network that loses, duplicates, delays and
// reorders messages, as rapid draws, mixing ops, full states and deltas;
// then it runs a final reliable exchange. count(i) makes replica i count and
// returns the encoded op; check runs after every step.
func simulate(t *rapid.T, reps []crdt.DeltaObject, count func(i int) []byte, check func()) {
	var net []message
	pick := func(label string, n int) int { return rapid.IntRange(0, n-1).Draw(t, label) }
	send := func(from, to int, state bool, data []byte, err error) {
		if err != nil {
			t.Fatalf("replica %d: %v", from, err)
		}
		net = append(net, message{to: to, state: state, data: data})
	}
	deliver := func(m message) {
		var err error
		if m.state {
			_, err = reps[m.to].MergeBinary(m.data)
		} else {
			_, err = reps[m.to].ApplyBinary(m.data)
		}
		if err != nil {
			t.Fatalf("replica %d refused a message: %v", m.to, err)
		}
	}
	for k := range rapid.IntRange(0, 60).Draw(t, "steps") {
		l := func(s string) string { return fmt.Sprintf("%s %d", s, k) }
		switch rapid.IntRange(0, 6).Draw(t, l("action")) {
		case 0, 1: // count and broadcast the op
			i := pick(l("counter"), len(reps))
			op := count(i)
			for j := range reps {
				if j != i {
					send(i, j, false, op, nil)
				}
			}
		case 2: // send a whole state
			i, j := pick(l("from"), len(reps)), pick(l("to"), len(reps))
			data, err := reps[i].MarshalBinary()
			send(i, j, true, data, err)
		case 3: // send a delta against the receiver's version as of now
			i, j := pick(l("from"), len(reps)), pick(l("to"), len(reps))
			v, err := reps[j].VersionBinary()
			if err != nil {
				t.Fatal(err)
			}
			data, err := reps[i].DeltaSinceBinary(v)
			send(i, j, true, data, err)
		case 4, 5: // deliver any message, perhaps keeping a duplicate in flight
			if len(net) == 0 {
				continue
			}
			m := pick(l("message"), len(net))
			deliver(net[m])
			if !rapid.Bool().Draw(t, l("duplicate")) {
				net = append(net[:m], net[m+1:]...)
			}
		case 6: // lose a message
			if len(net) > 0 {
				m := pick(l("lost"), len(net))
				net = append(net[:m], net[m+1:]...)
			}
		}
		check()
	}
	// Final reliable exchange: every replica sends every other what it
	// lacks.
	for i := range reps {
		for j := range reps {
			v, err := reps[j].VersionBinary()
			if err != nil {
				t.Fatal(err)
			}
			d, err := reps[i].DeltaSinceBinary(v)
			if err != nil {
				t.Fatal(err)
			}
			deliver(message{to: j, state: true, data: d})
		}
	}
	check()
	// Messages still in flight arrive late: they change nothing.
	var before [][]byte
	for _, r := range reps {
		b, _ := r.MarshalBinary()
		before = append(before, b)
	}
	for _, m := range net {
		deliver(m)
	}
	for i, r := range reps {
		b, _ := r.MarshalBinary()
		if string(b) != string(before[i]) {
			t.Fatalf("a late message changed replica %d after convergence", i)
		}
	}
}

func TestGConvergence(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ids := replicaIDs(rapid.IntRange(2, 5).Draw(t, "replicas"))
		reps := make([]*G, len(ids))
		objs := make([]crdt.DeltaObject, len(ids))
		for i, id := range ids {
			reps[i] = NewG(id)
			objs[i] = reps[i]
		}
		var model uint64 // the naive reference: every increment performed
		count := func(i int) []byte {
			n := rapid.Uint64Range(0, 1000).Draw(t, "n")
			op, err := reps[i].Inc(n)
			if err != nil {
				t.Fatal(err)
			}
			model += n
			data, err := op.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			return data
		}
		check := func() {
			for i, r := range reps {
				gInvariant(t, r)
				if r.Value() > model {
					t.Fatalf("replica %d reads %d, more than the %d counted: an increment counted twice", i, r.Value(), model)
				}
			}
		}
		simulate(t, objs, count, check)
		for i, r := range reps {
			if !r.Equal(reps[0]) {
				t.Fatalf("replica %d did not converge: %+v vs %+v", i, r.e, reps[0].e)
			}
			if r.Value() != model {
				t.Fatalf("replica %d reads %d, want %d", i, r.Value(), model)
			}
		}
	})
}

func TestPNConvergence(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ids := replicaIDs(rapid.IntRange(2, 5).Draw(t, "replicas"))
		reps := make([]*PN, len(ids))
		objs := make([]crdt.DeltaObject, len(ids))
		for i, id := range ids {
			reps[i] = NewPN(id)
			objs[i] = reps[i]
		}
		var model int64 // the naive reference: every change performed
		// The totals each replica went through; any replica may only ever
		// hold one of these for it.
		seen := make(map[PNOp]bool)
		count := func(i int) []byte {
			d := rapid.Int64Range(-1000, 1000).Draw(t, "d")
			op, err := reps[i].Add(d)
			if err != nil {
				t.Fatal(err)
			}
			model += d
			seen[op] = true
			data, err := op.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			return data
		}
		check := func() {
			for i, r := range reps {
				pnInvariant(t, r)
				for _, e := range r.e {
					if !seen[PNOp{Replica: e.id, P: e.p, N: e.n}] {
						t.Fatalf("replica %d holds totals %+v that replica %q never had", i, e, e.id)
					}
				}
			}
		}
		simulate(t, objs, count, check)
		for i, r := range reps {
			if !r.Equal(reps[0]) {
				t.Fatalf("replica %d did not converge: %+v vs %+v", i, r.e, reps[0].e)
			}
			if r.Value() != model {
				t.Fatalf("replica %d reads %d, want %d", i, r.Value(), model)
			}
		}
	})
}
