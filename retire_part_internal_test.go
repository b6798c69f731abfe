package crdt

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/activeactive/crdt/codec"
	"github.com/google/go-cmp/cmp"
)

// partEnvelope is a message of its own carrying a part of a ledger entry.
func partEnvelope() *envelope {
	e := &envelope{From: "us-east-1", To: "eu-west-1", Incarnation: 7, AckInc: 3, AckSeq: 9}
	e.Retire = &retireSection{Sum: 0x5eed, Part: &entryPart{Name: "us-east-1", Index: 2, Hash: 0xfeedface, Part: 1, Parts: 3,
		From: "us-east-1!5", Heir: "us-east-1!9", Finals: []objFinal{{"cart", 3}, {"todos", 40}}}}
	return e
}

// TestEntryPartGolden pins the layout of a message carrying a part of a
// ledger entry (flagEntryPart), and that it decodes as sent; every
// message that decoded before decodes as it did (see the other goldens).
func TestEntryPartGolden(t *testing.T) {
	e := partEnvelope()
	b, err := e.encode()
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "envelope_entrypart.golden", b)
	got, err := decodeEnvelope(b, codec.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	opts := cmp.AllowUnexported(envelope{}, retireSection{}, entryPart{}, objFinal{})
	if d := cmp.Diff(e, got, opts); d != "" {
		t.Fatalf("round trip (-sent +received):\n%s", d)
	}
	refusesTruncation(t, e)
	for name, bad := range map[string]func(*entryPart){
		"one part":       func(m *entryPart) { m.Part, m.Parts = 0, 1 },
		"part past last": func(m *entryPart) { m.Part = 3 },
		"no finals":      func(m *entryPart) { m.Finals = nil },
	} {
		e := partEnvelope()
		bad(e.Retire.Part)
		b, err := e.encode()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := decodeEnvelope(b, codec.Limits{}); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}

// TestEntryPartsTakenWhole drives the parts of one entry into a replica
// as a peer may send them: out of order, one twice, another entry's part
// in between (which starts the gathering over), a forged hash, and a part
// claiming the most parts an entry may have. Only the entry whose parts
// all arrived with its hash is installed; a forged one is refused whole.
func TestEntryPartsTakenWhole(t *testing.T) {
	entry := retireEntry{From: "b!2", Heir: "b!3"}
	for i := range 9 {
		entry.Finals = append(entry.Finals, objFinal{fmt.Sprintf("obj%02d", i), uint64(i + 1)})
	}
	if err := entry.check("b"); err != nil {
		t.Fatal(err)
	}
	part := func(k uint64, hash uint64) *entryPart {
		return &entryPart{Name: "b", Index: 0, Hash: hash, Part: k, Parts: 3, From: entry.From, Heir: entry.Heir,
			Finals: entry.Finals[3*k : 3*k+3]}
	}
	h := entry.hash(0)
	for name, tc := range map[string]struct {
		parts     []*entryPart
		installed bool
		refused   uint64
	}{
		"in order":            {[]*entryPart{part(0, h), part(1, h), part(2, h)}, true, 0},
		"out of order, twice": {[]*entryPart{part(2, h), part(2, h), part(0, h), part(1, h)}, true, 0},
		"another entry between": {[]*entryPart{part(0, h), part(1, h), part(0, h+1), part(2, h), part(0, h), part(1, h)},
			true, 0},
		"forged hash":      {[]*entryPart{part(0, h+1), part(1, h+1), part(2, h+1)}, false, 1},
		"one part missing": {[]*entryPart{part(0, h), part(2, h)}, false, 0},
	} {
		t.Run(name, func(t *testing.T) {
			r := replicaWithPeer(t, "a", "b")
			r.mu.Lock()
			defer r.mu.Unlock()
			p := r.peers["b"]
			for _, m := range tc.parts {
				r.takePart(p, m)
			}
			l := r.led.lists["b"]
			installed := l != nil && len(l.entries) == 1 && l.entries[0].equal(entry)
			if installed != tc.installed || p.stats.refused[ReasonMalformed] != tc.refused {
				t.Fatalf("installed %v, refused as malformed %d; want %v, %d", installed, p.stats.refused[ReasonMalformed], tc.installed, tc.refused)
			}
		})
	}
	// A part that names the most parts an entry may have costs what it
	// carries, not a place for each of the others.
	r := replicaWithPeer(t, "a", "b")
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.peers["b"]
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for k := range uint64(100) {
		r.takePart(p, &entryPart{Name: "b", Index: 0, Hash: k, Part: 0, Parts: maxEntryObjects, From: "b!2", Finals: entry.Finals[:1]})
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / 100; per > 2048 {
		t.Fatalf("a part naming %d parts allocated %d bytes", maxEntryObjects, per)
	}
	if p.partsIn == nil || len(p.partsIn.got) != 1 {
		t.Fatalf("gathering after the last part: %v", p.partsIn != nil)
	}
}
