package vclock

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// A writer is what a dot, a counter contribution or an LWW timestamp names
// as the author of a change. A replica that can lose its state (an empty
// disk, an older backup, a second process started under the same name)
// must never write twice under one writer, or two different changes would
// carry one identity and the replicas would diverge for good. So the
// replication engine gives each run of a replica a writer of its own: the
// replica's name and a random epoch drawn when the run starts, written
// "name!epoch" (epoch in base 36). Writers sort by name first, then epoch,
// so the LWW rule "on a tie, the smaller replica wins" still reads as
// replica names.
//
// The data types take any ReplicaID as their writer; only the engine mints
// writers with epochs.

// epochSep separates a replica's name from its epoch in a writer. It sorts
// below every character a name may hold, so that writers sort as their
// names do.
const epochSep = '!'

// Writer returns the writer for the run of replica name that drew epoch.
func Writer(name ReplicaID, epoch uint64) ReplicaID {
	return name + ReplicaID(epochSep) + ReplicaID(strconv.FormatUint(epoch, 36))
}

// Name returns the replica name of a writer: id up to its epoch, or id
// itself if it has none.
func (id ReplicaID) Name() ReplicaID {
	if i := strings.IndexByte(string(id), epochSep); i >= 0 {
		return id[:i]
	}
	return id
}

// Epoch returns the epoch of a writer made by [Writer], and false if id
// has none.
func (id ReplicaID) Epoch() (uint64, bool) {
	i := strings.IndexByte(string(id), epochSep)
	if i < 0 {
		return 0, false
	}
	e, err := strconv.ParseUint(string(id[i+1:]), 36, 64)
	return e, err == nil
}

// CheckName reports whether id is a valid replica name: not empty, at most
// 255 bytes, and made of printable characters other than space and '!'
// (which separates a name from its epoch in a writer).
func CheckName(id ReplicaID) error {
	if id == "" {
		return fmt.Errorf("vclock: empty replica name")
	}
	if len(id) > 255 {
		return fmt.Errorf("vclock: replica name of %d bytes, limit 255", len(id))
	}
	for _, c := range string(id) {
		if c == epochSep || c == ' ' || !unicode.IsPrint(c) {
			return fmt.Errorf("vclock: replica name %q holds %q", id, c)
		}
	}
	return nil
}
