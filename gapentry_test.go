package crdt

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/orset"
	"github.com/activeactive/crdt/vclock"
)

// gapEnvelope is fullEnvelope with a digest that carries a gap entry:
// "cart" holds updates past a gap, so its own entry has no fingerprint
// and its gap entry carries the fingerprint and the gap hash.
func gapEnvelope() *envelope {
	e := fullEnvelope()
	e.Digest = []digestEntry{gapEntry("cart", 0x0123456789abcdef, 0xfeedface),
		{"cart", []byte{5}, []byte{6}, 0, false}, {"count", nil, nil, 0, false}}
	return e
}

// TestEnvelopeGapEntryGolden pins the form of a digest with a gap entry:
// an ordinary digest entry, which the decoder (unchanged since the second
// format) reads as it reads any other, so that a release that knows
// nothing of gap entries reads the message whole.
func TestEnvelopeGapEntryGolden(t *testing.T) {
	b, err := withWriterOps(gapEnvelope()).encode()
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "envelope_gap.golden", b)
	e, err := decodeEnvelope(b, codec.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if len(e.Digest) != 3 {
		t.Fatalf("digest %+v", e.Digest)
	}
	name, h, fp, ok := gapOf(e.Digest[0])
	if !ok || name != "cart" || h != 0x0123456789abcdef || fp != 0xfeedface {
		t.Fatalf("gap entry %+v read as %q %#x %#x %v", e.Digest[0], name, h, fp, ok)
	}
	if d := e.Digest[1]; d.Object != "cart" || d.HasFingerprint {
		t.Fatalf("the object's own entry %+v carries a fingerprint", d)
	}
	for _, d := range e.Digest[1:] {
		if _, _, _, ok := gapOf(d); ok {
			t.Fatalf("%+v read as a gap entry", d)
		}
	}
}

// TestGapOfRefusesMalformed: only a well-formed gap entry is read as
// one; anything else under the prefix is ignored, as an entry of an
// object this replica does not have.
func TestGapOfRefusesMalformed(t *testing.T) {
	good := gapEntry("s", 9, 10)
	bad := []digestEntry{
		{Object: gapPrefix, Version: good.Version, Fingerprint: 10, HasFingerprint: true},
		{Object: gapPrefix + "s", Version: []byte{1, 2, 3}, Fingerprint: 10, HasFingerprint: true},
		{Object: gapPrefix + "s", Version: good.Version, Durable: good.Version, Fingerprint: 10, HasFingerprint: true},
		{Object: gapPrefix + "s", Version: good.Version},
		{Object: "s", Version: good.Version, Fingerprint: 10, HasFingerprint: true},
	}
	if _, _, _, ok := gapOf(good); !ok {
		t.Fatal("good entry refused")
	}
	for _, d := range bad {
		if _, _, _, ok := gapOf(d); ok {
			t.Fatalf("%+v read as a gap entry", d)
		}
	}
}

// TestRegisterRefusesReservedName: no object may take a name that starts
// with a NUL byte, under which gap entries travel.
func TestRegisterRefusesReservedName(t *testing.T) {
	r, err := NewReplica(Config{ID: "a", Transport: nopTransport{}})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{gapPrefix + "s", "\x00"} {
		if _, err := Register(r, name, orset.New[string]("a")); !errors.Is(err, ErrConfig) {
			t.Fatalf("Register(%q) = %v, want ErrConfig", name, err)
		}
	}
}

// TestDigestGapEntries: a replica's digest carries, for an object with
// gaps, a gap entry before every object's entry, and no fingerprint in
// the object's own entry; for an object without gaps, its fingerprint as
// before and no gap entry.
func TestDigestGapEntries(t *testing.T) {
	r, err := NewReplica(Config{ID: "a", Transport: nopTransport{}})
	if err != nil {
		t.Fatal(err)
	}
	gapped, plain := orset.New[string]("a"), orset.New[string]("a")
	other := orset.New[string](vclock.Writer("b", 1))
	_ = other.Add("x")
	op := other.Add("y") // the second: past a gap where the first is missing
	b, _ := op.MarshalBinary()
	if _, err := gapped.ApplyBinary(b); err != nil || !gapped.HasGaps() {
		t.Fatalf("apply: %v, gaps %v", err, gapped.HasGaps())
	}
	if _, err := Register(r, "g", gapped); err != nil {
		t.Fatal(err)
	}
	if _, err := Register(r, "p", plain); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	d := r.digest()
	r.mu.Unlock()
	if len(d) != 5 || !strings.HasPrefix(d[0].Object, gapPrefix) {
		t.Fatalf("digest %+v", d)
	}
	if n, ok := limitOf(d[1]); !ok || n != r.cfg.MaxMessageBytes {
		t.Fatalf("limit entry %+v: %d %v, want %d", d[1], n, ok, r.cfg.MaxMessageBytes)
	}
	if w, ok := writerOf(d[2], r.id); !ok || w != r.Writer() {
		t.Fatalf("writer entry %+v: %q %v, want %q", d[2], w, ok, r.Writer())
	}
	d = slices.Delete(d, 1, 3)
	name, h, fp, ok := gapOf(d[0])
	want, _ := gapped.GapHash()
	if !ok || name != "g" || h != want || fp != gapped.Fingerprint() {
		t.Fatalf("gap entry %+v: %q %#x %#x %v; want gap hash %#x, fingerprint %#x", d[0], name, h, fp, ok, want, gapped.Fingerprint())
	}
	if d[1].Object != "g" || d[1].HasFingerprint || d[1].Version == nil {
		t.Fatalf("entry of g: %+v", d[1])
	}
	if d[2].Object != "p" || !d[2].HasFingerprint || d[2].Fingerprint != plain.Fingerprint() {
		t.Fatalf("entry of p: %+v", d[2])
	}
}

// A digest's writer entry speaks for its sender alone: one naming another
// replica's writer, a name without an epoch, or with a fingerprint or a
// durable version is not taken as a writer entry.
func TestWriterEntryNamesTheSendersWriter(t *testing.T) {
	w := vclock.Writer("b", 7)
	if got, ok := writerOf(writerEntry(w), "b"); !ok || got != w {
		t.Fatalf("writer entry of b read as %q %v", got, ok)
	}
	bad := []digestEntry{
		writerEntry(w),   // from c
		writerEntry("b"), // no epoch
		writerEntry(""),  // empty
		{Object: writerName, Version: []byte(w), HasFingerprint: true},
		{Object: writerName, Version: []byte(w), Durable: []byte{1}},
		{Object: "g", Version: []byte(w)},
	}
	for i, d := range bad {
		from := ReplicaID("b")
		if i == 0 {
			from = "c"
		}
		if got, ok := writerOf(d, from); ok {
			t.Errorf("entry %d (%+v) from %s read as writer %q", i, d, from, got)
		}
	}
}
