package main

import (
	"context"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/activeactive/crdt"
	"github.com/chromedp/chromedp"
)

// page is a page a browser test drives (see newBrowser): each step waits
// at most 30 seconds, and a step that fails ends the test.
type page struct {
	t   *testing.T
	ctx context.Context
	// shots, if not "", is the folder a failed step leaves a screenshot
	// of the page in, failed.png.
	shots string
	// explain, if not nil, tells more of the state of things when a
	// wait is in vain: it returns what the failure message ends with.
	explain func() string
}

// do runs actions on the page.
func (p *page) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	sctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		p.failed()
		p.t.Fatalf("%s: %v", what, err)
	}
}

// until waits for the JavaScript condition cond to hold on the page.
func (p *page) until(what, cond string) {
	p.t.Helper()
	sctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	if _, err := chromedp.Run(sctx, chromedp.Poll[bool](cond, chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		p.failed()
		var more string
		if p.explain != nil {
			more = p.explain()
		}
		p.t.Fatalf("waiting until %s: %v%s", what, err, more)
	}
}

// failed leaves a screenshot of the page in p.shots, if set.
func (p *page) failed() {
	if p.shots != "" {
		shot(p.t, p.ctx, filepath.Join(p.shots, "failed.png"))
	}
}

// screenshotDir returns the folder a test leaves its screenshots in:
// TODO_SCREENSHOT_DIR, made if need be, or else a temporary one.
func screenshotDir(t *testing.T) string {
	t.Helper()
	shots := os.Getenv("TODO_SCREENSHOT_DIR")
	if shots == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	return shots
}

// startLoneRegion starts us-east-1 serving its page, in single-region
// mode: its one peer, eu-west-1, at an address nobody answers at.
func startLoneRegion(t *testing.T) *region {
	t.Helper()
	rg, err := startRegion(regionConfig{
		Name: east, DataDir: t.TempDir(), Key: testKey(east), ServePage: true,
		Peers:    map[crdt.ReplicaID]string{west: "http://127.0.0.1:1"},
		PeerKeys: map[crdt.ReplicaID]ed25519.PublicKey{west: testPublic(west)},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rg.crash)
	return rg
}
