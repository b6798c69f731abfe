package codec

import "math"

// refByte stands for an omitted replica table entry: msgpack nil, which no
// table entry may otherwise be (a Reader refuses it), so a message still
// holding a reference can never be mistaken for a whole one.
const refByte = 0xc0

// OmitReplica appends to dst the message msg (as a [Writer] writes it) with
// the entry of replica id in its replica table replaced by a one-byte
// reference, and reports true. If msg's header cannot be read, or its
// table does not name id, it appends nothing and reports false: the
// caller then carries msg as it is.
//
// It is for a message carried inside another that names id anyway: an op
// inside an engine message names its writer, and so does the message.
// [RestoreReplica] makes the message whole again. The work is linear in
// the length of msg's header.
func OmitReplica(dst, msg []byte, id string) ([]byte, bool) {
	if id == "" {
		return dst, false
	}
	if isShort(msg) {
		n := int(msg[0] & shortLen)
		if n == 0 || len(msg) < 1+n || string(msg[1:1+n]) != id {
			return dst, false
		}
		dst = append(dst, msg[0]&^shortLen)
		return append(dst, msg[1+n:]...), true
	}
	r := &Reader{buf: msg, lim: DefaultLimits()}
	r.readHeaderStart()
	at, end := -1, -1
	bare := r.walkTable(func(start int, entry []byte, ref bool) {
		if !ref && at < 0 && string(entry) == id {
			at, end = start, r.off
		}
	})
	if r.err != nil || at < 0 {
		return dst, false
	}
	if bare && hasShortForm(uint64(r.version), r.kind) {
		// An ID too long for the short header: the reference is short
		// all the same.
		dst = appendShortHeader(dst, r.kind, "")
		return append(dst, msg[end:]...), true
	}
	dst = append(dst, msg[:at]...)
	dst = append(dst, refByte)
	return append(dst, msg[end:]...), true
}

// RestoreReplica appends to dst the message msg, made by [OmitReplica],
// with its reference replaced by id, the ID OmitReplica left out, and
// returns it. A msg whose header cannot be read (version, kind and
// replica table within lim), or whose table holds no reference or more
// than one, or names id beside the reference, or an empty id, is refused with a [*DecodeError]; nothing
// past the table is looked at, so the caller decodes the whole message
// next, as any other. The work is linear in the length of msg's header.
func RestoreReplica(dst, msg []byte, id string, lim Limits) ([]byte, error) {
	r := &Reader{buf: msg, lim: lim.orDefault()}
	if len(msg) > r.lim.MaxBytes {
		r.failf(ErrLimit, "message of %d bytes exceeds the limit of %d", len(msg), r.lim.MaxBytes)
		return dst, r.err
	}
	if isShort(msg) {
		return restoreShort(dst, r, id)
	}
	r.readHeaderStart()
	at, refs, named := -1, 0, false
	r.walkTable(func(start int, entry []byte, ref bool) {
		if ref {
			at = start
			refs++
		}
		named = named || string(entry) == id
	})
	switch {
	case r.err != nil:
		return dst, r.err
	case named:
		r.off = 0
		r.failf(ErrMalformed, "replica table names %q beside a reference to it", id)
		return dst, r.err
	case refs != 1:
		r.off = 0
		r.failf(ErrMalformed, "replica table with %d references to the carrier's replica, want 1", refs)
		return dst, r.err
	case id == "":
		r.off = at
		r.failf(ErrMalformed, "reference to an empty replica ID")
		return dst, r.err
	}
	dst = append(dst, msg[:at]...)
	dst = appendString(dst, id)
	return append(dst, msg[at+1:]...), nil
}

// restoreShort is RestoreReplica of r's message, which starts with a short
// header.
func restoreShort(dst []byte, r *Reader, id string) ([]byte, error) {
	msg := r.buf
	r.kind, r.version = shortKind(msg[0]), shortVersion
	switch {
	case msg[0]&shortLen != 0:
		r.failf(ErrMalformed, "replica table with 0 references to the carrier's replica, want 1")
		return dst, r.err
	case id == "":
		r.failf(ErrMalformed, "reference to an empty replica ID")
		return dst, r.err
	}
	if len(id) <= shortLen {
		dst = appendShortHeader(dst, r.kind, id)
	} else {
		// Too long for the short header: the long one of the same
		// version.
		dst = appendUint(dst, shortVersion)
		dst = appendUint(dst, uint64(r.kind))
		dst = appendString(dst, id)
	}
	return append(dst, msg[1:]...), nil
}

// readHeaderStart reads a message's format version and kind, whatever the
// kind (it becomes r's kind, for errors).
func (r *Reader) readHeaderStart() {
	v := r.canonicalUint("format version")
	if r.err == nil && (v == 0 || v > Version) {
		r.off = 0
		r.failf(ErrVersion, "format version %d, this reader knows 1 to %d", v, Version)
		return
	}
	k := r.canonicalUint("message kind")
	if r.err == nil && k > math.MaxUint8 {
		r.failf(ErrKind, "message kind %d", k)
		return
	}
	r.kind, r.version = Kind(k), int(v)
	if n := newestVersion(r.kind); r.err == nil && v > n {
		r.off = 0
		r.failf(ErrVersion, "format version %d, %v is written in 1 to %d", v, r.kind, n)
	}
}

// walkTable reads a replica table in the form the Writer writes it (a
// bare entry for a table of one, an array otherwise), where an entry may
// also be a reference, and calls f with the offset and bytes of each entry
// (nil and ref true for a reference). The table is read with the checks of
// readReplicaTable but for repeats, which the message's own decoder finds.
// It reports whether the table was a bare entry.
func (r *Reader) walkTable(f func(start int, entry []byte, ref bool)) (bare bool) {
	entry := func() (id []byte, ref bool) {
		at := r.off
		if r.off < len(r.buf) && r.buf[r.off] == refByte && r.err == nil {
			r.off++
			f(at, nil, true)
			return nil, true
		}
		id = r.CanonicalStringBytes()
		if r.err == nil && len(id) == 0 {
			r.off = at
			r.failf(ErrMalformed, "empty replica ID")
		}
		if r.err == nil {
			f(at, id, false)
		}
		return id, false
	}
	if r.err != nil {
		return false
	}
	if r.off < len(r.buf) && (isStr(r.buf[r.off]) || r.buf[r.off] == refByte) {
		// The entry is checked whole before f hears of it.
		at, call := r.off, f
		var start int
		var held []byte
		f = func(st int, e []byte, _ bool) { start, held = st, e }
		id, ref := entry()
		if hasShortForm(uint64(r.version), r.kind) {
			r.checkLongTable(at, len(id) <= shortLen, ref)
		}
		if r.err == nil {
			call(start, held, ref)
		}
		return true
	}
	at := r.off
	n := r.CanonicalArrayLen(1)
	if r.err == nil && n == 1 {
		r.notCanonical(at, "replica table of one ID written as an array")
	}
	for range n {
		if r.err != nil {
			return false
		}
		entry()
	}
	return false
}

// EachReplica calls f with each replica ID that the replica table of msg
// (as a [Writer] writes it) names, a reference left by [OmitReplica]
// excepted, and returns an error if the header cannot be read. f must not
// keep id. The work is linear in the length of msg's header.
func EachReplica(msg []byte, f func(id []byte)) error {
	r := &Reader{buf: msg, lim: DefaultLimits()}
	if isShort(msg) {
		r.kind, r.version = shortKind(msg[0]), shortVersion
		r.off = 1
		if id := r.take(int(msg[0] & shortLen)); len(id) > 0 {
			f(id)
		}
		return r.Err()
	}
	r.readHeaderStart()
	r.walkTable(func(_ int, entry []byte, ref bool) {
		if !ref {
			f(entry)
		}
	})
	return r.Err()
}
