package vclock

import "errors"

// MaxSeq is the largest sequence number (and version-vector count) a
// decoder accepts. No replica makes 2^62 writes, so a larger number can only
// come from a bug or a hostile peer; refusing it at the door means a
// replica's own next sequence number can never overflow, whatever a peer
// sends.
const MaxSeq = 1 << 62

// ErrForeignWrite is returned, wrapped, when an op received from one
// replica carries a write (a dot, a counter contribution, a timestamp) that
// names another replica as its writer. A replica may only speak for itself:
// such an op is refused whole and changes nothing.
var ErrForeignWrite = errors.New("vclock: op carries a write of another replica")
