package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

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

// runPython runs the method "in the tool process": its response arrives on done.
// A method that returns None sends no response at all (jumpboot's _process_command
// answers only a non-None response), so done then never delivers. A sync method
// holds the tool's event loop: the tool's other calls wait, and the cancel cannot
// reach it. A oneshot tool gets a Python of its own for the call.
func (n *node) runPython(ctx context.Context, mf *manifest, method string, params map[string]interface{}, emit func(interface{})) <-chan pyOutcome {
	done := make(chan pyOutcome, 1)
	isSync := mf.Methods[method].Sync
	c := &pyCtx{tool: mf.Name, method: method, params: params, ctx: ctx, emit: emit, node: n, sync: isSync}
	go func() {
		if !mf.Persistent {
			if mf.REPL {
				time.Sleep(n.oneshotStart) // a new Python, main.py, __JB_READY__
			}
		} else if loop := n.loop(mf.Name); isSync {
			loop.Lock()
			defer loop.Unlock()
		} else {
			loop.RLock()
			defer loop.RUnlock()
		}
		v, err := behaviours[mf.Name][method](c)
		if v == pyNone && err == nil {
			return // no response, ever
		}
		done <- pyOutcome{v, err}
	}()
	return done
}

func (n *node) loop(tool string) *sync.RWMutex {
	n.mu.Lock()
	defer n.mu.Unlock()
	l, ok := n.loops[tool]
	if !ok {
		l = &sync.RWMutex{}
		n.loops[tool] = l
	}
	return l
}

type pyOutcome struct {
	value interface{}
	err   error
}

// errProcessExited: what a call in flight gets when the node stops its tools.
var errProcessExited = errors.New("queue call failed: python error: python process exited: signal: terminated")

// callHandler is the ToolHandler Node.registerTool gives the mesh: with a
// call_id it subscribes cancel.<call_id> for the call and takes the cancellable
// path; without one it runs to completion. Either way it publishes the call's
// record on logs.call.<node>.<tool>.<method> before the reply goes out.
func (n *node) callHandler(mf *manifest) jbmesh.ToolHandler {
	return func(req jbmesh.CallRequest, method string, params map[string]interface{}) (interface{}, error) {
		started := time.Now()
		corr := strings.TrimSpace(req.Corr)
		if corr == "" {
			if v, ok := params["corr"].(string); ok {
				corr = strings.TrimSpace(v)
			}
		}
		result, err := n.serve(mf, req, method, params)
		data := map[string]interface{}{}
		if err != nil {
			data["error"] = err.Error()
		}
		if result != nil {
			if b, mErr := json.Marshal(result); mErr == nil {
				data["response_bytes"] = len(b)
			}
		}
		level, message := "info", fmt.Sprintf("%s.%s completed", mf.Name, method)
		if err != nil {
			level, message = "error", fmt.Sprintf("%s.%s failed", mf.Name, method)
		}
		n.mesh.PublishLog(jbmesh.LogRecord{Level: level, Kind: "tool_call", Tool: mf.Name, Method: method, Corr: corr,
			Duration: time.Since(started), OK: jbmesh.BoolPtr(err == nil), Message: message, Data: data})
		return result, err
	}
}

func (n *node) serve(mf *manifest, req jbmesh.CallRequest, method string, params map[string]interface{}) (interface{}, error) {
	callID := strings.TrimSpace(req.CallID)
	report("call", map[string]interface{}{"tool": mf.Name, "method": method, "call_id": callID, "params": params, "corr": req.Corr})
	if _, err := n.preflight(mf.Name, method); err != nil {
		return nil, err
	}
	if callID == "" {
		return n.queueCall(nil, mf, method, params)
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
		v, err := n.queueCall(nil, mf, method, params)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return v, err
	}
	return n.queueCall(ctx, mf, method, params)
}

// queueCall: jumpboot's QueueProcess.Call (ctx nil: 300 s timeout) or CallContext.
// An exception comes back as "queue call failed: python error: <str(e)>"; after a
// cancel the call waits up to the cancel grace (5 s) for the method to answer and
// then fails with "queue call failed: context canceled" either way.
func (n *node) queueCall(ctx context.Context, mf *manifest, method string, params map[string]interface{}) (interface{}, error) {
	cctx := ctx
	if cctx == nil {
		cctx = context.Background()
	}
	done := n.runPython(cctx, mf, method, params, func(interface{}) {})
	var timeout <-chan time.Time
	if ctx == nil && !mf.REPL {
		timeout = time.After(n.queueTimeout)
	}
	select {
	case out := <-done:
		if mf.REPL {
			return replResult(out)
		}
		return queueResult(out)
	case <-n.procDone:
		return nil, errProcessExited
	case <-timeout:
		return nil, fmt.Errorf("queue call failed: timeout waiting for response to command: %s", method)
	case <-cctx.Done():
		grace := time.NewTimer(n.cancelGrace)
		defer grace.Stop()
		select {
		case <-done:
		case <-grace.C:
		case <-n.procDone:
			return nil, errProcessExited
		}
		return nil, fmt.Errorf("queue call failed: %w", cctx.Err())
	}
}

// queueResult: how jumpboot reshapes a response. jb-service answers a returned dict
// as the dict itself (plus request_id) and anything else as {"result": value}; then
// a string "error" fails the call, "result" replaces the response by its value, and
// a response left with one key (request_id dropped) is unwrapped.
func queueResult(out pyOutcome) (interface{}, error) {
	var pe *pyError
	if errors.As(out.err, &pe) {
		return nil, fmt.Errorf("queue call failed: python error: %s", pe.text())
	}
	if out.err != nil {
		return nil, out.err
	}
	resp := map[string]interface{}{}
	if d, ok := out.value.(map[string]interface{}); ok {
		for k, v := range d {
			resp[k] = v
		}
	} else {
		resp["result"] = out.value
	}
	resp["request_id"] = "req-1"
	if e, ok := resp["error"].(string); ok {
		return nil, fmt.Errorf("queue call failed: python error: %s", e)
	}
	if r, ok := resp["result"]; ok {
		return r, nil
	}
	delete(resp, "request_id")
	if len(resp) == 1 {
		for _, v := range resp {
			return v, nil
		}
	}
	return resp, nil
}

// replResult: the REPL transport's parseResponse (no reshaping, escaped tracebacks).
func replResult(out pyOutcome) (interface{}, error) {
	var pe *pyError
	if errors.As(out.err, &pe) {
		return nil, errors.New(pe.replText())
	}
	return out.value, out.err
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
// subscription's callback, so a node serves one stream per subject at a time. It
// logs the stream on logs.call.<node>.<tool>.<method> once it is over.
func (n *node) handleStream(tool, method string, msg *nats.Msg) {
	started := time.Now()
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
	corr := strings.TrimSpace(req.Corr)
	if corr == "" {
		if v, ok := req.Params["corr"].(string); ok {
			corr = strings.TrimSpace(v)
		}
	}
	report("stream", map[string]interface{}{"tool": tool, "method": method, "call_id": callID, "params": req.Params, "corr": req.Corr})
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
		n.mesh.PublishLog(jbmesh.LogRecord{Level: "error", Kind: "tool_call", Tool: tool, Method: method, Corr: corr,
			Duration: time.Since(started), OK: jbmesh.BoolPtr(false),
			Message: fmt.Sprintf("%s.%s stream failed at setup", tool, method), Data: map[string]interface{}{"error": err.Error()}})
		n.publishErrorFrame(msg.Reply, err.Error())
		return
	}
	count := 0
	var pubErr error
	for f := range frames {
		delete(f, "request_id")
		if _, ok := f["node"]; !ok {
			f["node"] = n.name
		}
		data, err := json.Marshal(f)
		if err != nil {
			continue // a frame that cannot be encoded (NaN) is skipped
		}
		if pubErr = n.mesh.Conn().Publish(msg.Reply, data); pubErr != nil {
			break // too large: the caller never hears the rest
		}
		count++
	}
	level, ok := "info", true
	if pubErr != nil || ctx.Err() != nil {
		level, ok = "error", false
	}
	ctxErr := ""
	if ctx.Err() != nil {
		ctxErr = ctx.Err().Error()
	}
	n.mesh.PublishLog(jbmesh.LogRecord{Level: level, Kind: "tool_call", Tool: tool, Method: method, Corr: corr,
		Duration: time.Since(started), OK: jbmesh.BoolPtr(ok),
		Message: fmt.Sprintf("%s.%s stream completed (%d frames)", tool, method, count),
		Data:    map[string]interface{}{"frames": count, "ctx_err": ctxErr}})
	report("stream-end", map[string]interface{}{"tool": tool, "method": method, "call_id": callID, "frames": count, "cancelled": ctx.Err() != nil})
}

// callStream is Executor.CallStream + jumpboot's QueueProcess.CallStream: frames
// as maps. Partial frames {"chunk", "done":false}; the return value as
// {"result", "done":true}; an exception as {"error","traceback","done":true} (the
// traceback chained by jb-service's re-raise); None sends nothing and the channel
// stays open until a cancel; a cancel closes the channel with no terminal frame;
// the tool process exiting sends {"error"} without done.
func (n *node) callStream(ctx context.Context, tool, method string, params map[string]interface{}) (<-chan map[string]interface{}, error) {
	mf, err := n.preflight(tool, method)
	if err != nil {
		return nil, err
	}
	if mf.REPL {
		return nil, fmt.Errorf("streaming requires msgpack transport; tool %s uses %q", tool, "repl")
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
	done := n.runPython(ctx, mf, method, params, emit)
	go func() {
		defer close(out)
		select {
		case <-ctx.Done():
			return
		case <-n.procDone:
			out <- map[string]interface{}{"error": "python process exited: signal: terminated", "request_id": "r1"}
		case res := <-done:
			if ctx.Err() != nil {
				return
			}
			var pe *pyError
			if errors.As(res.err, &pe) {
				out <- map[string]interface{}{"error": pe.text(), "traceback": pe.chainedTraceback(), "done": true, "request_id": "r1"}
			} else {
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
