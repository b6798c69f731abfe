package codec_test

import (
	"errors"
	"fmt"

	"github.com/activeactive/crdt/codec"
)

func Example() {
	// Write a message: a replica, a counter and an element value.
	w := codec.NewWriter(codec.KindUser, 0)
	w.Replica("us-east-1")
	w.Uint(42)
	codec.PutValue(w, "milk")
	msg, err := w.Bytes()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("% x\n", msg)

	// Read it back, checking for problems once at the end.
	r := codec.NewReader(msg, codec.KindUser, codec.Limits{})
	id, n, v := r.Replica(), r.Uint(), codec.GetValue[string](r)
	if err := r.Done(); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(id, n, v)

	// A truncated copy is refused with a DecodeError, never a panic; the
	// offset is where the missing bytes of the string should have begun.
	r = codec.NewReader(msg[:len(msg)-2], codec.KindUser, codec.Limits{})
	_, _, _ = r.Replica(), r.Uint(), codec.GetValue[string](r)
	var de *codec.DecodeError
	err = r.Done()
	fmt.Println(errors.As(err, &de), errors.Is(err, codec.ErrTruncated), de.Offset)
	// Output:
	// 01 cc 80 a9 75 73 2d 65 61 73 74 2d 31 00 2a a4 6d 69 6c 6b
	// us-east-1 42 milk
	// true true 16
}

func ExampleCompressor() {
	// A message of a thousand keys written in order.
	w := codec.NewWriter(codec.KindUser, 0)
	w.Array(1000)
	for i := range 1000 {
		w.String(fmt.Sprintf("key-%06d", i))
	}
	msg, err := w.Bytes()
	if err != nil {
		fmt.Println(err)
		return
	}
	var c codec.Compressor // reused from one message to the next
	z, ok := c.Compress(msg)
	fmt.Println(ok, len(msg), "bytes plain,", len(z) < len(msg)/50, "that it is 50 times smaller")

	// Any reader of the kind reads the compressed form as the plain one.
	r := codec.NewReader(z, codec.KindUser, codec.Limits{})
	n := r.ArrayLen()
	var last string
	for range n {
		last = r.String()
	}
	fmt.Println(n, last, r.Done())

	// What it claims is held to the limits before anything is inflated.
	_, err = codec.Decompress(z, codec.Limits{MaxBytes: 4096})
	fmt.Println(errors.Is(err, codec.ErrLimit))
	// Output:
	// true 11007 bytes plain, true that it is 50 times smaller
	// 1000 key-000999 <nil>
	// true
}
