package crdt

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/lwwmap"
)

// wallCounter is an LWW-map that records the wall times its content
// fingerprint is asked at.
type wallCounter struct {
	*lwwmap.Map[string, string]
	walls []int64
}

func (w *wallCounter) ContentFingerprintAt(wall int64) uint64 {
	w.walls = append(w.walls, wall)
	return w.Map.ContentFingerprintAt(wall)
}

// A peer's content entry names the wall time its content fingerprint is
// at, and the receiver computes its own at that time: a pass over the
// whole map whenever a key's expiry lies between that time and the last
// one asked. A wall time far from this replica's clock is no honest
// peer's (clocks stay within the maximum offset), and a peer naming one
// after another, each between other expiries, would make every digest of
// a few bytes cost a pass over the map: such an entry is not compared.
func TestContentWallFarFromTheClockNotCompared(t *testing.T) {
	r := replicaWithPeer(t, "b", "a")
	m := lwwmap.New[string, string]("b", r.Clock())
	w := &wallCounter{Map: m}
	if _, err := Register(r, "m", Object(w)); err != nil {
		t.Fatal(err)
	}
	m.Put("k", "v")
	r.mu.Lock()
	defer r.mu.Unlock()
	v, err := m.VersionBinary()
	if err != nil {
		t.Fatal(err)
	}
	now := max(r.clk.Physical(), r.clk.Last().Wall)
	p := r.peers["a"]
	for _, c := range []struct {
		wall    int64
		compare bool
	}{
		{now, true},
		{now + int64(time.Hour), false},
		{now - int64(time.Hour), false},
		{now + int64(24*365*time.Hour), false},
		{now + int64(100*time.Millisecond), true},
	} {
		w.walls = nil
		ce := contentEntry("m", noGaps, 0xbad) // a content fingerprint no replica here has
		ce.Version = append(ce.Version, make([]byte, 8)...)
		for i := range 8 {
			ce.Version[8+i] = byte(uint64(c.wall) >> (56 - 8*i))
		}
		r.compareFingerprints(p, []digestEntry{ce, {Object: "m", Version: v, Fingerprint: m.Fingerprint(), HasFingerprint: true}})
		if got := len(w.walls) > 0; got != c.compare {
			t.Errorf("content entry at %v from the clock: compared %v, want %v", time.Duration(c.wall-now), got, c.compare)
		}
	}
}

// A digest a message's latency old names a wall time near the clock
// reading its message carried (p.newest), not near this replica's clock:
// it is compared. One far from both is not.
func TestContentWallNearThePeersLatestReadingCompared(t *testing.T) {
	r := replicaWithPeer(t, "b", "a")
	m := lwwmap.New[string, string]("b", r.Clock())
	w := &wallCounter{Map: m}
	if _, err := Register(r, "m", Object(w)); err != nil {
		t.Fatal(err)
	}
	m.Put("k", "v")
	r.mu.Lock()
	defer r.mu.Unlock()
	v, err := m.VersionBinary()
	if err != nil {
		t.Fatal(err)
	}
	now := max(r.clk.Physical(), r.clk.Last().Wall)
	p := r.peers["a"]
	p.newest = clock.Timestamp{Wall: now - int64(time.Minute)} // its latest message was a minute in flight
	for _, c := range []struct {
		wall    int64
		compare bool
	}{
		{now - int64(time.Minute), true},
		{now - int64(time.Minute) - int64(100*time.Millisecond), true},
		{now - int64(time.Minute) + int64(100*time.Millisecond), true},
		{now - int64(30*time.Second), false},
		{now - int64(2*time.Minute), false},
		{now, true},
	} {
		w.walls = nil
		ce := contentEntry("m", noGaps, 0xbad)
		ce.Version = binary.BigEndian.AppendUint64(ce.Version, uint64(c.wall))
		r.compareFingerprints(p, []digestEntry{ce, {Object: "m", Version: v, Fingerprint: m.Fingerprint(), HasFingerprint: true}})
		if got := len(w.walls) > 0; got != c.compare {
			t.Errorf("content entry at %v from the clock, the peer's last reading a minute back: compared %v, want %v", time.Duration(c.wall-now), got, c.compare)
		}
	}
}
