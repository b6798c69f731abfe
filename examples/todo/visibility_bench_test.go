package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// BenchmarkVisibility measures cross-region visibility with lists of
// 1,000 and 25,000 to-dos: from the start of a POST creating a to-do in
// us-east-1 until eu-west-1's event stream (what its page reads) names
// it. Two regions run in this process, on loopback, each with its bbolt
// store (fsync on every save) and its engine ticking every 100 ms (a
// write wakes the engine at once, as in the program). It reports the p50
// and p99 of the iterations in milliseconds, and, as the floor, the p50
// of the POST alone (the local write, saved before it is answered).
//
//	go test ./examples/todo -run '^$' -bench Visibility -benchtime 400x
func BenchmarkVisibility(b *testing.B) {
	for _, n := range []int{1000, 25000} {
		b.Run(fmt.Sprintf("todos=%d", n), func(b *testing.B) { benchVisibility(b, n) })
	}
}

func benchVisibility(b *testing.B, n int) {
	c := newCluster(b, func(cfg *regionConfig) {
		cfg.Clock = nil // the system clock
		cfg.Tick = 100 * time.Millisecond
	})
	e, w := c.region(east), c.region(west)

	// n to-dos, made in one write in the east, reach the west.
	err := e.write(func() error {
		for i := range n {
			if err := e.todos.create(newID(time.Now()), fmt.Sprintf("to-do %d", i)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	ch, cancel := w.events.subscribe()
	defer cancel()
	deadline := time.After(2 * time.Minute)
	for w.todos.count() < n {
		select {
		case <-ch:
		case <-deadline:
			b.Fatalf("the west holds %d of %d to-dos", w.todos.count(), n)
		}
	}

	resp, err := http.Get(c.url(west) + "/api/events")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	events := bufio.NewReaderSize(resp.Body, 1<<20)
	// next returns the data of the stream's next event.
	next := func() changes {
		for {
			line, err := events.ReadString('\n')
			if err != nil {
				b.Fatal(err)
			}
			if d, ok := strings.CutPrefix(line, "data: "); ok {
				var ch changes
				if err := json.Unmarshal([]byte(d), &ch); err != nil {
					b.Fatal(err)
				}
				return ch
			}
		}
	}
	if open := next(); !open.Reset || len(open.Todos) != n {
		b.Fatalf("the stream opened with %d to-dos, want %d", len(open.Todos), n)
	}

	// A first write folds the journal, which the bulk write filled, into
	// a snapshot; folds in steady state are part of what is measured.
	warm := createTodo(b, c.url(east), "warm-up")
	for ev := next(); !slices.Contains(ev.Todos, warm); ev = next() {
	}

	var seen, posts []time.Duration
	i := 1
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		td := createTodo(b, c.url(east), fmt.Sprintf("timed %d", len(seen)))
		posted := time.Since(start)
		for {
			ev := next()
			if j := slices.IndexFunc(ev.Todos, func(x Todo) bool { return x.ID == td.ID }); j >= 0 {
				if ev.Todos[j] != td || ev.Reset {
					b.Fatalf("the west's stream shows %+v (reset %v), want %+v", ev.Todos[j], ev.Reset, td)
				}
				break
			}
		}
		seen = append(seen, time.Since(start))
		posts = append(posts, posted)
		i++
	}
	b.StopTimer()
	if got := w.todos.count(); got != n+i {
		b.Fatalf("the west holds %d to-dos, want %d", got, n+i)
	}
	w.mu.Lock()
	records, bytes := w.journalLen, w.journalBytes
	w.mu.Unlock()
	if records > 0 {
		b.ReportMetric(float64(bytes)/float64(records), "west-record-bytes")
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(percentile(seen, 50)), "p50-ms")
	b.ReportMetric(ms(percentile(seen, 99)), "p99-ms")
	b.ReportMetric(ms(percentile(posts, 50)), "post-p50-ms")
}

// percentile returns the p-th percentile of ds (nearest rank).
func percentile(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	k := (p*len(s) + 99) / 100 // ceil(p/100 · len)
	return s[max(k, 1)-1]
}

// BenchmarkSnapshotSave measures what folding the journal costs: saving
// the engine's snapshot of a region holding 1,000 and 25,000 to-dos (what
// every remote change cost before remote changes were journaled). It
// reports the snapshot's size.
//
//	go test ./examples/todo -run '^$' -bench SnapshotSave -benchtime 20x
func BenchmarkSnapshotSave(b *testing.B) {
	for _, n := range []int{1000, 25000} {
		b.Run(fmt.Sprintf("todos=%d", n), func(b *testing.B) {
			rg, err := startRegion(regionConfig{Name: east, DataDir: b.TempDir(), Key: testKey(east)})
			if err != nil {
				b.Fatal(err)
			}
			defer rg.crash()
			err = rg.write(func() error {
				for i := range n {
					if err := rg.todos.create(newID(time.Now()), fmt.Sprintf("to-do %d", i)); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if err := rg.persist(); err != nil {
					b.Fatal(err)
				}
			}
			rg.mu.Lock()
			size := rg.snapBytes
			rg.mu.Unlock()
			if size == 0 {
				b.Fatal("no snapshot saved")
			}
			b.ReportMetric(float64(size), "snapshot-bytes")
		})
	}
}
