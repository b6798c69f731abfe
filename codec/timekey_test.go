package codec

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	"pgregory.net/rapid"
)

// A key is one key at every replica only if the copy a peer decodes is
// == to it. A pointer compares by address, and a decoded copy points
// elsewhere: a key holding one, where msgpack writes it, can never be
// canonical, and is refused. A time.Time compares by its monotonic
// reading and *Location too, which the wire drops: it is held as a
// decoder gives it back, alone, in a struct and in an array.
func TestCanonicalKeyRefusesPointers(t *testing.T) {
	type event struct {
		At   time.Time
		Note *string
	}
	type hidden struct {
		Name string
		C    chan int
	}
	x := 1
	check := func(name string, err error) {
		t.Helper()
		if !errors.Is(err, ErrKey) {
			t.Errorf("CanonicalKey of %s: %v, want ErrKey", name, err)
		}
	}
	_, err := CanonicalKey(&x)
	check("a pointer", err)
	_, err = CanonicalKey(event{At: time.Now()})
	check("a struct with a time and a nil pointer", err)
	_, err = CanonicalKey([2]*int{&x, nil})
	check("an array of pointers", err)
	_, err = CanonicalKey(hidden{Name: "a", C: make(chan int)})
	check("a struct with a channel", err)
	_, err = CanonicalKey(boxed{p: &x})
	check("a struct whose own encoding decodes a pointer anew", err)
	if _, ok := LookupKey(&x); ok {
		t.Error("LookupKey of a pointer: ok, want false")
	}
	// A pointer in an interface is written as what it points to, and
	// decodes as that: canonical.
	if k, err := CanonicalKey[any](&x); err != nil || k != any(int8(1)) {
		t.Errorf("CanonicalKey of a pointer in an interface = %#v, %v; want int8(1)", k, err)
	}
}

// boxed holds a pointer in an unexported field, and writes what it points
// to: each decoding points elsewhere.
type boxed struct{ p *int }

func (b boxed) EncodeMsgpack(e *msgpack.Encoder) error { return e.EncodeInt(int64(*b.p)) }

func (b *boxed) DecodeMsgpack(d *msgpack.Decoder) error {
	n, err := d.DecodeInt()
	b.p = &n
	return err
}

// A type whose unexported fields hold pointers and whose own encoding
// decodes as itself is a key: netip.Addr, whose zone is an interned
// handle.
func TestCanonicalKeyOwnEncoding(t *testing.T) {
	a := netip.MustParseAddr("fe80::1%eth0")
	k, err := CanonicalKey(a)
	if err != nil || k != a {
		t.Errorf("CanonicalKey(%v) = %v, %v", a, k, err)
	}
}

type timeKeys struct {
	At   time.Time
	Name string
	Two  [2]time.Time
}

// wireCopy returns k as a peer decodes it from PutValue's bytes.
func wireCopy[K any](t *rapid.T, k K) K {
	w := NewWriter(KindUser, 32)
	PutValue(w, k)
	b, err := w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	r := NewReader(b, KindUser, Limits{})
	c := GetValue[K](r)
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	return c
}

func drawTime(t *rapid.T, label string) time.Time {
	var tm time.Time
	switch rapid.IntRange(0, 4).Draw(t, label+"kind") {
	case 0:
		tm = time.Now() // with a monotonic reading
	case 1:
		tm = time.Unix(rapid.Int64Range(-1<<40, 1<<40).Draw(t, label+"s"), rapid.Int64Range(0, 999999999).Draw(t, label+"ns"))
	case 2:
		tm = time.Time{}
	case 3:
		tm = time.Unix(0, 0).UTC()
	case 4:
		tm = time.Now().Add(time.Duration(rapid.Int64().Draw(t, label+"d")))
	}
	switch rapid.IntRange(0, 3).Draw(t, label+"loc") {
	case 1:
		tm = tm.UTC()
	case 2:
		tm = tm.In(time.FixedZone("x", rapid.IntRange(-50000, 50000).Draw(t, label+"off")))
	case 3:
		tm = tm.Round(0) // drops the monotonic reading alone
	}
	return tm
}

func TestCanonicalKeyTime(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a := drawTime(t, "a")
		k, err := CanonicalKey(a)
		if err != nil {
			t.Fatal(err)
		}
		if !k.Equal(a) {
			t.Fatalf("CanonicalKey(%v) = %v, another instant", a, k)
		}
		if c, _ := CanonicalKey(wireCopy(t, a)); c != k {
			t.Fatalf("CanonicalKey(%#v) = %#v, of its wire copy %#v", a, k, c)
		}
		if c := wireCopy(t, k); c != k {
			t.Fatalf("canonical %#v decodes as %#v", k, c)
		}
		if l, ok := LookupKey(a); !ok || l != k {
			t.Fatalf("LookupKey(%#v) = %#v, %v; want %#v", a, l, ok, k)
		}
		s := timeKeys{At: a, Name: "n", Two: [2]time.Time{drawTime(t, "b"), a}}
		ks, err := CanonicalKey(s)
		if err != nil {
			t.Fatal(err)
		}
		if c, _ := CanonicalKey(wireCopy(t, s)); c != ks {
			t.Fatalf("CanonicalKey(%#v) = %#v, of its wire copy %#v", s, ks, c)
		}
		ka, err := CanonicalKey[any](a)
		if err != nil {
			t.Fatal(err)
		}
		if c, _ := CanonicalKey(wireCopy[any](t, a)); c != ka {
			t.Fatalf("CanonicalKey(any(%#v)) = %#v, of its wire copy %#v", a, ka, c)
		}
	})
}
