package crdt_test

import (
	"math/rand/v2"
	"testing"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/orset"
)

// BenchmarkReceiveJournal measures what journaling costs a replica that
// receives a steady stream of a peer's ops: the first replica of a pair
// adds an element per op and the pair runs a round every 64 ops; with
// "journal" the second saved a snapshot at the start and journals what
// it received (SaveOps, to a store that keeps nothing) after each round,
// with "plain" it keeps nothing for a journal. In the stream "new" every
// op received adds an element the receiver lacks; in "held" the receiver
// has added the same element itself just before, so the op received
// changes what its set has seen but not its value (the receiver's own
// adds are journaled too, and travel the other way). journal-bytes/op is
// what SaveOps handed the host per op received. The writers' epochs are
// drawn from a seeded source, so that counts of instructions repeat.
func BenchmarkReceiveJournal(b *testing.B) {
	for _, held := range []bool{false, true} {
		for _, journal := range []bool{false, true} {
			name := "new/"
			if held {
				name = "held/"
			}
			if journal {
				name += "journal"
			} else {
				name += "plain"
			}
			b.Run(name, func(b *testing.B) { receiveJournal(b, held, journal) })
		}
	}
}

// receiveJournal runs one case of BenchmarkReceiveJournal.
func receiveJournal(b *testing.B, held, journal bool) {
	var seed [32]byte
	p := newPair(b, func(cfg *crdt.Config) {
		seed[0]++
		cfg.Entropy = rand.NewChaCha8(seed)
	})
	p.settle(b, 10)
	w, r := p.sets[0], p.r[1]
	written := 0
	save := func(rec []byte) error { written += len(rec); return nil }
	if journal {
		if err := r.SaveSnapshot(func([]byte) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
	round := func() {
		p.round()
		if journal {
			if err := r.SaveOps(save); err != nil {
				b.Fatal(err)
			}
		}
	}
	ops := 0
	b.ReportAllocs()
	for b.Loop() {
		ops++
		e := key(ops)
		if held {
			_ = p.sets[1].Update(func(s *orset.Set[string]) (crdt.Op, error) { return s.Add(e), nil })
		}
		_ = w.Update(func(s *orset.Set[string]) (crdt.Op, error) { return s.Add(e), nil })
		if ops%64 == 0 {
			round()
		}
	}
	b.StopTimer()
	for range 20 {
		round()
	}
	var n int
	p.sets[1].Read(func(s *orset.Set[string]) { n = s.Len() })
	if n != ops {
		b.Fatalf("the receiver holds %d elements, want %d", n, ops)
	}
	if journal && written == 0 {
		b.Fatal("nothing journaled")
	}
	b.ReportMetric(float64(written)/float64(ops), "journal-bytes/op")
}
