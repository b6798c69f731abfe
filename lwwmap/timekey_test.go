package lwwmap

import (
	"errors"
	"testing"
	"time"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/internal/instants"
	"pgregory.net/rapid"
)

// A key holding a pointer compares by the pointer's address (and a
// time.Time beside it by its monotonic reading, since such a struct was
// taken as it is): the copy a peer decodes was another key with the same
// bytes, so that a put by one replica and the same put received from a
// peer were two entries. Such a key is refused.
func TestPointerKeyRefused(t *testing.T) {
	type event struct {
		At   time.Time
		Note *string
	}
	ft := &fakeTime{now: start}
	a := New[event, int]("a", clock.New(clock.WithSource(ft.source(0))))
	b := New[event, int]("b", clock.New(clock.WithSource(ft.source(1))))
	e := event{At: time.Now()}
	op := a.Put(e, 1)
	if _, err := op.MarshalBinary(); errors.Is(err, codec.ErrKey) {
		if a.Len() != 0 || a.Version().Len() != 0 {
			t.Errorf("a refused put changed the map: %d keys, version %v", a.Len(), a.Version())
		}
		return
	}
	ob, _ := op.MarshalBinary()
	if _, err := b.ApplyBinary(ob); err != nil {
		t.Fatal(err)
	}
	var got event
	for k := range b.Keys() {
		got = k
	}
	ft.now += 10
	ob2, _ := b.Put(got, 2).MarshalBinary()
	if _, err := a.ApplyBinary(ob2); err != nil {
		t.Fatal(err)
	}
	_, aok := a.Get(e)
	_, bok := b.Get(e)
	t.Fatalf("Put of a key holding a pointer: accepted, want ErrKey; after b overwrote it a holds %d keys, b %d; Get of the key: a %v, b %v; fingerprints equal: %v",
		a.Len(), b.Len(), aok, bok, a.Fingerprint() == b.Fingerprint())
}

// Replicas writing instants, each made in any of its forms (with a
// monotonic reading, in UTC, in another zone), and exchanging ops and
// states in any order, converge: equal sizes, fingerprints and contents,
// one key per instant.
func TestTimeKeysConverge(t *testing.T) {
	base := time.Now()
	zone := time.FixedZone("z", 5400)
	rapid.Check(t, func(t *rapid.T) {
		ft := &fakeTime{now: start}
		maps := []*Map[time.Time, int]{
			New[time.Time, int]("a", clock.New(clock.WithSource(ft.source(0)))),
			New[time.Time, int]("b", clock.New(clock.WithSource(ft.source(3)))),
			New[time.Time, int]("c", clock.New(clock.WithSource(ft.source(-2)))),
		}
		instants.Converge(t, base, zone, maps, instants.Writes[*Map[time.Time, int]]{
			Add: func(m *Map[time.Time, int], at time.Time, step int) ([]byte, error) {
				return m.Put(at, step).MarshalBinary()
			},
			Remove: func(m *Map[time.Time, int], at time.Time) ([]byte, error) { return m.Delete(at).MarshalBinary() },
			Tick:   func(t *rapid.T) { ft.now += int64(rapid.IntRange(0, 2).Draw(t, "tick")) },
		}, "keys")
	})
}
