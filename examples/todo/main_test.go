package main

import (
	"context"
	"errors"
	"net/http"
	"os"
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

func TestFlagErrors(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string // in the error or on stderr
	}{
		{"peers without a secret", []string{"-region", "us-east-1", "-data", dir, "-peer", "eu-west-1=http://127.0.0.1:1"}, nil, "no shared secret"},
		{"short secret", []string{"-region", "us-east-1", "-data", dir, "-secret", "short"}, nil, "too short"},
		{"short secret from the environment", []string{"-region", "us-east-1", "-data", dir, "-peer", "eu-west-1=http://127.0.0.1:1"}, map[string]string{"TODO_SECRET": "short"}, "too short"},
		{"region without data", []string{"-region", "us-east-1"}, nil, "needs -data"},
		{"bad region name", []string{"-region", "us east", "-data", dir}, nil, "region name"},
		{"peer without region", []string{"-peer", "eu-west-1=http://127.0.0.1:1"}, nil, "-peer needs -region"},
		{"peer not a URL", []string{"-region", "us-east-1", "-data", dir, "-peer", "eu-west-1=127.0.0.1:1"}, nil, "not an http(s)"},
		{"peer not NAME=URL", []string{"-region", "us-east-1", "-data", dir, "-peer", "eu-west-1"}, nil, "NAME=VALUE"},
		{"peer twice", []string{"-region", "us-east-1", "-data", dir, "-peer", "a=http://x:1", "-peer", "a=http://x:2"}, nil, "given twice"},
		{"self as peer", []string{"-region", "us-east-1", "-data", dir, "-peer", "us-east-1=http://x:1"}, nil, "not its own peer"},
		{"addr of an unknown region", []string{"-addr", "ap-south-1=127.0.0.1:0"}, nil, "embedded regions are"},
		{"addr with region", []string{"-region", "us-east-1", "-data", dir, "-addr", "us-east-1=127.0.0.1:0"}, nil, "-addr is for embedded mode"},
		{"bad tick", []string{"-tick", "0s"}, nil, "-tick must be positive"},
		{"stray argument", []string{"extra"}, nil, "unexpected argument"},
		{"unknown flag", []string{"-nope"}, nil, "flag provided but not defined"},
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
		done <- run(ctx, []string{"-region", "us-east-1", "-data", dir, "-peer", "eu-west-1=http://127.0.0.1:1"},
			func(k string) string {
				if k == "TODO_SECRET" {
					return string(testSecret)
				}
				return ""
			}, out, &strings.Builder{})
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
		done <- run(ctx, []string{"-region", "us-east-1", "-data", dir, "-secret", string(testSecret)}, noEnv, out, &strings.Builder{})
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
	go func() { done <- run(ctx, nil, noEnv, out, &strings.Builder{}) }()
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
