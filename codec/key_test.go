package codec

import (
	"errors"
	"math"
	"testing"
)

type floatKey struct {
	Name string
	X    float64
	P    [2]float32
	C    complex128
	A    any
	priv float64
}

func TestCanonicalKey(t *testing.T) {
	neg := math.Copysign(0, -1)
	if k, err := CanonicalKey(neg); err != nil || math.Signbit(k) {
		t.Errorf("CanonicalKey(-0) = %v (sign %v), %v; want +0", k, math.Signbit(k), err)
	}
	if _, err := CanonicalKey(math.NaN()); !errors.Is(err, ErrKey) {
		t.Errorf("CanonicalKey(NaN): %v, want ErrKey", err)
	}
	if k, err := CanonicalKey("x"); err != nil || k != "x" {
		t.Errorf(`CanonicalKey("x") = %q, %v`, k, err)
	}
	k, err := CanonicalKey(floatKey{Name: "a", X: neg, P: [2]float32{float32(neg), 1}, C: complex(neg, neg), A: neg, priv: neg})
	if err != nil {
		t.Fatal(err)
	}
	if math.Signbit(k.X) || math.Signbit(float64(k.P[0])) || math.Signbit(real(k.C)) || math.Signbit(imag(k.C)) || math.Signbit(k.A.(float64)) {
		t.Errorf("a −0 is left in %+v", k)
	}
	for _, bad := range []floatKey{{X: math.NaN()}, {P: [2]float32{float32(math.NaN())}}, {A: math.NaN()}, {C: complex(0, math.NaN())}} {
		if _, err := CanonicalKey(bad); !errors.Is(err, ErrKey) {
			t.Errorf("CanonicalKey(%+v): %v, want ErrKey", bad, err)
		}
	}
	if _, err := CanonicalKey[any]([]int{1}); !errors.Is(err, ErrKey) {
		t.Errorf("CanonicalKey of a slice in an interface: %v, want ErrKey", err)
	}
	// The two zeros encode alike once canonical.
	a, _ := CanonicalKey(floatKey{X: neg})
	b, _ := CanonicalKey(floatKey{X: 0})
	ha, _ := HashValue(HashSeed, a)
	hb, _ := HashValue(HashSeed, b)
	if ha != hb {
		t.Error("−0 and +0 hash differently once canonical")
	}
}

func TestCanonicalKeyCostsNothingForStrings(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { _, _ = CanonicalKey("key") }); n != 0 {
		t.Errorf("CanonicalKey of a string allocates %v times", n)
	}
}
