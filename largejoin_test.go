package crdt_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/ormap"
	"github.com/activeactive/crdt/orset"
)

// lossy is a transport between two replicas that loses a share of the
// chunks one of them sends (its messages of at least a quarter of the
// limit: every tenth, say), and records what was sent and lost.
type lossy struct {
	mu      sync.Mutex
	from    crdt.ReplicaID
	queue   *[]delivery
	every   int // lose every every-th chunk; 0 for none
	big     int // the size from which a message counts as a chunk
	chunks  int
	sent    int
	lost    int // bytes lost
	largest int
}

type delivery struct {
	to, from crdt.ReplicaID
	msg      []byte
}

func (l *lossy) Send(_ context.Context, to crdt.ReplicaID, msg []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sent += len(msg)
	l.largest = max(l.largest, len(msg))
	if len(msg) >= l.big {
		l.chunks++
		if l.every > 0 && l.chunks%l.every == 0 {
			l.lost += len(msg)
			return nil
		}
	}
	*l.queue = append(*l.queue, delivery{to, l.from, msg})
	return nil
}

// joinResult is what a join through small messages cost.
type joinResult struct {
	stateBytes int           // the set's state, encoded whole
	sent       int           // bytes the holder sent
	lost       int           // of which lost
	largest    int           // largest message either sent
	rounds     int           // ticks until the newcomer held everything
	digests    uint64        // catch-up rounds served
	took       time.Duration // from the first tick to convergence
	chunks     int           // chunks of the catch-up, as Stats showed them
	leftSeen   int           // chunks left at the last look
	applied    int           // chunk messages the newcomer took in
	applyMax   time.Duration // the longest Receive of a chunk by the newcomer
	applySum   time.Duration // all of them
	times      []time.Duration
	holderTick time.Duration // the holder's longest Tick: preparing its messages, cutting a catch-up, sending
	holderLock time.Duration // the longest its Tick held its lock
}

// bigSet returns a set of n elements made at one replica.
func bigSet(n int) *orset.Set[string] {
	s := orset.New[string]("us-east-1")
	for i := range n {
		s.Add(fmt.Sprintf("element-%07d", i))
	}
	return s
}

// joinee is the object a large join moves: the holder's, how to make an
// empty one, copy one, count what one holds, and compare two; and how
// many times the object's state its parts may take, all together (the
// bytes a catch-up has left never exceed that).
type joinee[T crdt.Object] struct {
	holder   T
	overhead float64
	fresh    func(crdt.ReplicaID) T
	clone    func(T) T
	count    func(T) int
	equal    func(a, b T) bool
}

// setJoinee is a large join of the set s.
func setJoinee(s *orset.Set[string]) joinee[*orset.Set[string]] {
	return joinee[*orset.Set[string]]{
		holder:   s,
		overhead: 1,
		fresh:    func(id crdt.ReplicaID) *orset.Set[string] { return orset.New[string](id) },
		clone:    (*orset.Set[string]).Clone,
		count:    (*orset.Set[string]).Len,
		equal: func(a, b *orset.Set[string]) bool {
			return a.Equal(b) && a.Fingerprint() == b.Fingerprint()
		},
	}
}

// largeJoin is largeJoinOf for a set.
func largeJoin(tb testing.TB, set *orset.Set[string], maxMsg int, every int, compressAbove int) joinResult {
	return largeJoinOf(tb, setJoinee(set), maxMsg, every, compressAbove)
}

// largeJoinOf has a new, empty replica join one holding j's object (a
// clone of it), through messages of at most maxMsg bytes, the holder's
// losing every every-th chunk (none if every is 0), with
// Config.CompressAbove set to compressAbove, and reports what it cost.
func largeJoinOf[T crdt.Object](tb testing.TB, j joinee[T], maxMsg int, every int, compressAbove int) joinResult {
	var queue []delivery
	ids := [2]crdt.ReplicaID{"us-east-1", "eu-west-1"}
	tr := [2]*lossy{
		{from: ids[0], queue: &queue, every: every, big: maxMsg / 4},
		{from: ids[1], queue: &queue, big: maxMsg / 4},
	}
	var rs [2]*crdt.Replica
	var hs [2]*crdt.Handle[T]
	for i, id := range ids {
		r, err := crdt.NewReplica(crdt.Config{ID: id, Transport: tr[i], Clock: testClock(), MaxMessageBytes: maxMsg, CompressAbove: compressAbove})
		if err != nil {
			tb.Fatal(err)
		}
		s := j.fresh(id)
		if i == 0 {
			s = j.clone(j.holder)
		}
		if hs[i], err = crdt.Register(r, "set", s); err != nil {
			tb.Fatal(err)
		}
		_ = r.AddPeer(ids[1-i])
		rs[i] = r
	}
	b, err := j.holder.MarshalBinary()
	if err != nil {
		tb.Fatal(err)
	}
	res := joinResult{stateBytes: len(b)}
	want := j.count(j.holder)
	ctx := context.Background()
	start := time.Now()
	for res.rounds = 1; ; res.rounds++ {
		if res.rounds > 10000 {
			tb.Fatalf("no convergence after %d rounds", res.rounds)
		}
		t0 := time.Now()
		_ = rs[0].Tick(ctx)
		res.holderTick = max(res.holderTick, time.Since(t0))
		_ = rs[1].Tick(ctx)
		batch := queue
		queue = nil
		for _, d := range batch {
			i := 0
			if d.to == ids[1] {
				i = 1
			}
			t0 := time.Now()
			if err := rs[i].Receive(ctx, d.from, d.msg); err != nil {
				tb.Fatalf("%s refused a message: %v", d.to, err)
			}
			if i == 1 && len(d.msg) >= maxMsg/4 {
				took := time.Since(t0)
				res.applied++
				res.applySum += took
				res.applyMax = max(res.applyMax, took)
				res.times = append(res.times, took.Round(time.Millisecond))
			}
		}
		n := 0
		hs[1].Read(func(s T) { n = j.count(s) })
		ps := rs[0].Stats().Peers[0]
		if ps.CatchUpChunks > 0 {
			// Progress: what is left never exceeds the whole, and goes down.
			if ps.CatchUpChunksLeft > ps.CatchUpChunks || float64(ps.CatchUpBytesLeft) > j.overhead*float64(res.stateBytes)+float64(ps.CatchUpChunks*maxMsg/100) ||
				(res.leftSeen > 0 && ps.CatchUpChunksLeft > res.leftSeen) {
				tb.Fatalf("progress: %d of %d chunks, %d bytes left, %d left before", ps.CatchUpChunksLeft, ps.CatchUpChunks, ps.CatchUpBytesLeft, res.leftSeen)
			}
			res.chunks, res.leftSeen = ps.CatchUpChunks, ps.CatchUpChunksLeft
		}
		if n == want && !ps.AwaitingCatchUp {
			if ps.CatchUpChunksLeft != 0 || ps.CatchUpBytesLeft != 0 {
				tb.Fatalf("joined, yet %d chunks and %d bytes left", ps.CatchUpChunksLeft, ps.CatchUpBytesLeft)
			}
			break
		}
	}
	res.took = time.Since(start)
	hs[0].Read(func(a T) {
		hs[1].Read(func(b T) {
			if !j.equal(a, b) {
				tb.Fatalf("the objects differ after the join")
			}
		})
	})
	res.sent, res.lost = tr[0].sent, tr[0].lost
	res.largest = max(tr[0].largest, tr[1].largest)
	res.digests = rs[0].Stats().Peers[0].DigestRounds
	for _, r := range rs {
		if n := r.Stats().Oversize; n > 0 {
			tb.Fatalf("%s made %d messages over the limit", r.ID(), n)
		}
	}
	res.holderLock = rs[0].TickHold()
	return res
}

// TestLargeJoinThroughSmallMessages has a new replica join one holding a
// large set, through messages much smaller than the set: it converges, no
// message is over the limit, the bytes sent are within 10% of the set's
// encoded size, and losing a tenth of the chunks costs about what was
// lost, not a new start. (BenchmarkLargeJoin does the same with a
// million elements through 1 MiB messages.) The states go plain, so that
// the chunks are many: TestLargeJoinCompressed joins compressed.
func TestLargeJoinThroughSmallMessages(t *testing.T) {
	const n, maxMsg = 100_000, 64 << 10
	set := bigSet(n)
	clean := largeJoin(t, set, maxMsg, 0, -1)
	t.Logf("no loss: state %d bytes, sent %d (%.3fx) in %d rounds, largest message %d, %v; %d chunks received, longest %v, mean %v",
		clean.stateBytes, clean.sent, float64(clean.sent)/float64(clean.stateBytes), clean.rounds, clean.largest, clean.took,
		clean.applied, clean.applyMax, clean.applySum/time.Duration(max(1, clean.applied)))
	if clean.largest > maxMsg {
		t.Fatalf("a message of %d bytes; the limit is %d", clean.largest, maxMsg)
	}
	if clean.chunks < 10 {
		t.Fatalf("Stats showed a catch-up of %d chunks; want many", clean.chunks)
	}
	if clean.stateBytes < 10*maxMsg {
		t.Fatalf("the state (%d bytes) should take many messages", clean.stateBytes)
	}
	if float64(clean.sent) > 1.1*float64(clean.stateBytes) {
		t.Fatalf("sent %d bytes for a state of %d: more than 1.1 times", clean.sent, clean.stateBytes)
	}
	lossy := largeJoin(t, set, maxMsg, 10, -1)
	extra := lossy.sent - clean.sent
	t.Logf("every 10th chunk lost: sent %d (%.1f%% more), of which %d lost, in %d rounds, %d catch-up rounds, %v",
		lossy.sent, 100*float64(extra)/float64(clean.sent), lossy.lost, lossy.rounds, lossy.digests, lossy.took)
	if lossy.largest > maxMsg {
		t.Fatalf("a message of %d bytes; the limit is %d", lossy.largest, maxMsg)
	}
	if lossy.lost == 0 || lossy.digests != 1 {
		t.Fatalf("lost %d bytes, served %d catch-ups: want some loss and one catch-up, never started over", lossy.lost, lossy.digests)
	}
	// What was lost is sent again, and little else: a new start would
	// send the whole state again.
	if extra > 2*lossy.lost+clean.stateBytes/50 {
		t.Fatalf("losing %d bytes cost %d more: more than what was lost", lossy.lost, extra)
	}
}

// bigCounters returns a map of n counters written at one replica, each
// incremented once or more, every tenth deleted (a delete's reset leaf
// and drop record) and some of those incremented again.
func bigCounters(n int) *ormap.Map[string, *ormap.Counter] {
	m := ormap.New[string, *ormap.Counter]("us-east-1")
	for i := range n {
		k := fmt.Sprintf("counter-%07d", i)
		m.At(k).Add(int64(i%7 + 1))
		if i%3 == 0 {
			m.At(k).Add(2)
		}
		if i%10 == 0 {
			m.Delete(fmt.Sprintf("counter-%07d", i/2))
		}
		if i%40 == 0 {
			m.At(fmt.Sprintf("counter-%07d", i/4)).Add(5)
		}
	}
	return m
}

// TestLargeJoinORMap is TestLargeJoinThroughSmallMessages for a map of
// counters, whose catch-up the map cuts into parts: a new replica joins
// through messages much smaller than the map, with and without a tenth
// of the chunks lost, and ends with the holder's map; no message is over
// the limit, and a loss costs about what was lost. Its parts take about
// 1.3 times its state, plain: a continued chain leaves its earlier
// leaves' dots seen and not held, which the state's context holds in one
// run and the parts list run by run (removed parts, and context parts
// cut at each); compressed, as the engine sends them by default, far
// less.
func TestLargeJoinORMap(t *testing.T) {
	const n, maxMsg = 40_000, 64 << 10
	m := bigCounters(n)
	j := joinee[*ormap.Map[string, *ormap.Counter]]{
		holder:   m,
		overhead: 1.5,
		fresh: func(id crdt.ReplicaID) *ormap.Map[string, *ormap.Counter] {
			return ormap.New[string, *ormap.Counter](id)
		},
		clone: (*ormap.Map[string, *ormap.Counter]).Clone,
		count: (*ormap.Map[string, *ormap.Counter]).Len,
		equal: func(a, b *ormap.Map[string, *ormap.Counter]) bool {
			return a.Equal(b) && a.Fingerprint() == b.Fingerprint() && a.ContentFingerprint() == b.ContentFingerprint() &&
				a.At("counter-0000012").Value() == b.At("counter-0000012").Value()
		},
	}
	clean := largeJoinOf(t, j, maxMsg, 0, -1)
	t.Logf("no loss: state %d bytes, sent %d (%.3fx) in %d rounds, %d chunks, largest message %d, %v",
		clean.stateBytes, clean.sent, float64(clean.sent)/float64(clean.stateBytes), clean.rounds, clean.chunks, clean.largest, clean.took)
	if clean.largest > maxMsg || clean.chunks < 10 || clean.stateBytes < 10*maxMsg {
		t.Fatalf("largest message %d (limit %d), %d chunks, a state of %d bytes: want many chunks within the limit", clean.largest, maxMsg, clean.chunks, clean.stateBytes)
	}
	if float64(clean.sent) > j.overhead*float64(clean.stateBytes) {
		t.Fatalf("sent %d bytes for a state of %d: more than %.1f times", clean.sent, clean.stateBytes, j.overhead)
	}
	lossy := largeJoinOf(t, j, maxMsg, 10, -1)
	extra := lossy.sent - clean.sent
	t.Logf("every 10th chunk lost: sent %d (%.1f%% more), of which %d lost, in %d rounds, %d catch-up rounds, %v",
		lossy.sent, 100*float64(extra)/float64(clean.sent), lossy.lost, lossy.rounds, lossy.digests, lossy.took)
	if lossy.largest > maxMsg || lossy.lost == 0 || lossy.digests != 1 {
		t.Fatalf("largest message %d, lost %d bytes, served %d catch-ups: want some loss and one catch-up, never started over", lossy.largest, lossy.lost, lossy.digests)
	}
	if extra > 2*lossy.lost+clean.stateBytes/50 {
		t.Fatalf("losing %d bytes cost %d more: more than what was lost", lossy.lost, extra)
	}
	packed := largeJoinOf(t, j, maxMsg, 0, 0)
	t.Logf("compressed: sent %d (%.3fx the plain state) in %d rounds, %d chunks, largest message %d, %v",
		packed.sent, float64(packed.sent)/float64(packed.stateBytes), packed.rounds, packed.chunks, packed.largest, packed.took)
	if packed.largest > maxMsg || packed.sent > clean.stateBytes/2 {
		t.Fatalf("compressed: largest message %d, sent %d bytes for a state of %d", packed.largest, packed.sent, clean.stateBytes)
	}
}

// TestLargeJoinCompressed is the join of TestLargeJoinThroughSmallMessages
// with states compressed, as the engine sends them by default: the parts
// of the state, each a chunk's worth plain, go compressed, one to a chunk
// (the parts of a chunk take at most the limit decompressed), so the join
// sends a small part of the state's plain size in small messages, and
// no message is over the limit.
func TestLargeJoinCompressed(t *testing.T) {
	const n, maxMsg = 100_000, 64 << 10
	res := largeJoin(t, bigSet(n), maxMsg, 0, 0)
	t.Logf("state %d bytes, sent %d (%.4fx) in %d rounds, %d chunks, largest message %d, %v",
		res.stateBytes, res.sent, float64(res.sent)/float64(res.stateBytes), res.rounds, res.chunks, res.largest, res.took)
	if res.largest > maxMsg {
		t.Fatalf("a message of %d bytes; the limit is %d", res.largest, maxMsg)
	}
	// Elements element-0000000 on: the state's keys compress more than a
	// hundred to one; the envelopes, digests and parts' own headers take
	// the rest.
	if res.sent > res.stateBytes/50 {
		t.Fatalf("sent %d bytes for a state of %d: compression saved less than it should", res.sent, res.stateBytes)
	}
}

// BenchmarkLargeJoin has a new replica join one holding a set of a million
// elements through 1 MiB messages, with no loss and with a tenth of the
// holder's messages lost, and reports the bytes sent against the state's
// encoded size, the largest message, and the join's time. The floor
// merges the whole state in one message, as before catch-ups had chunks.
func BenchmarkLargeJoin(b *testing.B) {
	const n, maxMsg = 1_000_000, 1 << 20
	set := bigSet(n)
	for _, c := range []struct{ every, compressAbove int }{{0, -1}, {10, -1}, {0, 0}, {10, 0}} {
		name := "loss=none"
		if c.every > 0 {
			name = fmt.Sprintf("loss=1in%d", c.every)
		}
		if c.compressAbove >= 0 {
			name += "/compressed"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			var res joinResult
			for b.Loop() {
				res = largeJoin(b, set, maxMsg, c.every, c.compressAbove)
			}
			b.Logf("the newcomer's Receive of each chunk: %v", res.times)
			b.ReportMetric(float64(res.holderTick.Microseconds())/1000, "holder-max-tick-ms")
			b.ReportMetric(float64(res.holderLock.Microseconds())/1000, "holder-max-lock-ms")
			b.ReportMetric(float64(res.stateBytes), "state-bytes")
			b.ReportMetric(float64(res.sent), "sent-bytes")
			b.ReportMetric(float64(res.sent)/float64(res.stateBytes), "sent/state")
			b.ReportMetric(float64(res.lost), "lost-bytes")
			b.ReportMetric(float64(res.largest), "largest-msg-bytes")
			b.ReportMetric(res.took.Seconds(), "join-s")
			// A chunk is merged under the replica's lock: the longest
			// merge is how long reads and local writes may wait.
			b.ReportMetric(float64(res.applyMax.Microseconds())/1000, "max-chunk-ms")
			b.ReportMetric(float64(res.applySum.Microseconds())/1000/float64(max(1, res.applied)), "mean-chunk-ms")
			if res.largest > maxMsg {
				b.Fatalf("a message of %d bytes", res.largest)
			}
		})
	}
	b.Run("floor=whole-state", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			state, err := set.MarshalBinary()
			if err != nil {
				b.Fatal(err)
			}
			dst := orset.New[string]("eu-west-1")
			if _, err := dst.MergeBinary(state); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(len(state)), "state-bytes")
		}
	})
	// What a copy of the set costs, against its cut (ChunksBinary), for a
	// holder that would copy under its lock and cut after releasing it.
	b.Run("clone-vs-cut", func(b *testing.B) {
		var clone, cut time.Duration
		for b.Loop() {
			t0 := time.Now()
			c := set.Clone()
			clone = time.Since(t0)
			t0 = time.Now()
			if _, _, err := c.ChunksBinary(nil, maxMsg-1024); err != nil {
				b.Fatal(err)
			}
			cut = time.Since(t0)
		}
		b.ReportMetric(float64(clone.Microseconds())/1000, "clone-ms")
		b.ReportMetric(float64(cut.Microseconds())/1000, "cut-ms")
	})
}
