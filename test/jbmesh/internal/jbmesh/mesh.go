package jbmesh

import (
	"encoding/json"
	"fmt"
	"log"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

// Mesh is one node's (or caller's) connection, as jb-mesh pkg/mesh has it.
type Mesh struct {
	nc        *nats.Conn
	nodeName  string
	mu        sync.Mutex
	services  []micro.Service
	nodeSubs  []*nats.Subscription
	regs      []registration
	fileStore *Store
	// OnReRegistered runs after a reconnect re-registration (the node fixture re-adds its
	// stream subjects' bookkeeping and logs it).
	OnReRegistered func()
	// Silent: no lifecycle events, like a Go program on pkg/mesh alone (no pkg/node).
	Silent bool
}

type registration struct {
	name, version, description string
	methods                    []string
	schemas                    map[string]MethodSchema
	handler                    ToolHandler
}

// Options for New. ReconnectWait is 2 s in jb-mesh; tests may shorten it.
type Options struct {
	URL           string
	NodeName      string
	ReconnectWait time.Duration
}

// New connects like mesh.New: reconnect forever, and on every reconnect stop all
// services and register them again (new service ids), then announce the node.
func New(o Options) (*Mesh, error) {
	if o.URL == "" {
		o.URL = nats.DefaultURL
	}
	if o.ReconnectWait == 0 {
		o.ReconnectWait = 2 * time.Second
	}
	m := &Mesh{nodeName: o.NodeName}
	nc, err := nats.Connect(o.URL,
		nats.Name("jbmesh-fixture:"+o.NodeName),
		nats.ReconnectWait(o.ReconnectWait),
		nats.MaxReconnects(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { log.Printf("[mesh] disconnected: %v", err) }),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Printf("[mesh] reconnected to %s", nc.ConnectedUrl())
			go m.reRegister()
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("failed to connect to NATS at %s: %w", o.URL, err)
	}
	m.nc = nc
	return m, nil
}

func (m *Mesh) Conn() *nats.Conn      { return m.nc }
func (m *Mesh) NodeName() string      { return m.nodeName }
func (m *Mesh) SetFileStore(s *Store) { m.fileStore = s }

// RegisterTool: one micro service per tool (metadata node), one endpoint per
// method in group tools.<tool> (default queue group), schema JSON in endpoint
// metadata when the node has one for the method, plus a plain subscription on
// node.<node>.tools.<tool>.<method>.
func (m *Mesh) RegisterTool(name, version, description string, methods []string, handler ToolHandler, schemas map[string]MethodSchema) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.regs = append(m.regs, registration{name, version, description, methods, schemas, handler})
	return m.registerLocked(m.regs[len(m.regs)-1])
}

func (m *Mesh) registerLocked(r registration) error {
	svc, err := micro.AddService(m.nc, micro.Config{
		Name:        r.name,
		Version:     r.version,
		Description: r.description,
		Metadata:    map[string]string{"node": m.nodeName},
	})
	if err != nil {
		return fmt.Errorf("failed to register service %s: %w", r.name, err)
	}
	group := svc.AddGroup("tools." + r.name)
	for _, method := range r.methods {
		method := method
		var opts []micro.EndpointOpt
		if s, ok := r.schemas[method]; ok {
			if b, err := json.Marshal(s); err == nil {
				opts = append(opts, micro.WithEndpointMetadata(map[string]string{"schema": string(b)}))
			}
		}
		serve := func(data []byte, respond func([]byte)) {
			respond(m.serveCall(r.handler, method, data))
		}
		if err := group.AddEndpoint(method, micro.HandlerFunc(func(req micro.Request) {
			serve(req.Data(), func(b []byte) { _ = req.Respond(b) })
		}), opts...); err != nil {
			_ = svc.Stop()
			return fmt.Errorf("failed to register endpoint %s.%s: %w", r.name, method, err)
		}
		sub, err := m.nc.Subscribe(NodeCallSubject(m.nodeName, r.name, method), func(msg *nats.Msg) {
			serve(msg.Data, func(b []byte) { _ = msg.Respond(b) })
		})
		if err != nil {
			log.Printf("[mesh] warning: node-targeted %s.%s: %v", r.name, method, err)
		} else {
			m.nodeSubs = append(m.nodeSubs, sub)
		}
	}
	m.services = append(m.services, svc)
	return nil
}

// serveCall: parse, resolve file params (request/reply only), run, answer.
func (m *Mesh) serveCall(handler ToolHandler, method string, data []byte) []byte {
	var req CallRequest
	if len(data) > 0 {
		if err := json.Unmarshal(data, &req); err != nil {
			b, _ := json.Marshal(CallResult{OK: false, Error: fmt.Sprintf("invalid request: %v", err), Node: m.nodeName})
			return b
		}
	}
	if req.Params == nil {
		req.Params = map[string]interface{}{}
	}
	if m.fileStore != nil {
		cleanup := ResolveFileParams(req.Params, m.fileStore, m.nc)
		defer cleanup()
	}
	result, err := handler(req, method, req.Params)
	resp := CallResult{OK: true, Result: result, Node: m.nodeName}
	if err != nil {
		resp = CallResult{OK: false, Error: err.Error(), Node: m.nodeName}
	}
	// A reply that cannot be encoded (NaN) is dropped: the caller hears nothing.
	b, _ := json.Marshal(resp)
	return b
}

func (m *Mesh) reRegister() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.regs) == 0 {
		return
	}
	for _, s := range m.services {
		_ = s.Stop()
	}
	m.services = nil
	for _, s := range m.nodeSubs {
		_ = s.Unsubscribe()
	}
	m.nodeSubs = nil
	for _, r := range m.regs {
		if err := m.registerLocked(r); err != nil {
			log.Printf("[mesh] ERROR: re-register %s: %v", r.name, err)
		}
	}
	// Not an Event envelope: jb-mesh formats this one by hand (and pkg/mesh sends it too).
	_ = m.nc.Publish("events.node.joined", []byte(fmt.Sprintf(`{"node":"%s","event":"reconnect"}`, m.nodeName)))
	if m.OnReRegistered != nil {
		m.OnReRegistered()
	}
}

// UnregisterTool stops the tool's service and its node-targeted subscriptions.
func (m *Mesh) UnregisterTool(name string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	found := false
	for i, s := range m.services {
		if s.Info().Name == name {
			_ = s.Stop()
			m.services = append(m.services[:i], m.services[i+1:]...)
			found = true
			break
		}
	}
	prefix := fmt.Sprintf("node.%s.tools.%s.", m.nodeName, name)
	kept := m.nodeSubs[:0]
	for _, s := range m.nodeSubs {
		if strings.HasPrefix(s.Subject, prefix) {
			_ = s.Unsubscribe()
		} else {
			kept = append(kept, s)
		}
	}
	m.nodeSubs = kept
	regs := m.regs[:0]
	for _, r := range m.regs {
		if r.name != name {
			regs = append(regs, r)
		}
	}
	m.regs = regs
	return found
}

// StopServices stops every service and node subscription, keeping the connection.
func (m *Mesh) StopServices() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.services {
		_ = s.Stop()
	}
	m.services = nil
	for _, s := range m.nodeSubs {
		_ = s.Unsubscribe()
	}
	m.nodeSubs = nil
}

func (m *Mesh) Close() {
	m.StopServices()
	m.nc.Close()
}

// --- node-side request handlers (node.<node>.*) ---

func (m *Mesh) subscribeJSON(subject string, handle func(data []byte) interface{}) error {
	_, err := m.nc.Subscribe(subject, func(msg *nats.Msg) {
		b, _ := json.Marshal(handle(msg.Data))
		_ = msg.Respond(b)
	})
	return err
}

// SubscribeToolSchema serves node.<node>.tools.*.schema; the tool is the 4th token.
func (m *Mesh) SubscribeToolSchema(handler func(tool string) (map[string]interface{}, error)) error {
	_, err := m.nc.Subscribe(fmt.Sprintf("node.%s.tools.*.schema", m.nodeName), func(msg *nats.Msg) {
		parts := strings.Split(msg.Subject, ".")
		var resp SchemaResult
		if len(parts) < 5 {
			resp = SchemaResult{Error: "invalid subject format"}
		} else if s, err := handler(parts[3]); err != nil {
			resp = SchemaResult{Error: err.Error()}
		} else {
			resp = SchemaResult{OK: true, Schema: s}
		}
		b, _ := json.Marshal(resp)
		_ = msg.Respond(b)
	})
	return err
}

// AdminHandlers are the node's answers to the administration requests.
type AdminHandlers struct {
	Install   func(source string) (string, string, error)
	Uninstall func(tool string, removeEnv bool) error
	Update    func(tool string, clean bool) (string, string, error)
	Config    func(tool, action string, values map[string]interface{}) (map[string]interface{}, error)
	Inspect   func(tool string) (*ReleaseInspectInfo, error)
}

func (m *Mesh) SubscribeAdmin(h AdminHandlers) error {
	n := m.nodeName
	invalid := func(err error) string { return fmt.Sprintf("invalid request: %v", err) }
	errs := []error{
		m.subscribeJSON("node."+n+".install", func(d []byte) interface{} {
			var r InstallRequest
			if err := json.Unmarshal(d, &r); err != nil {
				return InstallResult{Error: invalid(err), Node: n}
			}
			tool, ver, err := h.Install(r.Source)
			if err != nil {
				return InstallResult{Error: err.Error(), Node: n}
			}
			return InstallResult{OK: true, ToolName: tool, Version: ver, Node: n}
		}),
		m.subscribeJSON("node."+n+".uninstall", func(d []byte) interface{} {
			var r UninstallRequest
			if err := json.Unmarshal(d, &r); err != nil {
				return UninstallResult{Error: invalid(err), Node: n}
			}
			if err := h.Uninstall(r.ToolName, r.RemoveEnv); err != nil {
				return UninstallResult{Error: err.Error(), Node: n}
			}
			return UninstallResult{OK: true, Node: n}
		}),
		m.subscribeJSON("node."+n+".update", func(d []byte) interface{} {
			var r UpdateRequest
			if err := json.Unmarshal(d, &r); err != nil {
				return UpdateResult{Error: invalid(err), Node: n}
			}
			oldV, newV, err := h.Update(r.ToolName, r.Clean)
			if err != nil {
				return UpdateResult{Error: err.Error(), Node: n}
			}
			return UpdateResult{OK: true, ToolName: r.ToolName, OldVersion: oldV, NewVersion: newV, Node: n}
		}),
		m.subscribeJSON("node."+n+".config", func(d []byte) interface{} {
			var r ConfigRequest
			if err := json.Unmarshal(d, &r); err != nil {
				return ConfigResult{Error: invalid(err), Node: n}
			}
			cfg, err := h.Config(r.ToolName, r.Action, r.Values)
			if err != nil {
				return ConfigResult{Error: err.Error(), Node: n}
			}
			return ConfigResult{OK: true, Config: cfg, Node: n}
		}),
		m.subscribeJSON("node."+n+".release.inspect", func(d []byte) interface{} {
			var r ReleaseInspectRequest
			if err := json.Unmarshal(d, &r); err != nil {
				return ReleaseInspectResult{Error: invalid(err), Node: n}
			}
			info, err := h.Inspect(r.ToolName)
			if err != nil {
				return ReleaseInspectResult{Error: err.Error(), Node: n}
			}
			return ReleaseInspectResult{OK: true, Node: n, Info: info}
		}),
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
