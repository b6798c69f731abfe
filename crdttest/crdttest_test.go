package crdttest_test

import (
	"errors"
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/activeactive/crdt/crdttest"
	"github.com/activeactive/crdt/vclock"
)

func TestMain(m *testing.M) {
	flag.Parse()
	// The broken toys fail on purpose: their failing cases are not worth
	// saving under testdata/rapid, nor shrinking for long (a second each
	// bounds the package's run time; the cases come out small anyway).
	for name, value := range map[string]string{"rapid.nofailfile": "true", "rapid.shrinktime": "1s"} {
		if err := flag.Set(name, value); err != nil {
			panic(err)
		}
	}
	os.Exit(m.Run())
}

// The correct toys pass every law they can be checked for, through Run.
func TestRunGSet(t *testing.T)     { crdttest.Run(t, gsetType()) }
func TestRunMaxReg(t *testing.T)   { crdttest.Run(t, maxRegType()) }
func TestRunGCounter(t *testing.T) { crdttest.Run(t, gcounterType()) }
func TestRunLWW(t *testing.T)      { crdttest.Run(t, lwwType()) }

// checkAll runs Check over every law of ty, failing t on a violation.
func TestCheckCorrectToys(t *testing.T) {
	for name, err := range map[string]func() error{
		"gset":     func() error { return crdttest.Check(gsetType()) },
		"maxReg":   func() error { return crdttest.Check(maxRegType()) },
		"gcounter": func() error { return crdttest.Check(gcounterType()) },
		"lww":      func() error { return crdttest.Check(lwwType()) },
	} {
		if err := err(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// tries bounds how many times wantViolation runs a check. rapid's search is
// random: a run of 100 cases (20 with -short) can miss a bug that needs a
// particular interleaving, such as an exact timestamp tie, and a test of
// the harness must not flake on that. A bug the harness cannot find in
// tries runs is reported as not caught.
const tries = 5

// checking returns a function that checks laws on ty.
func checking[S, O any](ty crdttest.Type[S, O], laws ...crdttest.Law) func() error {
	return func() error { return crdttest.Check(ty, laws...) }
}

// wantViolation runs check until it returns a *Violation of law, at most
// tries times, and fails t if it never does. It returns the violation,
// after checking it carries what a reader needs.
func wantViolation(t *testing.T, check func() error, law crdttest.Law) *crdttest.Violation {
	t.Helper()
	var err error
	for range tries {
		err = check()
		var v *crdttest.Violation
		if !errors.As(err, &v) || v.Law != law {
			continue
		}
		if v.Msg == "" {
			t.Errorf("violation without a message: %v", v)
		}
		if !strings.Contains(v.Error(), "law "+string(law)+" violated") {
			t.Errorf("Error() does not name the law: %v", v)
		}
		t.Logf("caught, as it should be:\n%v", v)
		return v
	}
	t.Fatalf("want a violation of %s, got in the last of %d runs: %v", law, tries, err)
	return nil
}

// Each broken toy is caught by the law it breaks, when Check runs that law
// alone; and where no earlier law can catch it, Check over every law
// reports that law first.
func TestBrokenToysCaught(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the laws over a dozen toys, on one goroutine")
	}
	cases := []struct {
		name  string
		law   crdttest.Law // the law the bug breaks
		first crdttest.Law // the first law of Laws() to catch it, if certain
		check func(...crdttest.Law) error
	}{
		{"bag merge", crdttest.LawMergeIdempotent, crdttest.LawMergeIdempotent,
			func(l ...crdttest.Law) error { return crdttest.Check(gsetBag(), l...) }},
		{"shallow clone", crdttest.LawIndependence, crdttest.LawIndependence,
			func(l ...crdttest.Law) error { return crdttest.Check(gsetShallowClone(), l...) }},
		{"lossy decoder", crdttest.LawEncoding, crdttest.LawEncoding,
			func(l ...crdttest.Law) error { return crdttest.Check(gsetLossyDecode(), l...) }},
		{"src-wins merge", crdttest.LawMergeCommutative, crdttest.LawMergeCommutative,
			func(l ...crdttest.Law) error { return crdttest.Check(maxRegSrcWins(), l...) }},
		{"rock-paper-scissors merge", crdttest.LawMergeAssociative, crdttest.LawMergeAssociative,
			func(l ...crdttest.Law) error { return crdttest.Check(maxRegRPS(), l...) }},
		// Ops that count twice also make states no merge can reconcile.
		{"adding ops", crdttest.LawOps, "",
			func(l ...crdttest.Law) error { return crdttest.Check(gcounterAdding(), l...) }},
		{"in-order ops", crdttest.LawOps, crdttest.LawOps,
			func(l ...crdttest.Law) error { return crdttest.Check(gcounterInOrder(), l...) }},
		{"off-by-one delta", crdttest.LawDelta, crdttest.LawDelta,
			func(l ...crdttest.Law) error { return crdttest.Check(gcounterOffByOne(), l...) }},
		{"parts send the version first", crdttest.LawParts, crdttest.LawParts,
			func(l ...crdttest.Law) error { return crdttest.Check(gcounterCountsFirst(), l...) }},
		// A local write that loses to an older remote one on an exact
		// tie also makes replicas diverge.
		{"clock not updated", crdttest.LawModel, "",
			func(l ...crdttest.Law) error { return crdttest.Check(lwwBlind(), l...) }},
		// Only the Model law's runs collect.
		{"collection forgets counts", crdttest.LawModel, crdttest.LawModel,
			func(l ...crdttest.Law) error { return crdttest.Check(gcounterForgets(), l...) }},
		// A consistent but wrong tie-break is a valid CRDT: only the
		// model tells.
		{"larger ID wins a tie", crdttest.LawModel, crdttest.LawModel,
			func(l ...crdttest.Law) error { return crdttest.Check(lwwLargerWins(), l...) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantViolation(t, func() error { return tc.check(tc.law) }, tc.law)
			if tc.first != "" {
				wantViolation(t, func() error { return tc.check() }, tc.first)
			}
		})
	}
}

// Bugs that another law reports first are still caught by the laws meant
// for them.
func TestBrokenToysCaughtByLaterLaws(t *testing.T) {
	t.Run("adding ops break convergence", func(t *testing.T) {
		wantViolation(t, checking(gcounterAdding(), crdttest.LawConvergence), crdttest.LawConvergence)
	})
	t.Run("in-order ops break convergence", func(t *testing.T) {
		wantViolation(t, checking(gcounterInOrder(), crdttest.LawConvergence), crdttest.LawConvergence)
	})
	t.Run("adding ops break the model", func(t *testing.T) {
		wantViolation(t, checking(gcounterAdding(), crdttest.LawModel), crdttest.LawModel)
	})
}

// An Equal that always holds would make every law pass vacuously: the
// harness compares Values too.
func TestWeakEqualCaught(t *testing.T) {
	ty := gsetLossyDecode()
	ty.Equal = gsetWeakEqual().Equal
	v := wantViolation(t, checking(ty, crdttest.LawEncoding), crdttest.LawEncoding)
	if !strings.Contains(v.Msg, "Values differ") {
		t.Errorf("want the Value mismatch named, got %q", v.Msg)
	}
	ty = gsetWeakEqual()
	ty.Apply = func(*gset, int) error { return nil } // ops are lost
	v = wantViolation(t, checking(ty, crdttest.LawConvergence), crdttest.LawConvergence)
	if !strings.Contains(v.Msg, "Values differ") {
		t.Errorf("want the Value mismatch named, got %q", v.Msg)
	}
}

// A panic in the type's code is reported as a violation with rapid's
// report, not as a crash of the test binary.
func TestPanicReported(t *testing.T) {
	v := wantViolation(t, checking(gsetPanics(), crdttest.LawMergeCommutative), crdttest.LawMergeCommutative)
	if !strings.Contains(v.Detail, "gset: too many elements") {
		t.Errorf("want the panic in the detail, got %q", v.Detail)
	}
}

// The failing case is shrunk: a violation of idempotence needs one replica
// with one element, and rapid finds that. Shrinking starts from a random
// failing case and is bounded in time, so on a loaded machine one run can
// stop short; the harness must reach one op in one of three runs.
func TestViolationShrunk(t *testing.T) {
	var ops []int
	for range 3 {
		v := wantViolation(t, checking(gsetBag(), crdttest.LawMergeIdempotent), crdttest.LawMergeIdempotent)
		n := 0
		for _, s := range v.Trace {
			if strings.HasPrefix(s, "#") {
				n++
			}
		}
		if ops = append(ops, n); n == 1 {
			break
		}
	}
	if ops[len(ops)-1] != 1 {
		t.Errorf("want the case shrunk to one op, got %v ops in three runs", ops)
	}
	// The commutativity of a merge that takes the other value fails on
	// two replicas with different values: the report shows them.
	v := wantViolation(t, checking(maxRegSrcWins(), crdttest.LawMergeCommutative), crdttest.LawMergeCommutative)
	if !strings.Contains(v.Detail, "Value diff (-want +got)") {
		t.Errorf("want a diff of the Values, got %q", v.Detail)
	}
}

func TestCheckRefusesBadTypes(t *testing.T) {
	ty := gsetType()
	ty.Merge = nil
	if err := crdttest.Check(ty); err == nil || !strings.Contains(err.Error(), "Merge") {
		t.Errorf("Type without Merge: got %v", err)
	}
	ty = gsetType()
	ty.UnmarshalOp = nil
	if err := crdttest.Check(ty); err == nil || !strings.Contains(err.Error(), "UnmarshalOp") {
		t.Errorf("Type with MarshalOp and no UnmarshalOp: got %v", err)
	}
	ty = gsetType()
	ty.Value = nil
	if err := crdttest.Check(ty); err == nil || !strings.Contains(err.Error(), "Model") {
		t.Errorf("Type with Model and no Value: got %v", err)
	}
	ty = gsetType()
	ty.CollectVersions = func(*gset, []vclock.Clock) int { return 0 }
	if err := crdttest.Check(ty); err == nil || !strings.Contains(err.Error(), "CollectVersions") {
		t.Errorf("Type with CollectVersions and no Version: got %v", err)
	}
	if err := crdttest.Check(gsetType(), crdttest.LawDelta); err == nil {
		t.Error("Check of LawDelta on a Type without DeltaSince: got nil")
	}
	if err := crdttest.Check(gsetType(), "Transitivity"); err == nil {
		t.Error("Check of an unknown law: got nil")
	}
	var v *crdttest.Violation
	if err := crdttest.Check(gsetType(), crdttest.LawDelta); errors.As(err, &v) {
		t.Errorf("a law that cannot be checked is no violation: got %v", err)
	}
}

func TestLaws(t *testing.T) {
	laws := crdttest.Laws()
	if len(laws) != 10 || laws[0] != crdttest.LawIndependence || laws[len(laws)-1] != crdttest.LawModel {
		t.Errorf("Laws() = %v", laws)
	}
	laws[0] = "changed"
	if crdttest.Laws()[0] != crdttest.LawIndependence {
		t.Error("Laws() returns shared storage")
	}
}
