package codec

import (
	"math"
	"slices"
	"strings"
	"testing"
)

// TestBytesPutsHeaderInFrontWithoutCopy: the header goes into the room
// left in front of the body, and the message is the Writer's own buffer.
func TestBytesPutsHeaderInFrontWithoutCopy(t *testing.T) {
	w := NewWriter(KindSet, 64)
	w.Replica("us-east-1")
	w.String("milk")
	body := &w.body[w.head] // first byte of the body
	b, err := w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{
		0x01, byte(KindSet), // version, kind
		0xa9, 'u', 's', '-', 'e', 'a', 's', 't', '-', '1', // one-entry table: a bare string
		0x00,                     // replica 0
		0xa4, 'm', 'i', 'l', 'k', // "milk"
	}
	if !slices.Equal(b, want) {
		t.Fatalf("got % x\nwant % x", b, want)
	}
	if &b[12] != body {
		t.Fatal("the body was copied")
	}
}

// TestBytesCopiesWhenTableOutgrowsRoom: a table written through Replica
// as the body goes, too long for the room in front, is still right.
func TestBytesCopiesWhenTableOutgrowsRoom(t *testing.T) {
	w := NewWriter(KindSet, 0)
	ids := []string{strings.Repeat("a", 40), strings.Repeat("b", 40)}
	for _, id := range ids {
		w.Replica(id)
	}
	b, err := w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{0x01, byte(KindSet), 0x92, 0xd9, 40}
	want = append(want, ids[0]...)
	want = append(want, 0xd9, 40)
	want = append(want, ids[1]...)
	want = append(want, 0x00, 0x01)
	if !slices.Equal(b, want) {
		t.Fatalf("got % x\nwant % x", b, want)
	}
}

// TestTableDeclaresReplicasWithoutReferences: Table fills the table in
// order, writes nothing in the body, makes room for a long table, and
// leaves IDs already there in place.
func TestTableDeclaresReplicasWithoutReferences(t *testing.T) {
	long := strings.Repeat("r", 100)
	w := NewWriter(KindClock, 8)
	w.Table("b", long, "b")
	if w.Len() != 0 {
		t.Fatalf("Table wrote %d body bytes", w.Len())
	}
	w.Replica(long) // index 1
	body := &w.body[w.head]
	b, err := w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{0x01, byte(KindClock), 0x92, 0xa1, 'b', 0xd9, 100}
	want = append(want, long...)
	want = append(want, 0x01)
	if !slices.Equal(b, want) {
		t.Fatalf("got % x\nwant % x", b, want)
	}
	if &b[len(b)-1] != body {
		t.Fatal("the body was copied although the table was declared first")
	}
	// A replica not declared joins the table after the declared ones.
	w = NewWriter(KindClock, 8)
	w.Table("b")
	w.Replica("a")
	if b, err = w.Bytes(); err != nil || !slices.Equal(b, []byte{0x01, byte(KindClock), 0x92, 0xa1, 'b', 0xa1, 'a', 0x01}) {
		t.Fatalf("got % x, %v", b, err)
	}
	w = NewWriter(KindClock, 8)
	w.Table("")
	if _, err := w.Bytes(); err == nil {
		t.Fatal("an empty ID in Table was accepted")
	}
}

// TestGrowSizesOnce: after Grow(n), writing n bytes does not move the
// buffer.
func TestGrowSizesOnce(t *testing.T) {
	w := NewWriter(KindSet, 0)
	w.Grow(1000)
	first := &w.body[:w.head+1][w.head]
	for range 100 {
		w.String("123456789") // 10 bytes
	}
	if w.Len() != 1000 {
		t.Fatalf("Len %d, want 1000", w.Len())
	}
	if &w.body[w.head] != first {
		t.Fatal("the buffer moved")
	}
}

// TestRoomAndCommit: bytes written into Room and committed are the body's,
// as if written by the Writer's own methods; a commit beyond the room is
// an error, not a panic.
func TestRoomAndCommit(t *testing.T) {
	w := NewWriter(KindSet, 0)
	w.Grow(16)
	w.Uint(1)
	room := w.Room()
	if len(room) < 15 {
		t.Fatalf("room of %d bytes after Grow(16) and one byte", len(room))
	}
	room[0], room[1], room[2] = 0xa2, 'h', 'i'
	w.Commit(3)
	w.Uint(2)
	want := NewWriter(KindSet, 0)
	want.Uint(1)
	want.String("hi")
	want.Uint(2)
	got, err := w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if exp, _ := want.Bytes(); !slices.Equal(got, exp) {
		t.Fatalf("got % x, want % x", got, exp)
	}
	w = NewWriter(KindSet, 0)
	w.Commit(len(w.Room()) + 1)
	if _, err := w.Bytes(); err == nil {
		t.Fatal("a commit beyond the room was accepted")
	}
	w = NewWriter(KindSet, 0)
	w.Commit(-1)
	if _, err := w.Bytes(); err == nil {
		t.Fatal("a negative commit was accepted")
	}
}

// TestValueLenIsWhatPutValueWrites compares ValueLen with the bytes
// PutValue writes, at the boundaries of every form.
func TestValueLenIsWhatPutValueWrites(t *testing.T) {
	check := func(name string, n int, ok bool, put func(*Writer)) {
		t.Helper()
		w := NewWriter(KindSet, 0)
		put(w)
		if !ok || n != w.Len() {
			t.Errorf("%s: ValueLen %d, %v; PutValue wrote %d", name, n, ok, w.Len())
		}
	}
	for _, u := range []uint64{0, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, math.MaxUint32, math.MaxUint32 + 1, math.MaxUint64} {
		n, ok := ValueLen(u)
		check("uint64", n, ok, func(w *Writer) { PutValue(w, u) })
		n, ok = ValueLen(uint32(u))
		check("uint32", n, ok, func(w *Writer) { PutValue(w, uint32(u)) })
	}
	for _, i := range []int64{0, 127, 128, -1, -32, -33, -128, -129, -32768, -32769, math.MinInt32, math.MinInt32 - 1, math.MinInt64, math.MaxInt64} {
		n, ok := ValueLen(i)
		check("int64", n, ok, func(w *Writer) { PutValue(w, i) })
		n, ok = ValueLen(int(i))
		check("int", n, ok, func(w *Writer) { PutValue(w, int(i)) })
		n, ok = ValueLen(int8(i))
		check("int8", n, ok, func(w *Writer) { PutValue(w, int8(i)) })
	}
	for _, l := range []int{0, 31, 32, 255, 256, 65535, 65536} {
		s := strings.Repeat("x", l)
		n, ok := ValueLen(s)
		check("string", n, ok, func(w *Writer) { PutValue(w, s) })
		n, ok = ValueLenOf[string]()(s)
		check("string, ValueLenOf", n, ok, func(w *Writer) { PutValue(w, s) })
		bs := []byte(s)
		n, ok = ValueLen(bs)
		check("[]byte", n, ok, func(w *Writer) { PutValue(w, bs) })
		n, ok = ValueLenOf[[]byte]()(bs)
		check("[]byte, ValueLenOf", n, ok, func(w *Writer) { PutValue(w, bs) })
	}
	n, ok := ValueLen(true)
	check("bool", n, ok, func(w *Writer) { PutValue(w, true) })
	n, ok = ValueLen(1.5)
	check("float64", n, ok, func(w *Writer) { PutValue(w, 1.5) })
	n, ok = ValueLenOf[int64]()(-129)
	check("int64, ValueLenOf", n, ok, func(w *Writer) { PutValue(w, int64(-129)) })
	if _, ok := ValueLenOf[struct{ A int }]()(struct{ A int }{}); ok {
		t.Error("ValueLenOf measured a struct")
	}
	if _, ok := ValueLen(struct{ A int }{}); ok {
		t.Error("ValueLen measured a struct")
	}
	if UintLen(300) != 3 || ArrayLen(15) != 1 || ArrayLen(16) != 3 || ArrayLen(1<<16) != 5 {
		t.Error("UintLen or ArrayLen off")
	}
	for _, n := range []int{0, 31, 32, 255, 256, 1<<16 - 1, 1 << 16} {
		w := NewWriter(KindSet, 0)
		before := w.Len()
		w.String(strings.Repeat("x", n))
		if got := w.Len() - before; StringLen(n) != got {
			t.Errorf("StringLen(%d) = %d, Writer.String wrote %d", n, StringLen(n), got)
		}
	}
}

// TestPutValueOfWritesWhatPutValueDoes: the function chosen once per type
// writes the same bytes as PutValue.
func TestPutValueOfWritesWhatPutValueDoes(t *testing.T) {
	same := func(name string, a, b func(*Writer)) {
		t.Helper()
		wa, wb := NewWriter(KindSet, 0), NewWriter(KindSet, 0)
		a(wa)
		b(wb)
		ba, _ := wa.Bytes()
		bb, _ := wb.Bytes()
		if !slices.Equal(ba, bb) {
			t.Errorf("%s: % x, PutValue % x", name, ba, bb)
		}
	}
	for _, l := range []int{0, 31, 32, 300, 70000} {
		s := strings.Repeat("s", l)
		same("string", func(w *Writer) { PutValueOf[string]()(w, s) }, func(w *Writer) { PutValue(w, s) })
		b := []byte(s)
		same("[]byte", func(w *Writer) { PutValueOf[[]byte]()(w, b) }, func(w *Writer) { PutValue(w, b) })
	}
	same("int", func(w *Writer) { PutValueOf[int]()(w, -5000) }, func(w *Writer) { PutValue(w, -5000) })
	type named struct{ A string }
	same("struct", func(w *Writer) { PutValueOf[named]()(w, named{"x"}) }, func(w *Writer) { PutValue(w, named{"x"}) })
}
