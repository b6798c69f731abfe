//go:build !race

package register

// timeFactor stretches the time bounds of the fuzz targets under the race
// detector; without it they apply as they are.
const timeFactor = 1
