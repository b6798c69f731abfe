//go:build race

package costcheck

// raceFactor stretches the time bound: the race detector makes code
// several times slower.
const raceFactor = 20

// raceAlloc is the allocation bound in eighths: the race detector's
// bookkeeping allocates a few percent more than the code under test.
const raceAlloc = 9
