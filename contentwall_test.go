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
	wt := newWallTest(t)
	defer wt.r.mu.Unlock()
	now := wt.now
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
		if got := wt.compared(c.wall); got != c.compare {
			t.Errorf("content entry at %v from the clock: compared %v, want %v", time.Duration(c.wall-now), got, c.compare)
		}
	}
}

// A digest a message's latency old names a wall time near the clock
// reading its message carried (p.newest), not near this replica's clock:
// it is compared. One far from both is not.
func TestContentWallNearThePeersLatestReadingCompared(t *testing.T) {
	wt := newWallTest(t)
	defer wt.r.mu.Unlock()
	now := wt.now
	wt.p.newest = clock.Timestamp{Wall: now - int64(time.Minute)} // its latest message was a minute in flight
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
		if got := wt.compared(c.wall); got != c.compare {
			t.Errorf("content entry at %v from the clock, the peer's last reading a minute back: compared %v, want %v", time.Duration(c.wall-now), got, c.compare)
		}
	}
}

// wallTest is a replica b with a peer a and an LWW-map "m" that counts
// the wall times its content fingerprint is asked at, held under b's lock
// (the caller unlocks r.mu): now is b's clock.
type wallTest struct {
	r   *Replica
	p   *peer
	m   *lwwmap.Map[string, string]
	w   *wallCounter
	v   []byte // m's version
	now int64
}

func newWallTest(t *testing.T) *wallTest {
	t.Helper()
	r := replicaWithPeer(t, "b", "a")
	m := lwwmap.New[string, string]("b", r.Clock())
	w := &wallCounter{Map: m}
	if _, err := Register(r, "m", Object(w)); err != nil {
		t.Fatal(err)
	}
	m.Put("k", "v")
	r.mu.Lock()
	v, err := m.VersionBinary()
	if err != nil {
		r.mu.Unlock()
		t.Fatal(err)
	}
	return &wallTest{r: r, p: r.peers["a"], m: m, w: w, v: v, now: max(r.clk.Physical(), r.clk.Last().Wall)}
}

// compared hands b a digest from a with a content entry for m at wall,
// of a content fingerprint no replica here has, beside m's entry at b's
// own version, and reports whether b compared it (asked m's content
// fingerprint at some time).
func (wt *wallTest) compared(wall int64) bool {
	wt.w.walls = nil
	ce := contentEntry("m", noGaps, 0xbad)
	ce.Version = binary.BigEndian.AppendUint64(ce.Version, uint64(wall))
	wt.r.compareFingerprints(wt.p, []digestEntry{ce, {Object: "m", Version: wt.v, Fingerprint: wt.m.Fingerprint(), HasFingerprint: true}})
	return len(wt.w.walls) > 0
}
