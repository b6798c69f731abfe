//go:build race

package register

// timeFactor stretches the time bounds of the fuzz targets under the race
// detector, which slows the code they time several times over.
const timeFactor = 10
