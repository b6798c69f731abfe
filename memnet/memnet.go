// Package memnet is a deterministic in-memory network for testing
// replicas: yours and the library's. Messages sent through its transports
// wait in a queue until the test delivers them, so nothing happens by
// itself and nothing needs to sleep. A seed drives every random choice:
// loss, duplication, reordering, delay and bit flips are reproducible.
// Links between chosen replicas can be cut and healed, and a replica can be
// detached (it crashed) and attached again (it restarted).
//
// # Usage
//
//	net := memnet.New(1)
//	a, _ := crdt.NewReplica(crdt.Config{ID: "a", Transport: net.Transport("a")})
//	net.Attach("a", a)
//	// ... the same for b, then AddPeer on both ...
//	net.Loss = 0.2
//	for range 50 {
//		a.Tick(ctx); b.Tick(ctx)
//		net.DeliverAll(ctx)
//	}
package memnet

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"

	"github.com/activeactive/crdt"
)

// Receiver takes in delivered messages; *crdt.Replica is one.
type Receiver interface {
	// Receive handles msg, delivered from replica from. An error counts
	// the message as refused in [Network.Stats] and is kept for
	// [Network.LastError]; delivery goes on.
	Receive(ctx context.Context, from crdt.ReplicaID, msg []byte) error
}

type message struct {
	from, to crdt.ReplicaID
	msg      []byte
	due      int // delivery round at which it may be delivered
}

// Stats counts what the network did.
type Stats struct {
	Sent       uint64 // messages handed to a transport (a broadcast counts once)
	Broadcasts uint64 // messages handed to a transport's Broadcast method
	Delivered  uint64 // messages handed to a receiver
	Dropped    uint64 // lost at random, on a cut link, or to a detached replica
	Duplicated uint64 // extra copies made
	Corrupted  uint64 // copies queued with one bit flipped
	BytesSent  uint64 // bytes handed to transports (a broadcast counts once)
	Refused    uint64 // deliveries whose Receive returned an error
	Largest    int    // bytes of the largest message handed to a transport
	TooLarge   uint64 // messages refused for being over MaxBytes (not counted as sent)
}

// Network is a simulated network. Set the fault fields before use or
// between rounds; they apply to messages sent afterwards.
//
// A Network is safe for concurrent use: transports may send from any
// goroutine. Delivery happens only in [Network.Deliver] and
// [Network.DeliverAll].
type Network struct {
	// Loss is the probability that a sent message is lost.
	Loss float64
	// Duplicate is the probability that a sent message is delivered twice.
	Duplicate float64
	// Reorder makes delivery pick a random queued message instead of the
	// oldest.
	Reorder bool
	// MaxDelay holds each message back for up to this many delivery
	// rounds (chosen at random).
	MaxDelay int
	// Corrupt is the probability that a copy of a message arrives with one
	// bit flipped, at a random position, as a faulty NIC or memory leaves
	// it.
	Corrupt float64
	// MaxBytes, if positive, is the largest message the transports take,
	// as a proxy on the way with a body limit: Send and Broadcast refuse
	// a larger one whole with an error wrapping [crdt.ErrTooLarge], and
	// count it in Stats.TooLarge.
	MaxBytes int

	mu        sync.Mutex
	rng       *rand.Rand
	receivers map[crdt.ReplicaID]Receiver
	cut       map[[2]crdt.ReplicaID]bool
	queue     []message
	round     int
	stats     Stats
	lastErr   error
}

// New returns an empty network whose random choices follow seed.
func New(seed uint64) *Network {
	return &Network{
		rng:       rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		receivers: map[crdt.ReplicaID]Receiver{},
		cut:       map[[2]crdt.ReplicaID]bool{},
	}
}

// Attach makes rcv the receiver of messages for id, replacing any earlier
// one (a restarted replica).
func (n *Network) Attach(id crdt.ReplicaID, rcv Receiver) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.receivers[id] = rcv
}

// Detach removes the receiver of id (a crashed replica): messages for it
// are dropped until it is attached again.
func (n *Network) Detach(id crdt.ReplicaID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.receivers, id)
}

// Partition cuts the link between a and b in both directions: messages
// between them are dropped, including those already queued.
func (n *Network) Partition(a, b crdt.ReplicaID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cut[[2]crdt.ReplicaID{a, b}] = true
	n.cut[[2]crdt.ReplicaID{b, a}] = true
}

// PartitionOneWay cuts the link from from to to only: messages from from
// to to are dropped, including those already queued, while those from to
// to from go through, as a firewall rule or a broken route in one
// direction leaves a link. [Network.Heal] restores it.
func (n *Network) PartitionOneWay(from, to crdt.ReplicaID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cut[[2]crdt.ReplicaID{from, to}] = true
}

// Heal restores the link between a and b, in both directions.
func (n *Network) Heal(a, b crdt.ReplicaID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.cut, [2]crdt.ReplicaID{a, b})
	delete(n.cut, [2]crdt.ReplicaID{b, a})
}

// HealAll restores every link.
func (n *Network) HealAll() {
	n.mu.Lock()
	defer n.mu.Unlock()
	clear(n.cut)
}

// Cut reports whether the link from a to b is cut.
func (n *Network) Cut(a, b crdt.ReplicaID) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cut[[2]crdt.ReplicaID{a, b}]
}

// Transport returns the transport replica from sends with.
func (n *Network) Transport(from crdt.ReplicaID) crdt.Transport {
	return transport{n: n, from: from}
}

// BroadcastTransport returns a transport for replica from that also
// implements [crdt.Broadcaster]: one broadcast is one message sent, and
// each recipient's copy then meets the network's faults on its own, as on
// a multicast network.
func (n *Network) BroadcastTransport(from crdt.ReplicaID) crdt.Transport {
	return broadcaster{transport{n: n, from: from}}
}

type transport struct {
	n    *Network
	from crdt.ReplicaID
}

// Send queues msg for delivery, subject to the network's faults. It fails
// only for a message over MaxBytes: like a real network, it loses
// messages silently.
func (t transport) Send(_ context.Context, to crdt.ReplicaID, msg []byte) error {
	n := t.n
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.tooLarge(msg); err != nil {
		return err
	}
	n.stats.Sent++
	n.stats.BytesSent += uint64(len(msg))
	n.enqueue(t.from, to, msg)
	return nil
}

type broadcaster struct{ transport }

// Broadcast queues a copy of msg for each replica in to, each subject to
// the network's faults on its own. It fails only for a message over
// MaxBytes.
func (b broadcaster) Broadcast(_ context.Context, to []crdt.ReplicaID, msg []byte) error {
	n := b.n
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.tooLarge(msg); err != nil {
		return err
	}
	n.stats.Sent++
	n.stats.Broadcasts++
	n.stats.BytesSent += uint64(len(msg))
	for _, id := range to {
		n.enqueue(b.from, id, msg)
	}
	return nil
}

// tooLarge returns the error for msg if it is over MaxBytes, counting it,
// and nil otherwise. The caller holds n.mu.
func (n *Network) tooLarge(msg []byte) error {
	n.stats.Largest = max(n.stats.Largest, len(msg))
	if n.MaxBytes > 0 && len(msg) > n.MaxBytes {
		n.stats.TooLarge++
		return fmt.Errorf("memnet: %d bytes, over MaxBytes %d: %w", len(msg), n.MaxBytes, crdt.ErrTooLarge)
	}
	return nil
}

// enqueue queues a copy of msg from from to to, unless the link is cut or
// the message is lost, perhaps twice, perhaps held back. The caller holds
// n.mu.
func (n *Network) enqueue(from, to crdt.ReplicaID, msg []byte) {
	if n.cut[[2]crdt.ReplicaID{from, to}] || (n.Loss > 0 && n.rng.Float64() < n.Loss) {
		n.stats.Dropped++
		return
	}
	copies := 1
	if n.Duplicate > 0 && n.rng.Float64() < n.Duplicate {
		copies = 2
		n.stats.Duplicated++
	}
	for range copies {
		due := n.round
		if n.MaxDelay > 0 {
			due += n.rng.IntN(n.MaxDelay + 1)
		}
		cp := slices.Clone(msg)
		if n.Corrupt > 0 && len(cp) > 0 && n.rng.Float64() < n.Corrupt {
			bit := n.rng.IntN(8 * len(cp))
			cp[bit/8] ^= 1 << (bit % 8)
			n.stats.Corrupted++
		}
		n.queue = append(n.queue, message{from: from, to: to, msg: cp, due: due})
	}
}

// Pending returns the number of queued messages.
func (n *Network) Pending() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.queue)
}

// Stats returns what the network has done so far.
func (n *Network) Stats() Stats {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stats
}

// LastError returns the last error a receiver returned, or nil.
func (n *Network) LastError() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.lastErr
}

// Deliver hands one queued message to its receiver and reports whether
// there was one to deliver. Messages held back by MaxDelay are not yet
// eligible; messages on a cut link or for a detached replica are dropped.
func (n *Network) Deliver(ctx context.Context) bool {
	n.mu.Lock()
	var eligible []int
	for i, m := range n.queue {
		if m.due <= n.round {
			eligible = append(eligible, i)
			if !n.Reorder {
				break
			}
		}
	}
	if len(eligible) == 0 {
		n.mu.Unlock()
		return false
	}
	i := eligible[0]
	if n.Reorder {
		i = eligible[n.rng.IntN(len(eligible))]
	}
	m := n.queue[i]
	n.queue = slices.Delete(n.queue, i, i+1)
	rcv := n.receivers[m.to]
	if rcv == nil || n.cut[[2]crdt.ReplicaID{m.from, m.to}] {
		n.stats.Dropped++
		n.mu.Unlock()
		return true
	}
	n.stats.Delivered++
	n.mu.Unlock()

	if err := rcv.Receive(ctx, m.from, m.msg); err != nil {
		n.mu.Lock()
		n.stats.Refused++
		n.lastErr = fmt.Errorf("memnet: %s → %s: %w", m.from, m.to, err)
		n.mu.Unlock()
	}
	return true
}

// DeliverAll ends a delivery round: it delivers every message that is
// eligible now (not those sent during the round, nor those still held back),
// then advances the round. It returns the number of messages handled.
func (n *Network) DeliverAll(ctx context.Context) int {
	n.mu.Lock()
	budget := 0
	for _, m := range n.queue {
		if m.due <= n.round {
			budget++
		}
	}
	n.mu.Unlock()
	done := 0
	for ; done < budget && n.Deliver(ctx); done++ {
	}
	n.mu.Lock()
	n.round++
	n.mu.Unlock()
	return done
}
