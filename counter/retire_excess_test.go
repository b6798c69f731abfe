package counter

import (
	"testing"

	"github.com/activeactive/crdt/vclock"
	"pgregory.net/rapid"
)

// excessKind describes G or PN to checkExcessHistory: how a writer's
// process changes its own entry, as a total the model keeps.
type excessKind[C retCounter[C]] struct {
	empty func() C
	// change applies to c, as writer w, a change of d to the totals
	// (p, n) the model keeps for w, and returns them.
	change func(t *rapid.T, c C, w vclock.ReplicaID, p, n uint64) (uint64, uint64)
	value  func(c C) int64
	// up returns what a retirement of w agreed on c's state says of the
	// kinds of w's events (see vclock.Retirement.Up).
	up func(c C, w vclock.ReplicaID) (uint64, bool)
}

var gExcess = excessKind[*G]{
	empty: func() *G { return &G{} },
	change: func(t *rapid.T, c *G, w vclock.ReplicaID, p, n uint64) (uint64, uint64) {
		p += rapid.Uint64Range(1, 3).Draw(t, "inc")
		if err := c.Apply(GOp{Replica: w, Count: p}); err != nil {
			t.Fatal(err)
		}
		return p, n
	},
	value: func(c *G) int64 { return int64(c.Value()) },
	up:    func(*G, vclock.ReplicaID) (uint64, bool) { return 0, false },
}

var pnExcess = excessKind[*PN]{
	empty: func() *PN { return &PN{} },
	change: func(t *rapid.T, c *PN, w vclock.ReplicaID, p, n uint64) (uint64, uint64) {
		if rapid.Bool().Draw(t, "up") {
			p += rapid.Uint64Range(1, 3).Draw(t, "inc")
		} else {
			n += rapid.Uint64Range(1, 3).Draw(t, "dec")
		}
		if err := c.Apply(PNOp{Replica: w, P: p, N: n}); err != nil {
			t.Fatal(err)
		}
		return p, n
	},
	value: func(c *PN) int64 { return c.Value() },
	up:    func(c *PN, w vclock.ReplicaID) (uint64, bool) { return c.Increments(w), true },
}

// checkExcessHistory runs, as the replication engine has it, four
// replicas of a counter through the retirement of a!1 and then of a!2,
// whose processes (two processes under the name a, each retiring the
// other's writer) keep counting after each retirement is agreed, until
// they install it: the excess of each retired writer reaches some
// replicas before they install and not others. A writer changes only its
// own process's state, and only while that process has not installed
// its retirement; replicas merge only while they have installed the same
// retirements (replicas whose ledgers differ exchange no data);
// retirements are agreed only once every replica holds the retired
// writer's every change so far, and installed in order. Once every
// replica has installed both and all have merged, each must read the
// sum of every change made.
func checkExcessHistory[C retCounter[C]](t *rapid.T, k excessKind[C]) {
	writers := []vclock.ReplicaID{wA1, wA2, wB1, vclock.Writer("a", 3)}
	// Replica i is the process of writers[i].
	reps := make([]C, len(writers))
	for i := range reps {
		reps[i] = k.empty()
	}
	var tp, tn [4]uint64                // the model: each writer's totals
	installed := make([]int, len(reps)) // retirements each replica installed
	var rets []vclock.Retirement        // the agreed ones
	var base uint64
	for range rapid.IntRange(0, 60).Draw(t, "steps") {
		switch rapid.IntRange(0, 3).Draw(t, "action") {
		case 0: // a writer changes its own process's state
			w := rapid.IntRange(0, len(writers)-1).Draw(t, "writer")
			if w < 2 && installed[w] > w {
				continue // its process installed its retirement: it writes as another writer
			}
			tp[w], tn[w] = k.change(t, reps[w], writers[w], tp[w], tn[w])
		case 1: // a merge between replicas of the same ledger
			i := rapid.IntRange(0, len(reps)-1).Draw(t, "into")
			j := rapid.IntRange(0, len(reps)-1).Draw(t, "from")
			if installed[i] == installed[j] {
				reps[i].Merge(reps[j])
			}
		case 2: // the next retirement is agreed
			if len(rets) == 2 || slicesMin(installed) < len(rets) {
				continue
			}
			// Every replica holds the writer's every change so far.
			w := len(rets)
			for i := range reps {
				reps[i].Merge(reps[w])
			}
			final := reps[w].Version().Get(writers[w])
			if final == 0 {
				continue
			}
			up, known := k.up(reps[w], writers[w])
			rets = append(rets, vclock.Retirement{From: writers[w], To: wA0, Base: base, Final: final, Up: up, UpKnown: known})
			base += final
		case 3: // a replica installs the next agreed retirement
			i := rapid.IntRange(0, len(reps)-1).Draw(t, "installer")
			if installed[i] < len(rets) {
				if err := reps[i].Retire(rets[installed[i]]); err != nil {
					t.Fatalf("replica %d installing %+v: %v", i, rets[installed[i]], err)
				}
				installed[i]++
			}
		}
	}
	for i := range reps {
		for ; installed[i] < len(rets); installed[i]++ {
			if err := reps[i].Retire(rets[installed[i]]); err != nil {
				t.Fatal(err)
			}
		}
	}
	for range 2 {
		for i := range reps {
			for j := range reps {
				reps[i].Merge(reps[j])
			}
		}
	}
	var want int64
	for w := range writers {
		want += int64(tp[w]) - int64(tn[w])
	}
	for i, c := range reps {
		if got := k.value(c); got != want {
			t.Fatalf("replica %d reads %d after %d retirements, want %d (version %v)", i, got, len(rets), want, c.Version())
		}
	}
}

func slicesMin(s []int) int {
	m := s[0]
	for _, x := range s[1:] {
		m = min(m, x)
	}
	return m
}

// TestGRetireExcessHistories: a G loses no increment of a writer that
// counted past its retirement's Final, however the excess of successive
// retirements is spread among the replicas.
func TestGRetireExcessHistories(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) { checkExcessHistory(t, gExcess) })
}

// TestPNRetireExcessHistories is TestGRetireExcessHistories for a PN.
func TestPNRetireExcessHistories(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) { checkExcessHistory(t, pnExcess) })
}

// TestPNRetireKeepsAboveFinalWithUp: told how many of From's first Final
// changes were increments, a PN moves exactly those changes into To and
// keeps the rest under From's name; the value does not change.
func TestPNRetireKeepsAboveFinalWithUp(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p0 := rapid.Uint64Range(0, 10).Draw(t, "p0")
		n0 := rapid.Uint64Range(0, 10).Draw(t, "n0")
		dp := rapid.Uint64Range(0, 10).Draw(t, "dp")
		dn := rapid.Uint64Range(0, 10).Draw(t, "dn")
		if p0+n0+dp+dn == 0 {
			dp = 1
		}
		c := &PN{}
		for _, op := range []PNOp{{Replica: wA0, P: 4, N: 2}, {Replica: wA1, P: p0 + dp, N: n0 + dn}, {Replica: wB1, P: 3, N: 1}} {
			if err := c.Apply(op); err != nil {
				t.Fatal(err)
			}
		}
		rc := c.Clone()
		if err := rc.Retire(vclock.Retirement{From: wA1, To: wA0, Base: 6, Final: p0 + n0, Up: p0, UpKnown: true}); err != nil {
			t.Fatal(err)
		}
		want := &PN{}
		for _, op := range []PNOp{{Replica: wA0, P: 4 + p0, N: 2 + n0}, {Replica: wA1, P: dp, N: dn}, {Replica: wB1, P: 3, N: 1}} {
			if err := want.Apply(op); err != nil {
				t.Fatal(err)
			}
		}
		if p0+n0 == 0 {
			want = c // Final 0: nothing moves
		}
		sameCounter(t, "retired with Up", rc, want)
		if rc.Value() != c.Value() {
			t.Fatalf("value %d, want %d", rc.Value(), c.Value())
		}
	})
}
