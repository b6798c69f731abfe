package clock

// SetLast forces the greatest timestamp the clock has seen, so tests can
// reach states (a full logical part, say) that would take billions of
// events to reach honestly.
func (c *Clock) SetLast(t Timestamp) {
	c.mu.Lock()
	c.last = t
	c.mu.Unlock()
}

// SystemSource exposes the default physical source to tests.
func SystemSource() Source { return systemSource() }
