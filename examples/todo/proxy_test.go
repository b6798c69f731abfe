package main

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/activeactive/crdt"
)

// TestProxyWithSmallerBodyLimit: the operator puts a reverse proxy in
// front of eu-west-1 whose body limit (64 KiB here; nginx's default is
// 1 MiB) is far below the regions' MaxMessageBytes (8 MiB), and
// us-east-1 takes 300 to-dos with long titles while the link is cut:
// its first run of ops to eu-west-1 is larger than the proxy takes. The
// proxy answers 413, the link reports it as crdt.ErrTooLarge, and
// us-east-1 sends smaller messages until they pass: the regions converge.
//
// Before, us-east-1 sent the same run again at every tick, for good.
func TestProxyWithSmallerBodyLimit(t *testing.T) {
	const limit = 64 << 10
	var refused atomic.Int64
	c := newCluster(t, func(cfg *regionConfig) {
		if cfg.Name != east {
			return
		}
		target, err := url.Parse(cfg.Peers[west])
		if err != nil {
			t.Fatal(err)
		}
		proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(target) }} // Host too: the region serves its own names only
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ContentLength > limit {
				refused.Add(1)
				http.Error(w, "request entity too large", http.StatusRequestEntityTooLarge)
				return
			}
			proxy.ServeHTTP(w, r)
		}))
		t.Cleanup(srv.Close)
		cfg.Peers = map[crdt.ReplicaID]string{west: srv.URL}
	})
	c.cut.Store(true)
	for i := range 300 {
		createTodo(t, c.url(east), strings.Repeat("a long title ", 36)+string(rune('A'+i%26)))
	}
	c.cut.Store(false)
	list := c.settle()
	if len(list) != 300 {
		t.Fatalf("%d to-dos after settling, want 300", len(list))
	}
	if refused.Load() == 0 {
		t.Fatal("the proxy refused nothing: the test sends nothing over its limit")
	}
	st := c.region(east).replica.Stats().Peers[0]
	if st.MessageLimit > 2*limit {
		t.Fatalf("us-east-1 sends eu-west-1 messages of up to %d bytes after the proxy refused %d", st.MessageLimit, refused.Load())
	}
	t.Logf("the proxy refused %d messages; us-east-1 sends eu-west-1 messages of up to %d bytes", refused.Load(), st.MessageLimit)
}
