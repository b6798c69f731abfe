package register_test

import (
	"fmt"
	"time"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/register"
)

// fixedAt returns a clock whose physical time stands still at t, so the
// examples print the same output on every run.
func fixedAt(t time.Time) *clock.Clock {
	return clock.New(clock.WithSource(func() int64 { return t.UnixNano() }))
}

// Two regions write the same register concurrently; the write with the
// later timestamp wins in both.
func ExampleLWW() {
	noon := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	east := register.NewLWW[string]("us-east-1", fixedAt(noon))
	west := register.NewLWW[string]("eu-west-1", fixedAt(noon.Add(2*time.Millisecond)))

	toWest := east.Set("blue")
	toEast := west.Set("green") // 2ms later

	// Each region applies the other's write; bytes would travel the same
	// way with MarshalBinary and ApplyBinary.
	if err := east.Apply(toEast); err != nil {
		fmt.Println(err)
	}
	if err := west.Apply(toWest); err != nil {
		fmt.Println(err)
	}
	e, _ := east.Get()
	w, _ := west.Get()
	fmt.Println("us-east-1:", e)
	fmt.Println("eu-west-1:", w)
	// Output:
	// us-east-1: green
	// eu-west-1: green
}

// On an exact timestamp tie the replica with the smaller ID wins.
func ExampleLWW_tie() {
	noon := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	east := register.NewLWW[string]("us-east-1", fixedAt(noon))
	west := register.NewLWW[string]("eu-west-1", fixedAt(noon))

	a := east.Set("blue")
	b := west.Set("green")
	fmt.Println("same timestamp:", a.Timestamp() == b.Timestamp())

	data, _ := b.MarshalBinary()
	changed, err := east.ApplyBinary(data)
	v, _ := east.Get()
	fmt.Println(v, changed, err)
	// Output:
	// same timestamp: true
	// green true <nil>
}

// Two regions write the same register concurrently: both values are kept
// as siblings, in the same order everywhere, until a write made after
// seeing both replaces them.
func ExampleMV() {
	east := register.NewMV[string]("us-east-1")
	west := register.NewMV[string]("eu-west-1")

	toWest := east.Set("blue")
	toEast := west.Set("green") // concurrent: neither has seen the other

	if err := east.Apply(toEast); err != nil {
		fmt.Println(err)
	}
	if err := west.Apply(toWest); err != nil {
		fmt.Println(err)
	}
	fmt.Println("us-east-1:", east.Values())
	fmt.Println("eu-west-1:", west.Values())

	// us-east-1 resolves the conflict; its write replaces both siblings.
	resolve := east.Set("teal")
	if err := west.Apply(resolve); err != nil {
		fmt.Println(err)
	}
	fmt.Println("after resolving:", east.Values(), west.Values())
	// Output:
	// us-east-1: [green blue]
	// eu-west-1: [green blue]
	// after resolving: [teal] [teal]
}

// A peer that reports its version is sent only what it lacks: nothing when
// it is up to date.
func ExampleMV_DeltaSince() {
	east := register.NewMV[string]("us-east-1")
	west := register.NewMV[string]("eu-west-1")
	west.Merge(east.DeltaSince(west.Version()))

	east.Set("blue")
	west.Merge(east.DeltaSince(west.Version()))
	fmt.Println(west.Values(), "version", west.Version())

	upToDate := east.DeltaSince(west.Version())
	fmt.Println("delta to an up-to-date peer:", upToDate.Values())
	// Output:
	// [blue] version {us-east-1:1}
	// delta to an up-to-date peer: []
}
