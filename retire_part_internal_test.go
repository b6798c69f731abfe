package crdt

import (
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
