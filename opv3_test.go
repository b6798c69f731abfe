package crdt

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/lwwmap"
)

// LWW-map ops of format version 3 travel in engine messages by reference
// to their writer, with the short header when the writer's name fits it
// and the long one otherwise; each message compresses to exactly the same
// bytes or is kept plain; and a reader takes them all in.
func TestMapOpsOfVersion3InMessages(t *testing.T) {
	at := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC).UnixNano()
	for _, id := range []ReplicaID{"r1", ReplicaID(strings.Repeat("w", 29)), ReplicaID(strings.Repeat("x", 40))} {
		t.Run(fmt.Sprintf("writer of %d bytes", len(id)), func(t *testing.T) {
			now := at
			src := func() int64 { return now }
			tr := &capture{}
			w, err := NewReplica(Config{ID: id, Transport: tr, Clock: clock.New(clock.WithSource(src))})
			if err != nil {
				t.Fatal(err)
			}
			hw, _ := Register(w, "m", lwwmap.New[string, string](id, w.Clock()))
			_ = w.AddPeer("reader")
			for i := range 40 {
				// Whole milliseconds, and times within one.
				now += int64(time.Millisecond)
				if i%3 == 0 {
					now += 1234
				}
				_ = hw.Update(func(m *lwwmap.Map[string, string]) (Op, error) {
					if i%5 == 4 {
						return m.Delete(fmt.Sprintf("key-%03d", i-1)), nil
					}
					return m.Put(fmt.Sprintf("key-%03d", i), strings.Repeat("v", i)), nil
				})
				if i%8 == 7 {
					if err := w.Tick(context.Background()); err != nil {
						t.Fatal(err)
					}
				}
			}
			if len(tr.msgs) == 0 {
				t.Fatal("nothing sent")
			}
			r, err := NewReplica(Config{ID: "reader", Transport: &capture{}, Clock: clock.New(clock.WithSource(src))})
			if err != nil {
				t.Fatal(err)
			}
			hr, _ := Register(r, "m", lwwmap.New[string, string]("reader", r.Clock()))
			_ = r.AddPeer(id)
			ops, compressed := 0, 0
			for _, msg := range tr.msgs {
				e, err := decodeEnvelope(msg, codec.Limits{})
				if err != nil {
					t.Fatal(err)
				}
				for _, o := range e.Ops {
					short, ok := codec.OmitReplica(nil, o.Op, string(e.Writer))
					if !ok || (short[0] != 0x40 && short[0] != 0x60) {
						t.Fatalf("op %x sent as %x, %v", o.Op, short, ok)
					}
					if first := o.Op[0]; len(e.Writer) <= 31 && first&0xc0 != 0x40 || len(e.Writer) > 31 && first != 0x03 {
						t.Fatalf("writer %q: op %x", e.Writer, o.Op)
					}
					var op lwwmap.Op[string, string]
					if err := op.UnmarshalBinary(o.Op); err != nil {
						t.Fatal(err)
					}
					ops++
				}
				if z, ok := codec.Compress(msg); ok {
					compressed++
					plain, err := codec.Decompress(z, codec.Limits{})
					if err != nil || !bytes.Equal(plain, msg) {
						t.Fatalf("decompressed %x, %v; want %x", plain, err, msg)
					}
				} else if !bytes.Equal(z, msg) {
					t.Fatal("Compress declined and changed the message")
				}
				if err := r.Receive(context.Background(), id, msg); err != nil {
					t.Fatal(err)
				}
			}
			if ops != 40 {
				t.Fatalf("%d ops sent, want 40", ops)
			}
			t.Logf("%d messages, %d compressed", len(tr.msgs), compressed)
			contents := func(h *Handle[*lwwmap.Map[string, string]]) map[string]string {
				c := map[string]string{}
				h.Read(func(m *lwwmap.Map[string, string]) {
					for k, v := range m.All() {
						c[k] = v
					}
				})
				return c
			}
			if want, got := contents(hw), contents(hr); fmt.Sprint(want) != fmt.Sprint(got) || len(want) == 0 {
				t.Fatalf("the reader holds %v, the writer %v", got, want)
			}
		})
	}
}
