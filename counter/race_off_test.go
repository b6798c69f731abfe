//go:build !race

package counter

// raceSlowdown scales the time bound of the cost checks: the race detector
// makes code several times slower.
const raceSlowdown = 1
