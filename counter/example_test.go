package counter_test

import (
	"errors"
	"fmt"
	"math"

	"github.com/activeactive/crdt/counter"
)

// Two regions count page views concurrently, exchange their ops (one of
// them twice) and converge on the total.
func Example() {
	us := counter.NewG("us-east-1")
	eu := counter.NewG("eu-west-1")

	op1, _ := us.Inc(3)
	op2, _ := eu.Inc(4)
	op3, _ := us.Inc(1)

	// Delivery is out of order and duplicated: harmless, ops carry totals.
	eu.Apply(op3)
	eu.Apply(op1)
	eu.Apply(op3)
	us.Apply(op2)

	fmt.Println(us.Value(), eu.Value(), us.Equal(eu))
	// Output: 8 8 true
}

// A PN counter goes up and down; replicas converge by merging states, and
// only the delta a peer lacks needs to travel.
func ExamplePN() {
	us := counter.NewPN("us-east-1")
	eu := counter.NewPN("eu-west-1")
	us.Add(10)
	eu.Add(-3)

	eu.Merge(us.DeltaSince(eu.Version()))
	us.Merge(eu)
	fmt.Println(us.Value(), eu.Value())

	eu.Add(-2)
	delta := eu.DeltaSince(us.Version()) // holds eu-west-1's totals only
	us.Merge(delta)
	fmt.Println(us.Value(), eu.Value())
	// Output:
	// 7 7
	// 5 5
}

// An update that would take the counter out of range is refused and
// changes nothing.
func ExamplePN_Add() {
	c := counter.NewPN("us-east-1")
	c.Add(math.MaxInt64 - 1)
	_, err := c.Add(2)
	fmt.Println(errors.Is(err, counter.ErrOverflow), c.Value() == math.MaxInt64-1)
	// Output: true true
}

// Ops travel as bytes; the receiver decodes and applies them in one step.
func ExampleG_ApplyBinary() {
	us := counter.NewG("us-east-1")
	op, _ := us.Inc(5)
	data, _ := op.MarshalBinary()

	eu := counter.NewG("eu-west-1")
	changed, err := eu.ApplyBinary(data)
	fmt.Println(changed, err, eu.Value())
	changed, err = eu.ApplyBinary(data) // a duplicate
	fmt.Println(changed, err, eu.Value())
	// Output:
	// true <nil> 5
	// false <nil> 5
}

// Stock of 10 arrives in one region; it hands 4 units of rights to
// another, which sells 3. A sale beyond the rights a region holds fails,
// so the stock never goes below zero, whatever the regions do at once.
func ExampleBounded() {
	east, west := counter.NewBounded("us-east-1", 0), counter.NewBounded("eu-west-1", 0)
	stock, _ := east.Inc(10)
	_ = west.Apply(stock)
	if _, err := west.Dec(1); err != nil {
		fmt.Println("west:", errors.Is(err, counter.ErrInsufficientRights))
	}
	give, _ := east.Transfer("eu-west-1", 4)
	_ = west.Apply(give)
	sale, _ := west.Dec(3)
	_ = east.Apply(sale)
	fmt.Println(east.Value(), west.Value(), east.Rights("us-east-1"), west.Rights("eu-west-1"))
	// Output:
	// west: true
	// 7 7 6 1
}

// A region out of stock asks the region holding rights for some. The
// request travels in an op like every change; the holder's host hears it
// through the hook and answers with a transfer.
func ExampleBounded_Request() {
	east, west := counter.NewBounded("us-east-1", 0), counter.NewBounded("eu-west-1", 0)
	var asked []counter.RightsRequest
	east.SetRequestHook(func(q counter.RightsRequest) { asked = append(asked, q) })
	stock, _ := east.Inc(10)
	_ = west.Apply(stock)

	holder := west.Holders()[0]
	ask, _ := west.Request(holder.Replica, 5)
	_ = east.Apply(ask)
	for _, q := range asked { // in a server: handed to a goroutine, not done in the hook
		give, _ := east.Transfer(q.Replica, q.Rights)
		_ = west.Apply(give)
	}
	sale, _ := west.Dec(5)
	_ = east.Apply(sale)
	fmt.Println(holder, asked, west.Value(), east.Requests())
	// Output:
	// {us-east-1 10} [{eu-west-1 5}] 5 []
}
