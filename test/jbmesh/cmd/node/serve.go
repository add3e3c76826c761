package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"
	"meshmcp/jbmesh-fixtures/internal/jbmesh"
)

// executor: what tools.Executor answers before a call reaches Python.
func (n *node) preflight(tool, method string) (*manifest, error) {
	n.mu.Lock()
	mf, ok := n.installed[tool]
	n.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("tool not found: %s", tool)
	}
	if _, ok := mf.Methods[method]; !ok {
		return nil, fmt.Errorf("method not found: %s", method)
	}
	if mf.Persistent && n.notRunning[tool] {
		return nil, fmt.Errorf("tool %s is not running, start it first", tool)
	}
	return mf, nil
}

// runPython runs the method "in the tool process": its outcome arrives on done.
func (n *node) runPython(ctx context.Context, tool, method string, params map[string]interface{}, emit func(interface{})) <-chan pyOutcome {
	done := make(chan pyOutcome, 1)
	c := &pyCtx{tool: tool, method: method, params: params, ctx: ctx, emit: emit, node: n}
	go func() {
		v, err := behaviours[tool][method](c)
		done <- pyOutcome{v, err}
	}()
	return done
}

type pyOutcome struct {
	value interface{}
	err   error
}

// callHandler is the ToolHandler Node.registerTool gives the mesh: with a
// call_id it subscribes cancel.<call_id> for the call and takes the cancellable
// path; without one it runs to completion.
func (n *node) callHandler(mf *manifest) jbmesh.ToolHandler {
	return func(req jbmesh.CallRequest, method string, params map[string]interface{}) (interface{}, error) {
		callID := strings.TrimSpace(req.CallID)
		report("call", map[string]interface{}{"tool": mf.Name, "method": method, "call_id": callID, "params": params, "corr": req.Corr})
		if _, err := n.preflight(mf.Name, method); err != nil {
			return nil, err
		}
		if callID == "" {
			return n.queueCall(context.Background(), mf, method, params)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		sub, err := n.mesh.Conn().Subscribe(jbmesh.CancelSubject(callID), func(*nats.Msg) {
			report("cancel", map[string]interface{}{"tool": mf.Name, "method": method, "call_id": callID})
			cancel()
		})
		if err == nil {
			defer sub.Unsubscribe()
		}
		if !mf.Persistent {
			// Oneshot tools cannot be cancelled: the call runs, then ctx decides.
			v, err := n.queueCall(context.Background(), mf, method, params)
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return v, err
		}
		return n.queueCall(ctx, mf, method, params)
	}
}

// queueCall: jumpboot's queue call. An exception comes back as
// "queue call failed: python error: <str(e)>"; a cancel as "queue call failed: context canceled".
func (n *node) queueCall(ctx context.Context, mf *manifest, method string, params map[string]interface{}) (interface{}, error) {
	select {
	case out := <-n.runPython(ctx, mf.Name, method, params, func(interface{}) {}):
		var pe *pyError
		if errors.As(out.err, &pe) {
			if pe.typ == "CallCancelled" && ctx.Err() != nil {
				return nil, fmt.Errorf("queue call failed: %w", ctx.Err())
			}
			return nil, fmt.Errorf("queue call failed: python error: %s", pe.text())
		}
		if out.value == pyNone {
			return nil, nil
		}
		return out.value, out.err
	case <-ctx.Done():
		return nil, fmt.Errorf("queue call failed: %w", ctx.Err())
	}
}

// registerStreams: plain subscriptions (no queue group) on the load-balanced and
// the node-targeted .stream subjects of every streaming method.
func (n *node) registerStreams(mf *manifest) error {
	n.mu.Lock()
	old := n.streamSubs[mf.Name]
	delete(n.streamSubs, mf.Name)
	n.mu.Unlock()
	for _, s := range old {
		_ = s.Unsubscribe()
	}
	var subs []*nats.Subscription
	for method, def := range mf.Methods {
		if !def.Stream {
			continue
		}
		method := method
		h := func(msg *nats.Msg) { n.handleStream(mf.Name, method, msg) }
		for _, subj := range []string{jbmesh.StreamSubject(mf.Name, method), jbmesh.NodeStreamSubject(n.name, mf.Name, method)} {
			s, err := n.mesh.Conn().Subscribe(subj, h)
			if err != nil {
				return err
			}
			subs = append(subs, s)
		}
	}
	n.mu.Lock()
	n.streamSubs[mf.Name] = subs
	n.mu.Unlock()
	return nil
}

// handleStream follows Node.handleStreamRequest. It runs inside the
// subscription's callback, so a node serves one stream per subject at a time.
func (n *node) handleStream(tool, method string, msg *nats.Msg) {
	var req jbmesh.CallRequest
	if len(msg.Data) > 0 {
		if err := json.Unmarshal(msg.Data, &req); err != nil {
			n.publishErrorFrame(msg.Reply, fmt.Sprintf("invalid request: %v", err))
			return
		}
	}
	if req.Params == nil {
		req.Params = map[string]interface{}{}
	}
	callID := strings.TrimSpace(req.CallID)
	report("stream", map[string]interface{}{"tool": tool, "method": method, "call_id": callID, "params": req.Params})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if callID != "" {
		if s, err := n.mesh.Conn().Subscribe(jbmesh.CancelSubject(callID), func(*nats.Msg) {
			report("cancel", map[string]interface{}{"tool": tool, "method": method, "call_id": callID})
			cancel()
		}); err == nil {
			defer s.Unsubscribe()
		}
	}
	frames, err := n.callStream(ctx, tool, method, req.Params)
	if err != nil {
		n.publishErrorFrame(msg.Reply, err.Error())
		return
	}
	count := 0
	for f := range frames {
		delete(f, "request_id")
		if _, ok := f["node"]; !ok {
			f["node"] = n.name
		}
		data, err := json.Marshal(f)
		if err != nil {
			continue // a frame that cannot be encoded (NaN) is skipped
		}
		if err := n.mesh.Conn().Publish(msg.Reply, data); err != nil {
			break // too large: the caller never hears the rest
		}
		count++
	}
	report("stream-end", map[string]interface{}{"tool": tool, "method": method, "call_id": callID, "frames": count, "cancelled": ctx.Err() != nil})
}

// callStream is Executor.CallStream + jumpboot's QueueProcess.CallStream: frames
// as maps. Partial frames {"chunk", "done":false}; the return value as
// {"result", "done":true}; an exception as {"error","traceback"} without done
// (jumpboot ends the channel on it); None sends nothing and the channel stays
// open until a cancel; a cancel closes the channel with no terminal frame.
func (n *node) callStream(ctx context.Context, tool, method string, params map[string]interface{}) (<-chan map[string]interface{}, error) {
	mf, err := n.preflight(tool, method)
	if err != nil {
		return nil, err
	}
	if !mf.Persistent {
		return nil, fmt.Errorf("streaming requires persistent mode; tool %s uses %q", tool, "oneshot")
	}
	out := make(chan map[string]interface{}, 16)
	emit := func(chunk interface{}) {
		select {
		case out <- map[string]interface{}{"chunk": chunk, "done": false, "request_id": "r1"}:
		case <-ctx.Done():
		}
	}
	done := n.runPython(ctx, tool, method, params, emit)
	go func() {
		defer close(out)
		select {
		case <-ctx.Done():
			return
		case res := <-done:
			if ctx.Err() != nil {
				return
			}
			var pe *pyError
			switch {
			case errors.As(res.err, &pe):
				out <- map[string]interface{}{"error": pe.text(), "traceback": pe.traceback(), "request_id": "r1"}
			case res.value == pyNone:
				<-ctx.Done()
			default:
				out <- map[string]interface{}{"result": res.value, "done": true, "request_id": "r1"}
			}
		}
	}()
	return out, nil
}

func (n *node) publishErrorFrame(reply, text string) {
	if reply == "" {
		return
	}
	b, _ := json.Marshal(jbmesh.StreamFrame{Error: text, Done: true, Node: n.name})
	_ = n.mesh.Conn().Publish(reply, b)
}

// toolSchema answers node.<node>.tools.<tool>.schema from the manifest.
func (n *node) toolSchema(tool string) (map[string]interface{}, error) {
	if tool == "files" && n.flavour == "v0.0.9" {
		return jbmesh.FileToolSchemaMap(), nil
	}
	n.mu.Lock()
	mf, ok := n.installed[tool]
	n.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("tool not found: %s", tool)
	}
	return mf.schemaReply(), nil
}

func (n *node) adminHandlers() jbmesh.AdminHandlers {
	lookup := func(tool string) (*manifest, error) {
		n.mu.Lock()
		defer n.mu.Unlock()
		if mf, ok := n.installed[tool]; ok {
			return mf, nil
		}
		return nil, fmt.Errorf("tool not found: %s", tool)
	}
	return jbmesh.AdminHandlers{
		// A real node clones a git URL or copies a path; the fixture installs
		// from its catalogue, named as fixture://<tool>.
		Install: func(source string) (string, string, error) {
			mf, ok := catalogue[strings.TrimPrefix(source, "fixture://")]
			if !ok || !strings.HasPrefix(source, "fixture://") {
				return "", "", fmt.Errorf("failed to install from %s: not a fixture:// source", source)
			}
			if err := n.registerTool(mf); err != nil {
				return mf.Name, mf.Version, fmt.Errorf("installed but failed to register: %w", err)
			}
			_ = n.mesh.Emit("tool.installed", map[string]interface{}{"tool": mf.Name, "version": mf.Version})
			return mf.Name, mf.Version, nil
		},
		Uninstall: func(tool string, _ bool) error {
			if _, err := lookup(tool); err != nil {
				return err
			}
			_ = n.mesh.Emit("tool.stopped", map[string]interface{}{"tool": tool, "reason": "uninstall"})
			n.unregisterTool(tool)
			_ = n.mesh.Emit("tool.removed", map[string]interface{}{"tool": tool})
			return nil
		},
		Update: func(tool string, _ bool) (string, string, error) {
			mf, err := lookup(tool)
			if err != nil {
				return "", "", err
			}
			_ = n.mesh.Emit("tool.stopped", map[string]interface{}{"tool": tool, "reason": "update"})
			n.unregisterTool(tool)
			if err := n.registerTool(mf); err != nil {
				return mf.Version, mf.Version, fmt.Errorf("updated but failed to re-register: %w", err)
			}
			_ = n.mesh.Emit("tool.installed", map[string]interface{}{"tool": tool, "version": mf.Version})
			return mf.Version, mf.Version, nil
		},
		Config: func(tool, action string, values map[string]interface{}) (map[string]interface{}, error) {
			if _, err := lookup(tool); err != nil {
				return nil, err
			}
			n.mu.Lock()
			defer n.mu.Unlock()
			cfg := n.toolConfigs[tool]
			if cfg == nil {
				cfg = map[string]interface{}{}
				n.toolConfigs[tool] = cfg
			}
			switch action {
			case "get":
			case "set":
				for k, v := range values {
					cfg[k] = v
				}
				_ = n.mesh.Emit("tool.configured", map[string]interface{}{"tool": tool, "config": values})
			default:
				return nil, fmt.Errorf("unknown config action: %s", action)
			}
			out := map[string]interface{}{}
			for k, v := range cfg {
				out[k] = v
			}
			return out, nil
		},
		Inspect: func(tool string) (*jbmesh.ReleaseInspectInfo, error) {
			mf, err := lookup(tool)
			if err != nil {
				return nil, err
			}
			return &jbmesh.ReleaseInspectInfo{ToolName: tool, ToolPath: "/opt/jb-mesh/tools/" + tool, ManifestVersion: mf.Version}, nil
		},
	}
}
