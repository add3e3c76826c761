package jbmesh

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// LogRecord is what jb-mesh's logstore producer (pkg/logstore/producer.go)
// publishes: these keys, `ts` only when the producer was given a time,
// `duration_ms` only when positive, `ok` only when set. The node publishes one
// per served call on logs.call.<node>.<tool>.<method> before it replies.
type LogRecord struct {
	Level    string
	Kind     string
	Tool     string
	Method   string
	Corr     string
	Duration time.Duration
	OK       *bool
	Message  string
	Data     map[string]interface{}
}

var subjectSanitizer = regexp.MustCompile(`[^a-zA-Z0-9._-]+`)

// sanitizeToken: the logstore's sanitizeNode (used for node, tool and method tokens).
func sanitizeToken(s string) string {
	s = strings.Trim(subjectSanitizer.ReplaceAllString(strings.TrimSpace(s), "-"), "-.")
	if s == "" {
		return "unknown"
	}
	return s
}

// LogSubject is logstore.SubjectFor for the kinds a node publishes.
func LogSubject(node, kind, tool, method string) string {
	node = sanitizeToken(node)
	switch kind {
	case "tool":
		return fmt.Sprintf("logs.tool.%s.%s", node, sanitizeToken(tool))
	case "tool_call":
		return fmt.Sprintf("logs.call.%s.%s.%s", node, sanitizeToken(tool), sanitizeToken(method))
	case "audit":
		if tool == "" {
			tool = node
		}
		return fmt.Sprintf("logs.audit.%s", sanitizeToken(tool))
	default:
		return fmt.Sprintf("logs.node.%s", node)
	}
}

// PublishLog publishes a record the way BestEffortPublish does (errors ignored).
func (m *Mesh) PublishLog(r LogRecord) {
	rec := map[string]interface{}{
		"level": r.Level, "kind": r.Kind, "node": m.nodeName, "tool": r.Tool,
		"method": r.Method, "corr": r.Corr, "message": r.Message, "data": r.Data,
	}
	if r.Duration > 0 {
		rec["duration_ms"] = float64(r.Duration) / float64(time.Millisecond)
	}
	if r.OK != nil {
		rec["ok"] = *r.OK
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return
	}
	_ = m.nc.Publish(LogSubject(m.nodeName, r.Kind, r.Tool, r.Method), b)
}

func BoolPtr(v bool) *bool { return &v }
