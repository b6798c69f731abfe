package crdt

import (
	"fmt"
	"testing"

	"github.com/activeactive/crdt/orset"
	"github.com/activeactive/crdt/vclock"
)

// TestReportedVersionsOfUnknownObjectsNotKept: a peer's digest may name
// objects not registered here, with any durable version. They were kept
// with the peer's versions, and moved to the versions it reported before
// it restarted whenever its incarnation changed, which any message can
// make it do; only a later digest naming the object again let one go, so
// a peer sending digests of new names, each followed by a message of a
// new incarnation, had the replica hold a digest's worth more each time
// (a thousand entries a round here). Nothing is collected here on the
// strength of a version of an object not registered here: none is kept.
func TestReportedVersionsOfUnknownObjectsNotKept(t *testing.T) {
	r, _ := stubReplica(t, "a", &sentTo{})
	if _, err := Register(r, "set", orset.New[string]("a")); err != nil {
		t.Fatal(err)
	}
	blob := make([]byte, 64)
	const rounds, names = 10, 1000
	for i := range rounds {
		env := &envelope{From: "b", To: "a", Incarnation: uint64(2*i + 1), HasDigest: true}
		for j := range names {
			name := fmt.Sprintf("no-such-object-%04d-%04d", i, j)
			env.Digest = append(env.Digest, digestEntry{Object: name, Version: blob, Durable: blob})
		}
		_ = deliver(t, r, env)
		_ = deliver(t, r, &envelope{From: "b", To: "a", Incarnation: uint64(2*i + 2)})
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	p := r.peers["b"]
	if n := len(p.reported); n > len(r.objects) {
		t.Errorf("%d versions kept of what the peer reported before its restarts, for %d objects registered", n, len(r.objects))
	}
	for name := range p.versions {
		if _, ok := r.objects[name]; !ok {
			t.Errorf("the peer's durable version of %q kept, an object not registered here", name)
			break
		}
	}
}

// TestReportedVersionsHeldToOwn: a durable version a peer reports may name
// any writers, and those it reported before each restart were joined:
// one registered object's entry grew by what each digest named, without
// bound, when the peer sent digests that named no current version (which
// alone let the entry go). Only what this replica has seen can have been
// collected on the strength of it, so what is kept is held to this
// replica's own version: of the peer's versions here, the writer this
// replica has seen stays, at the count both have seen.
func TestReportedVersionsHeldToOwn(t *testing.T) {
	r, _ := stubReplica(t, "a", &sentTo{})
	set := orset.New[string]("a")
	set.Add("x")
	if _, err := Register(r, "set", set); err != nil {
		t.Fatal(err)
	}
	mine, err := set.VersionBinary()
	if err != nil {
		t.Fatal(err)
	}
	own, err := vclock.UnmarshalClock(mine, r.limit)
	if err != nil {
		t.Fatal(err)
	}
	const rounds, writers = 10, 200
	for i := range rounds {
		v := own.Clone()
		for w := range own.All() {
			v.Set(w, 5) // beyond what this replica has seen
		}
		for j := range writers {
			v.Set(vclock.Writer(ReplicaID(fmt.Sprintf("w%03d-%03d", i, j)), 1), 1)
		}
		durable, err := v.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		env := &envelope{From: "b", To: "a", Incarnation: uint64(2*i + 1), HasDigest: true,
			Digest: []digestEntry{{Object: "set", Durable: durable}}}
		_ = deliver(t, r, env)
		_ = deliver(t, r, &envelope{From: "b", To: "a", Incarnation: uint64(2*i + 2)})
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	b, ok := r.peers["b"].reported["set"]
	if !ok {
		t.Fatal("the version the peer reported before its restarts was dropped")
	}
	got, err := vclock.UnmarshalClock(b, r.limit)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(own) {
		t.Errorf("kept %d writers of what the peer reported (%d bytes), want this replica's own version %v", got.Len(), len(b), own)
	}
}
