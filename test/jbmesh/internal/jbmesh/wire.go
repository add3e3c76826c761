// Package jbmesh re-creates, on nats.go alone, what jb-mesh's pkg/mesh,
// pkg/filestore and pkg/events put on the wire. The Go module proxy refuses
// github.com/richinsley/jb-mesh, so these fixtures follow its source (tags
// v0.0.2 and v0.0.9) path by path instead of importing it. Field names, JSON
// tags and omitempty choices are the wire contract: keep them as jb-mesh has them.
package jbmesh

import (
	"fmt"
	"strings"
)

// MethodSchema is what a node puts, JSON-encoded, in endpoint metadata "schema".
// Stream is omitted when false (jb-mesh keeps older consumers working that way).
type MethodSchema struct {
	Properties  map[string]interface{} `json:"properties,omitempty"`
	Required    []string               `json:"required,omitempty"`
	Description string                 `json:"description,omitempty"`
	Type        string                 `json:"type,omitempty"`
	Stream      bool                   `json:"stream,omitempty"`
}

// CallRequest is the body of every call and stream request.
type CallRequest struct {
	Params map[string]interface{} `json:"params"`
	Node   string                 `json:"node,omitempty"`
	Corr   string                 `json:"corr,omitempty"`
	CallID string                 `json:"call_id,omitempty"`
}

// CallResult is the reply to a request/reply call; Node is never omitted.
type CallResult struct {
	OK     bool        `json:"ok"`
	Result interface{} `json:"result,omitempty"`
	Error  string      `json:"error,omitempty"`
	Node   string      `json:"node"`
}

// StreamFrame is how a Go caller decodes a frame. Done is never omitted when a
// Go program encodes one (setup error frames carry "done":true); frames that
// come from a Python tool are raw maps and may lack it.
type StreamFrame struct {
	Chunk  interface{} `json:"chunk,omitempty"`
	Result interface{} `json:"result,omitempty"`
	Done   bool        `json:"done"`
	Error  string      `json:"error,omitempty"`
	Node   string      `json:"node,omitempty"`
}

// ToolHandler serves one request/reply call of a tool.
type ToolHandler func(req CallRequest, method string, params map[string]interface{}) (interface{}, error)

func CancelSubject(callID string) string { return "cancel." + callID }

func CallSubject(tool, method string) string { return fmt.Sprintf("tools.%s.%s", tool, method) }

func NodeCallSubject(node, tool, method string) string {
	return fmt.Sprintf("node.%s.tools.%s.%s", node, tool, method)
}

func StreamSubject(tool, method string) string {
	return fmt.Sprintf("tools.%s.%s.stream", tool, method)
}

func NodeStreamSubject(node, tool, method string) string {
	return fmt.Sprintf("node.%s.tools.%s.%s.stream", node, tool, method)
}

// extractCorr: the Go caller copies a correlation id from the params when one is there.
func extractCorr(params map[string]interface{}) (string, bool) {
	for _, key := range []string{"corr", "correlation_id", "trace_id"} {
		if v, ok := params[key].(string); ok && strings.TrimSpace(v) != "" {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

// Admin requests and replies (node.<node>.install|uninstall|update|config|release.inspect).
type InstallRequest struct {
	Source string `json:"source"`
}
type InstallResult struct {
	OK       bool   `json:"ok"`
	ToolName string `json:"tool_name,omitempty"`
	Version  string `json:"version,omitempty"`
	Error    string `json:"error,omitempty"`
	Node     string `json:"node"`
}
type UninstallRequest struct {
	ToolName  string `json:"tool_name"`
	RemoveEnv bool   `json:"remove_env"`
}
type UninstallResult struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
	Node  string `json:"node"`
}
type UpdateRequest struct {
	ToolName string `json:"tool_name"`
	Clean    bool   `json:"clean"`
}
type UpdateResult struct {
	OK         bool   `json:"ok"`
	ToolName   string `json:"tool_name,omitempty"`
	OldVersion string `json:"old_version,omitempty"`
	NewVersion string `json:"new_version,omitempty"`
	Error      string `json:"error,omitempty"`
	Node       string `json:"node"`
}
type ConfigRequest struct {
	ToolName string                 `json:"tool_name"`
	Action   string                 `json:"action"`
	Values   map[string]interface{} `json:"values,omitempty"`
}
type ConfigResult struct {
	OK     bool                   `json:"ok"`
	Config map[string]interface{} `json:"config,omitempty"`
	Error  string                 `json:"error,omitempty"`
	Node   string                 `json:"node"`
}
type ReleaseInspectRequest struct {
	ToolName string `json:"tool_name"`
}
type ReleaseInspectInfo struct {
	ToolName        string      `json:"tool_name"`
	ToolPath        string      `json:"tool_path"`
	ManifestVersion string      `json:"manifest_version"`
	Repo            interface{} `json:"repo,omitempty"`
}
type ReleaseInspectResult struct {
	OK    bool                `json:"ok"`
	Error string              `json:"error,omitempty"`
	Node  string              `json:"node"`
	Info  *ReleaseInspectInfo `json:"info,omitempty"`
}

// SchemaResult answers node.<node>.tools.<tool>.schema (no node field).
type SchemaResult struct {
	OK     bool                   `json:"ok"`
	Schema map[string]interface{} `json:"schema,omitempty"`
	Error  string                 `json:"error,omitempty"`
}
