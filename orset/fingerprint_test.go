package orset

import (
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// TestFingerprint checks, over random histories with lost, repeated and
// reordered messages, that the fingerprint kept up to date equals one
// computed from scratch, that a decoded copy has the same fingerprint,
// and that replicas that end Equal have equal fingerprints.
func TestFingerprint(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := run(t, 2, 4, 60)
		check := func(what string) {
			for i, s := range w.sets {
				if got, want := s.Fingerprint(), s.k.ScanFingerprint(); got != want {
					t.Fatalf("%s: r%d keeps fingerprint %x, its store gives %x", what, i, got, want)
				}
				var c Set[string]
				if err := c.UnmarshalBinary(mustMarshal(t, s)); err != nil {
					t.Fatal(err)
				}
				if c.Fingerprint() != s.Fingerprint() {
					t.Fatalf("%s: r%d decoded has fingerprint %x, not %x", what, i, c.Fingerprint(), s.Fingerprint())
				}
				if d := s.DeltaSince(w.sets[0].Version()); d.Fingerprint() != d.k.ScanFingerprint() {
					t.Fatalf("%s: a delta of r%d has a wrong fingerprint", what, i)
				}
			}
		}
		check("mid-run")
		w.exchange(t)
		check("after exchange")
		for i, s := range w.sets {
			for j, o := range w.sets {
				if s.Equal(o) && s.Fingerprint() != o.Fingerprint() {
					t.Fatalf("r%d and r%d are Equal with fingerprints %x and %x", i, j, s.Fingerprint(), o.Fingerprint())
				}
				if !slices.Equal(sorted(s), sorted(o)) && s.Fingerprint() == o.Fingerprint() {
					t.Fatalf("r%d and r%d hold different elements with the same fingerprint", i, j)
				}
			}
		}
	})
}
