package crdttest

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"pgregory.net/rapid"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/vclock"
)

// Sizes of the generated cases. They are small on purpose: conflicts need
// collisions, and rapid's shrinking works best on short runs.
const (
	worldReplicas = 4 // at most, for the laws on states
	netReplicas   = 5 // at most, for Convergence and Model
	skewStep      = 5 // nanoseconds between the possible clock skews
	maxSkew       = 2 // skewSteps either side of the shared time
	maxTick       = 3 // nanoseconds the shared time moves per tick
	// epoch is where the shared manual time starts: 2026-01-01T00:00:00Z.
	epoch int64 = 1_767_225_600_000_000_000
)

// replicaID names the i-th replica of a run: r1, r2, ...
func replicaID(i int) crdt.ReplicaID { return crdt.ReplicaID(fmt.Sprintf("r%d", i+1)) }

// observer is the ID of the fresh replicas that only receive.
const observer crdt.ReplicaID = "observer"

// replica is one replica of a run, with what it has seen.
type replica[S any] struct {
	id   crdt.ReplicaID
	s    S
	clk  *clock.Clock
	skew int64
	seen bits
}

// checker runs one case of one law.
type checker[S, O any] struct {
	ty     *Type[S, O]
	t      *rapid.T
	law    Law
	report func(*Violation)

	now   int64 // the shared manual time, in nanoseconds
	reps  []*replica[S]
	hist  History[O]
	trace []traceLine

	past   []S        // clones of the world's states after each step
	pastOf []pastNote // whose they are and when

	modelDone  bool
	modelLen   int // the history length modelValue was computed for
	modelValue any
}

// pastNote says which replica a state of checker.past was, after which
// line of the trace.
type pastNote struct {
	id   crdt.ReplicaID
	line int
}

// traceLine is one step of a case, formatted only if a failing case is
// reported.
type traceLine struct {
	format string
	args   []any
}

func formatTrace(lines []traceLine) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = fmt.Sprintf(l.format, l.args...)
	}
	return out
}

// property returns the rapid property checking law on ty. report, if not
// nil, is called with nil when a case starts and with the violation when
// it fails.
func property[S, O any](ty *Type[S, O], law Law, report func(*Violation)) func(*rapid.T) {
	return func(t *rapid.T) {
		if report != nil {
			report(nil)
		}
		c := &checker[S, O]{ty: ty, t: t, law: law, report: report, now: epoch}
		switch law {
		case LawIndependence:
			c.independence()
		case LawMergeIdempotent:
			c.mergeIdempotent()
		case LawMergeCommutative:
			c.mergeCommutative()
		case LawMergeAssociative:
			c.mergeAssociative()
		case LawOps:
			c.ops()
		case LawDelta:
			c.delta()
		case LawParts:
			c.parts()
		case LawEncoding:
			c.encoding()
		case LawConvergence:
			c.network()
			for _, r := range c.reps[1:] {
				c.converged(c.reps[0], r) // every replica has seen every update
			}
		case LawModel:
			c.network()
			for _, r := range c.reps {
				c.modelHolds(r)
			}
		}
	}
}

// fail reports a violation of the checker's law and ends the case. The
// trace is formatted only when someone reads it: rapid fails a case
// thousands of times while it shrinks it.
func (c *checker[S, O]) fail(msg, detail string) {
	v := &Violation{Type: c.ty.Name, Law: c.law, Msg: msg, Detail: detail, lines: c.trace}
	if c.report != nil {
		c.report(v)
	}
	c.t.Logf("%v", v) // formatted only in the run rapid reports
	c.t.Fatalf("crdttest: law %s violated: %s", c.law, msg)
}

func (c *checker[S, O]) logf(format string, args ...any) {
	c.trace = append(c.trace, traceLine{format, args})
}

// shown is a state's Value in a trace line.
type shown struct{ v any }

func (s shown) String() string {
	if s.v == nil {
		return ""
	}
	return fmt.Sprintf(" → %v", s.v)
}

// show returns s's Value for the trace, if the Type has Value.
func (c *checker[S, O]) show(s S) shown {
	if c.ty.Value == nil {
		return shown{}
	}
	return shown{c.ty.Value(s)}
}

func (c *checker[S, O]) newReplica(id crdt.ReplicaID, skew int64) *replica[S] {
	r := &replica[S]{id: id, skew: skew}
	r.clk = clock.New(clock.WithSource(func() int64 { return c.now + r.skew }), clock.WithMaxOffset(0))
	r.s = c.ty.New(id, r.clk)
	return r
}

// fresh returns the state of a new replica that only receives.
func (c *checker[S, O]) fresh() S { return c.newReplica(observer, 0).s }

// addReplicas makes between 2 and max replicas with random clock skews.
func (c *checker[S, O]) addReplicas(max int) {
	n := rapid.IntRange(2, max).Draw(c.t, "replicas")
	for i := range n {
		skew := c.drawSkew()
		c.reps = append(c.reps, c.newReplica(replicaID(i), skew))
		c.logf("replica %s, clock skew %+dns", replicaID(i), skew)
	}
}

func (c *checker[S, O]) pick(label string) int {
	return rapid.IntRange(0, len(c.reps)-1).Draw(c.t, label)
}

// pickPair draws two distinct replicas.
func (c *checker[S, O]) pickPair() (dst, src int) {
	dst = c.pick("dst")
	src = rapid.IntRange(0, len(c.reps)-2).Draw(c.t, "src")
	if src >= dst {
		src++
	}
	return dst, src
}

// mutate draws a mutation at replica i and records it.
func (c *checker[S, O]) mutate(i int) int {
	r := c.reps[i]
	op := c.ty.Mutate(c.t, r.s)
	ev := Event[O]{
		Index:   len(c.hist),
		Replica: r.id,
		Op:      op,
		Time:    r.clk.Last(),
		Seen:    r.seen.list(),
	}
	c.hist = append(c.hist, ev)
	r.seen.add(ev.Index)
	c.logf("#%d at %s: %+v%s", ev.Index, r.id, op, c.show(r.s))
	return ev.Index
}

// apply applies the op of event k to s, failing on an error.
func (c *checker[S, O]) apply(s S, op O) {
	if err := c.ty.Apply(s, op); err != nil {
		c.fail("Apply returned an error for an op the harness's replicas made", err.Error())
	}
}

// deliver applies the op of event k at replica i, through the encoding if
// wire is set.
func (c *checker[S, O]) deliver(i, k int, wire bool) {
	r := c.reps[i]
	op := c.hist[k].Op
	how := ""
	if wire {
		op = c.opRoundTrip(op)
		how = " (encoded)"
	}
	c.apply(r.s, op)
	r.seen.add(k)
	c.logf("apply #%d at %s%s%s", k, r.id, how, c.show(r.s))
}

// mergeFrom merges replica src's state into replica dst: the whole state,
// or a delta, through the encoding or not.
func (c *checker[S, O]) mergeFrom(dst, src int, delta, wire bool) {
	d, s := c.reps[dst], c.reps[src]
	what := "state"
	from := s.s
	if delta {
		what = "delta"
		from = c.ty.DeltaSince(s.s, c.ty.Version(d.s))
	}
	if wire {
		from = c.stateRoundTrip(from)
		what += " (encoded)"
	}
	c.ty.Merge(d.s, from)
	d.seen.union(s.seen)
	c.logf("merge %s of %s into %s%s", what, s.id, d.id, c.show(d.s))
}

// drawSkew draws a replica's clock skew. Skews are coarse, a few ticks
// apart: replicas with equal skews make writes with exactly equal
// timestamps, and a replica behind the others makes writes that would
// order before what it has seen if it did not advance its clock.
func (c *checker[S, O]) drawSkew() int64 {
	return skewStep * rapid.Int64Range(-maxSkew, maxSkew).Draw(c.t, "skew")
}

// tick moves the shared time forward, and sometimes a replica's skew.
func (c *checker[S, O]) tick() {
	dt := rapid.Int64Range(1, maxTick).Draw(c.t, "tick")
	c.now += dt
	if rapid.Bool().Draw(c.t, "reskew") {
		i := c.pick("replica")
		c.reps[i].skew = c.drawSkew()
		c.logf("time +%dns, clock skew of %s now %+dns", dt, c.reps[i].id, c.reps[i].skew)
		return
	}
	c.logf("time +%dns", dt)
}

// world builds replicas and runs random mutations, merges, delta merges,
// op deliveries and clock ticks on them: the states the laws on states are
// checked on.
func (c *checker[S, O]) world() {
	c.addReplicas(worldReplicas)
	c.repeat(func() {
		i := -1
		switch k := rapid.IntRange(0, 99).Draw(c.t, "step"); {
		case k < 45:
			i = c.pick("replica")
			c.mutate(i)
		case k < 65:
			dst, src := c.pickPair()
			c.mergeFrom(dst, src, false, false)
			i = dst
		case k < 75:
			dst, src := c.pickPair()
			c.mergeFrom(dst, src, c.ty.DeltaSince != nil, false)
			i = dst
		case k < 90:
			if len(c.hist) == 0 {
				return
			}
			ev := rapid.IntRange(0, len(c.hist)-1).Draw(c.t, "event")
			i = c.pick("replica")
			c.deliver(i, ev, false)
		default:
			c.tick()
		}
		if i >= 0 {
			c.past = append(c.past, c.clone(c.reps[i].s))
			c.pastOf = append(c.pastOf, pastNote{c.reps[i].id, len(c.trace)})
		}
	})
}

// repeat runs step a random number of times (rapid's -rapid.steps on
// average), so that rapid can drop any one step, with its draws, when it
// shrinks a failing case.
func (c *checker[S, O]) repeat(step func()) {
	c.t.Repeat(map[string]func(*rapid.T){"step": func(*rapid.T) { step() }})
}

// states returns the states the laws on states draw from: every replica
// now, as it was after each step that changed it, and a fresh replica.
func (c *checker[S, O]) states() ([]S, []string) {
	var ss []S
	var names []string
	for _, r := range c.reps {
		ss = append(ss, r.s)
		names = append(names, string(r.id))
	}
	ss = append(append(ss, c.fresh()), c.past...)
	names = append(names, "a fresh replica")
	for _, p := range c.pastOf {
		names = append(names, fmt.Sprintf("%s as it was after step %d", p.id, p.line))
	}
	return ss, names
}

// pickState draws one of the world's states or a fresh one.
func (c *checker[S, O]) pickState(label string) S {
	ss, names := c.states()
	i := rapid.IntRange(0, len(ss)-1).Draw(c.t, label)
	c.logf("%s = %s", label, names[i])
	return ss[i]
}

func (c *checker[S, O]) clone(s S) S { return c.ty.Clone(s) }

func (c *checker[S, O]) merged(a, b S) S {
	x := c.clone(a)
	c.ty.Merge(x, b)
	return x
}

// same fails with msg unless want and got are Equal and have equal Values.
func (c *checker[S, O]) same(want, got S, msg string) {
	eq := c.ty.Equal(want, got)
	diff, veq := "", true
	if c.ty.Value != nil {
		diff, veq = c.diffValues(c.ty.Value(want), c.ty.Value(got))
	}
	if !eq {
		if diff == "" && c.ty.Value != nil {
			diff = "(the Values are equal; the states differ in what Value does not show)"
		}
		c.fail(msg, diff)
	}
	if !veq {
		c.fail(msg+" (Equal holds, but the Values differ)", diff)
	}
}

// diffValues compares two values with go-cmp, falling back to
// reflect.DeepEqual for values go-cmp refuses (unexported fields).
func (c *checker[S, O]) diffValues(want, got any) (diff string, equal bool) {
	opts := append([]cmp.Option{cmpopts.EquateEmpty()}, c.ty.CmpOptions...)
	defer func() {
		if recover() != nil {
			equal = reflect.DeepEqual(want, got)
			diff = ""
			if !equal {
				diff = fmt.Sprintf("want Value: %#v\n got Value: %#v", want, got)
			}
		}
	}()
	if cmp.Equal(want, got, opts...) {
		return "", true
	}
	return "Value diff (-want +got):\n" + cmp.Diff(want, got, opts...), false
}

func (c *checker[S, O]) stateRoundTrip(s S) S {
	b, err := c.ty.MarshalState(s)
	if err != nil {
		c.fail("MarshalState returned an error", err.Error())
	}
	d, err := c.ty.UnmarshalState(b)
	if err != nil {
		c.fail("UnmarshalState refused what MarshalState wrote", err.Error())
	}
	return d
}

func (c *checker[S, O]) opRoundTrip(op O) O {
	b, err := c.ty.MarshalOp(op)
	if err != nil {
		c.fail("MarshalOp returned an error", err.Error())
	}
	d, err := c.ty.UnmarshalOp(b)
	if err != nil {
		c.fail("UnmarshalOp refused what MarshalOp wrote", err.Error())
	}
	return d
}

// snapshot is what a state looked like at one moment.
type snapshot[S any] struct {
	value any // Value, if the Type has it
	state S   // decoded from MarshalState, if the Type has it
}

func (c *checker[S, O]) snap(s S) snapshot[S] {
	var sn snapshot[S]
	if c.ty.Value != nil {
		sn.value = c.ty.Value(s)
	}
	if c.ty.MarshalState != nil {
		sn.state = c.stateRoundTrip(s)
	}
	return sn
}

// unchanged fails with msg if s no longer looks like before.
func (c *checker[S, O]) unchanged(before snapshot[S], s S, msg string) {
	now := c.snap(s)
	if c.ty.Value != nil {
		if diff, eq := c.diffValues(before.value, now.value); !eq {
			c.fail(msg, diff)
		}
	}
	if c.ty.MarshalState != nil && !c.ty.Equal(before.state, now.state) {
		c.fail(msg, "")
	}
}

// effect returns a fresh replica's state after applying op.
func (c *checker[S, O]) effect(op O) S {
	s := c.fresh()
	c.apply(s, op)
	return s
}

func (c *checker[S, O]) independence() {
	c.world()

	s := c.pickState("s")
	cl := c.clone(s)
	c.same(s, cl, "Clone(s) is not Equal to s")
	before := c.snap(s)
	c.logf("mutate the clone")
	c.ty.Mutate(c.t, cl)
	c.unchanged(before, s, "mutating a Clone changed the original")

	a, b := c.pickState("a"), c.pickState("b")
	x := c.clone(a)
	before = c.snap(b)
	c.ty.Merge(x, b)
	c.unchanged(before, b, "Merge(x, b) changed b")
	c.logf("mutate x after Merge(x, b)")
	c.ty.Mutate(c.t, x)
	c.unchanged(before, b, "mutating x after Merge(x, b) changed b")

	if c.ty.DeltaSince != nil {
		before = c.snap(a)
		y := c.clone(b)
		c.ty.Merge(y, c.ty.DeltaSince(a, c.ty.Version(y)))
		c.logf("mutate y after Merge(y, DeltaSince(a, Version(y)))")
		c.ty.Mutate(c.t, y)
		c.unchanged(before, a, "mutating a state after merging a delta of a into it changed a")
	}

	// An op must not share storage with the replica that made it or
	// applied it: mutating either later must not change the op.
	z := c.clone(a)
	op := c.ty.Mutate(c.t, z)
	c.logf("op %+v made at a clone of a", op)
	want := c.snap(c.effect(op))
	w := c.fresh()
	c.apply(w, op)
	c.logf("mutate the clone of a and a replica that applied the op")
	c.ty.Mutate(c.t, z)
	c.ty.Mutate(c.t, w)
	c.unchanged(want, c.effect(op), "an op changed after its replica, or one that applied it, mutated again")
}

func (c *checker[S, O]) mergeIdempotent() {
	c.world()
	a, b := c.pickState("a"), c.pickState("b")
	c.same(a, c.merged(a, a), "Merge(a, a) is not Equal to a")
	ab := c.merged(a, b)
	c.same(ab, c.merged(ab, b), "merging b twice into a differs from merging it once")
}

func (c *checker[S, O]) mergeCommutative() {
	c.world()
	a, b := c.pickState("a"), c.pickState("b")
	c.same(c.merged(a, b), c.merged(b, a), "Merge(a, b) differs from Merge(b, a)")
}

func (c *checker[S, O]) mergeAssociative() {
	c.world()
	a, b, x := c.pickState("a"), c.pickState("b"), c.pickState("c")
	left := c.merged(c.merged(a, b), x)
	right := c.merged(a, c.merged(b, x))
	c.same(left, right, "(a merge b) merge c differs from a merge (b merge c)")
}

func (c *checker[S, O]) ops() {
	c.world()
	n := len(c.hist)
	var order []int
	if n > 0 {
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		order = rapid.Permutation(idx).Draw(c.t, "order")
		dups := rapid.SliceOfN(rapid.IntRange(0, n-1), 0, n).Draw(c.t, "duplicates")
		for _, d := range dups {
			at := rapid.IntRange(0, len(order)).Draw(c.t, "at")
			order = slices.Insert(order, at, d)
		}
	}
	c.logf("apply at a fresh replica, in order: %v", order)
	byOps := c.fresh()
	for _, k := range order {
		c.apply(byOps, c.hist[k].Op)
	}
	byMerge := c.fresh()
	for _, r := range c.reps {
		c.ty.Merge(byMerge, r.s)
	}
	c.same(byMerge, byOps, "applying every op, in any order and with duplicates, differs from merging every replica")
}

func (c *checker[S, O]) delta() {
	c.world()
	a, b := c.pickState("a"), c.pickState("b")
	byDelta := c.merged(b, c.ty.DeltaSince(a, c.ty.Version(b)))
	c.same(c.merged(b, a), byDelta, "Merge(b, DeltaSince(a, Version(b))) differs from Merge(b, a)")
}

// parts checks LawParts: a's state, or its delta since b's version, cut
// into parts and merged into b part by part.
func (c *checker[S, O]) parts() {
	c.world()
	a, b := c.pickState("sender"), c.pickState("receiver")
	want := c.merged(b, a)
	var version []byte
	if rapid.Bool().Draw(c.t, "delta") {
		v, err := c.ty.Version(b).MarshalBinary()
		if err != nil {
			c.t.Fatalf("encoding a version: %v", err)
		}
		version = v
		c.logf("cut a's delta since b's version %v", c.ty.Version(b))
	} else {
		c.logf("cut a's whole state")
	}
	max := rapid.IntRange(32, 320).Draw(c.t, "max")
	parts, ordered, err := c.ty.Chunks(a, version, max)
	for err != nil && max < 1<<16 {
		// A value or record larger than the smallest budgets.
		max *= 2
		parts, ordered, err = c.ty.Chunks(a, version, max)
	}
	if err != nil {
		c.fail(fmt.Sprintf("Chunks with a budget of %d bytes: %v", max, err), "")
	}
	if len(parts) == 0 {
		return // it fits whole
	}
	if ordered < 0 || ordered > len(parts) {
		c.fail(fmt.Sprintf("Chunks returned %d parts, %d of them unordered", len(parts), ordered), "")
	}
	for i, p := range parts {
		if len(p) > max {
			c.fail(fmt.Sprintf("part %d of %d takes %d bytes, over its budget of %d", i, len(parts), len(p), max), "")
		}
	}
	var deliver []int
	lost := false
	for _, i := range rapid.Permutation(rangeOf(ordered)).Draw(c.t, "unordered parts") {
		switch rapid.IntRange(0, 5).Draw(c.t, "fate") {
		case 0:
			lost = true
			continue
		case 1:
			deliver = append(deliver, i) // twice
		}
		deliver = append(deliver, i)
	}
	complete := false
	if !lost {
		n := len(parts) - ordered
		if !rapid.Bool().Draw(c.t, "all ordered parts") {
			n = rapid.IntRange(0, n).Draw(c.t, "ordered parts")
		}
		deliver = append(deliver, rangeOf(len(parts))[ordered:ordered+n]...)
		complete = ordered+n == len(parts)
	}
	got := c.clone(b)
	for n, i := range deliver {
		c.logf("merge part %d of %d into b", i, len(parts))
		if err := c.ty.MergeChunk(got, parts[i]); err != nil {
			c.fail(fmt.Sprintf("MergeChunk of part %d of %d: %v", i, len(parts), err), "")
		}
		if n+1 < len(deliver) && rapid.IntRange(0, 3).Draw(c.t, "look") != 0 {
			continue
		}
		caught := c.merged(got, c.ty.DeltaSince(a, c.ty.Version(got)))
		c.same(want, caught, fmt.Sprintf("after part %d of %d, merging a's delta since the receiver's version %v differs from Merge(b, a)", i, len(parts), c.ty.Version(got)))
	}
	if complete {
		c.same(want, got, "every part merged differs from Merge(b, a)")
	}
}

// rangeOf returns 0, 1, ..., n-1.
func rangeOf(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

func (c *checker[S, O]) encoding() {
	c.world()
	ss, names := c.states()
	if c.ty.MarshalState != nil {
		for i, s := range ss {
			c.logf("encode the state of %s", names[i])
			c.same(s, c.stateRoundTrip(s), "UnmarshalState(MarshalState(s)) is not Equal to s")
		}
	}
	if c.ty.MarshalOp != nil {
		for k := range c.hist {
			op := c.hist[k].Op
			i := rapid.IntRange(0, len(ss)-1).Draw(c.t, "base")
			c.logf("encode op #%d and apply it at %s", k, names[i])
			dec := c.opRoundTrip(op)
			x, y := c.clone(ss[i]), c.clone(ss[i])
			c.apply(x, op)
			c.apply(y, dec)
			c.same(x, y, "applying UnmarshalOp(MarshalOp(op)) differs from applying op")
		}
	}
}

// message is an op in flight to a replica.
type message struct{ to, ev int }

// network runs replicas that mutate and exchange ops over a network that
// loses, duplicates, reorders and partitions, mixed with state and delta
// exchanges, then delivers everything reliably.
func (c *checker[S, O]) network() {
	c.addReplicas(netReplicas)
	n := len(c.reps)
	var inflight, lost []message
	cut := make([]bool, n*n) // cut[i*n+j]: nothing goes from i to j
	open := func(from, to int) bool { return !cut[from*n+to] }
	origin := func(m message) int {
		return slices.IndexFunc(c.reps, func(r *replica[S]) bool { return r.id == c.hist[m.ev].Replica })
	}
	wireOps := c.ty.MarshalOp != nil
	wireStates := c.ty.MarshalState != nil

	step := func() {
		switch k := rapid.IntRange(0, 99).Draw(c.t, "step"); {
		case k < 30:
			i := c.pick("replica")
			ev := c.mutate(i)
			for j := range n {
				if j != i {
					inflight = append(inflight, message{j, ev})
				}
			}
		case k < 55:
			if len(inflight) == 0 {
				return
			}
			m := rapid.IntRange(0, len(inflight)-1).Draw(c.t, "message")
			msg := inflight[m]
			if !open(origin(msg), msg.to) {
				return
			}
			if !rapid.Bool().Draw(c.t, "duplicate") {
				inflight = slices.Delete(inflight, m, m+1)
			}
			c.deliver(msg.to, msg.ev, wireOps && rapid.Bool().Draw(c.t, "wire"))
		case k < 62:
			if len(inflight) == 0 {
				return
			}
			m := rapid.IntRange(0, len(inflight)-1).Draw(c.t, "message")
			c.logf("lose #%d on its way to %s", inflight[m].ev, c.reps[inflight[m].to].id)
			lost = append(lost, inflight[m])
			inflight = slices.Delete(inflight, m, m+1)
		case k < 67:
			if len(lost) == 0 {
				return
			}
			m := rapid.IntRange(0, len(lost)-1).Draw(c.t, "lost")
			c.logf("resend #%d to %s", lost[m].ev, c.reps[lost[m].to].id)
			inflight = append(inflight, lost[m])
			lost = slices.Delete(lost, m, m+1)
		case k < 71:
			side := rapid.SliceOfN(rapid.Bool(), n, n).Draw(c.t, "partition")
			var group []crdt.ReplicaID
			for i := range n {
				if side[i] {
					group = append(group, c.reps[i].id)
				}
				for j := range n {
					if side[i] != side[j] {
						cut[i*n+j] = true
					}
				}
			}
			c.logf("partition %v from the others", group)
		case k < 75:
			clear(cut)
			c.logf("heal every partition")
		case k < 93:
			dst, src := c.pickPair()
			if !open(src, dst) {
				return
			}
			delta := c.ty.DeltaSince != nil && k >= 84
			c.mergeFrom(dst, src, delta, wireStates && rapid.Bool().Draw(c.t, "wire"))
		case k < 97 || c.law != LawModel || c.ty.CollectVersions == nil:
			c.tick()
		default:
			c.collect(c.pick("collector"))
		}
	}
	c.repeat(func() {
		step()
		c.midCheck()
	})

	// The final reliable exchange.
	modes := []string{"ops", "state"}
	if c.ty.DeltaSince != nil {
		modes = append(modes, "delta")
	}
	switch mode := rapid.SampledFrom(modes).Draw(c.t, "final"); mode {
	case "ops":
		pending := append(inflight, lost...)
		c.logf("heal; deliver the %d ops in flight or lost, in random order", len(pending))
		if len(pending) > 0 {
			pending = rapid.Permutation(pending).Draw(c.t, "final order")
		}
		for _, m := range pending {
			c.deliver(m.to, m.ev, false)
		}
	default:
		hub := c.pick("hub")
		c.logf("heal; every replica sends its %s to %s, then %s to every replica", mode, c.reps[hub].id, c.reps[hub].id)
		for i := range n {
			if i != hub {
				c.mergeFrom(hub, i, mode == "delta", false)
			}
		}
		for i := range n {
			if i != hub {
				c.mergeFrom(i, hub, mode == "delta", false)
			}
		}
	}
	if c.law == LawModel && c.ty.CollectVersions != nil {
		// Every replica has seen every update. Some collect, then one
		// writes, and the others take its op in, whether they have
		// collected or not: what a replica discarded must not change
		// what its later writes mean elsewhere.
		for i := range n {
			if rapid.Bool().Draw(c.t, "collects") {
				c.collect(i)
			}
		}
		i := c.pick("writer")
		ev := c.mutate(i)
		for j := range n {
			if j != i {
				c.deliver(j, ev, wireOps && rapid.Bool().Draw(c.t, "wire"))
			}
		}
	}
}

// collect has replica i collect with the versions of every other
// replica, as it would once it has learned them, while the others
// collect at their own moments or not at all; the collection must not
// change its Value.
func (c *checker[S, O]) collect(i int) {
	r := c.reps[i]
	var peers []vclock.Clock
	for j, p := range c.reps {
		if j != i {
			peers = append(peers, c.ty.Version(p.s))
		}
	}
	before := c.ty.Value(r.s)
	n := c.ty.CollectVersions(r.s, peers)
	c.logf("%s collects with its peers' versions: %d discarded", r.id, n)
	if diff, eq := c.diffValues(before, c.ty.Value(r.s)); !eq {
		c.fail("a collection changed a replica's Value", diff)
	}
}

// midCheck checks, after a step of the network, what must already hold:
// replicas that have seen the same updates are Equal, and a replica that
// has seen every update shows the Model's value. Checking it as the run
// goes catches a divergence that later updates would hide.
func (c *checker[S, O]) midCheck() {
	switch c.law {
	case LawConvergence:
		for i, a := range c.reps {
			for _, b := range c.reps[i+1:] {
				if a.seen.equal(b.seen) {
					c.converged(a, b)
				}
			}
		}
	case LawModel:
		for _, r := range c.reps {
			if len(c.hist) > 0 && r.seen.count() == len(c.hist) {
				c.modelHolds(r)
			}
		}
	}
}

func (c *checker[S, O]) converged(a, b *replica[S]) {
	c.logf("compare %s with %s, which have seen the same updates", a.id, b.id)
	c.same(a.s, b.s, "replicas that have seen the same updates differ")
}

func (c *checker[S, O]) modelHolds(r *replica[S]) {
	if !c.modelDone || c.modelLen != len(c.hist) {
		c.modelValue = c.ty.Model(c.hist)
		c.modelLen, c.modelDone = len(c.hist), true
	}
	if diff, eq := c.diffValues(c.modelValue, c.ty.Value(r.s)); !eq {
		c.logf("the history:%s", historyText[O](c.hist))
		c.logf("the Value of %s, which has seen every update, differs from the Model", r.id)
		c.fail("the Value of a replica that has seen every update differs from the Model of the history", diff)
	}
}

// historyText formats a history for a report.
type historyText[O any] History[O]

func (h historyText[O]) String() string {
	var b strings.Builder
	for _, e := range h {
		fmt.Fprintf(&b, "\n    #%d at %s", e.Index, e.Replica)
		if !e.Time.IsZero() {
			fmt.Fprintf(&b, ", time %v", e.Time)
		}
		fmt.Fprintf(&b, ", saw %v: %+v", e.Seen, e.Op)
	}
	return b.String()
}
