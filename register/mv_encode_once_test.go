package register

import (
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// encodeCounted is a value holding an interface that counts how often
// msgpack encodes it.
type encodeCounted struct{ V any }

var encodings int

func (c encodeCounted) EncodeMsgpack(e *msgpack.Encoder) error {
	encodings++
	return e.Encode(c.V)
}

func (c *encodeCounted) DecodeMsgpack(d *msgpack.Decoder) error {
	return d.Decode(&c.V)
}

// TestMVSetEncodesValueOnce: Set checked that the value can be encoded
// (with the codec's writer), then encoded it again to hold it as peers
// decode it (codec.HeldValue). One encoding serves both.
func TestMVSetEncodesValueOnce(t *testing.T) {
	m := NewMV[encodeCounted]("r")
	encodings = 0
	op := m.Set(encodeCounted{V: map[string]any{"n": 5, "s": "x"}})
	if op.Err() != nil {
		t.Fatal(op.Err())
	}
	if encodings != 1 {
		t.Errorf("Set encoded the value %d times, want 1", encodings)
	}
	if v := m.Values(); len(v) != 1 || v[0].V.(map[string]any)["n"] != int8(5) {
		t.Errorf("held %#v, want the value as peers decode it (n an int8)", v)
	}
}

// BenchmarkMVSetAny is BenchmarkMVSet with a value holding interfaces,
// which Set holds as peers decode it.
func BenchmarkMVSetAny(b *testing.B) {
	m := NewMV[any]("us-east-1")
	v := map[string]any{"name": "widget", "count": 3, "tags": []any{"a", "b"}}
	b.ReportAllocs()
	for b.Loop() {
		m.Set(v)
	}
}
