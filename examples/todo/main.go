// Command todo is a to-do app that runs active-active in two regions,
// replicating through the crdt library's engine over HTTP. Every region
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
//	TODO_SECRET=... todo -region us-east-1 -listen 127.0.0.1:8001 \
//	    -peer eu-west-1=http://127.0.0.1:8002 -data /var/lib/todo
//
// See README.md for the HTTP API and the conflict rules.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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

// minSecret is the shortest shared secret accepted.
const minSecret = 16

// options are the command-line flags.
type options struct {
	region  string
	listen  string
	peers   map[crdt.ReplicaID]string
	addrs   map[crdt.ReplicaID]string
	data    string
	secret  string
	tick    time.Duration
	verbose bool
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
	o := &options{peers: map[crdt.ReplicaID]string{}, addrs: map[crdt.ReplicaID]string{}}
	fs := flag.NewFlagSet("todo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage:
  todo [-listen ADDR] [-data DIR] [-addr NAME=ADDR]...
        two regions (us-east-1, eu-west-1) in one process, and a page at ADDR
  todo -region NAME -data DIR [-listen ADDR] [-peer NAME=URL]... [-secret S]
        one region; its peers run elsewhere

The shared secret that authenticates replication comes from -secret or the
TODO_SECRET environment variable (prefer the variable: flags show in ps).

flags:
`)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.region, "region", "", "run one region with this `name` (default: two regions in one process)")
	fs.StringVar(&o.listen, "listen", "127.0.0.1:0", "`address` to serve on: the region's API (with -region) or the page (without)")
	fs.Var(&pairFlag{m: o.peers, check: checkPeerURL}, "peer", "a peer region as `NAME=URL` (repeatable; with -region)")
	fs.Var(&pairFlag{m: o.addrs, check: func(_, v string) (string, error) { return v, nil }}, "addr",
		"fixed address of an embedded region as `NAME=ADDR` (repeatable; default: a free loopback port)")
	fs.StringVar(&o.data, "data", "", "data `directory` (default without -region: a temporary one, removed on exit)")
	fs.StringVar(&o.secret, "secret", "", "shared `secret` that authenticates replication (default: $TODO_SECRET)")
	fs.DurationVar(&o.tick, "tick", 100*time.Millisecond, "replication tick `interval`")
	fs.BoolVar(&o.verbose, "v", false, "log debug messages")
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
	if o.region == "" {
		if len(o.peers) > 0 {
			return nil, usage("-peer needs -region (without -region, both regions run in this process)")
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
	return o, nil
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
	secret := o.secret
	if secret == "" {
		secret = getenv("TODO_SECRET")
	}
	if o.region != "" {
		return runRegion(ctx, o, secret, logger, stdout)
	}
	return runEmbedded(ctx, o, secret, logger, stdout)
}

func runRegion(ctx context.Context, o *options, secret string, logger *slog.Logger, stdout io.Writer) error {
	if len(o.peers) > 0 && secret == "" {
		return fmt.Errorf("region %s has peers but no shared secret: pass -secret or set TODO_SECRET (the same on every region)", o.region)
	}
	if secret != "" && len(secret) < minSecret {
		return fmt.Errorf("the shared secret is too short: use at least %d characters", minSecret)
	}
	rg, err := startRegion(regionConfig{
		Name:      crdt.ReplicaID(o.region),
		Listen:    o.listen,
		Peers:     o.peers,
		DataDir:   o.data,
		Secret:    []byte(secret),
		Tick:      o.tick,
		ServePage: true,
		Logger:    logger,
	})
	if err != nil {
		return fmt.Errorf("region %s: %w", o.region, err)
	}
	fmt.Fprintf(stdout, "%s serving on %s (data in %s)\n", o.region, rg.url, o.data)
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return rg.shutdown(sctx)
}

func runEmbedded(ctx context.Context, o *options, secret string, logger *slog.Logger, stdout io.Writer) (err error) {
	if secret == "" {
		var b [32]byte
		_, _ = rand.Read(b[:])
		secret = hex.EncodeToString(b[:])
	} else if len(secret) < minSecret {
		return fmt.Errorf("the shared secret is too short: use at least %d characters", minSecret)
	}
	data, temp := o.data, o.data == ""
	if temp {
		if data, err = os.MkdirTemp("", "todo-"); err != nil {
			return err
		}
		defer func() { err = errors.Join(err, os.RemoveAll(data)) }()
	}
	c, err := startConsole(consoleConfig{
		Listen:  o.listen,
		Regions: embeddedRegions,
		Addrs:   o.addrs,
		DataDir: data,
		Secret:  []byte(secret),
		Tick:    o.tick,
		Logger:  logger,
	})
	if err != nil {
		return err
	}
	for _, r := range c.state().Regions {
		fmt.Fprintf(stdout, "%s serving on %s\n", r.Name, r.URL)
	}
	note := ""
	if temp {
		note = " (temporary: pass -data DIR to keep it)"
	}
	fmt.Fprintf(stdout, "data in %s%s\n\nOpen %s/ to see both regions side by side. Ctrl-C stops.\n", data, note, c.url)
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.shutdown(sctx)
}
