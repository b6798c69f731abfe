package vclock_test

import (
	"fmt"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/vclock"
)

func ExampleClock_Compare() {
	us := vclock.Of(map[crdt.ReplicaID]uint64{"us-east-1": 3, "eu-west-1": 1})
	eu := vclock.Of(map[crdt.ReplicaID]uint64{"us-east-1": 2, "eu-west-1": 2})
	fmt.Println(us.Compare(eu)) // each saw an event the other did not

	joined := us.Clone()
	joined.Merge(eu)
	fmt.Println(joined, us.Compare(joined), joined.Compare(eu))

	stable := us.Clone()
	stable.Meet(eu) // the events both have seen
	fmt.Println(stable)
	// Output:
	// Concurrent
	// {eu-west-1:2 us-east-1:3} Before After
	// {eu-west-1:1 us-east-1:2}
}

func ExampleContext() {
	var seen vclock.Context
	// Events 4 and 5 of us-east-1 arrive before 2 and 3.
	seen.Add(vclock.Dot{Replica: "us-east-1", Seq: 1})
	seen.AddRange("us-east-1", 4, 5)
	fmt.Println(seen.String(), seen.Version(), seen.Contains(vclock.Dot{Replica: "us-east-1", Seq: 3}))

	// The gap fills: the run folds into the compact version.
	seen.AddRange("us-east-1", 2, 3)
	fmt.Println(seen.String(), seen.Version(), seen.IsCompact())

	// A replica mints its next event from the context.
	fmt.Println(seen.Next("us-east-1"), seen.Next("eu-west-1"))

	// What a peer at version {us-east-1:2} lacks.
	peer := vclock.Of(map[crdt.ReplicaID]uint64{"us-east-1": 2})
	missing := seen.Since(peer)
	fmt.Println(missing.String())
	// Output:
	// {us-east-1:1,4-5} {us-east-1:1} false
	// {us-east-1:1-5} {us-east-1:5} true
	// us-east-1:6 eu-west-1:1
	// {us-east-1:3-5}
}

func ExampleClock_MarshalBinary() {
	c := vclock.Of(map[crdt.ReplicaID]uint64{"a": 1, "b": 300})
	data, _ := c.MarshalBinary()
	fmt.Printf("% x\n", data)

	var back vclock.Clock
	err := back.UnmarshalBinary(data)
	fmt.Println(back, err)
	// Output:
	// 01 01 92 a1 61 a1 62 94 00 01 01 cd 01 2c
	// {a:1 b:300} <nil>
}

// A writer names one run of a replica: its name and an epoch. Two runs of
// "us-east-1" (before and after its disk was wiped, say) write under
// different writers, and each writer tells its replica's name.
func ExampleWriter() {
	before := vclock.Writer("us-east-1", 7)
	after := vclock.Writer("us-east-1", 1234567)
	fmt.Println(before, after, before.Name() == after.Name())
	epoch, _ := after.Epoch()
	fmt.Println(epoch, vclock.CheckName("us east") != nil)
	// Output:
	// us-east-1!7 us-east-1!qglj true
	// 1234567 true
}
