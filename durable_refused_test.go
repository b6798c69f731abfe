package crdt

import (
	"testing"

	"github.com/activeactive/crdt/orset"
)

// TestMalformedDurableVersionRefused: a peer's digest names, for each
// object, the version it cannot lose in a crash, on whose strength this
// replica collects delete records. One that does not decode was kept all
// the same, in place of the peer's last good one: every digest then made
// each collection fail, which was only logged, and no refusal of the
// peer's was counted. It is refused, counted as malformed, and not kept.
func TestMalformedDurableVersionRefused(t *testing.T) {
	r, _ := stubReplica(t, "a", &sentTo{})
	set := orset.New[string]("a")
	set.Add("x")
	if _, err := Register(r, "set", set); err != nil {
		t.Fatal(err)
	}
	bad := []byte{0xde, 0xad, 0xbe, 0xef}
	env := &envelope{From: "b", To: "a", Incarnation: 1, HasDigest: true,
		Digest: []digestEntry{{Object: "set", Durable: bad}}}
	if err := deliver(t, r, env); err == nil {
		t.Error("a digest with a durable version that does not decode was taken without an error")
	}
	var refused uint64
	for _, ps := range r.Stats().Peers {
		if ps.Peer == "b" {
			refused = ps.Refused[ReasonMalformed]
		}
	}
	if refused != 1 {
		t.Errorf("refused as malformed: %d, want 1", refused)
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if v, ok := r.peers["b"].versions["set"]; ok {
		t.Errorf("kept the peer's durable version %x, which does not decode", v)
	}
}
