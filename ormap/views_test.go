package ormap

import (
	"fmt"
	"sync"
	"testing"
)

// TestCounterViews: each view At hands out is a view of its own key,
// distinct from every other, also when readers take them at the same
// time (run with -race), and views of one key see each other's writes.
func TestCounterViews(t *testing.T) {
	m := New[string, *Counter]("a")
	const keys = 100
	for i := range keys {
		m.At(fmt.Sprint(i)).Add(int64(i + 1))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			seen := map[*Counter]bool{}
			views := make([]*Counter, keys)
			for i := range keys {
				c := m.At(fmt.Sprint(i))
				if seen[c] {
					errs <- fmt.Errorf("view of key %d handed out twice", i)
					return
				}
				seen[c] = true
				views[i] = c
			}
			for i, c := range views { // read after all were made
				if got := c.Value(); got != int64(i+1) {
					errs <- fmt.Errorf("view of key %d reads %d, want %d", i, got, i+1)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	a, b := m.At("1"), m.At("1")
	if a == b {
		t.Fatal("two calls of At returned one view")
	}
	a.Add(1)
	if b.Value() != 3 || a.Value() != 3 {
		t.Fatalf("views of one key read %d and %d, want 3", a.Value(), b.Value())
	}
}
