package main

import (
	"context"
	"crypto/ed25519"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/clock"
	"github.com/nats-io/nats.go"
)

//go:embed web/index.html
var webFS embed.FS

func servePage(w http.ResponseWriter, r *http.Request) {
	page, err := webFS.ReadFile("web/index.html")
	if err != nil {
		writeError(w, http.StatusInternalServerError, "page missing: %v", err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'")
	_, _ = w.Write(page)
}

// consoleRegion is what the page learns of one region.
type consoleRegion struct {
	Name string `json:"name"`
	Base string `json:"base"` // prefix of the region's API on the page's server
	URL  string `json:"url"`  // the region's own address
	Up   bool   `json:"up"`
}

type consoleState struct {
	Control bool            `json:"control"` // stop, restart and link controls are available
	LinkCut bool            `json:"link_cut"`
	Regions []consoleRegion `json:"regions"`
	// Peers are the region's peers in single-region mode, whose
	// agreement the page shows and whose link it pauses.
	Peers []peerLink `json:"peers,omitempty"`
}

// consoleState answers the page in single-region mode: one region, no
// stop or restart controls, and its peers with their links.
func (rg *region) consoleState(w http.ResponseWriter, r *http.Request) {
	st := consoleState{Regions: []consoleRegion{{
		Name: string(rg.cfg.Name), Base: "", URL: rg.url, Up: true,
	}}}
	for _, p := range slices.Sorted(maps.Keys(rg.cfg.Peers)) {
		st.Peers = append(st.Peers, peerLink{Peer: string(p), Paused: rg.pausedTo(p)})
	}
	writeJSON(w, http.StatusOK, st)
}

// consoleConfig configures embedded mode.
type consoleConfig struct {
	Listen  string                    // the page's address; "" means 127.0.0.1:0
	Regions []crdt.ReplicaID          // at least two
	Addrs   map[crdt.ReplicaID]string // fixed region addresses; others get 127.0.0.1:0
	DataDir string                    // each region keeps its data (and key) in DataDir/NAME
	Tick    time.Duration
	Clock   clock.Source
	Logger  *slog.Logger
	// AllowHosts are extra Host names the page's server answers.
	AllowHosts []string
	// Limits bound every server; zero fields take defaultLimits.
	Limits serverLimits
	// Delay is added before every replication message (a simulated WAN).
	Delay time.Duration
	// Recover is regionConfig.Recover for every region.
	Recover bool
	// NATSURL, if set, is the NATS server the regions replicate through
	// (each with its own connection) instead of HTTP; NATSPrefix is the
	// subject prefix.
	NATSURL, NATSPrefix string
}

// console runs several regions in one process and serves the page that
// shows them side by side, with controls to cut and heal the link between
// them and to stop (like a crash) and restart each.
type console struct {
	cfg     consoleConfig
	cut     atomic.Bool
	srv     *http.Server
	url     string
	mu      sync.Mutex
	regions map[crdt.ReplicaID]*slot
	conns   []*nats.Conn // the regions' NATS connections, closed last
}

type slot struct {
	cfg   regionConfig  // Listen holds the address the region keeps across restarts
	held  *heldListener // the address's socket, held while the region is stopped too
	url   string
	rg    *region // nil while stopped
	proxy http.Handler
}

func startConsole(cfg consoleConfig) (_ *console, err error) {
	if len(cfg.Regions) < 2 {
		return nil, errors.New("embedded mode needs at least two regions")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := &console{cfg: cfg, regions: map[crdt.ReplicaID]*slot{}}
	defer func() {
		if err != nil {
			c.crashAll()
		}
	}()

	// Listen first, so that every region knows its peers' addresses.
	listeners := map[crdt.ReplicaID]net.Listener{}
	defer func() {
		for _, ln := range listeners {
			_ = ln.Close()
		}
	}()
	urls := map[crdt.ReplicaID]string{}
	for _, name := range cfg.Regions {
		addr := cfg.Addrs[name]
		if addr == "" {
			addr = "127.0.0.1:0"
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("region %s: %w", name, err)
		}
		listeners[name] = ln
		urls[name] = "http://" + urlHost(ln.Addr())
	}
	keys := map[crdt.ReplicaID]ed25519.PrivateKey{}
	for _, name := range cfg.Regions {
		if keys[name], err = loadOrCreateKey(filepath.Join(cfg.DataDir, string(name))); err != nil {
			return nil, fmt.Errorf("region %s: %w", name, err)
		}
	}
	for _, name := range cfg.Regions {
		peers := map[crdt.ReplicaID]string{}
		peerKeys := map[crdt.ReplicaID]ed25519.PublicKey{}
		for _, other := range cfg.Regions {
			if other != name {
				peers[other] = urls[other]
				peerKeys[other] = keys[other].Public().(ed25519.PublicKey)
			}
		}
		var nc *nats.Conn
		if cfg.NATSURL != "" {
			if nc, err = connectNATS(cfg.NATSURL, name, cfg.Logger); err != nil {
				return nil, fmt.Errorf("region %s: %w", name, err)
			}
			c.conns = append(c.conns, nc)
		}
		target, _ := url.Parse(urls[name])
		s := &slot{
			url: urls[name],
			cfg: regionConfig{
				Name:     name,
				Listen:   listeners[name].Addr().String(),
				Peers:    peers,
				DataDir:  filepath.Join(cfg.DataDir, string(name)),
				Key:      keys[name],
				PeerKeys: peerKeys,
				Limits:   cfg.Limits,
				Delay:    cfg.Delay,
				Recover:  cfg.Recover,
				Tick:     cfg.Tick,
				Clock:    cfg.Clock,
				Blocked:  func(crdt.ReplicaID) bool { return c.cut.Load() },
				Logger:   cfg.Logger,

				NATS:       nc,
				NATSPrefix: cfg.NATSPrefix,
			},
			proxy: regionProxy(name, target, cfg.Logger),
		}
		s.held = holdListener(listeners[name])
		delete(listeners, name) // the slot holds it now, even on error
		c.regions[name] = s
		if s.rg, err = s.start(); err != nil {
			return nil, fmt.Errorf("region %s: %w", name, err)
		}
	}

	ln, err := net.Listen("tcp", orDefault(cfg.Listen, "127.0.0.1:0"))
	if err != nil {
		return nil, fmt.Errorf("page server: %w", err)
	}
	c.url = "http://" + urlHost(ln.Addr())
	limits := cfg.Limits.orDefault()
	c.srv = newServer(newGuard(c.handler(), allowedHosts(ln.Addr(), cfg.AllowHosts), limits), limits)
	c.srv.ErrorLog = slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug)
	go func() { _ = c.srv.Serve(ln) }()
	return c, nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// regionProxy forwards the page's requests for one region to its server.
// The page's server has checked the request's origin (see guard); the
// forwarded request goes to the region's own address, so it drops the
// page's Origin, which the region would see as another origin.
func regionProxy(name crdt.ReplicaID, target *url.URL, logger *slog.Logger) http.Handler {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Header.Del("Origin")
			pr.Out.Header.Del("Sec-Fetch-Site")
		},
		FlushInterval: -1,
		ErrorLog:      slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			writeError(w, http.StatusBadGateway, "region %s is down", name)
		},
	}
}

func (c *console) handler() http.Handler {
	mux := http.NewServeMux()
	route(mux, "/{$}", map[string]http.HandlerFunc{http.MethodGet: servePage})
	route(mux, "/console/state", map[string]http.HandlerFunc{http.MethodGet: c.serveState})
	route(mux, "/console/link", map[string]http.HandlerFunc{http.MethodPost: c.serveLink})
	route(mux, "/console/regions/{name}/stop", map[string]http.HandlerFunc{http.MethodPost: c.serveStop})
	route(mux, "/console/regions/{name}/start", map[string]http.HandlerFunc{http.MethodPost: c.serveStart})
	mux.HandleFunc("/r/{name}/", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		c.mu.Lock()
		s := c.regions[crdt.ReplicaID(name)]
		c.mu.Unlock()
		if s == nil {
			writeError(w, http.StatusNotFound, "no region %q", name)
			return
		}
		if isStream(r) {
			streamDeadlines(w)
		}
		http.StripPrefix("/r/"+name, s.proxy).ServeHTTP(w, r)
	})
	mux.HandleFunc("/", notFound)
	return mux
}

func (c *console) state() consoleState {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := consoleState{Control: true, LinkCut: c.cut.Load()}
	for _, name := range c.cfg.Regions {
		s := c.regions[name]
		st.Regions = append(st.Regions, consoleRegion{
			Name: string(name), Base: "/r/" + string(name), URL: s.url, Up: s.rg != nil,
		})
	}
	return st
}

func (c *console) serveState(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, c.state())
}

func (c *console) serveLink(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Cut *bool `json:"cut"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	if req.Cut == nil {
		writeError(w, http.StatusBadRequest, `give "cut": true or false`)
		return
	}
	c.setCut(*req.Cut)
	writeJSON(w, http.StatusOK, c.state())
}

// setCut cuts (true) or heals (false) the link between every pair of
// regions: while cut, every replication message fails to send.
func (c *console) setCut(cut bool) {
	c.cut.Store(cut)
	c.cfg.Logger.Info("link", "cut", cut)
}

func (c *console) serveStop(w http.ResponseWriter, r *http.Request) {
	if err := c.stop(crdt.ReplicaID(r.PathValue("name"))); err != nil {
		writeError(w, http.StatusNotFound, "%v", err)
		return
	}
	writeJSON(w, http.StatusOK, c.state())
}

func (c *console) serveStart(w http.ResponseWriter, r *http.Request) {
	if err := c.start(crdt.ReplicaID(r.PathValue("name"))); err != nil {
		status := http.StatusConflict
		if errors.Is(err, errNoRegion) {
			status = http.StatusNotFound
		}
		writeError(w, status, "%v", err)
		return
	}
	writeJSON(w, http.StatusOK, c.state())
}

var errNoRegion = errors.New("no such region")

// stop crashes a region (see region.crash); stopping a stopped region
// does nothing.
func (c *console) stop(name crdt.ReplicaID) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.regions[name]
	if s == nil {
		return fmt.Errorf("%w: %q", errNoRegion, name)
	}
	if s.rg != nil {
		// Under the lock, so that a start right after finds the address
		// and the data directory free.
		s.rg.crash()
		s.rg = nil
	}
	return nil
}

// start restarts a stopped region on its data directory and address;
// starting a running region does nothing.
func (c *console) start(name crdt.ReplicaID) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.regions[name]
	if s == nil {
		return fmt.Errorf("%w: %q", errNoRegion, name)
	}
	if s.rg != nil {
		return nil
	}
	rg, err := s.start()
	if err != nil {
		return fmt.Errorf("restarting %s: %w", name, err)
	}
	s.rg = rg
	return nil
}

// start starts the slot's region on its data directory, serving on its
// held address.
func (s *slot) start() (*region, error) {
	cfg := s.cfg
	ln := s.held.view()
	cfg.listener = ln
	rg, err := startRegion(cfg)
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	return rg, nil
}

// region returns a running region, or nil.
func (c *console) region(name crdt.ReplicaID) *region {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.regions[name]; s != nil {
		return s.rg
	}
	return nil
}

// shutdown stops the page server and every region gracefully.
func (c *console) shutdown(ctx context.Context) error {
	// Regions first: that ends the event streams the page server proxies.
	var errs []error
	c.mu.Lock()
	for _, name := range c.cfg.Regions {
		if s := c.regions[name]; s != nil && s.rg != nil {
			errs = append(errs, s.rg.shutdown(ctx))
			s.rg = nil
		}
	}
	c.mu.Unlock()
	if c.srv != nil {
		errs = append(errs, c.srv.Shutdown(ctx))
	}
	c.release()
	c.closeConns()
	return errors.Join(errs...)
}

// crashAll stops what startConsole started, on its error path.
func (c *console) crashAll() {
	if c.srv != nil {
		_ = c.srv.Close()
	}
	for _, s := range c.regions {
		if s.rg != nil {
			s.rg.crash()
		}
	}
	c.release()
	c.closeConns()
}

// release closes the regions' addresses, once the regions are stopped.
func (c *console) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.regions {
		if s.held != nil {
			s.held.close()
		}
	}
}

// closeConns closes the regions' NATS connections.
func (c *console) closeConns() {
	for _, nc := range c.conns {
		nc.Close()
	}
	c.conns = nil
}
