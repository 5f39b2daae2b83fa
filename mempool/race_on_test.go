//go:build race

package mempool

// raceEnabled reports whether the race detector is on; the single-goroutine
// flood test then uses a smaller flood, since it has nothing to race.
const raceEnabled = true
