package orset

import "errors"

// ErrInvalidOp is returned by [Set.Apply] and [Op.MarshalBinary] for an op
// that means nothing: the zero Op, or one whose dots name no event (an
// empty replica ID, a zero sequence number) or that drops a dot its own
// replica had not yet made. The set is left unchanged.
var ErrInvalidOp = errors.New("orset: invalid op")
