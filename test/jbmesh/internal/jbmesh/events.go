package jbmesh

import (
	"encoding/json"
	"time"
)

// Event is pkg/events' envelope; published on events.<type>.
type Event struct {
	Type      string                 `json:"type"`
	Node      string                 `json:"node"`
	Timestamp time.Time              `json:"timestamp"`
	Data      map[string]interface{} `json:"data"`
}

func (m *Mesh) Emit(typ string, data map[string]interface{}) error {
	if m.Silent {
		return nil
	}
	b, err := json.Marshal(Event{Type: typ, Node: m.nodeName, Timestamp: time.Now(), Data: data})
	if err != nil {
		return err
	}
	return m.nc.Publish("events."+typ, b)
}
