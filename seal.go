package crdt

import (
	"encoding/binary"
	"hash/crc32"

	"github.com/activeactive/crdt/codec"
)

// The engine's frames (messages, snapshots, journal records) end with a
// CRC-32C of every byte before them, as etcd's WAL records and Kafka's record
// batches do: a flipped bit on the wire or on disk is refused as malformed
// before anything is decoded, never applied.

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// crcSize is the size of the trailer.
const crcSize = 4

// seal appends the CRC-32C of b to b.
func seal(b []byte) []byte {
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// openFrame checks a frame and returns the bytes to decode and the kind to
// decode them as. A frame of the sealed kind must end with the CRC-32C of
// the bytes before it; anything else is returned whole, to be decoded as the
// legacy kind written before frames were checksummed (its decoder refuses
// it if it is not one).
func openFrame(msg []byte, legacy, sealed codec.Kind) ([]byte, codec.Kind, error) {
	// A frame starts with the format version, one byte for every version
	// written so far, then the kind, one byte for every kind below 0x80.
	if len(msg) < 2 || msg[1] != byte(sealed) {
		return msg, legacy, nil
	}
	if len(msg) < 2+crcSize {
		return nil, sealed, &codec.DecodeError{Kind: sealed, Offset: len(msg), Reason: "too short for its checksum", Err: codec.ErrTruncated}
	}
	body := msg[:len(msg)-crcSize]
	if got, want := binary.BigEndian.Uint32(msg[len(body):]), crc32.Checksum(body, castagnoli); got != want {
		return nil, sealed, &codec.DecodeError{Kind: sealed, Offset: len(body),
			Reason: "checksum mismatch: the frame was damaged in transit or on disk", Err: codec.ErrMalformed}
	}
	return body, sealed, nil
}
