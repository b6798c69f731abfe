package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/codec"
	"github.com/nats-io/nats.go"
)

// regionConfig configures one region.
type regionConfig struct {
	Name    crdt.ReplicaID
	Listen  string                    // address to listen on; "" means 127.0.0.1:0
	Peers   map[crdt.ReplicaID]string // peer → base URL ("http://host:port")
	DataDir string
	// Key is the region's private key; nil loads it from DataDir (see
	// loadOrCreateKey). PeerKeys holds each peer's public key: a peer
	// without one cannot be heard.
	Key      ed25519.PrivateKey
	PeerKeys map[crdt.ReplicaID]ed25519.PublicKey
	// AllowHosts are extra Host names the region answers (besides
	// loopback and its listen address): "name" or "name:port".
	AllowHosts []string
	// Limits bound the server; zero fields take defaultLimits.
	Limits serverLimits
	// Delay is added before every replication message sent (a simulated
	// WAN link).
	Delay time.Duration
	// Recover (-recover) lets the region start past the damage a crash
	// in the middle of a write can leave: a torn meta page of the store
	// (bbolt goes back to the transaction before) and a damaged last
	// journal record (dropped); and past journal records missing in the
	// middle (replayed up to the gap). Damage anywhere else still stops it.
	Recover bool
	// Tick is the engine's tick interval; zero runs no ticker (tests call
	// region.tick themselves).
	Tick time.Duration
	// Clock is the physical time source of the region's hybrid logical
	// clock; nil reads the system clock.
	Clock clock.Source
	// Blocked, if set, reports whether the link to a peer is cut.
	Blocked func(to crdt.ReplicaID) bool
	// ServePage serves the web page at / (single-region mode).
	ServePage bool
	Logger    *slog.Logger
	// NATS, if set, carries replication (see natsLink) instead of HTTP
	// POSTs to the peers' /replicate; the region does not own it.
	// NATSPrefix is the subject prefix ("" for natstransport's default).
	NATS       *nats.Conn
	NATSPrefix string
	// listener, if set, is used instead of listening on Listen.
	listener net.Listener
}

// region is one running region: the replication engine and its objects,
// the store, and the HTTP server with the API and the replication
// endpoint.
type region struct {
	cfg     regionConfig
	log     *slog.Logger
	replica *crdt.Replica
	todos   *todos
	store   *store
	tr      *transport
	nl      *natsLink // nil when replication runs over HTTP
	srv     *http.Server
	guard   *guard
	bodies  map[crdt.ReplicaID]chan struct{} // replication bodies being read, by peer; fixed after start
	url     string
	events  *broker
	feed    *feed // which to-dos changed, for the page

	conflicts conflictLog // recent conflicts, for the page (conflicts.go)

	// mu serializes local writes with their persistence, and every
	// snapshot with its save, so a newer snapshot is never overwritten by
	// an older one.
	mu           sync.Mutex
	stopped      bool // under mu: crashed or shut down; writes are refused
	journalLen   int  // under mu: journal records since the last snapshot
	journalBytes int  // under mu: their size
	snapBytes    int  // under mu: the size of the last snapshot saved
	// saveErr, under mu, is the error of the last save, nil once one
	// succeeds: while it is set, changes are applied here but not saved
	// (and so not sent to peers), and new local writes are refused.
	saveErr      error
	saveFailures atomic.Uint64 // saves that failed, since start
	saveFailing  atomic.Bool   // saveErr != nil, for the metrics

	// paused holds a switch per peer (set only at start): while on,
	// replication with that peer is paused (see serveLink).
	paused map[crdt.ReplicaID]*atomic.Bool

	// onReceived, if set (tests), is called after the engine took in a
	// peer's message and before the region saves what it changed: where
	// a tick of the Run loop, poked by Receive, may come.
	onReceived atomic.Pointer[func()]

	remoteGen   atomic.Uint64 // bumped by every remote change
	savedGen    atomic.Uint64 // the remoteGen that the last save covered
	authRefused sync.Map      // refusalKey → *atomic.Uint64: refused before the engine

	runCancel context.CancelFunc
	runDone   chan struct{}
	stopOnce  sync.Once
}

var errStopped = errors.New("region is stopped")

// errUnsaved, wrapped in write's error, means the write was applied but
// could not be saved: it shows here and is saved (and then sent to the
// peers) by the next save that succeeds, unless the region crashes first.
var errUnsaved = errors.New("applied, not saved")

// errDiskFailing, wrapped in write's error, means the write was not
// applied: saves fail, and the region takes no new writes until one
// succeeds.
var errDiskFailing = errors.New("saving fails")

// errNoChange, returned by a write's function, means it changed nothing:
// write returns nil without saving.
var errNoChange = errors.New("no change")

// startRegion opens the region's store, restores its state, and starts
// serving.
func startRegion(cfg regionConfig) (_ *region, err error) {
	if cfg.Name == "" {
		return nil, errors.New("empty region name")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	rg := &region{
		cfg:    cfg,
		log:    cfg.Logger.With("region", string(cfg.Name)),
		events: newBroker(),
	}
	if cfg.Key == nil {
		if cfg.Key, err = loadOrCreateKey(cfg.DataDir); err != nil {
			return nil, err
		}
	}
	for p := range cfg.Peers {
		if _, ok := cfg.PeerKeys[p]; !ok {
			return nil, fmt.Errorf("peer %s has no public key (-peer-key %s=...)", p, p)
		}
	}
	cfg.Limits = cfg.Limits.orDefault()
	rg.cfg = cfg
	rg.bodies = map[crdt.ReplicaID]chan struct{}{}
	for p := range cfg.PeerKeys {
		rg.bodies[p] = make(chan struct{}, cfg.Limits.ReplicateBodies)
	}
	rg.store, err = openStore(cfg.DataDir, string(cfg.Name), cfg.Recover)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = rg.store.close()
			if cfg.listener != nil {
				_ = cfg.listener.Close()
			}
		}
	}()

	rg.paused = newPauses(cfg.Peers)
	blocked := func(to crdt.ReplicaID) bool {
		return rg.pausedTo(to) || (cfg.Blocked != nil && cfg.Blocked(to))
	}
	rg.tr = newTransport(cfg.Name, cfg.Key, cfg.Peers, cfg.PeerKeys, blocked, cfg.Delay)
	rg.tr.beforeSend = rg.saveBeforeSend
	var link crdt.Transport = rg.tr
	batch := maxReplicateBody / 4
	if cfg.NATS != nil {
		if rg.nl, err = newNATSLink(rg, cfg.NATS, cfg.NATSPrefix); err != nil {
			return nil, err
		}
		link, batch = rg.nl, maxNATSBatch
	}
	var opts []clock.Option
	if cfg.Clock != nil {
		opts = append(opts, clock.WithSource(cfg.Clock))
	}
	rg.replica, err = crdt.NewReplica(crdt.Config{
		ID:              cfg.Name,
		Transport:       link,
		Clock:           clock.New(opts...),
		Logger:          cfg.Logger,
		MaxMessageBytes: maxReplicateBody,
		MaxBatchBytes:   batch,
		OnRemoteUpdate:  rg.onRemoteUpdate,
		OnConflict:      rg.onConflict,
	})
	if err != nil {
		return nil, err
	}
	if rg.todos, err = registerTodos(rg.replica); err != nil {
		return nil, err
	}
	for p := range cfg.Peers {
		if err := rg.replica.AddPeer(p); err != nil {
			return nil, err
		}
	}
	snap, journal, err := rg.store.load()
	if err != nil {
		return nil, fmt.Errorf("loading the snapshot: %w", err)
	}
	if snap != nil {
		if err := rg.replica.Restore(snap); err != nil {
			return nil, fmt.Errorf("restoring the snapshot: %w", err)
		}
		for i, rec := range journal {
			err := rg.replica.Replay(rec)
			if err == nil {
				continue
			}
			var de *codec.DecodeError
			if errors.Is(err, crdt.ErrJournalGap) {
				// Records are missing between the snapshot and this one:
				// the store was edited, or put together from two backups.
				// What replayed is consistent; what is missing comes back
				// from peers that hold it, or is lost.
				if !cfg.Recover {
					return nil, fmt.Errorf("%w: journal record %d of %d does not continue the records before it (%w): records are missing, as from a data directory put together from two backups. Start with -recover to run with the %d records before it (writes only the missing records held are lost here unless a peer holds them), or restore the data directory from one backup",
						errDamaged, i+1, len(journal), err, i)
				}
				rg.log.Warn("stopped the replay at a gap in the journal (-recover)", "record", i+1, "of", len(journal), "err", err)
				break
			}
			switch last := i == len(journal)-1; {
			case !errors.As(err, &de):
				return nil, fmt.Errorf("replaying journal record %d of %d: %w", i+1, len(journal), err)
			case !last:
				return nil, fmt.Errorf("%w: journal record %d of %d is damaged (%w) and %d records follow it: not a write torn by a crash; restore the data directory from a backup",
					errDamaged, i+1, len(journal), err, len(journal)-i-1)
			case !cfg.Recover:
				return nil, fmt.Errorf("%w: the last journal record (%d of %d) is damaged (%w): a write torn by a crash, or a damaged disk. Start with -recover to drop it (that write is lost here unless a peer holds it)",
					errDamaged, i+1, len(journal), err)
			}
			rg.log.Warn("dropped the damaged last journal record (-recover)", "record", i+1, "err", err)
		}
		// The snapshot may name peers this run was not given.
		for _, p := range rg.replica.Peers() {
			if _, ok := cfg.Peers[p]; !ok {
				rg.replica.RemovePeer(p)
			}
		}
	}
	// Record the new incarnation at once (and fold the journal into the
	// snapshot), so that a crash before the first write cannot make the
	// next run reuse it.
	if err := rg.persist(); err != nil {
		return nil, fmt.Errorf("saving the snapshot: %w", err)
	}
	rg.feed = newFeed(rg.todos)
	if rg.nl != nil {
		// Only now that the state is restored may peers' messages come in.
		if err := rg.nl.listen(); err != nil {
			return nil, err
		}
		defer func() {
			if err != nil {
				rg.nl.close()
			}
		}()
	}

	ln := cfg.listener
	if ln == nil {
		addr := cfg.Listen
		if addr == "" {
			addr = "127.0.0.1:0"
		}
		if ln, err = net.Listen("tcp", addr); err != nil {
			return nil, err
		}
	}
	rg.url = "http://" + urlHost(ln.Addr())
	rg.guard = newGuard(rg.mux(), allowedHosts(ln.Addr(), cfg.AllowHosts), cfg.Limits)
	rg.srv = newServer(rg.guard, cfg.Limits)
	rg.srv.ErrorLog = slog.NewLogLogger(rg.log.Handler(), slog.LevelDebug)
	rg.srv.RegisterOnShutdown(rg.events.close)
	go func() {
		if err := rg.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			rg.log.Error("serving", "err", err)
		}
	}()

	ctx, cancel := context.WithCancel(context.Background())
	rg.runCancel = cancel
	rg.runDone = make(chan struct{})
	go func() {
		defer close(rg.runDone)
		if cfg.Tick > 0 {
			var wg sync.WaitGroup
			wg.Go(func() { rg.retrySaves(ctx, saveRetry) })
			_ = rg.replica.Run(ctx, cfg.Tick)
			wg.Wait()
		}
	}()
	rg.log.Info("serving", "url", rg.url, "data", cfg.DataDir, "restored", snap != nil)
	return rg, nil
}

// saveRetry is how often a region whose last save failed tries again.
const saveRetry = time.Second

// urlHost formats a listener's address for a URL: loopback and concrete
// addresses as they are, an unspecified one as 127.0.0.1.
func urlHost(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	ip := tcp.IP
	if ip == nil || ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
	}
	return net.JoinHostPort(ip.String(), fmt.Sprint(tcp.Port))
}

// onRemoteUpdate is the engine's hook: a peer's message changed an object.
func (rg *region) onRemoteUpdate(object string) {
	rg.remoteGen.Add(1)
}

// tookRemote follows a peer's message that changed something (handed to
// the engine by Receive): the page's feed learns which to-dos changed and
// its readers are told, then the change is journaled (the engine's
// SaveOps holds what peers sent as well as local ops), before the message
// is answered. The page may show a peer's change a moment before it is
// saved here: a crash in that moment loses nothing acknowledged, since the
// peer sent it only once saved itself, and the two regions catch up on it
// when they next talk. Saving first would put a second disk sync between
// a write and its showing in the other region.
func (rg *region) tookRemote() error {
	rg.feed.scan()
	rg.events.publish("remote")
	return rg.saveRemote()
}

// saveBeforeSend saves what the engine holds and the disk does not, if
// anything, before a message leaves: the message may tell the peer of it.
// A vote on a retirement above all: Receive makes it and pokes the Run
// loop, whose tick may send it before the handler that called Receive
// saves it (see received), and the region's own ticks make the votes and
// installs of the retirements it proposes; a vote the peer counted and a
// kill -9 lost lets two processes under one region name each have a
// different retirement agreed at one place. With nothing new, it writes
// nothing. While saving fails, nothing leaves (the engine sends again).
func (rg *region) saveBeforeSend() error {
	rg.mu.Lock()
	defer rg.mu.Unlock()
	if rg.stopped {
		return errStopped
	}
	return rg.noteSave(rg.saveWriteLocked())
}

// received follows every peer's message handed to the engine by Receive,
// gen being remoteGen before the call: tookRemote if the message changed
// a to-do, and otherwise a save all the same, before the message is
// answered. A message that changes no value can still change what only
// the disk keeps across a crash: a vote on the retirement of a peer's
// finished writer (which only a snapshot holds: SaveOps asks for one), an
// installed retirement, or what an object has seen (a remove of an
// element never held here), on which changes received later build. With
// nothing new, the save writes nothing.
func (rg *region) received(gen uint64) error {
	if f := rg.onReceived.Load(); f != nil {
		(*f)()
	}
	if rg.remoteGen.Load() != gen {
		return rg.tookRemote()
	}
	return rg.saveRemote()
}

// The journal is folded into a new snapshot once it holds maxJournal
// records, or as many bytes as the last snapshot (at least
// minJournalBytes): a snapshot then costs, spread over the writes since
// the last one, about what those writes cost themselves, and a restart
// reads at most about twice the snapshot.
const (
	maxJournal      = 4096
	minJournalBytes = 256 << 10
)

// journalFull reports whether the journal should be folded into a
// snapshot. The caller holds rg.mu.
func (rg *region) journalFull() bool {
	return rg.journalLen >= maxJournal || rg.journalBytes >= max(rg.snapBytes, minJournalBytes)
}

// saveRemote journals what peers changed since the last save, as
// saveWriteLocked does for a local write.
func (rg *region) saveRemote() error {
	rg.mu.Lock()
	defer rg.mu.Unlock()
	if rg.stopped {
		return errStopped
	}
	// Every change counted in remoteGen so far is in the engine, so the
	// save below covers it.
	gen := rg.remoteGen.Load()
	if err := rg.noteSave(rg.saveWriteLocked()); err != nil {
		return err
	}
	if gen > rg.savedGen.Load() {
		rg.savedGen.Store(gen)
	}
	return nil
}

// persist saves a snapshot of the engine, which empties the journal. It
// is called at start, at shutdown, and when the journal is full.
func (rg *region) persist() error {
	rg.mu.Lock()
	defer rg.mu.Unlock()
	return rg.persistLocked()
}

func (rg *region) persistLocked() error {
	if rg.stopped {
		return errStopped
	}
	size := 0
	err := rg.replica.SaveSnapshot(func(snap []byte) error {
		size = len(snap)
		return rg.store.save(snap)
	})
	if err != nil {
		return err
	}
	rg.journalLen, rg.journalBytes, rg.snapBytes = 0, 0, size
	return nil
}

// saveWriteLocked saves a local write before it is acknowledged: its ops
// go to the journal (a write costs what it changed, not the whole state),
// or, when the journal is long or cannot continue, a snapshot is saved.
func (rg *region) saveWriteLocked() error {
	if rg.journalFull() {
		return rg.persistLocked()
	}
	err := rg.replica.SaveOps(func(rec []byte) error {
		if err := rg.store.appendRecord(rec); err != nil {
			return err
		}
		rg.journalLen++
		rg.journalBytes += len(rec)
		return nil
	})
	if errors.Is(err, crdt.ErrSnapshotNeeded) || errors.Is(err, crdt.ErrNoSnapshot) {
		return rg.persistLocked()
	}
	return err
}

// noteSave records the outcome of a save (err, nil if it succeeded) for
// /healthz and the metrics, and returns err. The caller holds rg.mu.
func (rg *region) noteSave(err error) error {
	if err != nil {
		if rg.saveErr == nil {
			rg.log.Error("saving failed: changes are applied here but not saved, nor sent to peers, until a save succeeds", "err", err)
		}
		rg.saveFailures.Add(1)
	} else if rg.saveErr != nil {
		rg.log.Info("saving works again: every change is saved")
	}
	rg.saveErr = err
	rg.saveFailing.Store(err != nil)
	return err
}

// retrySave saves what the last failed save left unsaved, and what the
// engine changed on its own since the last save (its ticks install the
// retirements it proposed, and vote for its own proposals: only a
// snapshot holds those); with nothing unsaved it writes nothing. It
// returns the error of the last save.
func (rg *region) retrySave() error {
	rg.mu.Lock()
	defer rg.mu.Unlock()
	if rg.stopped {
		return rg.saveErr
	}
	return rg.noteSave(rg.saveWriteLocked())
}

// retrySaves calls retrySave every interval until ctx ends.
func (rg *region) retrySaves(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = rg.retrySave()
		}
	}
}

// saveState returns the error of the last save (nil if it succeeded).
func (rg *region) saveState() error {
	rg.mu.Lock()
	defer rg.mu.Unlock()
	return rg.saveErr
}

// write runs f (a local change) and persists its result before returning,
// holding the write lock throughout; ids are the to-dos it changes (for
// the page's feed). If the last save failed, it first saves what that
// left unsaved, and refuses the write (errDiskFailing, nothing applied)
// if that fails too. If f's change cannot be saved, it stays applied
// (the engine cannot take it back) and the error wraps errUnsaved.
func (rg *region) write(f func() error, ids ...string) error {
	rg.mu.Lock()
	defer rg.mu.Unlock()
	if rg.stopped {
		return errStopped
	}
	if rg.saveErr != nil {
		if err := rg.noteSave(rg.saveWriteLocked()); err != nil {
			return fmt.Errorf("%w: %w", errDiskFailing, err)
		}
	}
	if err := f(); err != nil {
		if errors.Is(err, errNoChange) {
			return nil
		}
		return err
	}
	err := rg.noteSave(rg.saveWriteLocked())
	rg.feed.scan(ids...)
	rg.events.publish("local")
	if err != nil {
		return fmt.Errorf("%w: %w", errUnsaved, err)
	}
	return nil
}

// tick runs one round of the engine (for tests that drive time by hand).
func (rg *region) tick(ctx context.Context) error { return rg.replica.Tick(ctx) }

// crash stops the region the way a crash would: the server drops every
// connection, the ticker stops, and the store closes without a final
// snapshot. Only what was acknowledged (and so persisted) survives.
func (rg *region) crash() {
	rg.stopOnce.Do(func() {
		rg.mu.Lock()
		rg.stopped = true
		rg.mu.Unlock()
		_ = rg.srv.Close()
		rg.events.close()
		rg.runCancel()
		<-rg.runDone
		rg.closeLinks()
		_ = rg.store.close()
		rg.log.Info("crashed")
	})
}

// shutdown stops the region gracefully: it stops taking requests, lets the
// running ones finish, offers its peers what they lack one last time, and
// saves a final snapshot.
func (rg *region) shutdown(ctx context.Context) error {
	var err error
	rg.stopOnce.Do(func() {
		rg.events.close()
		err = rg.srv.Shutdown(ctx)
		rg.runCancel()
		<-rg.runDone
		// The final offer gets its own time, even if ctx ran out while
		// the requests in flight finished.
		tctx, cancel := context.WithTimeout(context.Background(), finalOffer)
		_ = rg.replica.Tick(tctx)
		cancel()
		rg.mu.Lock()
		err = errors.Join(err, rg.persistLocked())
		rg.stopped = true
		rg.mu.Unlock()
		rg.closeLinks()
		err = errors.Join(err, rg.store.close())
		rg.log.Info("stopped")
	})
	return err
}

// finalOffer bounds the shutdown's last offer to the peers.
const finalOffer = 2 * time.Second

// closeLinks stops replication: it drops idle HTTP connections and, over
// NATS, unsubscribes and waits for the messages being taken in.
func (rg *region) closeLinks() {
	if rg.nl != nil {
		rg.nl.close()
	}
	rg.tr.close()
}

// refusalKey labels a count of refused replication requests.
type refusalKey struct{ peer, reason string }

// countRefusal counts a replication request refused before the engine
// saw it, by reason, under the claimed sender if it is a peer, else under
// "unknown" (so that strangers cannot grow the metrics).
func (rg *region) countRefusal(claimed, reason string) {
	label := "unknown"
	if _, ok := rg.cfg.Peers[crdt.ReplicaID(claimed)]; ok {
		label = claimed
	}
	v, _ := rg.authRefused.LoadOrStore(refusalKey{label, reason}, new(atomic.Uint64))
	v.(*atomic.Uint64).Add(1)
}

// broker fans change notifications out to the page's event streams.
type broker struct {
	mu     sync.Mutex
	subs   map[chan string]struct{}
	done   chan struct{}
	closed bool
}

func newBroker() *broker {
	return &broker{subs: map[chan string]struct{}{}, done: make(chan struct{})}
}

// subscribe returns a channel of notifications (coalesced: a slow reader
// gets the latest) and a function to unsubscribe.
func (b *broker) subscribe() (<-chan string, func()) {
	ch := make(chan string, 1)
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.closed {
		b.subs[ch] = struct{}{}
	}
	return ch, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		delete(b.subs, ch)
	}
}

func (b *broker) publish(origin string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs {
		select {
		case ch <- origin:
		default:
		}
	}
}

func (b *broker) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.closed {
		b.closed = true
		close(b.done)
	}
}

// trimURL normalizes a peer's base URL.
func trimURL(s string) string { return strings.TrimRight(s, "/") }
