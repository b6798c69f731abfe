//go:build race

package costcheck

// raceFactor stretches the time bound: the race detector makes code
// several times slower.
const raceFactor = 20
