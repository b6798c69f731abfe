// Package codec is the wire format of the library: msgpack, framed and
// versioned.
//
// Every message starts with its format version (see [Version]) and a [Kind]
// saying what it holds, then a table of the replica IDs the message
// mentions, each written once; the body refers to replicas by their index
// in that table. The LWW-map's put and delete ops of format version 3
// whose table is one short ID start with one byte standing for the
// version, the kind and the ID's length instead, then the ID (the short
// header, see [Writer]); their bodies are varints ([Writer.Uvarint])
// and msgpack. A [Writer] builds a message and a [Reader] takes one
// apart.
//
// A message carried inside another (an op inside an engine message) may
// leave out one entry of its table that the carrier names anyway (the
// sender's writer): [OmitReplica] puts a reference in its place, and
// [RestoreReplica] puts the ID back before the message is decoded. A
// Reader never accepts a reference: a message is always decoded whole.
//
// Decoders accept every format version they have ever written. The header
// (version, kind, replica table) is held to the one form the Writer writes;
// the body's primitives accept every msgpack form of their type, so values
// msgpack wrote read too. Encodings that promise each value exactly one
// encoding read the body with the Canonical methods ([Reader.CanonicalUint],
// [Reader.CanonicalArrayLen], [GetCanonicalValue] and the others) instead,
// which accept only the shortest form, the one the Writer writes. Decoders
// never panic on bad input: a truncated, oversized, corrupt, wrongly-typed or
// future-version message yields a [*DecodeError] saying what was wrong and
// at which byte. What a Reader allocates is bounded by the input's length
// and by [Limits].
//
// # Compressed messages
//
// Any message can also travel compressed, as a message of [KindCompressed]
// made by a [Compressor]: its values split into columns (structure, text
// with shared prefixes, opaque bytes), then DEFLATE. [NewReader] reads a
// compressed message as the message it holds, so every decoder reads both
// forms; what the plain message may cost is bounded by [Limits] and by
// [MaxRatio] times the compressed message's length. [Decompress] gives the
// plain message back.
//
// The package keeps no global state: it registers no msgpack extensions and
// has no settings to change at run time.
//
// # Element values
//
// [PutValue] and [GetValue] carry a data type's elements. Strings, integers,
// booleans, float64 and byte slices take a fast path that allocates nothing
// beyond the value itself; any other type goes through
// github.com/vmihailenco/msgpack/v5 and its struct tags.
package codec
