package counter

import (
	"testing"
)

// A counter's version counts are totals, up to 2⁶⁴−1, not sequence
// numbers: decodeVersion said so, but read them with the version-vector
// decoder, which refuses any count above vclock.MaxSeq (2⁶²). A counter
// one of whose replicas had counted past 2⁶² refused its own version,
// and every peer's: DeltaSinceBinary and ChunksBinary failed, and the
// engine, taking the version for bad, refused the peer that sent it.
func TestVersionAboveMaxSeq(t *testing.T) {
	g, g2 := NewG("a"), NewG("b")
	if _, err := g.Inc(1<<62 + 1); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Inc(1 << 63); err != nil {
		t.Fatal(err)
	}
	c, c2 := NewPN("a"), NewPN("b")
	if _, err := c.Add(maxP); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Add(-maxN); err != nil {
		t.Fatal(err)
	}
	gv, err := g.VersionBinary()
	if err != nil {
		t.Fatal(err)
	}
	cv, err := c.VersionBinary()
	if err != nil {
		t.Fatal(err)
	}
	// Up to date: empty deltas.
	if d, err := g.DeltaSinceBinary(gv); err != nil {
		t.Errorf("G.DeltaSinceBinary of its own version (count %d): %v", g.Version().Get("a"), err)
	} else if _, err := g2.MergeBinary(d); err != nil || g2.Value() != 0 {
		t.Errorf("an up-to-date G's delta merged: %v, value %d", err, g2.Value())
	}
	if d, err := c.DeltaSinceBinary(cv); err != nil {
		t.Errorf("PN.DeltaSinceBinary of its own version (count %d): %v", c.Version().Get("a"), err)
	} else if _, err := c2.MergeBinary(d); err != nil || c2.Value() != 0 {
		t.Errorf("an up-to-date PN's delta merged: %v, value %d", err, c2.Value())
	}
	if _, _, err := g.ChunksBinary(gv, 64); err != nil {
		t.Errorf("G.ChunksBinary of its own version: %v", err)
	}
	if _, _, err := c.ChunksBinary(cv, 64); err != nil {
		t.Errorf("PN.ChunksBinary of its own version: %v", err)
	}
	// Behind: the delta carries the entry.
	old := NewPN("z")
	old.Apply(PNOp{Replica: "a", P: 1 << 62, N: 1})
	ov, _ := old.VersionBinary()
	if d, err := c.DeltaSinceBinary(ov); err != nil {
		t.Errorf("PN.DeltaSinceBinary of a version at 2⁶²+1: %v", err)
	} else if _, err := old.MergeBinary(d); err != nil || !old.Equal(c) {
		t.Errorf("the delta since 2⁶²+1 merged: %v, equal %v", err, old.Equal(c))
	}
}
