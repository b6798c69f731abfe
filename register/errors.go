package register

import "errors"

// ErrInvalidOp is returned by [LWW.Apply], [MV.Apply] and the ops'
// MarshalBinary for an op that means nothing: the zero op, or one whose
// timestamp, replica or dots name no event. The register is left unchanged.
var ErrInvalidOp = errors.New("register: invalid op")
