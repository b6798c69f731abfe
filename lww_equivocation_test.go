package crdt_test

import (
	"testing"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/register"
)

// TestEquivocationLWWRegisterHealed: as TestEquivocationSetHealed, with
// an LWW register: a peer sends h0 and h1 two different values under one
// stamp (one writer, one timestamp). The register is no DeltaObject: its
// digest entry has a fingerprint and no version, and the engine compared
// only entries with versions, so the regions held x and y for good with
// no divergence counted (the whole states they exchange merge as a no-op
// for one stamp). Now equal fingerprints with different content
// fingerprints are a divergence there too, and the heal keeps one value
// on both sides (the greater by its hash: y).
func TestEquivocationLWWRegisterHealed(t *testing.T) {
	at := func() int64 { return 1_795_000_000_000_000_000 }
	healed := []string{"y"}
	equivocationHealedIn(t, 0, func(id crdt.ReplicaID) *register.LWW[string] {
		return register.NewLWW[string](id, clock.New(clock.WithSource(at)))
	},
		func(r *register.LWW[string], v string) ([]byte, error) { return r.Set(v).MarshalBinary() },
		func(r *register.LWW[string]) []string {
			v, _ := r.Get()
			return []string{v}
		}, healed)
}
