//go:build !race

package register

// raceSlowdown scales the time bound of the cost checks: the race detector
// makes code several times slower.
const raceSlowdown = 1
