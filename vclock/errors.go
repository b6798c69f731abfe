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

// ErrUnseen is returned, wrapped, when an op received from one replica
// drops (removes, overwrites) a dot of another replica that the receiver
// has not seen yet. A real op only drops what its sender had seen, which
// reaches the receiver too in time; until it has, the op is refused and
// changes nothing, and the sender sends it again. So no peer can remove
// another replica's future writes by naming dots that do not exist yet.
var ErrUnseen = errors.New("vclock: op drops a dot not seen here yet")
