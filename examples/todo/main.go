// Command todo is a to-do app that runs active-active in two regions,
// replicating through the crdt library's engine over HTTP or NATS. Every region
// takes writes; cut the link between them, write on both sides, heal it,
// and watch them converge.
//
// With no flags it starts two regions, us-east-1 and eu-west-1, in one
// process, each with its own HTTP server on loopback and its own data
// directory, and prints the URL of a page that shows both side by side:
//
//	go run ./examples/todo
//
// With -region it runs one region per process, so regions can live on
// different machines:
//
//	todo -region us-east-1 -listen 127.0.0.1:8001 -data /var/lib/todo \
//	    -peer eu-west-1=http://127.0.0.1:8002 -peer-key eu-west-1=HEX
//
// Each region signs its replication messages with its own key, kept in its
// data directory; -print-key shows the public half, which its peers take
// with -peer-key.
//
// With -nats the regions replicate through a NATS server instead of HTTP:
// -nats nats://HOST:PORT names one, and -nats embedded starts one in this
// process on loopback (with -region, on -nats-listen, for the other
// regions to connect to):
//
//	go run ./examples/todo -nats embedded
//
// See README.md for the HTTP API and the conflict rules.
package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/activeactive/crdt"
	"github.com/nats-io/nats.go"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "todo:", err)
		os.Exit(1)
	}
}

// errUsage marks errors in the command line (already reported).
var errUsage = errors.New("usage")

// The regions of embedded mode.
var embeddedRegions = []crdt.ReplicaID{"us-east-1", "eu-west-1"}

// options are the command-line flags.
type options struct {
	region     string
	listen     string
	peers      map[crdt.ReplicaID]string
	peerKeys   map[crdt.ReplicaID]string
	addrs      map[crdt.ReplicaID]string
	allowHosts stringsFlag
	data       string
	printKey   bool
	recover    bool
	tick       time.Duration
	delay      time.Duration
	verbose    bool
	// nats is "" (replicate over HTTP), "embedded" (start a NATS server
	// in this process) or a NATS server URL.
	nats       string
	natsPrefix string
	natsListen string
}

// natsEmbedded is the -nats value that starts a NATS server in-process.
const natsEmbedded = "embedded"

// defaultNATSPrefix is the default of -nats-prefix.
const defaultNATSPrefix = "crdt.todo"

// defaultNATSListen is the default of -nats-listen.
const defaultNATSListen = "127.0.0.1:4222"

// stringsFlag collects a repeated flag.
type stringsFlag []string

func (s *stringsFlag) String() string { return strings.Join(*s, ",") }

func (s *stringsFlag) Set(v string) error {
	if v == "" || strings.ContainsAny(v, "/ ") {
		return fmt.Errorf("%q is not a host name", v)
	}
	*s = append(*s, v)
	return nil
}

// pairFlag collects repeated NAME=VALUE flags.
type pairFlag struct {
	m     map[crdt.ReplicaID]string
	check func(name, value string) (string, error)
}

func (p *pairFlag) String() string { return "" }

func (p *pairFlag) Set(s string) error {
	name, value, ok := strings.Cut(s, "=")
	if !ok || name == "" || value == "" {
		return fmt.Errorf("%q is not NAME=VALUE", s)
	}
	if err := checkName(name); err != nil {
		return err
	}
	if _, dup := p.m[crdt.ReplicaID(name)]; dup {
		return fmt.Errorf("%s given twice", name)
	}
	v, err := p.check(name, value)
	if err != nil {
		return err
	}
	p.m[crdt.ReplicaID(name)] = v
	return nil
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

func checkName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("region name %q: use 1 to 63 letters, digits, '.', '_' or '-'", name)
	}
	return nil
}

func checkPeerURL(name, s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("peer %s: %q is not an http(s)://host:port URL", name, s)
	}
	return trimURL(s), nil
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{peers: map[crdt.ReplicaID]string{}, peerKeys: map[crdt.ReplicaID]string{}, addrs: map[crdt.ReplicaID]string{}}
	fs := flag.NewFlagSet("todo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage:
  todo [-listen ADDR] [-data DIR] [-addr NAME=ADDR]... [-delay D]
        two regions (us-east-1, eu-west-1) in one process, and a page at ADDR
  todo -region NAME -data DIR [-listen ADDR] [-peer NAME=URL -peer-key NAME=KEY]...
        one region; its peers run elsewhere
  todo -region NAME -data DIR -print-key
        print the region's public key (as NAME=KEY, for its peers' -peer-key)

Add -nats URL to replicate through a NATS server instead of HTTP, or
-nats embedded to start one in this process (on loopback; with -region,
on -nats-listen, where the other regions connect with -nats URL).

Each region signs what it sends its peers with its own Ed25519 key, made on
first start in DIR/region.key (keep it secret; copy it with the data). A
peer is heard only with its public key (-peer-key), so no region can speak
for another. There is no shared secret.

flags:
`)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.region, "region", "", "run one region with this `name` (default: two regions in one process)")
	fs.StringVar(&o.listen, "listen", "127.0.0.1:0", "`address` to serve on: the region's API (with -region) or the page (without)")
	fs.Var(&pairFlag{m: o.peers, check: checkPeerURL}, "peer", "a peer region as `NAME=URL` (repeatable; with -region)")
	fs.Var(&pairFlag{m: o.peerKeys, check: func(name, v string) (string, error) {
		if _, err := parsePublicKey(v); err != nil {
			return "", fmt.Errorf("peer key of %s: %w", name, err)
		}
		return v, nil
	}}, "peer-key", "a peer's public key as `NAME=KEY` (repeatable; one for every -peer; see -print-key)")
	fs.BoolVar(&o.recover, "recover", false, "start past what a crash in the middle of a write can leave: a torn meta page of the store (go back to the transaction before), a damaged last journal record (drop it), or journal records missing in the middle (replay up to the gap); any other damage still stops the region")
	fs.BoolVar(&o.printKey, "print-key", false, "print the region's public key as NAME=KEY and exit (with -region and -data; makes the key if needed)")
	fs.Var(&o.allowHosts, "allow-host", "also answer requests for this `host` (name or name:port; repeatable): the name clients and peers use, when not loopback or the -listen address")
	fs.DurationVar(&o.delay, "delay", 0, "delay every replication message by this `duration` (embedded mode: simulates a WAN link, so lag shows)")
	fs.Var(&pairFlag{m: o.addrs, check: func(_, v string) (string, error) { return v, nil }}, "addr",
		"fixed address of an embedded region as `NAME=ADDR` (repeatable; default: a free loopback port)")
	fs.StringVar(&o.data, "data", "", "data `directory` (default without -region: a temporary one, removed on exit)")
	fs.DurationVar(&o.tick, "tick", 100*time.Millisecond, "replication tick `interval`")
	fs.BoolVar(&o.verbose, "v", false, "log debug messages")
	fs.StringVar(&o.nats, "nats", "", "replicate over NATS: a server `URL` (nats://host:port), or \"embedded\" to start a server in this process (default: HTTP)")
	fs.StringVar(&o.natsPrefix, "nats-prefix", defaultNATSPrefix, "NATS subject `prefix` (with -nats; the same for every region)")
	fs.StringVar(&o.natsListen, "nats-listen", defaultNATSListen, "loopback `address` of the NATS server started by -nats embedded with -region")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, errUsage
	}
	usage := func(format string, a ...any) error {
		fmt.Fprintf(stderr, "todo: "+format+"\n", a...)
		return errUsage
	}
	if fs.NArg() > 0 {
		return nil, usage("unexpected argument %q", fs.Arg(0))
	}
	if o.tick <= 0 {
		return nil, usage("-tick must be positive")
	}
	if o.delay < 0 {
		return nil, usage("-delay must not be negative")
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if err := checkNATSFlags(o, set); err != nil {
		return nil, usage("%v", err)
	}
	if o.region == "" {
		if len(o.peers) > 0 || len(o.peerKeys) > 0 {
			return nil, usage("-peer and -peer-key need -region (without -region, both regions run in this process)")
		}
		if o.printKey {
			return nil, usage("-print-key needs -region and -data")
		}
		for name := range o.addrs {
			if !isEmbedded(name) {
				return nil, usage("-addr %s: embedded regions are %s", name, joinIDs(embeddedRegions))
			}
		}
		return o, nil
	}
	if err := checkName(o.region); err != nil {
		return nil, usage("%v", err)
	}
	if len(o.addrs) > 0 {
		return nil, usage("-addr is for embedded mode; with -region use -listen")
	}
	if o.data == "" {
		return nil, usage("-region %s needs -data DIR: a region must keep its state to come back under its name", o.region)
	}
	if _, ok := o.peers[crdt.ReplicaID(o.region)]; ok {
		return nil, usage("-peer %s: a region is not its own peer", o.region)
	}
	if o.delay != 0 {
		return nil, usage("-delay is for embedded mode")
	}
	for name := range o.peers {
		if _, ok := o.peerKeys[name]; !ok {
			return nil, usage("-peer %s needs -peer-key %s=KEY (run todo -region %s -data DIR -print-key where it runs)", name, name, name)
		}
	}
	for name := range o.peerKeys {
		if _, ok := o.peers[name]; !ok {
			return nil, usage("-peer-key %s: no -peer %s", name, name)
		}
	}
	return o, nil
}

// checkNATSFlags checks the -nats flags against the others; set holds
// the flags given.
func checkNATSFlags(o *options, set map[string]bool) error {
	if o.nats == "" {
		for _, f := range []string{"nats-prefix", "nats-listen"} {
			if set[f] {
				return fmt.Errorf("-%s needs -nats", f)
			}
		}
		return nil
	}
	if o.nats != natsEmbedded {
		u, err := url.Parse(o.nats)
		if err != nil || (u.Scheme != "nats" && u.Scheme != "tls") || u.Host == "" {
			return fmt.Errorf("-nats %q: give a nats://host:port URL, or %q", o.nats, natsEmbedded)
		}
		if set["nats-listen"] {
			return fmt.Errorf("-nats-listen is for -nats %s (the server this process starts)", natsEmbedded)
		}
	}
	if set["nats-listen"] && o.region == "" {
		return fmt.Errorf("-nats-listen is for -region: without it, -nats %s listens on a free loopback port", natsEmbedded)
	}
	if o.delay != 0 {
		return errors.New("-delay slows the HTTP link; it does not apply with -nats")
	}
	if err := checkPrefix(o.natsPrefix); err != nil {
		return err
	}
	names := []string{o.region}
	for p := range o.peers {
		names = append(names, string(p))
	}
	for _, n := range names {
		if strings.Contains(n, ".") {
			return fmt.Errorf("region name %q: use no '.' over NATS (names are subject tokens)", n)
		}
	}
	return nil
}

// checkPrefix checks a -nats-prefix: dot-separated tokens of letters,
// digits, '_' and '-'.
func checkPrefix(p string) error {
	for tok := range strings.SplitSeq(p, ".") {
		if !prefixTokenRE.MatchString(tok) {
			return fmt.Errorf("-nats-prefix %q: use tokens of 1 to 63 letters, digits, '_' or '-', separated by '.'", p)
		}
	}
	return nil
}

var prefixTokenRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,63}$`)

// describeNATS describes the replication transport for the startup
// message.
func describeNATS(url, prefix string, embedded bool) string {
	s := fmt.Sprintf("replication over NATS at %s (subjects %s.*)", redactURL(url), prefix)
	if embedded {
		s += ", server in this process"
	}
	return s
}

func isEmbedded(name crdt.ReplicaID) bool {
	for _, n := range embeddedRegions {
		if n == name {
			return true
		}
	}
	return false
}

func joinIDs(ids []crdt.ReplicaID) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = string(id)
	}
	return strings.Join(s, ", ")
}

// run is the program: parse the flags, start, and serve until ctx is done.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	if o.verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if getenv("TODO_SECRET") != "" {
		logger.Warn("TODO_SECRET is ignored: each region now signs with its own key (see -print-key and -peer-key)")
	}
	if o.region != "" {
		return runRegion(ctx, o, logger, stdout)
	}
	return runEmbedded(ctx, o, logger, stdout)
}

func runRegion(ctx context.Context, o *options, logger *slog.Logger, stdout io.Writer) error {
	key, err := loadOrCreateKey(o.data)
	if err != nil {
		return fmt.Errorf("region %s: %w", o.region, err)
	}
	if o.printKey {
		fmt.Fprintf(stdout, "%s=%s\n", o.region, publicKeyHex(key))
		return nil
	}
	peerKeys := map[crdt.ReplicaID]ed25519.PublicKey{}
	for name, k := range o.peerKeys {
		peerKeys[name], _ = parsePublicKey(k) // checked by parseFlags
	}
	var nc *nats.Conn
	via := "replication over HTTP (POST /replicate)"
	if o.nats != "" {
		natsURL := o.nats
		if o.nats == natsEmbedded {
			ns, err := startNATSServer(o.natsListen)
			if err != nil {
				return fmt.Errorf("region %s: %w", o.region, err)
			}
			defer ns.stop()
			natsURL = ns.url
		}
		if nc, err = connectNATS(natsURL, crdt.ReplicaID(o.region), logger); err != nil {
			return fmt.Errorf("region %s: %w", o.region, err)
		}
		defer nc.Close()
		via = describeNATS(natsURL, o.natsPrefix, o.nats == natsEmbedded)
	}
	rg, err := startRegion(regionConfig{
		Name:       crdt.ReplicaID(o.region),
		Listen:     o.listen,
		Peers:      o.peers,
		PeerKeys:   peerKeys,
		Key:        key,
		AllowHosts: o.allowHosts,
		Recover:    o.recover,
		DataDir:    o.data,
		Tick:       o.tick,
		ServePage:  true,
		Logger:     logger,
		NATS:       nc,
		NATSPrefix: o.natsPrefix,
	})
	if err != nil {
		return fmt.Errorf("region %s: %w", o.region, err)
	}
	fmt.Fprintf(stdout, "%s serving on %s (data in %s)\n%s\n", o.region, rg.url, o.data, via)
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return rg.shutdown(sctx)
}

func runEmbedded(ctx context.Context, o *options, logger *slog.Logger, stdout io.Writer) (err error) {
	data, temp := o.data, o.data == ""
	if temp {
		if data, err = os.MkdirTemp("", "todo-"); err != nil {
			return err
		}
		defer func() { err = errors.Join(err, os.RemoveAll(data)) }()
	}
	natsURL, via := "", "replication over HTTP (POST /replicate)"
	if o.nats != "" {
		natsURL = o.nats
		if o.nats == natsEmbedded {
			ns, err := startNATSServer("127.0.0.1:0")
			if err != nil {
				return err
			}
			defer ns.stop()
			natsURL = ns.url
		}
		via = describeNATS(natsURL, o.natsPrefix, o.nats == natsEmbedded)
	}
	c, err := startConsole(consoleConfig{
		Listen:     o.listen,
		Regions:    embeddedRegions,
		Addrs:      o.addrs,
		DataDir:    data,
		Tick:       o.tick,
		Delay:      o.delay,
		AllowHosts: o.allowHosts,
		Recover:    o.recover,
		Logger:     logger,
		NATSURL:    natsURL,
		NATSPrefix: o.natsPrefix,
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, via)
	for _, r := range c.state().Regions {
		fmt.Fprintf(stdout, "%s API on %s\n", r.Name, r.URL)
	}
	note := ""
	if temp {
		note = " (temporary: pass -data DIR to keep it)"
	}
	fmt.Fprintf(stdout, "data in %s%s\n\nOpen %s/ in a browser: both regions side by side. Ctrl-C stops.\n", data, note, c.url)
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.shutdown(sctx)
}
