//go:build !race

package costcheck

// raceFactor stretches the time bound under the race detector; without it
// the bound holds as it is.
const raceFactor = 1

// raceAlloc is the allocation bound in eighths: as it is.
const raceAlloc = 8
