package vclock

import "github.com/activeactive/crdt/clock"

// Conflict reports a write that a conflict rule discarded in favour of a
// concurrent one, so that a program can show what was lost. The data types
// hand it to the hook set with their SetConflictHook method (register.LWW,
// register.MV, lwwmap.Map, ormap.Map), and the replication engine passes
// it on with the object's name (crdt.Config.OnConflict). It lives here, beside
// [ReplicaID], because every data type and the engine use it.
//
// For a last-writer-wins type, Lost is the discarded write and Won the
// write kept; Key is the key of the map entry (nil for a register) and
// Siblings is nil. For a multi-value register, which discards nothing,
// Siblings lists every value held once concurrent writes made it hold more
// than one, and Key, Lost and Won are zero; in an ormap.Map, whose
// registers are multi-value, Key is the register's key path, a []any.
//
// The values are those the writes carried, as Go assigns them: memory they
// refer to is shared with the data type and must not be modified.
type Conflict struct {
	Key      any     // the map key; nil for a register
	Lost     Write   // the write discarded
	Won      Write   // the write that discarded it
	Siblings []Write // for a multi-value register: every value held
}

// Write describes one write in a [Conflict].
type Write struct {
	Writer  ReplicaID       // who made it: a replica name and epoch (see Writer)
	Time    clock.Timestamp // when; zero for a multi-value register's write
	Seq     uint64          // its sequence number at Writer, where it has a dot; else 0
	Value   any             // the value written; nil for a delete
	Deleted bool            // the write was a delete
}
