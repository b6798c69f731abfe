package lwwmap

import (
	"testing"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/vclock"
	"pgregory.net/rapid"
)

// A local write mints its dot through a hint of where the writer's entry
// of the context was last found (ctxAt). Whatever moved the entries since
// (merges bringing replicas that sort before the writer, a retirement, a
// change of writer, a clone, a restore from an older state), the dot must
// be the one a plain look-up names, and only the writer's entry of the
// context may change.
func TestWriteDotMatchesPlainLookup(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		clk := clock.New()
		epoch := uint64(1)
		m := New[string, int](vclock.Writer("m", epoch), clk)
		peers := []*Map[string, int]{
			New[string, int](vclock.Writer("a", 1), clk),
			New[string, int](vclock.Writer("c", 1), clk),
			New[string, int](vclock.Writer("z", 1), clk),
			New[string, int]("b", clk),
		}
		var saved [][]byte
		key := rapid.SampledFrom([]string{"k0", "k1", "k2", "k3"})
		for range rapid.IntRange(1, 60).Draw(t, "steps") {
			switch rapid.IntRange(0, 8).Draw(t, "step") {
			case 0, 1, 2:
				k := key.Draw(t, "key")
				want := m.ctx.Next(m.id) // a plain look-up
				after := m.ctx.Clone()
				after.Add(want)
				var op Op[string, int]
				if rapid.Bool().Draw(t, "delete") {
					op = m.Delete(k)
				} else {
					op = m.Put(k, 1)
				}
				if op.Dot() != want {
					t.Fatalf("write of %s by %s took dot %v, want %v", k, m.id, op.Dot(), want)
				}
				if !m.ctx.Equal(&after) {
					t.Fatalf("context after the write of %v is %v, want %v", want, m.ctx.Version(), after.Version())
				}
			case 3:
				p := peers[rapid.IntRange(0, len(peers)-1).Draw(t, "peer")]
				p.Put(key.Draw(t, "peer key"), 2)
			case 4:
				m.Merge(peers[rapid.IntRange(0, len(peers)-1).Draw(t, "merge from")])
			case 5:
				epoch++
				m.SetWriter(vclock.Writer("m", epoch))
			case 6:
				i := rapid.IntRange(0, 2).Draw(t, "retire") // the peers with an epoch
				p := peers[i]
				from := p.id
				e, _ := from.Epoch()
				final := m.ctx.Next(from).Seq - 1
				if final == 0 {
					continue
				}
				r := vclock.Retirement{From: from, To: vclock.Retired(from.Name()), Base: m.ctx.Next(vclock.Retired(from.Name())).Seq - 1, Final: final}
				if err := m.Retire(r); err != nil {
					continue // refused: nothing changed
				}
				// The peer goes on as the next run of its name, past
				// everything it wrote before.
				np := New[string, int](vclock.Writer(from.Name(), e+1), clk)
				np.Merge(m)
				peers[i] = np
			case 7:
				m = m.Clone()
			case 8:
				if len(saved) > 0 && rapid.Bool().Draw(t, "restore") {
					if err := m.UnmarshalBinary(saved[rapid.IntRange(0, len(saved)-1).Draw(t, "state")]); err != nil {
						t.Fatalf("restore: %v", err)
					}
					// A state older than the last may lack writes of the
					// writer's, whose dots it must not issue again (see
					// UnmarshalBinary): the map goes on as the next run of
					// its name, as the engine makes it do.
					epoch++
					m.SetWriter(vclock.Writer("m", epoch))
					continue
				}
				b, err := m.MarshalBinary()
				if err != nil {
					t.Fatal(err)
				}
				saved = append(saved, b)
			}
		}
	})
}
