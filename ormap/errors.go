package ormap

import "errors"

var (
	// ErrInvalidOp is returned by [Map.Apply] and [Op.MarshalBinary] for an
	// op that means nothing: the zero Op, one whose dots name no event (an
	// empty replica ID, a zero sequence number), one that drops a dot its
	// own replica had not yet made, or one whose value does not fit the
	// map's type. The map is left unchanged.
	ErrInvalidOp = errors.New("ormap: invalid op")

	// ErrOverflow is returned (through [Op.Err]) by [Counter.Add] when the
	// counter's value as this replica sees it would leave the range of an
	// int64. Nothing changes.
	ErrOverflow = errors.New("ormap: counter overflow")
)

// ErrInvalidTTL is returned (through [Op.Err]) by [Map.Expire] for an
// expiry that is not in the future, or on a map without a clock (see
// [Map.SetClock]). Nothing changes.
var ErrInvalidTTL = errors.New("ormap: invalid expiry")
