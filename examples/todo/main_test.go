package main

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// lines is an io.Writer that hands each complete line to a channel.
type lines struct {
	mu  sync.Mutex
	buf []byte
	ch  chan string
}

func newLines() *lines { return &lines{ch: make(chan string, 100)} }

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := strings.IndexByte(string(l.buf), '\n')
		if i < 0 {
			return len(p), nil
		}
		select {
		case l.ch <- string(l.buf[:i]):
		default:
		}
		l.buf = l.buf[i+1:]
	}
}

// waitLine returns the first line containing substr, or fails after a
// deadline.
func (l *lines) waitLine(t *testing.T, substr string) string {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case line := <-l.ch:
			if strings.Contains(line, substr) {
				return line
			}
		case <-deadline:
			t.Fatalf("no line with %q", substr)
		}
	}
}

func noEnv(string) string { return "" }

var westKeyHex = hex.EncodeToString(testPublic(west))

// TestPrintKey: -print-key makes the region's key once and prints its
// public half, the same every time, in the form -peer-key takes.
func TestPrintKey(t *testing.T) {
	dir := t.TempDir()
	var out1, out2 strings.Builder
	for _, out := range []*strings.Builder{&out1, &out2} {
		if err := run(t.Context(), []string{"-region", "eu-west-1", "-data", dir, "-print-key"}, noEnv, out, io.Discard); err != nil {
			t.Fatal(err)
		}
	}
	line := strings.TrimSpace(out1.String())
	name, key, ok := strings.Cut(line, "=")
	if !ok || name != "eu-west-1" || out1.String() != out2.String() {
		t.Fatalf("printed %q, then %q", out1.String(), out2.String())
	}
	if _, err := parsePublicKey(key); err != nil {
		t.Fatal(err)
	}
	priv, err := loadOrCreateKey(dir)
	if err != nil || publicKeyHex(priv) != key {
		t.Fatalf("key file holds %v (%v), printed %s", priv, err, key)
	}
	if fi, err := os.Stat(filepath.Join(dir, keyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v", fi, err)
	}
}

func TestFlagErrors(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string // in the error or on stderr
	}{
		{"peer without a key", []string{"-region", "us-east-1", "-data", dir, "-peer", "eu-west-1=http://127.0.0.1:1"}, nil, "needs -peer-key eu-west-1=KEY"},
		{"key without a peer", []string{"-region", "us-east-1", "-data", dir, "-peer-key", "eu-west-1=" + westKeyHex}, nil, "no -peer eu-west-1"},
		{"bad peer key", []string{"-region", "us-east-1", "-data", dir, "-peer", "eu-west-1=http://127.0.0.1:1", "-peer-key", "eu-west-1=abc"}, nil, "not a public key"},
		{"print-key without region", []string{"-print-key"}, nil, "-print-key needs -region"},
		{"delay with region", []string{"-region", "us-east-1", "-data", dir, "-delay", "1s"}, nil, "-delay is for embedded mode"},
		{"negative delay", []string{"-delay", "-1s"}, nil, "must not be negative"},
		{"region without data", []string{"-region", "us-east-1"}, nil, "needs -data"},
		{"bad region name", []string{"-region", "us east", "-data", dir}, nil, "region name"},
		{"peer without region", []string{"-peer", "eu-west-1=http://127.0.0.1:1"}, nil, "-peer and -peer-key need -region"},
		{"peer not a URL", []string{"-region", "us-east-1", "-data", dir, "-peer", "eu-west-1=127.0.0.1:1"}, nil, "not an http(s)"},
		{"peer not NAME=URL", []string{"-region", "us-east-1", "-data", dir, "-peer", "eu-west-1"}, nil, "NAME=VALUE"},
		{"peer twice", []string{"-region", "us-east-1", "-data", dir, "-peer", "a=http://x:1", "-peer", "a=http://x:2"}, nil, "given twice"},
		{"self as peer", []string{"-region", "us-east-1", "-data", dir, "-peer", "us-east-1=http://x:1"}, nil, "not its own peer"},
		{"addr of an unknown region", []string{"-addr", "ap-south-1=127.0.0.1:0"}, nil, "embedded regions are"},
		{"addr with region", []string{"-region", "us-east-1", "-data", dir, "-addr", "us-east-1=127.0.0.1:0"}, nil, "-addr is for embedded mode"},
		{"bad tick", []string{"-tick", "0s"}, nil, "-tick must be positive"},
		{"stray argument", []string{"extra"}, nil, "unexpected argument"},
		{"unknown flag", []string{"-nope"}, nil, "flag provided but not defined"},
		{"nats not a URL", []string{"-nats", "127.0.0.1:4222"}, nil, "give a nats://host:port URL"},
		{"nats with delay", []string{"-nats", "embedded", "-delay", "1s"}, nil, "does not apply with -nats"},
		{"nats-prefix without nats", []string{"-nats-prefix", "x"}, nil, "-nats-prefix needs -nats"},
		{"nats-listen without nats", []string{"-region", "us-east-1", "-data", dir, "-nats-listen", "127.0.0.1:1"}, nil, "-nats-listen needs -nats"},
		{"nats-listen with a URL", []string{"-region", "us-east-1", "-data", dir, "-nats", "nats://127.0.0.1:1", "-nats-listen", "127.0.0.1:1"}, nil, "-nats-listen is for -nats embedded"},
		{"nats-listen without region", []string{"-nats", "embedded", "-nats-listen", "127.0.0.1:1"}, nil, "-nats-listen is for -region"},
		{"bad nats prefix", []string{"-nats", "embedded", "-nats-prefix", "a.*"}, nil, "-nats-prefix"},
		{"nats region name with a dot", []string{"-region", "us.east", "-data", dir, "-nats", "embedded"}, nil, "no '.' over NATS"},
		{"nats server not on loopback", []string{"-region", "us-east-1", "-data", dir, "-nats", "embedded", "-nats-listen", "0.0.0.0:0"}, nil, "loopback IP only"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			getenv := func(k string) string { return tc.env[k] }
			err := run(t.Context(), tc.args, getenv, &stdout, &stderr)
			if err == nil {
				t.Fatal("run succeeded")
			}
			if msg := err.Error() + stderr.String(); !strings.Contains(msg, tc.want) {
				t.Fatalf("error %q, stderr %q; want %q", err, stderr.String(), tc.want)
			}
		})
	}
}

func TestRunSingleRegion(t *testing.T) {
	dir := t.TempDir()
	out := newLines()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-region", "us-east-1", "-data", dir, "-peer", "eu-west-1=http://127.0.0.1:1",
			"-peer-key", "eu-west-1=" + westKeyHex}, noEnv, out, &strings.Builder{})
	}()
	line := out.waitLine(t, "serving on ")
	base := strings.Fields(line[strings.Index(line, "serving on ")+len("serving on "):])[0]
	if !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Fatalf("serving on %q, want loopback", base)
	}
	td := createTodo(t, base, "single")
	r := do(t, "GET", base+"/", "")
	mustStatus(t, r, 200)
	if !strings.Contains(string(r.body), "<title>Active-active to-dos</title>") {
		t.Fatal("no page at /")
	}
	st := decode[consoleState](t, do(t, "GET", base+"/console/state", ""))
	if st.Control || len(st.Regions) != 1 || st.Regions[0].Name != "us-east-1" || st.Regions[0].Base != "" {
		t.Fatalf("console state %+v", st)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}

	// A graceful restart keeps the data.
	ctx, cancel = context.WithCancel(t.Context())
	defer cancel()
	out = newLines()
	go func() {
		done <- run(ctx, []string{"-region", "us-east-1", "-data", dir}, noEnv, out, &strings.Builder{})
	}()
	line = out.waitLine(t, "serving on ")
	base = strings.Fields(line[strings.Index(line, "serving on ")+len("serving on "):])[0]
	if l := listTodos(t, base); len(l) != 1 || l[0] != td {
		t.Fatalf("after restart: %+v, want [%+v]", l, td)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}

func TestRunEmbedded(t *testing.T) {
	out := newLines()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-delay", "20ms"}, noEnv, out, &strings.Builder{}) }()
	dataLine := out.waitLine(t, "data in ")
	data := strings.Fields(strings.TrimPrefix(dataLine, "data in "))[0]
	line := out.waitLine(t, "Open ")
	page := strings.Fields(strings.TrimPrefix(line, "Open "))[0]

	st := decode[consoleState](t, do(t, "GET", page+"console/state", ""))
	if !st.Control || len(st.Regions) != 2 || st.Regions[0].Name != "us-east-1" || st.Regions[1].Name != "eu-west-1" {
		t.Fatalf("console state %+v", st)
	}
	// The regions replicate by themselves (the runner ticks): wait for the
	// page's server to show the item in the other region, by its events.
	events := openEvents(t, page+"r/eu-west-1/api/events")
	events.next(t) // the opening event
	td := createTodo(t, page+"r/us-east-1", "embedded")
	for {
		events.next(t)
		if l := listTodos(t, page+"r/eu-west-1"); len(l) == 1 && l[0] == td {
			break
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary data directory %s left behind (%v)", data, err)
	}
	if _, err := http.Get(page); err == nil {
		t.Error("the page server still answers after shutdown")
	}
}
