package crdt_test

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/memnet"
	"github.com/activeactive/crdt/ormap"
	"github.com/activeactive/crdt/vclock"
	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"
)

// The two ormap types the adversarial test replicates.
type (
	counterMap  = ormap.Map[string, *ormap.Counter]
	registerMap = ormap.Map[string, *ormap.Register[string]]
)

// ormapRegion is one honest replica of TestAdversarialPeerORMap.
type ormapRegion struct {
	r   *crdt.Replica
	cnt *crdt.Handle[*counterMap]
	reg *crdt.Handle[*registerMap]
}

// ormapValue is what a region shows of the two maps.
type ormapValue struct {
	Counters  map[string]int64
	Registers map[string][]string
}

// ormapContent is what a region holds of the two maps beyond their values.
type ormapContent struct {
	Versions     [2]string
	Fingerprints [2]uint64
}

func counterValues(m *counterMap) map[string]int64 {
	out := map[string]int64{}
	for k, c := range m.All() {
		out[k] = c.Value()
	}
	return out
}

func registerValues(m *registerMap) map[string][]string {
	out := map[string][]string{}
	for k, r := range m.All() {
		out[k] = slices.Sorted(slices.Values(r.Values()))
	}
	return out
}

func (g *ormapRegion) value() ormapValue {
	var v ormapValue
	g.cnt.Read(func(m *counterMap) { v.Counters = counterValues(m) })
	g.reg.Read(func(m *registerMap) { v.Registers = registerValues(m) })
	return v
}

func (g *ormapRegion) content() ormapContent {
	var c ormapContent
	g.cnt.Read(func(m *counterMap) { c.Versions[0], c.Fingerprints[0] = m.Version().String(), m.Fingerprint() })
	g.reg.Read(func(m *registerMap) { c.Versions[1], c.Fingerprints[1] = m.Version().String(), m.Fingerprint() })
	return c
}

// state returns the two maps' whole encoded states: what "changed
// nothing" compares, byte for byte.
func (g *ormapRegion) state(rt *rapid.T) string {
	var a, b []byte
	var err1, err2 error
	g.cnt.Read(func(m *counterMap) { a, err1 = m.MarshalBinary() })
	g.reg.Read(func(m *registerMap) { b, err2 = m.MarshalBinary() })
	if err1 != nil || err2 != nil {
		rt.Fatalf("encoding a state: %v, %v", err1, err2)
	}
	return string(a) + "|" + string(b)
}

// evilStats returns how many of evil's ops the region applied and how
// many of evil's messages and ops it refused, by any reason.
func (g *ormapRegion) evilStats() (applied, refused uint64) {
	st := g.r.Stats()
	for _, n := range st.Refused {
		refused += n
	}
	for _, p := range st.Peers {
		if p.Peer == "evil" {
			applied = p.OpsApplied
			for _, n := range p.Refused {
				refused += n
			}
		}
	}
	return applied, refused
}

// opParts splits an encoded ormap op into its writer, sequence number,
// leaf (nil for a plain delete) and reset before the write (nil if none),
// as raw msgpack values; ok is false for a no-op or bytes that do not
// parse.
func opParts(b []byte) (version int, writer string, seq uint64, leaf, pre []byte, ok bool) {
	r := codec.NewReader(b, codec.KindORMapOp, codec.Limits{})
	n := r.ArrayLen()
	if r.Err() != nil || n < 3 {
		return 0, "", 0, nil, nil, false
	}
	writer, seq, leaf = r.Replica(), r.Uint(), r.RawValue()
	if n%2 == 0 {
		pre = r.RawValue()
	}
	return r.Version(), writer, seq, leaf, pre, r.Err() == nil
}

// withDrops returns the op b written again with the drop list drops (in
// the order given, sorted or not): what a hostile writer sends after
// rewriting an op it made. The leaf is kept byte for byte; a leaf names no
// replica through the table, so only the op's writer and the drops do.
func withDrops(b []byte, drops []vclock.Dot) []byte {
	version, writer, seq, leaf, pre, ok := opParts(b)
	if !ok {
		return nil
	}
	w := codec.NewWriter(codec.KindORMapOp, len(b)+16*len(drops))
	if version > 1 {
		w.SetVersion(version)
	}
	fields := 3 + 2*len(drops)
	if pre != nil {
		fields++
	}
	w.Array(fields)
	w.Replica(writer)
	w.Uint(seq)
	w.Raw(leaf)
	if pre != nil {
		w.Raw(pre)
	}
	for _, d := range drops {
		w.Replica(string(d.Replica))
		w.Uint(d.Seq)
	}
	out, err := w.Bytes()
	if err != nil {
		return nil
	}
	return out
}

// ormapOp is an op made in TestAdversarialPeerORMap, honest or evil's.
type ormapOp struct {
	object string // "cnt" or "reg"
	bytes  []byte
	dot    vclock.Dot
	honest bool
	landed bool // evil's: applied by some honest region
	// at orders the reference: an honest op's place is where it was
	// made, an op of evil's where an honest region first took it.
	at int
	// twin is evil's other op under the same dot, if evil made one: the
	// two equivocate (see TestAdversarialPeerORMap).
	twin   *ormapOp
	second bool // the twin evil made second
}

// TestAdversarialPeerORMap is TestAdversarialPeer for the ormap types: three
// honest regions each replicate a map of counters and a map of registers,
// and a fourth peer, evil, sends them ops of its own writer (some with
// drops of any dot made added to their drop lists, in the map of
// counters continued leaves of chains and the reset leaves of deletes
// among them, in the map of registers in place of the drops made; some
// rewritten so that they fail the op's own check), ops forged in the
// honest regions' names, garbage bytes as ops, bogus acknowledgements and
// digests (junk versions, and versions claiming writes no one made), and
// absurd incarnations; links between honest regions are cut and restored
// on the way. Each message that should be refused whole or op by op
// must be: the region's maps are byte for byte unchanged, and the refusal
// is counted. The honest regions must never fail a write of their own,
// must converge among themselves once evil stops and the network heals
// (values, versions and fingerprints), and must show what a reference
// shows that applied, once each, every honest op and every op of evil's
// that an honest region took.
//
// A rewritten drop of a continued counter leaf or of a reset can leave
// honest replicas at one version with different content: a chain's later
// leaf and a reset drop older leaves without a record, and merges trust
// records (see "Untrusted peers" in the ormap package documentation). The
// engine counts that as a divergence between honest peers, and heals it:
// each side sends its whole state, merged with ormap.Map.HealBinary,
// which drops every leaf the other side has seen dropped. So divergences
// between honest regions may be counted; once they agree, a further run
// of rounds must count no new one. The reference is what the heal makes
// of the ops: a leaf that any replica has seen dropped is dropped
// everywhere; one replica that applies every op, in the order they were
// made, sees every drop there is (the honest writer of a continued leaf
// or of a delete drops what it covers, where it makes it), and so holds
// exactly that.
//
// Evil also equivocates: it sends one region a second write under the
// dot of one of its writes (another amount, another value). Regions that
// hold one each are at one version with equal fingerprints (which hash a
// write's dot) and different content fingerprints: the divergence is
// counted and healed, each side dropping the dot. The reference then has
// neither write; where only one of the two was taken, it has that one.
func TestAdversarialPeerORMap(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		h := drawHostileNet(rt, time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC))
		net := h.net
		ids := []crdt.ReplicaID{"h0", "h1", "h2"}
		regions := map[crdt.ReplicaID]*ormapRegion{}
		for _, id := range ids {
			cfg, _ := h.config(id)
			r, err := crdt.NewReplica(cfg)
			if err != nil {
				rt.Fatal(err)
			}
			g := &ormapRegion{r: r}
			if g.cnt, err = crdt.Register(r, "cnt", ormap.New[string, *ormap.Counter](id)); err != nil {
				rt.Fatal(err)
			}
			if g.reg, err = crdt.Register(r, "reg", ormap.New[string, *ormap.Register[string]](id)); err != nil {
				rt.Fatal(err)
			}
			for _, p := range append(slices.Clone(ids), "evil") {
				if p != id {
					_ = r.AddPeer(p)
				}
			}
			regions[id] = g
			net.Attach(id, r)
		}
		// evil's own maps, under a writer of its own: it makes its ops
		// there, and learns honest ops there, as a peer would.
		evilWriter := vclock.Writer("evil", 9)
		evilCnt := ormap.New[string, *ormap.Counter](evilWriter)
		evilReg := ormap.New[string, *ormap.Register[string]](evilWriter)
		var (
			ops       []*ormapOp   // every op made, honest and evil's, in order
			landings  int          // evil's ops taken by a region (see ormapOp.at)
			evilOps   []*ormapOp   // evil's valid ops, each one version only
			cntDots   []vclock.Dot // dots of every counter map op
			regDots   []vclock.Dot // dots of every register map op
			evilInc   = uint64(1)
			evilSeq   = uint64(1000) // message sequence numbers no other send uses
			forgedKey = "forged"
		)
		round := func() { h.round(ids, func(id crdt.ReplicaID) *crdt.Replica { return regions[id].r }) }
		send := func(to crdt.ReplicaID, f crdt.Forgery) error {
			f.From, f.To = "evil", to
			if f.Incarnation == 0 {
				f.Incarnation = evilInc
			}
			msg, err := crdt.Forge(f)
			if err != nil {
				rt.Fatal(err)
			}
			return regions[to].r.Receive(context.Background(), "evil", msg)
		}
		// sendOps sends ops under fresh sequence numbers and reports how
		// many the region applied.
		sendOps := func(to crdt.ReplicaID, writer crdt.ReplicaID, entries []crdt.ForgedEntry) uint64 {
			before, _ := regions[to].evilStats()
			_ = send(to, crdt.Forgery{FirstSeq: evilSeq, Writer: writer, Ops: entries})
			evilSeq += uint64(len(entries))
			after, _ := regions[to].evilStats()
			return after - before
		}
		// mustRefuse sends ops that every honest region must refuse, and
		// checks that this one did: nothing applied, the maps unchanged
		// byte for byte, the refusal counted.
		mustRefuse := func(to crdt.ReplicaID, what string, entries []crdt.ForgedEntry) {
			g := regions[to]
			was := g.state(rt)
			applied0, refused0 := g.evilStats()
			_ = send(to, crdt.Forgery{FirstSeq: evilSeq, Ops: entries})
			evilSeq += uint64(len(entries))
			applied1, refused1 := g.evilStats()
			if applied1 != applied0 {
				rt.Fatalf("%s applied %d of evil's %s", to, applied1-applied0, what)
			}
			if refused1 == refused0 {
				rt.Fatalf("%s did not count a refusal of evil's %s", to, what)
			}
			if g.state(rt) != was {
				rt.Fatalf("evil's %s changed %s's maps", what, to)
			}
		}
		// evil's op: sent to one region; kept if some region takes it.
		deliver := func(op *ormapOp, to crdt.ReplicaID, short bool) {
			var writer crdt.ReplicaID
			if short {
				writer = evilWriter
			}
			was := regions[to].state(rt)
			took := sendOps(to, writer, []crdt.ForgedEntry{{Object: op.object, Bytes: op.bytes}}) > 0
			if op.twin != nil {
				// One of two ops under one dot counts as taken only if
				// the region applied it: a region that has seen the dot
				// accepts the other and changes nothing.
				took = took && regions[to].state(rt) != was
			}
			if took && !op.landed {
				op.landed, op.at = true, len(ops)+landings
				landings++
			}
		}
		record := func(object string, op ormap.Op, honest bool) *ormapOp {
			b, err := op.MarshalBinary()
			if err != nil {
				rt.Fatalf("encoding %v: %v", op, err)
			}
			o := &ormapOp{object: object, bytes: b, dot: op.Dot(), honest: honest, at: len(ops) + landings}
			ops = append(ops, o)
			return o
		}
		if h.maxMsg < 1<<20 {
			// A load h0 writes first, so that every whole state (a
			// heal's among them) is larger than a message and goes in
			// parts.
			for j := range 100 {
				if err := regions["h0"].cnt.Update(func(m *counterMap) (crdt.Op, error) {
					op := m.At(fmt.Sprintf("load-%03d", j)).Add(1)
					if op.Err() == nil {
						cntDots = append(cntDots, record("cnt", op, true).dot)
					}
					return op, op.Err()
				}); err != nil {
					rt.Fatalf("h0: load: %v", err)
				}
			}
		}
		keys := rapid.SampledFrom([]string{"a", "b", "c"})
		pick := rapid.SampledFrom(ids)
		for i := range rapid.IntRange(1, 60).Draw(rt, "steps") {
			id := pick.Draw(rt, "region")
			g := regions[id]
			switch rapid.IntRange(0, 12).Draw(rt, "action") {
			case 0, 1:
				// An honest write: an increment or delete in the map of
				// counters, a set or delete in the map of registers.
				k := keys.Draw(rt, "key")
				switch rapid.IntRange(0, 3).Draw(rt, "what") {
				case 0:
					n := rapid.SampledFrom([]int64{-2, -1, 1, 2, 3}).Draw(rt, "n")
					if err := g.cnt.Update(func(m *counterMap) (crdt.Op, error) {
						op := m.At(k).Add(n)
						if op.Err() == nil && !op.IsNoop() {
							cntDots = append(cntDots, record("cnt", op, true).dot)
						}
						return op, op.Err()
					}); err != nil {
						rt.Fatalf("%s: increment: %v", id, err)
					}
				case 1:
					if err := g.cnt.Update(func(m *counterMap) (crdt.Op, error) {
						op := m.Delete(k)
						if op.Err() == nil && !op.IsNoop() {
							cntDots = append(cntDots, record("cnt", op, true).dot)
						}
						return op, op.Err()
					}); err != nil {
						rt.Fatalf("%s: delete a counter: %v", id, err)
					}
				case 2:
					if err := g.reg.Update(func(m *registerMap) (crdt.Op, error) {
						op := m.At(k).Set(fmt.Sprintf("%s-%d", id, i))
						if op.Err() == nil && !op.IsNoop() {
							regDots = append(regDots, record("reg", op, true).dot)
						}
						return op, op.Err()
					}); err != nil {
						rt.Fatalf("%s: set: %v", id, err)
					}
				case 3:
					if err := g.reg.Update(func(m *registerMap) (crdt.Op, error) {
						op := m.Delete(k)
						if op.Err() == nil && !op.IsNoop() {
							regDots = append(regDots, record("reg", op, true).dot)
						}
						return op, op.Err()
					}); err != nil {
						rt.Fatalf("%s: delete a register: %v", id, err)
					}
				}
			case 2, 3:
				round()
			case 4:
				// evil learns an honest op, as a peer would: its deletes
				// then drop honest leaves, and reset honest chains.
				var honest []*ormapOp
				for _, o := range ops {
					if o.honest {
						honest = append(honest, o)
					}
				}
				if len(honest) == 0 {
					continue
				}
				o := rapid.SampledFrom(honest).Draw(rt, "learn")
				if o.object == "cnt" {
					_, _ = evilCnt.ApplyBinary(o.bytes)
				} else {
					_, _ = evilReg.ApplyBinary(o.bytes)
				}
			case 5, 6:
				// evil's own op, its drops maybe rewritten to any dot of
				// its map made before it (in the map of counters, first
				// leaves, continued leaves and resets alike). A
				// version that fails the op's own check (a drop of its
				// own dot or a later one, or a delete that drops
				// nothing) goes first, to one region, and must be
				// refused; the valid version then goes to some.
				k := keys.Draw(rt, "key")
				counters := rapid.Bool().Draw(rt, "counters")
				var op ormap.Op
				var object string
				var candidates []vclock.Dot
				var twin func() ormap.Op // evil's other write under op's dot
				if counters {
					object, candidates = "cnt", cntDots
					if rapid.Bool().Draw(rt, "evilDelete") {
						op = evilCnt.Delete(k)
					} else {
						other := evilCnt.Clone()
						n := rapid.SampledFrom([]int64{-1, 1, 5}).Draw(rt, "n")
						op = evilCnt.At(k).Add(n)
						twin = func() ormap.Op { return other.At(k).Add(n + 2) }
					}
				} else {
					object, candidates = "reg", regDots
					if rapid.Bool().Draw(rt, "evilDelete") {
						op = evilReg.Delete(k)
					} else {
						other := evilReg.Clone()
						op = evilReg.At(k).Set(fmt.Sprintf("evil-%d", i))
						twin = func() ormap.Op { return other.At(k).Set(fmt.Sprintf("evil-%d-twin", i)) }
					}
				}
				if op.Err() != nil || op.IsNoop() {
					continue
				}
				o := record(object, op, false)
				if rapid.Bool().Draw(rt, "tamper") {
					var drops []vclock.Dot
					if len(candidates) > 0 {
						if rapid.Bool().Draw(rt, "recent") {
							// The latest dots: a leaf or reset the other
							// regions may not have yet, which leaves some
							// holding what it covers.
							candidates = candidates[max(0, len(candidates)-2):]
						}
						for range rapid.IntRange(0, 3).Draw(rt, "drops") {
							drops = append(drops, rapid.SampledFrom(candidates).Draw(rt, "drop"))
						}
					}
					if counters {
						// A counter op keeps the drops it was made with,
						// and gains the crafted ones: an increment that
						// continues evil's chain the chain's previous
						// leaf, a delete the leaves its reset covers.
						// Without them, whether a replica drops such a
						// leaf depends on the order the leaf and what
						// covers it arrive in (the covered leaf is not in
						// the context of a replica that took the op
						// first), not on what any op or state says: the
						// regions still agree, after healing where they
						// differ, but on a content no reference can tell
						// in advance.
						drops = append(drops, op.Dropped()...)
					}
					slices.SortFunc(drops, vclock.Dot.Compare)
					drops = slices.Compact(drops)
					// A delete that drops nothing fails the op's own
					// check: evil then sends the op as it made it.
					b := withDrops(o.bytes, drops)
					_, err1 := ormap.New[string, *ormap.Counter]("probe").DecodeOp(b)
					_, err2 := ormap.New[string, *ormap.Register[string]]("probe").DecodeOp(b)
					if (object == "cnt" && err1 == nil) || (object == "reg" && err2 == nil) {
						o.bytes = b
					}
				}
				if rapid.Bool().Draw(rt, "invalidFirst") {
					// Drops of its own dot, or later: every replica
					// refuses them.
					drops := []vclock.Dot{{Replica: evilWriter, Seq: o.dot.Seq + uint64(rapid.IntRange(0, 2).Draw(rt, "later"))}}
					if rapid.Bool().Draw(rt, "dropNothing") {
						drops = nil // refused only if a delete; else a valid op that drops nothing
					}
					if bad := withDrops(o.bytes, drops); drops != nil || op.IsRemove() {
						mustRefuse(pick.Draw(rt, "to"), "op that fails its own check", []crdt.ForgedEntry{{Object: object, Bytes: bad}})
					}
				}
				evilOps = append(evilOps, o)
				if counters {
					cntDots = append(cntDots, o.dot)
				} else {
					regDots = append(regDots, o.dot)
				}
				if twin != nil && rapid.IntRange(0, 3).Draw(rt, "equivocate") == 0 {
					// Another write under the same dot, to one region:
					// regions that hold one each differ at one version,
					// with equal fingerprints, until their content
					// fingerprints tell and they heal, dropping the dot.
					top := twin()
					if top.Dot() != o.dot {
						rt.Fatalf("evil's twin op has dot %v, not %v", top.Dot(), o.dot)
					}
					t := record(object, top, false)
					t.twin, o.twin, t.second = o, t, true
					deliver(t, pick.Draw(rt, "twinTo"), rapid.Bool().Draw(rt, "short"))
				}
				for _, to := range ids {
					if rapid.Bool().Draw(rt, "deliver") {
						deliver(o, to, rapid.Bool().Draw(rt, "short"))
					}
				}
			case 7:
				// One of evil's ops again, to one region: refused ones
				// (dropping what the region had not seen) may be taken
				// now.
				if len(evilOps) == 0 {
					continue
				}
				deliver(rapid.SampledFrom(evilOps).Draw(rt, "again"), id, rapid.Bool().Draw(rt, "short"))
			case 8:
				// Ops written in an honest region's name, its real
				// writer or its bare name: refused, as foreign writes.
				victim := pick.Draw(rt, "victim")
				name := victim
				if rapid.Bool().Draw(rt, "realWriter") {
					name = regions[victim].r.Writer()
				}
				c := ormap.New[string, *ormap.Counter](name)
				m := ormap.New[string, *ormap.Register[string]](name)
				var entries []crdt.ForgedEntry
				for range rapid.IntRange(1, 3).Draw(rt, "forged") {
					b, _ := c.At(forgedKey).Add(math.MaxInt32).MarshalBinary()
					entries = append(entries, crdt.ForgedEntry{Object: "cnt", Bytes: b})
					b, _ = m.At(forgedKey).Set(forgedKey).MarshalBinary()
					entries = append(entries, crdt.ForgedEntry{Object: "reg", Bytes: b})
				}
				mustRefuse(id, "ops forged in "+string(name)+"'s name", entries)
			case 9:
				// Garbage as ops: random bytes, or an op's bytes cut
				// short or with a byte changed, which no map of the
				// object's type decodes.
				object := rapid.SampledFrom([]string{"cnt", "reg"}).Draw(rt, "object")
				var b []byte
				if len(ops) > 0 && rapid.Bool().Draw(rt, "mangled") {
					b = slices.Clone(rapid.SampledFrom(ops).Draw(rt, "from").bytes)
					at := rapid.IntRange(0, len(b)-1).Draw(rt, "at")
					if rapid.Bool().Draw(rt, "cut") {
						b = b[:at]
					} else {
						b[at] ^= rapid.ByteRange(1, 255).Draw(rt, "flip")
					}
				} else {
					b = rapid.SliceOfN(rapid.Byte(), 0, 24).Draw(rt, "garbage")
				}
				_, err1 := ormap.New[string, *ormap.Counter]("probe").DecodeOp(b)
				_, err2 := ormap.New[string, *ormap.Register[string]]("probe").DecodeOp(b)
				if (object == "cnt" && err1 == nil) || (object == "reg" && err2 == nil) {
					continue // still an op: not garbage
				}
				mustRefuse(id, "garbage", []crdt.ForgedEntry{{Object: object, Bytes: b}})
			case 10:
				// Acknowledgements never sent, digests with junk
				// versions or versions claiming writes no one made.
				if rapid.Bool().Draw(rt, "ack") {
					_ = send(id, crdt.Forgery{AckInc: g.r.Incarnation(),
						AckSeq:     rapid.Uint64Range(0, math.MaxUint64).Draw(rt, "ackSeq"),
						CatchUpAck: rapid.Uint64Range(0, math.MaxUint64).Draw(rt, "catchUpAck")})
					break
				}
				v := rapid.SliceOfN(rapid.Byte(), 0, 16).Draw(rt, "version")
				if rapid.Bool().Draw(rt, "claim") {
					var c vclock.Clock
					for _, w := range []crdt.ReplicaID{regions[pick.Draw(rt, "claimed")].r.Writer(), evilWriter} {
						c.Set(w, rapid.Uint64Range(1, 1<<40).Draw(rt, "claimSeq"))
					}
					v, _ = c.MarshalBinary()
				}
				d := []crdt.ForgedEntry{{Object: "cnt", Bytes: v}, {Object: "reg", Bytes: v}}
				if rapid.Bool().Draw(rt, "repeat") {
					d = append(d, d...)
				}
				_ = send(id, crdt.Forgery{HasDigest: true, Digest: d, WantDigest: true})
			case 12:
				// A link between two honest regions cut, or every link
				// restored: a region cut from a writer may learn of its
				// later leaves, and of evil's drops of them, from
				// another region's state before it gets their ops.
				if rapid.Bool().Draw(rt, "restore") {
					net.HealAll()
				} else if other := pick.Draw(rt, "cutFrom"); other != id {
					net.Partition(id, other)
				}
			case 11:
				// An absurd incarnation, up or down.
				evilInc = rapid.SampledFrom([]uint64{1, 2, math.MaxUint64, math.MaxUint64 - 1}).Draw(rt, "incarnation")
				_ = send(id, crdt.Forgery{})
			}
		}

		healAndAgreeAfterHealing(rt, net, ids,
			func(a, b crdt.ReplicaID) bool {
				return cmp.Equal(regions[a].value(), regions[b].value()) && regions[a].content() == regions[b].content()
			},
			func(id crdt.ReplicaID) { rt.Logf("%s: %+v %+v", id, regions[id].value(), regions[id].content()) },
			func(id crdt.ReplicaID) *crdt.Replica { return regions[id].r },
			round)
		// The reference: every honest op and every op of evil's that
		// some region took, once each, the honest ones in the order they
		// were made, evil's where a region first took them. (An op of
		// evil's that lands long after it was made meets what the regions
		// hold then: a reset leaf that covered its leaf may be gone by a
		// crafted drop, and the leaf stays, everywhere alike.)
		//
		// Where evil's two writes under one dot were both taken, the
		// regions healed: the reference is two, one taking every first
		// version and the other every second, each healed with the
		// other's state, as the regions were. Each then drops the dot, and
		// what a version's crafted drops dropped stays dropped.
		refCnt := ormap.New[string, *ormap.Counter]("ref")
		refReg := ormap.New[string, *ormap.Register[string]]("ref")
		twinCnt := ormap.New[string, *ormap.Counter]("ref")
		twinReg := ormap.New[string, *ormap.Register[string]]("ref")
		equivocated := false
		slices.SortStableFunc(ops, func(a, b *ormapOp) int { return a.at - b.at })
		for _, o := range ops {
			if !o.honest && !o.landed {
				continue
			}
			first, second := true, true // which references take o
			if o.twin != nil && o.twin.landed {
				equivocated = true
				first = !o.second
				second = o.second
			}
			for _, take := range []struct {
				on  bool
				cnt *counterMap
				reg *registerMap
			}{{first, refCnt, refReg}, {second, twinCnt, twinReg}} {
				if !take.on {
					continue
				}
				var err error
				if o.object == "cnt" {
					_, err = take.cnt.ApplyBinary(o.bytes)
				} else {
					_, err = take.reg.ApplyBinary(o.bytes)
				}
				if err != nil {
					rt.Fatalf("the reference refused %v: %v", o.dot, err)
				}
			}
		}
		if equivocated {
			c, r := refCnt.Clone(), refReg.Clone()
			refCnt.Heal(twinCnt)
			refReg.Heal(twinReg)
			twinCnt.Heal(c)
			twinReg.Heal(r)
			if !refCnt.Equal(twinCnt) || !refReg.Equal(twinReg) {
				rt.Fatal("the two references differ after healing")
			}
		}
		want := ormapValue{Counters: counterValues(refCnt), Registers: registerValues(refReg)}
		if got := regions[ids[0]].value(); !cmp.Equal(got, want) {
			rt.Fatalf("the honest regions show what the reference does not:\n%s", cmp.Diff(want, got))
		}
		got := regions[ids[0]].content().Fingerprints
		if fp := [2]uint64{refCnt.Fingerprint(), refReg.Fingerprint()}; got != fp {
			rt.Fatalf("the honest regions' fingerprints %v, the reference's %v", got, fp)
		}
		if _, ok := want.Counters[forgedKey]; ok {
			rt.Fatal("a counter forged in an honest region's name was taken")
		}
		if _, ok := want.Registers[forgedKey]; ok {
			rt.Fatal("a register forged in an honest region's name was taken")
		}
	})
}

// healAndAgreeAfterHealing is healAndAgree for regions that may have
// diverged (the same version, different content) and count it: the
// network heals, the regions must agree within a bound of rounds, and
// then, in a further run of rounds long enough for several exchanges of
// digests, they must count no new divergence between honest peers: the
// heal left nothing for the fingerprints to tell apart.
func healAndAgreeAfterHealing(rt *rapid.T, net *memnet.Network, ids []crdt.ReplicaID, same func(a, b crdt.ReplicaID) bool, dump func(crdt.ReplicaID), replica func(crdt.ReplicaID) *crdt.Replica, round func()) {
	net.Loss = 0
	// The cut links first stay cut, for two exchanges of digests: the
	// regions cut from a writer learn of its writes from the others'
	// states, before its ops reach them.
	for range 40 {
		round()
	}
	net.HealAll()
	agreeWithin(rt, 400, ids, same, dump, round, "the honest regions did not converge")
	divergences := func() map[string]uint64 {
		out := map[string]uint64{}
		for _, id := range ids {
			for _, p := range replica(id).Stats().Peers {
				if p.Peer != "evil" {
					out[string(id)+"<-"+string(p.Peer)] = p.Divergences
				}
			}
		}
		return out
	}
	before := divergences()
	for range 100 { // five exchanges of digests, at AntiEntropyTicks 20
		round()
	}
	agreeWithin(rt, 0, ids, same, dump, round, "the honest regions agreed, then did not")
	if after := divergences(); !cmp.Equal(before, after) {
		rt.Fatalf("divergences counted after the regions agreed:\n%s", cmp.Diff(before, after))
	}
}
