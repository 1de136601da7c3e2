package feedback

import (
	"testing"
)

func TestMemoryConformance(t *testing.T) {
	runConformance(t, func(*testing.T) Store { return NewMemoryStore(MemoryOptions{}) })
}
