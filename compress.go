package crdt

// The engine chooses, per state, between its plain form and the
// compressed one (codec.KindCompressed): a state, or a part of one, of at
// least Config.CompressAbove bytes is compressed, and the compressed form
// kept only if it is smaller (codec.Compressor.Compress decides). The
// objects never see the compressed form: the engine decompresses what it
// receives (catch-up states and parts, the states of a snapshot, the
// changes of a journal) within its limits before handing it to them, so a
// user's own data type is replicated compressed too: a state or part at
// most Limits.MaxBytes plain, and the states of one message, or the parts
// of one chunk, at most that together (see unpackParts), so that a
// message costs no more to take in than a plain message of the limit.
// What a peer sent is journaled as it arrived.

// pack returns data compressed, if it is at least Config.CompressAbove
// bytes, at most max bytes plain (what the reader will accept once
// decompressed; 0 for no bound), and smaller compressed.
func (r *Replica) pack(data []byte, max int) []byte {
	if r.cfg.CompressAbove < 0 || len(data) < r.cfg.CompressAbove || max > 0 && len(data) > max {
		return data
	}
	r.compMu.Lock()
	defer r.compMu.Unlock()
	out, _ := r.comp.Compress(data)
	return out
}
