package crdt

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/vclock"
)

// Transport carries the engine's messages to other replicas. The host
// implements it over the network it already runs. Send should not block for
// long: the engine calls it from [Replica.Tick] without holding locks, and a
// message that is lost, duplicated, reordered or delayed is fine — the
// engine re-sends what is not acknowledged. The transport never needs to
// know what a message means; on the receiving side the host hands the bytes
// to [Replica.Receive]. The engine does not touch msg after Send returns,
// so Send may keep it (to queue it, say).
//
// A transport that cannot carry a message for its size (a proxy on the
// way that refuses large requests, a bus's limit) should return an error
// wrapping [ErrTooLarge]: the engine then sends that peer messages of at
// most half that size (see [PeerStats].MessageLimit), cutting its runs of
// ops and catch-ups to fit, instead of sending the same message again and
// again. It lets them grow again, doubling, every thousand ticks while
// they fill more than half the bound or it holds something back, in case
// the way's limit was raised; a way that still takes no more costs a few
// refused messages each time.
type Transport interface {
	Send(ctx context.Context, to ReplicaID, msg []byte) error
}

// Broadcaster is an optional interface of a [Transport] that can hand one
// message to several replicas more cheaply than one Send each: a multicast
// group, a message bus, a gossip layer. When the Transport implements it,
// the engine sends a run of ops that several peers are due at the same
// tick as one message, through Broadcast, with each recipient's
// acknowledgement inside; what is for one peer alone (digests, catch-up
// states, a run of ops no other peer is due) still goes through Send.
//
// Broadcast promises what Send promises: each replica in to may receive
// msg once, several times, late or never, and the engine makes up for it.
// The receiving host hands the bytes to [Replica.Receive] as for any
// message. to is sorted and holds at least two replicas; Broadcast must
// not keep it.
type Broadcaster interface {
	Broadcast(ctx context.Context, to []ReplicaID, msg []byte) error
}

// A Limiter is a [Transport] whose messages have a largest size of their
// own, which may change while it runs: a bus whose servers set it, say,
// learned at each connection. When the Transport implements it, the
// engine reads MaxMessageBytes at every [Replica.Tick], and sends no
// message larger than it (nor than Config.MaxMessageBytes), as if the
// setting were the smaller of the two. A result of 0 or less means no
// limit of the transport's own; one below [MinMessageBytes] counts as
// MinMessageBytes. Its digests name the same limit to the peers, which
// then send this replica nothing larger either (see
// [PeerStats].MessageLimit). MaxMessageBytes must be safe to call
// concurrently with Send and Broadcast.
type Limiter interface {
	MaxMessageBytes() int
}

// Op is what a data type's mutator returns: the change to ship to other
// replicas. Every data type's op type implements it.
type Op interface {
	// MarshalBinary encodes the op as the object's ApplyBinary takes it.
	MarshalBinary() ([]byte, error)
}

// Errors returned by the engine, to test with [errors.Is].
var (
	ErrUnknownPeer   = errors.New("crdt: message from a replica that is not a peer")
	ErrUnknownObject = errors.New("crdt: no object registered under that name")
	ErrTooLarge      = errors.New("crdt: message larger than the configured maximum")
	ErrMisaddressed  = errors.New("crdt: message not addressed to this replica")
	ErrDuplicate     = errors.New("crdt: name already registered")
	ErrConfig        = errors.New("crdt: invalid configuration")
	ErrStale         = errors.New("crdt: message of an earlier incarnation")
	ErrBadAck        = errors.New("crdt: acknowledgement of something never sent")
)

// OriginChecker is an optional interface of an [Object] that can check
// that an op carries only the writes of the replica it came from. The
// engine applies a peer's ops through ApplyBinaryFrom when the object has
// it, so that a peer can only speak for itself: an op that names another
// replica as the writer of a change (forged, or garbled by a bug) is refused
// whole, wrapping [vclock.ErrForeignWrite], and changes nothing. Every data
// type of this module implements it.
type OriginChecker interface {
	ApplyBinaryFrom(op []byte, from ReplicaID) (changed bool, err error)
}

// WriterSetter is an optional interface of an [Object] that names a writer
// in the changes it makes (in dots, counter contributions, timestamps).
// [Register] hands it the replica's [Replica.Writer], so that a replica
// that lost its state and came back under its old ID never makes a change
// under an identity it used before. Every data type of this module
// implements it.
type WriterSetter interface {
	// SetWriter names the writer of the object's later changes.
	SetWriter(ReplicaID)
}

// Limited is an optional interface of an [Object] whose decoders can be
// held to limits. [Register] hands it the replica's limits (MaxBytes is
// Config.MaxMessageBytes), so that no state or op from a peer makes an
// object allocate past them. [Replica.Restore] raises them to a saved
// state's size while it restores it: a state may be larger than any
// message. Every data type of this module implements it.
type Limited interface {
	// SetLimits sets the limits the object's decoders hold input to.
	SetLimits(codec.Limits)
}

// Chunker is an optional interface of an [Object] whose state or delta
// can be cut into parts, so that a catch-up larger than
// Config.MaxMessageBytes can travel in several messages.
//
// ChunksBinary returns the object's whole state (version nil) or its
// delta since the encoded version (as DeltaSinceBinary takes it), as parts
// of at most max bytes each; or no parts if the whole likely fits in max
// bytes: the engine then sends it whole (and, should it not fit after
// all, asks again for parts half the size). MergeChunkBinary merges one part, at a cost
// that grows with the part, not with the state. Merging every part has the
// effect of merging the whole, and each part is safe to merge alone,
// duplicated, or never: it never brings back what the receiver saw
// removed, nor makes the receiver's version claim an update whose effect
// it lacks. The parts parts[:ordered] may be merged in any order;
// each later one only once every part before it is merged. The engine
// sees to that order. Like other inputs, a part from a peer is validated
// whole before anything changes.
//
// The OR-Set (orset.Set), the LWW-map (lwwmap.Map), the OR-Map
// (ormap.Map) and the counters (G, PN and Bounded) implement it. The
// registers do not: a register holds one value, or one per writer that
// wrote concurrently, so a register larger than a message is one value
// larger than a message, which no cut helps.
type Chunker interface {
	ChunksBinary(version []byte, max int) (parts [][]byte, ordered int, err error)
	MergeChunkBinary(part []byte) (changed bool, err error)
}

// ChunkHealer is an optional interface of a [Chunker] that is a [Healer]:
// HealChunkBinary merges one part of a whole state, cut by
// ChunksBinary(nil, max), as MergeChunkBinary does, and trusts no more
// than HealBinary does for the whole: a part of writes drops each write
// of this replica held under one of the part's dots with other content.
// The engine calls it for the parts of a state that a peer sends while
// its last digest shows the object diverged (see [Healer]), so that an
// object larger than a message heals as one that fits does. The OR-Set
// (orset.Set), the LWW-map (lwwmap.Map) and the OR-Map (ormap.Map)
// implement it.
type ChunkHealer interface {
	HealChunkBinary(part []byte) (changed bool, err error)
}

// ChunkFreezer is an optional interface of a [Chunker] that can copy its
// state far more cheaply than it cuts it. For a catch-up, the engine calls
// FreezeChunks under its lock, and the function it returns after
// releasing the lock, so that the replica's reads and local writes wait
// for the copy only, not for the cut; the parts go out at the next Tick.
//
// FreezeChunks returns nil when what it would cut, the whole state or
// the delta since version, is small enough to be cut under the lock (as
// for a peer a few writes behind: [Chunker.ChunksBinary] is then called
// as usual); else
// a function returning what ChunksBinary(version, max) returns at the
// time of the call to FreezeChunks, whatever happens to the object in
// between. The function runs once, on any goroutine, while the object
// may be read and changed.
//
// The OR-Set (orset.Set), the LWW-map (lwwmap.Map) and the OR-Map
// (ormap.Map) implement it.
type ChunkFreezer interface {
	FreezeChunks(version []byte, max int) func() (parts [][]byte, ordered int, err error)
}

// Fingerprinter is an optional interface of an [Object] that keeps a
// fingerprint of its content: a hash that is equal on two replicas holding
// the same content, whatever order the updates arrived in, and almost
// surely different otherwise. Digests carry it; when a peer's digest shows
// an object at this replica's version with another fingerprint, the
// replicas have diverged, and [PeerStats].Divergences counts it. Every data
// type of this module implements it.
type Fingerprinter interface {
	// Fingerprint returns the hash of the object's content. It must be
	// the same in every process and on every machine.
	Fingerprint() uint64
}

// Healer is an optional interface of a [Fingerprinter] whose merge trusts
// what a state says it dropped (drop records) and whose fingerprints can
// therefore stay different after merging: a drop one replica made without
// a record, or a record a faulty or hostile peer crafted, can leave another
// replica holding a write the others have seen dropped, which every merge
// keeps. HealBinary merges a state encoded by MarshalBinary without
// trusting its records: every write the state has seen and does not hold
// is dropped, as a join of causal contexts does; with the same checks,
// limits and errors as MergeBinary, and on error the object is unchanged.
//
// When a peer's digest shows an object at this replica's version with
// another fingerprint (a divergence, see [Fingerprinter]), each side sends
// the other the object's whole state; a state of the object that this
// replica receives from the peer while the peer's last digest shows the
// divergence is merged with HealBinary, and the two end with one content.
// ormap.Map, orset.Set, lwwmap.Map, register.MV and register.LWW implement
// it (a set's drops all have records, but a peer that sent two replicas
// two different writes under one dot leaves each holding its own, which
// only a heal ends: by dropping both, or, in an LWW type, by keeping the
// same one).
type Healer interface {
	HealBinary(state []byte) (changed bool, err error)
}

// GapReporter is an optional interface of a [Fingerprinter] whose version
// (see [DeltaObject]) counts only the updates received without gaps, while
// it may also hold updates received past a gap (after a restart from an
// older snapshot, say, until a catch-up fills it; or for good, past an op
// of a writer that every replica refused). Two replicas at one version
// may then hold different content without having diverged. HasGaps
// reports whether the object holds any update its version leaves out.
// The engine compares the fingerprint of such an object with a peer's
// only if the object is also a [GapHasher] and both hold the same updates
// past the version; otherwise it neither sends the fingerprint nor
// compares one with it. The OR-Set, the OR-Map, the LWW-map and the
// multi-value register implement it.
type GapReporter interface {
	HasGaps() bool
}

// ContentFingerprinter is an optional interface of a [Fingerprinter]
// whose fingerprint hashes each write by its dot alone: between honest
// replicas a dot names one write, so equal dots mean equal content. A
// faulty or hostile peer can send two different writes under one dot,
// one to each replica; their fingerprints then agree, and their content
// does not. ContentFingerprint hashes the writes' values in, so that
// such replicas differ in it. The engine sends it in its digests beside
// the fingerprint (in a content entry, which a release before content
// entries ignores) and, where both replicas send one, compares it as it
// compares fingerprints: a difference at one version is a divergence,
// counted in [PeerStats].Divergences and healed alike (by
// [Healer].HealBinary, which drops such a write on both sides where the
// type says so). ormap.Map, lwwmap.Map, register.MV and register.LWW
// implement it.
//
// ContentFingerprint must be equal on replicas with equal content, in
// every process, and is called only when a digest is made; it may cost a
// pass over the object.
type ContentFingerprinter interface {
	Fingerprinter
	ContentFingerprint() uint64
}

// ContentFingerprinterAt is an optional interface of a
// [ContentFingerprinter] whose content fingerprint leaves out writes that
// replicas drop each at its own moment once an instant has gone by (keys
// whose time to live has run out), and so leaves out, until then, what
// two replicas hold differently there. ContentFingerprintAt(wall) hashes
// in, besides, those writes that no replica drops before a replica's
// clock has passed wall; ContentFingerprintNow returns it at the object's
// current wall time, and that time. The engine sends both in its content
// entries (a release before them reads such an entry as none) and
// compares a peer's with its own ContentFingerprintAt the peer's time.
// lwwmap.Map implements it.
type ContentFingerprinterAt interface {
	ContentFingerprinter
	ContentFingerprintAt(wall int64) uint64
	ContentFingerprintNow() (cfp uint64, wall int64)
}

// GapHasher is an optional interface of a [GapReporter] that can name the
// updates it holds past its version, so that an object with gaps is still
// checked for divergence: two replicas at one version that also hold the
// same updates beyond it hold the same content, gap or no gap.
//
// GapHash returns a hash of the updates the object holds past its version
// (their dots), 0 if it holds none (HasGaps is false), and true; or false
// if it holds something past its version that the hash does not describe
// (for a while, say, during a catch-up in parts), in which case its fingerprint is
// neither sent nor compared. The hash must not depend on the order the
// updates arrived in, and must be the same in every process and on every
// machine (build it as fingerprints are built: see codec.HashString). The
// OR-Set, the OR-Map, the LWW-map and the multi-value register implement
// it, with [vclock.Context.GapHash].
type GapHasher interface {
	GapReporter
	GapHash() (hash uint64, ok bool)
}

// ConflictReporter is an optional interface of an [Object] that can report
// writes its conflict rule discards for concurrent ones. When
// Config.OnConflict is set, [Register] hands the object a hook, and the
// engine passes each report on with the object's name; the hook replaces
// any the object had. register.LWW, register.MV, lwwmap.Map and ormap.Map
// implement it.
type ConflictReporter interface {
	// SetConflictHook sets the function called with each report; nil
	// stops the reports.
	SetConflictHook(func(vclock.Conflict))
}

// EquivocationReporter is an optional interface of an [Object] that can
// tell, from what it merges, that a writer made two histories: two
// changes of one writer that no one history makes (a peer that sent
// replicas different changes under one identity, a forged state, two
// processes writing as one writer). Equivocations returns how many
// writers it caught so, since it was made or its state last replaced by
// UnmarshalBinary. [Replica.Stats] sums it over the registered objects as
// [Stats].Equivocations. counter.Bounded implements it (see its Merge):
// such changes of an escrow spend rights twice, and its merge keeps one of
// them, the same everywhere. The types whose changes are dots show such
// writes as divergences instead (see [ContentFingerprinter]).
type EquivocationReporter interface {
	Equivocations() int
}

// LateWriteReporter is an optional interface of an [Object] that can
// tell that it took in, after collecting a delete, a write that the
// delete should have overwritten: a put of a key it held no record of,
// stamped before a delete it had collected, or at its instant. Such a
// write comes from a run of a replica that is not the one whose version
// the collection trusted: a second process under the replica's ID, or a
// run whose replica came back from a backup older than a write it had
// sent. LateWrites returns how many it took in, since it was made or its
// state last replaced by UnmarshalBinary. [Replica.Stats] sums it over
// the registered objects as [Stats].LateWrites. lwwmap.Map implements
// it.
type LateWriteReporter interface {
	LateWrites() uint64
}

// Snapshotter is an optional interface of an [Object] whose saved state
// holds more than the state it sends to its peers: what it knows of its
// own, that a peer must not take in with the state. When the object
// implements it, [Replica.SaveSnapshot] writes the object's state with
// SnapshotBinary instead of MarshalBinary, and [Replica.Restore] merges
// it back, with MergeBinary, into the object just registered, which must
// then take it in whole. lwwmap.Map implements it: its snapshots keep the
// latest write it collected, so that [Stats].LateWrites still counts, after
// a restart, the puts that take back a key whose delete marker it had
// collected.
type Snapshotter interface {
	SnapshotBinary() ([]byte, error)
}

// Conflict is a report of a write discarded for a concurrent one (or of a
// multi-value register that started holding siblings), passed to
// Config.OnConflict: the object's name and what the object reported (see
// vclock.Conflict).
type Conflict struct {
	Object string // the name the object is registered under
	vclock.Conflict
}

// Config configures a [Replica]. ID and Transport are required; every
// other field has a default.
type Config struct {
	// ID names this replica: not empty, printable, without spaces or '!'
	// (see vclock.CheckName). Required. A replica that lost its state may
	// come back under its old ID: every run of a replica writes under a
	// writer of its own (see [Replica.Writer]).
	ID ReplicaID
	// Transport sends messages to peers. Required.
	Transport Transport
	// Clock is the replica's hybrid logical clock, shared with the data
	// types that need timestamps. Default: clock.New().
	Clock *clock.Clock
	// Logger receives debug and warning messages; nil discards them.
	Logger *slog.Logger
	// Entropy is where the replica draws the epoch of its writer (see
	// [Replica.Writer]) when it starts. Default: crypto/rand.Reader. Tests
	// may give a seeded source; two runs of one replica must never draw
	// the same epoch.
	Entropy io.Reader

	// MaxLogOps and MaxLogBytes bound the log of ops not yet acknowledged
	// by every peer (defaults 65,536 ops and 16 MiB). A peer whose
	// unacknowledged ops fall out of the log catches up by digest instead,
	// so memory does not grow with a peer's absence. They also bound the
	// local ops, and apart from them the changes received from peers, held
	// for [Replica.SaveOps] between saves (once the replica persists).
	MaxLogOps   int
	MaxLogBytes int
	// MaxBatchBytes bounds the op bytes packed into one message
	// (default 256 KiB, or a quarter of MaxMessageBytes if less). It must
	// be less than MaxMessageBytes.
	MaxBatchBytes int
	// MaxMessageBytes bounds every message, both ways (default 1 MiB, at
	// least MinMessageBytes): no message the replica sends is larger,
	// checksum included, and a larger one received is refused unread.
	// Runs of ops are cut to fit; a group of ops (see [Replica.Tx]) too
	// large for a message reaches the peers by catch-up instead; a digest
	// of many objects goes in several messages; and a catch-up too large
	// for one message goes as a sequence of chunks, each acknowledged on
	// its own and sent again alone if lost, with the states of objects
	// that implement [Chunker] cut into parts. A state too large for a
	// message that cannot be cut is not sent: the replica logs it, counts
	// it ([PeerStats].StatesFailed) and keeps asking the peer for its
	// digest (see [PeerStats].AwaitingCatchUp).
	//
	// Memory: a catch-up in chunks is cut and encoded whole when it
	// starts, and its chunks are kept until the peer acknowledges them,
	// so that a lost chunk is sent again as it was: a replica holds, for
	// each peer it is catching up in chunks, up to the encoded size of
	// what that peer lacks (the whole state, for a new peer), beside its
	// own state. [PeerStats].CatchUpBytesLeft shows it, and it shrinks as
	// chunks are acknowledged. On the receiving side a chunk is merged as
	// it arrives and nothing of it is kept (unless the replica journals
	// what it receives, see [Replica.SaveOps]).
	//
	// Replicas may use different values, for a while (a rolling change of
	// the setting) or for good (regions whose buses carry messages of
	// different sizes). Each names its own in its digests, and its peers
	// then send it nothing larger: a replica sends a peer messages up to
	// the smaller of the two limits (see [PeerStats].MessageLimit). Until
	// the peer's first digest arrives it goes by its own; a message that a
	// peer refuses as too large makes that peer send its digest. A
	// transport that carries messages of a limited size tells the engine
	// so by implementing [Limiter]: the smaller of its limit and this one
	// then counts as the replica's own. A release
	// before limits were named in digests sends by its own limit only, so
	// a replica of it with a larger limit than a peer's keeps sending that
	// peer messages it refuses (counted at the peer, under
	// [ReasonTooLarge]) until both run this release.
	MaxMessageBytes int

	// RetransmitTicks is how many ticks without acknowledgement pass
	// before unacknowledged ops are sent again (default 3).
	RetransmitTicks int
	// HeartbeatTicks is how many idle ticks pass before a peer is sent an
	// empty message carrying acknowledgements (default 10).
	HeartbeatTicks int
	// AntiEntropyTicks is how many ticks pass between digest exchanges
	// with each peer (default 100; negative disables). Replication
	// converges without them: acknowledged ops, and catch-ups that are
	// asked for until confirmed, bring every peer up to date. They are a
	// safety net for state that went wrong some other way.
	//
	// It also paces the retirement of finished writers (see [Retirer]):
	// a replica looks for writers to retire once every AntiEntropyTicks
	// (every 64 ticks if negative), and one whose proposal was refused
	// for a higher ballot proposes again above it at the next such tick.
	// A proposal that finds, after 4*RetransmitTicks, that the members
	// do not all hold the same events of its writer (a second process
	// under the name still writes under it) is given up, and that writer
	// is proposed again only 16*AntiEntropyTicks later (16 ticks if
	// negative), so that the name's other finished writers go first
	// rather than wait behind it: a deliberate wait, which delays only
	// the shrinking of metadata, never a write.
	AntiEntropyTicks int

	// CompressAbove is the size in bytes from which a state, or a part of
	// one, goes compressed (see codec.Compressor): in catch-ups, and in
	// snapshots. A state is compressed only when that makes it smaller,
	// and one whose plain form is larger than MaxMessageBytes is not sent
	// compressed (the receiver holds a state to MaxMessageBytes once
	// decompressed; larger ones go in parts, each compressed). Default
	// 4 KiB; negative never compresses, for a cluster where some replicas
	// run a release that cannot read the compressed form, which every
	// release reads since it was introduced. The engine compresses any
	// state whose bytes are a sequence of msgpack values (every type of
	// this module's, and plain text), and takes a state received that
	// starts with the bytes 01 70 90 for a compressed one: a user's type
	// whose states may start so, and are not compressed messages, needs
	// CompressAbove negative.
	CompressAbove int

	// OnRemoteUpdate, if set, is called with an object's name after a
	// message from a peer changed it. It is called without locks held, on
	// the goroutine that called Receive; it must not block for long. A
	// host that persists the replica can call [Replica.SaveOps] from it:
	// the journal record then holds the change as it arrived, so saving
	// what a peer sent costs what it changed.
	OnRemoteUpdate func(object string)

	// OnSaveNeeded, if set, is called after a message from a peer made
	// this replica, once persistent (a snapshot saved or restored), vote
	// on a proposal to retire a finished writer (see [Retirer]): a
	// promise or an acceptance that leaves for its proposer only once a
	// saved snapshot holds it, so that no crash can make the replica
	// forget a vote a proposer counted on. Until the host saves,
	// retirement waits (writes and replication go on). A host that saves
	// only after updates calls [Replica.SaveOps] from it, which returns
	// [ErrSnapshotNeeded], then [Replica.SaveSnapshot]; or it saves a
	// snapshot soon after. It is called without locks held, on the
	// goroutine that called Receive, again for each message that asks for
	// a vote still unsaved; it must not block for long.
	OnSaveNeeded func()

	// OnConflict, if set, is called with each write an object discarded
	// for a concurrent one, for the objects that implement
	// [ConflictReporter] (see each type's SetConflictHook for what counts
	// as concurrent). It is called after the change is made and the
	// engine's lock released, on the goroutine of the call that caused it
	// (Receive for a peer's writes, Handle.Update or Replica.Update for a
	// local write that lost), in the order the reports were made, and
	// before that call returns; so it may read and update the replica's
	// objects, but must not block for long. Writes taken in again by
	// Restore and Replay (the replica's own saved data) are not reported.
	// With two writers of a key, the replica whose write lost always
	// hears of it; the other one only if the lost write reaches it
	// before the losing replica's state replaces it. With three or more,
	// a write that lost to one made after seeing a third writer's later
	// write may be reported nowhere (see lwwmap.Map.SetConflictHook). Reports are not
	// saved: after a restart, a peer's write delivered again may be
	// reported again. Unset, objects are given no hook and do
	// no work for reports.
	OnConflict func(Conflict)
}

func (c *Config) setDefaults() error {
	if err := vclock.CheckName(c.ID); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if c.Entropy == nil {
		c.Entropy = rand.Reader
	}
	if c.Transport == nil {
		return fmt.Errorf("%w: no transport", ErrConfig)
	}
	if c.Clock == nil {
		c.Clock = clock.New()
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	def := func(v *int, d int) error {
		if *v < 0 {
			return fmt.Errorf("%w: negative limit %d", ErrConfig, *v)
		}
		if *v == 0 {
			*v = d
		}
		return nil
	}
	for _, f := range []struct {
		v *int
		d int
	}{
		{&c.MaxLogOps, 1 << 16}, {&c.MaxLogBytes, 16 << 20},
		{&c.MaxMessageBytes, 1 << 20}, {&c.RetransmitTicks, 3}, {&c.HeartbeatTicks, 10},
	} {
		if err := def(f.v, f.d); err != nil {
			return err
		}
	}
	if c.MaxMessageBytes < MinMessageBytes {
		return fmt.Errorf("%w: MaxMessageBytes %d is below the minimum of %d", ErrConfig, c.MaxMessageBytes, MinMessageBytes)
	}
	if c.MaxBatchBytes < 0 {
		return fmt.Errorf("%w: negative limit %d", ErrConfig, c.MaxBatchBytes)
	}
	if c.MaxBatchBytes == 0 {
		c.MaxBatchBytes = min(256<<10, c.MaxMessageBytes/4)
	}
	if c.MaxBatchBytes >= c.MaxMessageBytes {
		return fmt.Errorf("%w: MaxBatchBytes %d must be less than MaxMessageBytes %d", ErrConfig, c.MaxBatchBytes, c.MaxMessageBytes)
	}
	if c.AntiEntropyTicks == 0 {
		c.AntiEntropyTicks = 100
	}
	if c.CompressAbove == 0 {
		c.CompressAbove = defaultCompressAbove
	}
	return nil
}

// defaultCompressAbove is the default Config.CompressAbove: below a few
// KiB, compressing saves little and costs the DEFLATE state's setup.
const defaultCompressAbove = 4 << 10

// MinMessageBytes is the smallest Config.MaxMessageBytes accepted: room
// for a message's header and acknowledgements and a useful payload.
const MinMessageBytes = 1024

type logEntry struct {
	object string
	op     []byte
	at     int64 // physical time it was made, for lag
	cum    int   // bytes of ops up to and including this one
	more   bool  // the next op belongs to the same group (see Tx)
}

// Replica is the replication engine of one replica: it owns named objects,
// turns their local ops into messages for its peers, takes in the peers'
// messages, and keeps everyone converging whatever the network does.
//
// The engine does no I/O of its own. Outbound messages leave through the
// [Transport] when the host calls [Replica.Tick] (or runs [Replica.Run]);
// inbound messages enter through [Replica.Receive]. Delivery is at least
// once and in any order: ops are acknowledged by sequence number and sent
// again until acknowledged; a peer that is new, fell too far behind or
// came back from a restart with old state catches up by exchanging version
// digests, and receives only what it lacks.
//
// Create a Replica with [NewReplica]. A Replica is safe for concurrent use
// by multiple goroutines: local updates, reads, inbound messages and ticks
// may all run at once. It must not be copied.
type Replica struct {
	cfg   Config
	id    ReplicaID
	clk   *clock.Clock
	log   *slog.Logger
	limit codec.Limits
	nudge chan struct{}

	// writer is the identity this run of the replica writes under: its ID
	// and an epoch drawn at the start, so that no two runs, whatever became
	// of the disk in between, ever name two changes alike.
	writer ReplicaID
	// step is what a run adds to the clock's reading, or to the
	// incarnation it restores if that is later, to make its incarnation:
	// at least 1 and drawn with the epoch, so that two runs started at one
	// reading of the clock, or restored from one snapshot on a host whose
	// clock is behind it, get incarnations of their own, not the same one.
	step uint64

	mu          sync.RWMutex
	tickHold    time.Duration // the longest Tick held mu to prepare its messages, for benchmarks
	incarnation uint64
	objects     map[string]Object
	seq         uint64     // sequence number of the last local op
	ops         []logEntry // ops seq-len(ops)+1 .. seq
	peers       map[ReplicaID]*peer
	// removedCatchUps and removedDigests are the highest catch-up number
	// and digest round this run gave a peer it removed since: a peer added
	// again numbers its catch-ups and digest rounds above them, since it
	// may still hold (and acknowledge) those of before its removal.
	removedCatchUps, removedDigests uint64
	// left holds, for each peer removed by RemovePeer and not added back,
	// the durable versions it last reported (none if it never did): it
	// may still hold writes that no other replica has seen, older than a
	// delete made since, so it holds back the collection of metadata (see
	// Collector) as a peer does, until its writers are retired (the whole
	// group removed it) or it is added back.
	left       map[ReplicaID]map[string][]byte
	ticks      uint64
	broadcasts uint64            // messages sent through Broadcast
	oversize   uint64            // messages not sent for being over MaxMessageBytes
	busLimit   int               // the transport's limit at the last tick, if it is a Limiter
	refused    map[string]uint64 // refusals not tied to a peer

	// broken is set when a Restore or a Replay failed after it had
	// changed the replica (merged a saved state into an object, applied
	// a journal record's change): every call that
	// saves, sends, takes in or changes anything returns it.
	broken error

	// snapshotted is set once the replica has taken or restored a
	// snapshot; from then on only the versions of its last saved snapshot
	// (durable) are reported as durable, since a crash can take it back
	// there. A replica that never takes snapshots cannot come back from
	// one, so its current versions are durable.
	snapshotted bool
	durable     map[string][]byte
	// persistent is set once a snapshot was saved or restored: the host
	// persists the replica. From then on, local ops leave only once a
	// saved snapshot holds them (up to savedSeq), and catch-up states only
	// when every local op is saved, so no peer ever holds a change the
	// replica could lose in a crash and then make again under the same
	// dot.
	persistent bool
	savedSeq   uint64
	// pending holds, once the replica is persistent, the latest local ops
	// (from sequence number pendingFirst on), for SaveOps to journal; it is
	// bounded like the op log, and trimmed by every save.
	pending      []logEntry
	pendingFirst uint64
	pendingBytes int
	// remote holds, once the replica is persistent, the changes peers
	// made that were applied since the last save, for SaveOps to journal.
	// Changes are numbered as they are kept: remote[0] is number
	// remoteFirst, the next will be remoteNext; those below remoteSaved
	// are saved. Bounded like pending: past the bounds every held change
	// is dropped, and those below remoteLost then need a snapshot.
	remote      []remoteEntry
	remoteFirst uint64
	remoteNext  uint64
	remoteSaved uint64
	remoteLost  uint64
	remoteBytes int
	// Replay is allowed after Restore until the replica starts working.
	// The restored snapshot was taken by run snapInc, and holds the
	// journal records of the run it continued up to cont (if snapExact:
	// snapshots of earlier releases do not say). The records replayed so
	// far reach pos, which starts where the snapshot's own run stood when
	// it took it; a snapshot this run takes names pos as what it
	// continued.
	canReplay bool
	started   bool
	snapInc   uint64
	snapExact bool
	cont, pos journalPos

	saveMu sync.Mutex // serializes SaveSnapshot and SaveOps

	// comp compresses states (see pack), under compMu: snapshots are taken
	// and catch-ups made under mu, not always held alone.
	compMu sync.Mutex
	comp   codec.Compressor

	// conflicts holds the reports objects made under mu, for the caller
	// that releases mu to pass on (see flushConflicts); quiet drops them,
	// while Restore and Replay take the replica's own data in again.
	conflicts []Conflict
	quiet     bool

	led ledger // retirements of finished writers (see retire.go)
}

// NewReplica returns a replica configured by cfg, with no objects and no
// peers yet.
func NewReplica(cfg Config) (*Replica, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	r := &Replica{
		cfg:     cfg,
		id:      cfg.ID,
		clk:     cfg.Clock,
		log:     cfg.Logger.With("replica", string(cfg.ID)),
		limit:   codec.Limits{MaxBytes: cfg.MaxMessageBytes},
		nudge:   make(chan struct{}, 1),
		objects: map[string]Object{},
		peers:   map[ReplicaID]*peer{},
		refused: map[string]uint64{},
	}
	var epoch [8]byte
	if _, err := io.ReadFull(cfg.Entropy, epoch[:]); err != nil {
		return nil, fmt.Errorf("%w: drawing the replica's epoch: %w", ErrConfig, err)
	}
	r.writer = vclock.Writer(cfg.ID, drawnEpoch(epoch))
	r.step = 1 + uint64(epochStep(epoch))
	// Two runs started at one reading of the clock (a coarse clock, two
	// processes started together) must not share an incarnation: their
	// peers would take them for one run.
	r.incarnation = after(uint64(max(1, r.clk.Now().Wall)), r.step)
	return r, nil
}

// Writer returns the identity this run of the replica writes under: its ID
// and an epoch drawn when the replica was made, such as "us-east-1!3kf9x2q".
// Every object registered with the replica that implements [WriterSetter]
// writes under it, so two runs of one replica (a restart with an empty
// disk or an older backup, a second process started under the same ID by
// mistake) never make two different changes under one identity. A run
// takes a new writer if another run of the same replica ID retired this
// one's (see [Retirer]), which only a second process under the same ID
// can do.
func (r *Replica) Writer() ReplicaID {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.writer
}

// ID returns the replica's ID.
func (r *Replica) ID() ReplicaID { return r.id }

// Clock returns the replica's clock.
func (r *Replica) Clock() *clock.Clock { return r.clk }

// Handle is a concurrency-safe handle on an object registered with a
// [Replica]. Use it to read the object and to change it; every change's op
// is captured and shipped to the peers.
type Handle[T Object] struct {
	r    *Replica
	name string
	obj  T
}

// Register puts obj under name in the replica and returns a handle on it.
// Every replica must register the same objects, of the same types, under
// the same names. From now on obj must only be used through the handle.
//
// A name must travel in every message that carries the object's ops or
// digest: an empty name, or one longer than a quarter of
// Config.MaxMessageBytes, is refused with [ErrConfig]. So is a name that
// starts with a NUL byte: digests carry entries of the engine's own under
// such names (see [GapHasher]).
func Register[T Object](r *Replica, name string, obj T) (*Handle[T], error) {
	if name == "" {
		return nil, fmt.Errorf("%w: empty object name", ErrConfig)
	}
	if name[0] == 0 {
		return nil, fmt.Errorf("%w: object name %q starts with a NUL byte, reserved", ErrConfig, name)
	}
	if len(name) > r.cfg.MaxMessageBytes/4 {
		return nil, fmt.Errorf("%w: object name of %d bytes, over a quarter of MaxMessageBytes (%d)", ErrConfig, len(name), r.cfg.MaxMessageBytes)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.objects[name]; ok {
		return nil, fmt.Errorf("%w: object %q", ErrDuplicate, name)
	}
	if r.started || r.canReplay {
		return nil, fmt.Errorf("%w: register %q before the replica restores, ticks, receives or updates anything", ErrConfig, name)
	}
	if l, ok := any(obj).(Limited); ok {
		l.SetLimits(r.limit)
	}
	if w, ok := any(obj).(WriterSetter); ok {
		w.SetWriter(r.writer)
	}
	if c, ok := any(obj).(ConflictReporter); ok && r.cfg.OnConflict != nil {
		c.SetConflictHook(func(c vclock.Conflict) {
			// Objects change only under r.mu, held for writing.
			if !r.quiet {
				r.conflicts = append(r.conflicts, Conflict{Object: name, Conflict: c})
			}
		})
	}
	r.objects[name] = obj
	r.led.names = nil // the object's writers are read again
	return &Handle[T]{r: r, name: name, obj: obj}, nil
}

// Name returns the name the object is registered under.
func (h *Handle[T]) Name() string { return h.name }

// Read calls f with the object while no change can happen; f must not keep
// the object or call the replica.
func (h *Handle[T]) Read(f func(obj T)) {
	h.r.mu.RLock()
	defer h.r.mu.RUnlock()
	f(h.obj)
}

// Update calls f with the object to change it; f applies a local mutation
// and returns its op (or nil if nothing changed), which the engine ships to
// every peer (once saved, if the replica persists: see
// [Replica.SaveSnapshot]). If f returns an error, nothing is shipped and
// the error is returned. f must not keep the object or call the replica.
func (h *Handle[T]) Update(f func(obj T) (Op, error)) error {
	r := h.r
	r.mu.Lock()
	if r.broken != nil {
		r.mu.Unlock()
		return r.broken
	}
	op, err := f(h.obj)
	if err != nil || op == nil {
		cs := r.takeConflicts()
		r.mu.Unlock()
		r.passConflicts(cs)
		return err
	}
	b, err := op.MarshalBinary()
	if err != nil {
		cs := r.takeConflicts()
		r.mu.Unlock()
		r.passConflicts(cs)
		return fmt.Errorf("crdt: encoding the op on %q: %w", h.name, err)
	}
	r.appendGroup([]txOp{{object: h.name, op: b}})
	cs := r.takeConflicts()
	r.mu.Unlock()
	r.poke()
	r.passConflicts(cs)
	return nil
}

// takeConflicts returns the reports made since the last call and forgets
// them. The caller holds r.mu, and passes them to passConflicts once it
// has released it.
func (r *Replica) takeConflicts() []Conflict {
	cs := r.conflicts
	r.conflicts = nil
	return cs
}

// passConflicts calls Config.OnConflict with each report. The caller does
// not hold r.mu, so the host may call the replica from OnConflict.
func (r *Replica) passConflicts(cs []Conflict) {
	for _, c := range cs {
		r.cfg.OnConflict(c)
	}
}

func (r *Replica) poke() {
	select {
	case r.nudge <- struct{}{}:
	default:
	}
}

// appendGroup adds a group of local ops to the log, to be sent together,
// dropping the oldest ops if the log is over its bounds. The caller holds
// r.mu.
func (r *Replica) appendGroup(ops []txOp) {
	r.started = true
	at := r.clk.Physical()
	if r.persistent {
		r.keepPending(ops, at)
	}
	if len(r.peers) == 0 {
		r.seq += uint64(len(ops)) // nobody to tell; a peer added later catches up by digest
		r.ops = r.ops[:0]
		return
	}
	cum := 0
	if n := len(r.ops); n > 0 {
		cum = r.ops[n-1].cum
	}
	for i, o := range ops {
		cum += len(o.op)
		r.seq++
		r.ops = append(r.ops, logEntry{object: o.object, op: o.op, at: at, cum: cum, more: i < len(ops)-1})
	}
	drop := 0
	for drop < len(r.ops) && (len(r.ops)-drop > r.cfg.MaxLogOps || r.ops[len(r.ops)-1].cum-r.cumBefore(drop) > r.cfg.MaxLogBytes) {
		drop++
	}
	// Drop whole groups only, so the log never starts inside one: a peer
	// is sent a group whole or catches up by digest. A group larger than
	// the bounds empties the log.
	for drop > 0 && drop < len(r.ops) && r.ops[drop-1].more {
		drop++
	}
	if drop > 0 {
		r.log.Debug("op log over its bound; dropping oldest", "ops", drop)
		first := r.firstSeq()
		for _, p := range r.peers {
			switch {
			case p.acked+1 >= first+uint64(drop):
				// It has every op that leaves the log.
			case p.acked+1 >= first:
				// It falls behind now: its oldest missing op is logged.
				p.behindSince = r.ops[p.acked+1-first].at
			case p.behindSince == 0:
				p.behindSince = r.ops[0].at
			}
		}
		r.dropOps(drop)
	}
}

// keepPending adds a group of local ops made at physical time at, about
// to be numbered from r.seq+1, to those SaveOps journals, dropping the oldest past the log's bounds.
// The caller holds r.mu.
func (r *Replica) keepPending(ops []txOp, at int64) {
	if len(r.pending) == 0 {
		r.pendingFirst = r.seq + 1
	}
	for i, o := range ops {
		r.pending = append(r.pending, logEntry{object: o.object, op: o.op, at: at, more: i < len(ops)-1})
		r.pendingBytes += len(o.op)
	}
	drop, bytes := 0, r.pendingBytes
	for drop < len(r.pending) && (len(r.pending)-drop > r.cfg.MaxLogOps || bytes > r.cfg.MaxLogBytes) {
		bytes -= len(r.pending[drop].op)
		drop++
	}
	if drop > 0 {
		r.trimPending(r.pendingFirst + uint64(drop) - 1)
	}
}

// trimPending drops the pending ops up to sequence number upTo. The caller
// holds r.mu.
func (r *Replica) trimPending(upTo uint64) {
	if upTo < r.pendingFirst || len(r.pending) == 0 {
		return
	}
	n := int(min(upTo-r.pendingFirst+1, uint64(len(r.pending))))
	for _, e := range r.pending[:n] {
		r.pendingBytes -= len(e.op)
	}
	clear(r.pending[:n])
	r.pending = slices.Delete(r.pending, 0, n)
	r.pendingFirst += uint64(n)
	if len(r.pending) == 0 {
		r.pending, r.pendingBytes = nil, 0
	}
}

// cumBefore returns the cumulative byte count before log index i.
func (r *Replica) cumBefore(i int) int {
	if i == 0 {
		if len(r.ops) == 0 {
			return 0
		}
		return r.ops[0].cum - len(r.ops[0].op)
	}
	return r.ops[i-1].cum
}

// firstSeq returns the sequence number of the oldest op in the log (one
// past the last op if the log is empty).
func (r *Replica) firstSeq() uint64 { return r.seq - uint64(len(r.ops)) + 1 }

// dropOps removes the n oldest ops of the log.
func (r *Replica) dropOps(n int) {
	clear(r.ops[:n])
	r.ops = slices.Delete(r.ops, 0, n)
	if len(r.ops) == 0 {
		r.ops = nil
	}
}

// truncateLog drops the ops every peer has acknowledged.
func (r *Replica) truncateLog() {
	if len(r.ops) == 0 {
		return
	}
	minAcked := r.seq
	for _, p := range r.peers {
		minAcked = min(minAcked, p.acked)
	}
	first := r.firstSeq()
	if minAcked >= first {
		r.dropOps(int(minAcked - first + 1))
	}
}

// AddPeer adds a peer. The two replicas exchange digests on first contact,
// so the peer receives everything this replica holds that it lacks. Adding
// a peer that is already there does nothing. A peer removed by
// [Replica.RemovePeer] may be added again, still running or back from any
// disk: at its first contact this replica also serves its other peers a
// catch-up, as when a peer restarts, since it may hold writes of the
// peer's earlier runs that they lack. Until it reports again, the versions
// it reported before its removal count as its own, so that removing it
// again before then keeps holding collection back (see RemovePeer).
func (r *Replica) AddPeer(id ReplicaID) error {
	if err := vclock.CheckName(id); err != nil || id == r.id {
		return fmt.Errorf("%w: peer ID %q", ErrConfig, id)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.peers[id]; !ok {
		p := newPeer(id, r.seq)
		p.catchUps, p.digRounds = r.removedCatchUps, r.removedDigests
		p.late = r.started
		if lv, ok := r.left[id]; ok {
			// Added back after a removal: until it reports again, the
			// versions it reported before hold collection back as they
			// did, and a removal before it reports keeps them held.
			p.versions, p.versionsBy = maps.Clone(lv), ""
			if p.versions == nil {
				p.versions = map[string][]byte{}
			}
		}
		r.peers[id] = p
	}
	delete(r.left, id) // it reports its versions again
	return nil
}

// RemovePeer removes a peer: nothing more is sent to it, and its messages
// are refused with [ErrUnknownPeer]. Once every replica of the group has
// removed it, its writers are retired like those of finished runs (see
// [Retirer]): the group's first replica by name proposes it, and every
// replica renames them alike. Its writes stay.
//
// Until then, or until it is added back, the durable versions it last
// reported keep counting when the objects collect metadata (see
// [Collector]): a delete marker it has not seen stays, since the removed
// replica may still hold, and bring back when it is added again, an older
// write of the key that no other replica has seen. A replica removed from
// only part of the group holds collection back on those replicas until it
// is added back there or removed everywhere; one removed from the whole
// group does until its writers are retired, and a write of it that no
// other replica had seen by then, older than a delete marker collected
// since, may show again if it is added back. A peer never heard
// from (in this run, nor in the run whose snapshot it restored) holds
// nothing back. The versions are kept in snapshots: a run restored from
// one, whose host no longer lists the peer, holds collection back as the
// run that removed it did. [Stats].RemovedHolding counts the removed peers
// that hold collection back.
//
// A removed peer heard from that has no writer left to retire (it never
// wrote anything, or its every writer is retired) is released the same way:
// every member that holds it back, once it holds no writer of the peer,
// proposes an entry of the peer's ledger list that retires nothing and
// records that the peer has left, agreed like a retirement by every
// member, each having removed the peer and holding no writer of it either.
// Any such member proposes, not only the group's first replica by name:
// that one may never have heard from the peer (cut off from it, added to
// the group later, back from an empty disk), and the members that did
// would hold collection back for good. Only the group's agreement settles
// this: a peer that reported nothing written may have written since its
// last report, and a replica holding such a write keeps it from being
// agreed until that writer is retired (which releases the peer too). Whatever such a peer wrote that no member
// had seen by then is in the same case as a retired peer's: it may show
// again, over a later delete, if the peer is added back.
func (r *Replica) RemovePeer(id ReplicaID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p := r.peers[id]; p != nil {
		r.removedCatchUps = max(r.removedCatchUps, p.catchUps)
		r.removedDigests = max(r.removedDigests, p.digRounds)
		if p.rinc != 0 || p.versions != nil {
			// Heard from, in this run or one restored: it may hold writes.
			if r.left == nil {
				r.left = map[ReplicaID]map[string][]byte{}
			}
			r.left[id] = maps.Clone(p.versions)
			if r.left[id] == nil {
				r.left[id] = map[string][]byte{}
			}
		}
	}
	delete(r.peers, id)
	r.truncateLog()
}

// Peers returns the IDs of the replica's peers, sorted.
func (r *Replica) Peers() []ReplicaID {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return slices.Sorted(maps.Keys(r.peers))
}

func (r *Replica) sortedObjects() []string {
	return slices.Sorted(maps.Keys(r.objects))
}

func sortedPeerIDs(m map[ReplicaID]*peer) []ReplicaID {
	return slices.Sorted(maps.Keys(m))
}

// epochStep returns the part of a run's drawn epoch that sets its
// incarnation step (see Replica.step).
func epochStep(epoch [8]byte) uint32 { return binary.BigEndian.Uint32(epoch[4:]) }
