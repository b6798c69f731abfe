//go:build !race

package vclock_test

// timeFactor stretches the time bounds of the fuzz targets under the race
// detector; without it they apply as they are.
const timeFactor = 1
