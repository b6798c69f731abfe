package crdttest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/vclock"
)

// Type describes a replicated data type with state S and ops O to the
// harness. New, Mutate, Apply, Merge, Clone and Equal are required; the
// other fields are optional and each enables the laws that need it.
//
// S is usually a pointer to the type; the harness never copies a state
// except through Clone. The functions are called from one goroutine at a
// time. A Type is a plain value: copy it and replace a field to describe a
// variant. The zero Type is invalid: Run and Check refuse it.
type Type[S, O any] struct {
	// Name names the type in violation reports. Optional.
	Name string

	// New returns a fresh, empty replica with the given ID. clk is the
	// replica's own clock, driven by the harness's deterministic time
	// source; a type with timestamps reads it (and calls Update on it when
	// it takes in remote timestamps), a type without ignores it. The IDs
	// are distinct non-empty strings.
	New func(id crdt.ReplicaID, clk *clock.Clock) S

	// Mutate draws one random local mutation with t's generators, applies
	// it to s and returns its op. Keep the range of values small (a dozen
	// elements, say) so that mutations collide and conflicts happen. A
	// mutator that reads the clock should read it once: the harness
	// records the clock's last timestamp after Mutate as the op's
	// [Event.Time].
	Mutate func(t *rapid.T, s S) O

	// Apply applies an op made by Mutate at another replica (or at the
	// same one, again). The harness applies ops late, twice and out of
	// order; Apply must accept them all and return nil.
	Apply func(s S, op O) error

	// Merge joins src into dst. It must not modify src.
	Merge func(dst, src S)

	// Clone returns an independent copy of s.
	Clone func(s S) S

	// Equal reports whether a and b hold the same replicated state. The
	// harness compares replicas with different IDs: Equal must not
	// compare the IDs of the replicas themselves.
	Equal func(a, b S) bool

	// Version returns s's version vector, and DeltaSince a state holding
	// what a replica at version v lacks. Both or neither.
	Version    func(s S) vclock.Clock
	DeltaSince func(s S, v vclock.Clock) S

	// CollectVersions discards the metadata of s that every replica has
	// seen (delete markers, records of what writes overwrote), given the
	// versions of every other replica, and returns how much it discarded,
	// as lwwmap's and ormap's CollectVersions do. Optional; it needs
	// Version. With it, replicas of the Model law's runs collect, each at
	// its own moments: collecting must not change a replica's Value, and
	// a replica that has not collected yet must still show the Model's
	// value once it takes in what one that has collected wrote after.
	CollectVersions func(s S, peers []vclock.Clock) int

	// Chunks cuts s's whole state (version nil) or its delta since the
	// encoded version into parts of at most max bytes, as
	// crdt.Chunker's ChunksBinary does, or returns no parts if it likely
	// fits whole; MergeChunk merges one part into s, as
	// crdt.Chunker's MergeChunkBinary does. Optional; both or neither,
	// and they need Version and DeltaSince. With them, [LawParts] checks
	// that parts, some lost, never make a receiver's version claim what
	// it lacks, and that all of them give what the whole gives.
	Chunks     func(s S, version []byte, max int) (parts [][]byte, ordered int, err error)
	MergeChunk func(s S, part []byte) error

	// MarshalState encodes a state and UnmarshalState decodes one. The
	// harness only compares and merges from decoded states, never mutates
	// them. Both or neither.
	MarshalState   func(s S) ([]byte, error)
	UnmarshalState func(data []byte) (S, error)

	// MarshalOp encodes an op and UnmarshalOp decodes one. Decoded ops are
	// compared by their effect when applied, so O need not be comparable.
	// Both or neither.
	MarshalOp   func(op O) ([]byte, error)
	UnmarshalOp func(data []byte) (O, error)

	// Value returns the observable value of s, as plain Go data that
	// go-cmp can compare (sort what has no order) and that shares no
	// storage with s. It is shown as a diff when a law fails, and checked
	// against Model.
	Value func(s S) any

	// Model computes, from the whole causal history of a run, the value
	// every replica must show once it has seen every op: a deliberately
	// naive reference for the type's conflict rule. It needs Value.
	Model func(h History[O]) any

	// CmpOptions are passed to go-cmp when values are compared, after
	// cmpopts.EquateEmpty (so a nil and an empty slice are equal).
	CmpOptions []cmp.Option
}

// Law names one property the harness checks.
type Law string

// The laws, in the order [Check] tries them.
const (
	// LawIndependence: a Clone, the result of a Merge and a state merged
	// from a delta share no mutable storage with their sources, Merge
	// leaves its argument unchanged, and an op does not change when its
	// replica mutates further.
	LawIndependence Law = "Independence"
	// LawMergeIdempotent: a.Merge(a) is a, and merging b twice is merging
	// it once.
	LawMergeIdempotent Law = "MergeIdempotent"
	// LawMergeCommutative: a.Merge(b) equals b.Merge(a).
	LawMergeCommutative Law = "MergeCommutative"
	// LawMergeAssociative: (a.Merge(b)).Merge(c) equals a.Merge(b.Merge(c)).
	LawMergeAssociative Law = "MergeAssociative"
	// LawOps: every op of a run applied at a fresh replica, in any order
	// and with duplicates, gives the state of merging every replica.
	LawOps Law = "Ops"
	// LawDelta: b.Merge(a.DeltaSince(b.Version())) equals b.Merge(a).
	LawDelta Law = "Delta"
	// LawEncoding: a decoded state is Equal to the encoded one, and a
	// decoded op has the same effect as the encoded one.
	LawEncoding Law = "Encoding"
	// LawConvergence: replicas that exchanged ops over an unreliable
	// network, and states and deltas, are Equal once every update has
	// reached every replica.
	LawConvergence Law = "Convergence"
	// LawParts: a state or a delta since the receiver's version, cut by
	// Chunks and merged part by part with MergeChunk (the unordered
	// parts in any order, some lost, some twice; the ordered ones in
	// order, while none before is lost), leaves the receiver at a version
	// from which a delta completes it: merging a's delta since the
	// version it then reports gives what merging a whole gives. With
	// every part merged, the receiver is that merge. Each part fits in
	// its budget.
	LawParts Law = "Parts"
	// LawModel: once every update has reached every replica, each
	// replica's Value equals the Model of the causal history. With
	// CollectVersions, replicas collect as they go, and a collection
	// changes no Value.
	LawModel Law = "Model"
)

var allLaws = []Law{
	LawIndependence,
	LawMergeIdempotent, LawMergeCommutative, LawMergeAssociative,
	LawOps, LawDelta, LawParts, LawEncoding, LawConvergence, LawModel,
}

// Laws returns every law, in the order [Check] and [Run] try them.
func Laws() []Law { return append([]Law(nil), allLaws...) }

func (l Law) known() bool {
	for _, k := range allLaws {
		if k == l {
			return true
		}
	}
	return false
}

// Violation reports a law a type broke, on the smallest case rapid found.
type Violation struct {
	// Type is the Name of the [Type], if it has one.
	Type string
	// Law is the law broken.
	Law Law
	// Msg says what broke, in one line that does not depend on the case:
	// "Merge(a, a) is not Equal to a", say.
	Msg string
	// Detail is a go-cmp diff of the values concerned (-want +got), or
	// the error or panic met, or empty.
	Detail string
	// Trace lists the steps of the failing case: replicas made, ops
	// drawn, merges, deliveries, clock ticks.
	Trace []string

	lines []traceLine // Trace, not yet formatted
}

// format fills Trace from the raw trace lines.
func (v *Violation) format() {
	if v.lines != nil {
		v.Trace = formatTrace(v.lines)
		v.lines = nil
	}
}

// Error describes the violation over several lines: the law and what
// broke, the steps of the case, and the detail.
func (v *Violation) Error() string {
	trace := v.Trace
	if v.lines != nil {
		trace = formatTrace(v.lines)
	}
	var b strings.Builder
	b.WriteString("crdttest: ")
	if v.Type != "" {
		b.WriteString(v.Type)
		b.WriteString(": ")
	}
	fmt.Fprintf(&b, "law %s violated: %s", v.Law, v.Msg)
	if len(trace) > 0 {
		b.WriteString("\nsteps:")
		for i, s := range trace {
			fmt.Fprintf(&b, "\n  %2d. %s", i+1, s)
		}
	}
	if v.Detail != "" {
		b.WriteString("\n")
		b.WriteString(strings.TrimRight(v.Detail, "\n"))
	}
	return b.String()
}

// validate reports a Type the harness cannot run.
func (ty *Type[S, O]) validate() error {
	var missing []string
	if ty.New == nil {
		missing = append(missing, "New")
	}
	if ty.Mutate == nil {
		missing = append(missing, "Mutate")
	}
	if ty.Apply == nil {
		missing = append(missing, "Apply")
	}
	if ty.Merge == nil {
		missing = append(missing, "Merge")
	}
	if ty.Clone == nil {
		missing = append(missing, "Clone")
	}
	if ty.Equal == nil {
		missing = append(missing, "Equal")
	}
	if len(missing) > 0 {
		return fmt.Errorf("crdttest: Type %q lacks %s", ty.Name, strings.Join(missing, ", "))
	}
	pairs := []struct {
		a, b   string
		ha, hb bool
	}{
		{"Version", "DeltaSince", ty.Version != nil, ty.DeltaSince != nil},
		{"MarshalState", "UnmarshalState", ty.MarshalState != nil, ty.UnmarshalState != nil},
		{"MarshalOp", "UnmarshalOp", ty.MarshalOp != nil, ty.UnmarshalOp != nil},
		{"Chunks", "MergeChunk", ty.Chunks != nil, ty.MergeChunk != nil},
	}
	for _, p := range pairs {
		if p.ha != p.hb {
			return fmt.Errorf("crdttest: Type %q has one of %s and %s but not the other", ty.Name, p.a, p.b)
		}
	}
	if ty.Chunks != nil && ty.Version == nil {
		return fmt.Errorf("crdttest: Type %q has Chunks but no Version", ty.Name)
	}
	if ty.CollectVersions != nil && ty.Version == nil {
		return fmt.Errorf("crdttest: Type %q has CollectVersions but no Version", ty.Name)
	}
	if ty.Model != nil && ty.Value == nil {
		return fmt.Errorf("crdttest: Type %q has Model but no Value", ty.Name)
	}
	return nil
}

// lacks returns why law cannot be checked on ty, or "" if it can.
func (ty *Type[S, O]) lacks(law Law) string {
	switch law {
	case LawIndependence:
		if ty.Value == nil && ty.MarshalState == nil {
			return "the Type has neither Value nor MarshalState to take snapshots with"
		}
	case LawDelta:
		if ty.DeltaSince == nil {
			return "the Type has no Version and DeltaSince"
		}
	case LawParts:
		if ty.Chunks == nil {
			return "the Type has no Chunks and MergeChunk"
		}
	case LawEncoding:
		if ty.MarshalState == nil && ty.MarshalOp == nil {
			return "the Type has neither MarshalState nor MarshalOp"
		}
	case LawModel:
		if ty.Model == nil {
			return "the Type has no Model"
		}
	}
	return ""
}

// Run checks every law of [Laws] on ty, each in a subtest named after the
// law, with rapid.Check. A law the Type lacks the functions for is skipped
// with a message saying what is missing. An invalid Type (a required
// function missing, half of a pair) fails t at once.
func Run[S, O any](t *testing.T, ty Type[S, O]) {
	t.Helper()
	if err := ty.validate(); err != nil {
		t.Fatal(err)
	}
	for _, law := range allLaws {
		t.Run(string(law), func(t *testing.T) {
			t.Helper()
			if why := ty.lacks(law); why != "" {
				t.Skipf("law %s not checked: %s", law, why)
			}
			rapid.Check(t, property(&ty, law, nil))
		})
	}
}

// Check checks the given laws on ty (every law of [Laws] it can be checked
// for, if none is given) and returns the first violation found, as a
// [*Violation], or nil. It returns a plain error if ty is invalid, a law is
// unknown, or a law asked for explicitly cannot be checked on ty.
//
// Check runs rapid.Check against a recorder of its own instead of a
// *testing.T, so it can run in an Example; like rapid.Check, it must run
// inside a test binary (a test, benchmark or Example), reads rapid's
// command-line flags, and saves a failing case under testdata/rapid unless
// -rapid.nofailfile is set. A failure that is no law violation (a panic in
// the type's code, say) is returned as a Violation whose Detail holds
// rapid's report.
func Check[S, O any](ty Type[S, O], laws ...Law) error {
	if err := ty.validate(); err != nil {
		return err
	}
	explicit := len(laws) > 0
	if !explicit {
		laws = allLaws
	}
	for _, law := range laws {
		if !law.known() {
			return fmt.Errorf("crdttest: unknown law %q", law)
		}
		if why := ty.lacks(law); why != "" {
			if explicit {
				return fmt.Errorf("crdttest: law %s cannot be checked: %s", law, why)
			}
			continue
		}
		if v := checkLaw(&ty, law); v != nil {
			return v
		}
	}
	return nil
}

// checkLaw runs one law under rapid with a recorder for a testing.TB and
// returns the violation of the last (shrunk) failing case.
func checkLaw[S, O any](ty *Type[S, O], law Law) *Violation {
	var last *Violation
	rec := &recorder{name: "crdttest_" + ty.Name + "_" + string(law)}
	rapid.Check(rec, property(ty, law, func(v *Violation) { last = v }))
	if !rec.failed {
		return nil
	}
	if last != nil {
		last.format()
		return last
	}
	return &Violation{
		Type:   ty.Name,
		Law:    law,
		Msg:    "the check failed without breaking the law (a panic, or too many cases skipped)",
		Detail: strings.Join(rec.msgs, "\n"),
	}
}

// recorder is the testing.TB rapid reports to on behalf of [Check]: it
// keeps the errors and never stops the goroutine.
type recorder struct {
	name   string
	failed bool
	msgs   []string
}

func (r *recorder) Helper()                  {}
func (r *recorder) Name() string             { return r.name }
func (r *recorder) Logf(string, ...any)      {}
func (r *recorder) Log(...any)               {}
func (r *recorder) Skipf(f string, a ...any) { r.Errorf("skipped: "+f, a...) }
func (r *recorder) Skip(a ...any)            { r.Error(append([]any{"skipped: "}, a...)...) }
func (r *recorder) SkipNow()                 { r.Error("skipped") }
func (r *recorder) Errorf(f string, a ...any) {
	r.failed = true
	r.msgs = append(r.msgs, fmt.Sprintf(f, a...))
}
func (r *recorder) Error(a ...any)            { r.failed = true; r.msgs = append(r.msgs, fmt.Sprint(a...)) }
func (r *recorder) Fatalf(f string, a ...any) { r.Errorf(f, a...) }
func (r *recorder) Fatal(a ...any)            { r.Error(a...) }
func (r *recorder) FailNow()                  { r.failed = true }
func (r *recorder) Fail()                     { r.failed = true }
func (r *recorder) Failed() bool              { return r.failed }

var _ rapid.TB = (*recorder)(nil)
