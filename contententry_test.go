package crdt

import (
	"strings"
	"testing"

	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/ormap"
	"github.com/activeactive/crdt/orset"
	"github.com/activeactive/crdt/vclock"
)

// contentEnvelope is gapEnvelope with a content entry for "cart" before
// its gap entry.
func contentEnvelope() *envelope {
	e := gapEnvelope()
	e.Digest = append([]digestEntry{contentEntry("cart", 0x0123456789abcdef, 0xc0ffee)}, e.Digest...)
	return e
}

// TestEnvelopeContentEntryGolden pins the form of a digest with a content
// entry: an ordinary digest entry, as a gap entry is, which a release
// that knows nothing of content entries reads as any other (and ignores,
// as the entry of an object it does not have).
func TestEnvelopeContentEntryGolden(t *testing.T) {
	b, err := withWriterOps(contentEnvelope()).encode()
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "envelope_content.golden", b)
	e, err := decodeEnvelope(b, codec.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if len(e.Digest) != 4 {
		t.Fatalf("digest %+v", e.Digest)
	}
	name, h, cfp, ok := contentOf(e.Digest[0])
	if !ok || name != "cart" || h != 0x0123456789abcdef || cfp != 0xc0ffee {
		t.Fatalf("content entry %+v read as %q %#x %#x %v", e.Digest[0], name, h, cfp, ok)
	}
	for _, d := range e.Digest[1:] {
		if _, _, _, ok := contentOf(d); ok {
			t.Fatalf("%+v read as a content entry", d)
		}
	}
	if _, _, _, ok := gapOf(e.Digest[0]); ok {
		t.Fatal("a content entry read as a gap entry")
	}
}

// TestContentOfRefusesMalformed: only a well-formed content entry is read
// as one; anything else under the prefix is ignored.
func TestContentOfRefusesMalformed(t *testing.T) {
	good := contentEntry("s", 9, 10)
	bad := []digestEntry{
		{Object: contentPrefix, Version: good.Version, Fingerprint: 10, HasFingerprint: true},
		{Object: contentPrefix + "s", Version: []byte{1, 2, 3}, Fingerprint: 10, HasFingerprint: true},
		{Object: contentPrefix + "s", Version: good.Version, Durable: good.Version, Fingerprint: 10, HasFingerprint: true},
		{Object: contentPrefix + "s", Version: good.Version},
		{Object: "s", Version: good.Version, Fingerprint: 10, HasFingerprint: true},
		gapEntry("s", 9, 10),
	}
	if _, _, _, ok := contentOf(good); !ok {
		t.Fatal("good entry refused")
	}
	for _, d := range bad {
		if _, _, _, ok := contentOf(d); ok {
			t.Fatalf("%+v read as a content entry", d)
		}
	}
}

// TestDigestContentEntries: a replica's digest carries a content entry
// for each object that is a ContentFingerprinter, with its gap hash
// (noGaps without gaps), before the gap entries and every object's entry,
// sorted; none for the other objects, nor for an object with gaps it
// cannot name.
func TestDigestContentEntries(t *testing.T) {
	r, err := NewReplica(Config{ID: "a", Transport: nopTransport{}})
	if err != nil {
		t.Fatal(err)
	}
	plain, gapped := ormap.New[string, *ormap.Counter]("a"), ormap.New[string, *ormap.Counter]("a")
	plain.At("x").Add(1)
	other := ormap.New[string, *ormap.Counter](vclock.Writer("b", 1))
	other.At("x").Add(1)
	op := other.At("y").Add(1) // the second: past a gap where the first is missing
	b, _ := op.MarshalBinary()
	if _, err := gapped.ApplyBinary(b); err != nil || !gapped.HasGaps() {
		t.Fatalf("apply: %v, gaps %v", err, gapped.HasGaps())
	}
	for name, obj := range map[string]Object{"p": plain, "g": gapped, "s": orset.New[string]("a")} {
		if _, err := Register(r, name, obj); err != nil {
			t.Fatal(err)
		}
	}
	r.mu.Lock()
	d := r.digest()
	r.mu.Unlock()
	var names []string
	for _, e := range d {
		names = append(names, e.Object)
	}
	want := []string{contentPrefix + "g", contentPrefix + "p", gapPrefix + "g", limitName, writerName, "g", "p", "s"}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Fatalf("digest entries %q, want %q", names, want)
	}
	gh, _ := gapped.GapHash()
	for i, m := range []*ormap.Map[string, *ormap.Counter]{gapped, plain} {
		name, h, cfp, ok := contentOf(d[i])
		wantH := map[int]uint64{0: gh, 1: noGaps}[i]
		if !ok || name != []string{"g", "p"}[i] || h != wantH || cfp != m.ContentFingerprint() {
			t.Fatalf("content entry %+v: %q %#x %#x %v", d[i], name, h, cfp, ok)
		}
	}
}
