package jbmesh

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/nats-io/nuid"
)

func callSubject(tool, method string, target []string) string {
	if len(target) > 0 && target[0] != "" {
		return NodeCallSubject(target[0], tool, method)
	}
	return CallSubject(tool, method)
}

func newRequest(params map[string]interface{}, callID string) ([]byte, error) {
	req := CallRequest{Params: params, CallID: callID}
	if corr, ok := extractCorr(params); ok {
		req.Corr = corr
	}
	return json.Marshal(req)
}

// Call: plain request/reply without call_id (the node takes its non-cancellable path).
func (m *Mesh) Call(tool, method string, params map[string]interface{}, timeout time.Duration, target ...string) (*CallResult, error) {
	subject := callSubject(tool, method, target)
	data, err := newRequest(params, "")
	if err != nil {
		return nil, err
	}
	msg, err := m.nc.Request(subject, data, timeout)
	if err != nil {
		return nil, fmt.Errorf("call to %s failed: %w", subject, err)
	}
	var res CallResult
	if err := json.Unmarshal(msg.Data, &res); err != nil {
		return nil, fmt.Errorf("failed to parse response: %w", err)
	}
	return &res, nil
}

// CallWithContext: a fresh NUID call_id; when ctx ends first, publish an empty
// cancel.<call_id> and return ctx.Err() without waiting for the node.
func (m *Mesh) CallWithContext(ctx context.Context, tool, method string, params map[string]interface{}, target ...string) (*CallResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	subject := callSubject(tool, method, target)
	callID := nuid.Next()
	data, err := newRequest(params, callID)
	if err != nil {
		return nil, err
	}
	msg, err := m.nc.RequestWithContext(ctx, subject, data)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			_ = m.nc.Publish(CancelSubject(callID), nil)
			return nil, ctxErr
		}
		return nil, fmt.Errorf("call to %s failed: %w", subject, err)
	}
	var res CallResult
	if err := json.Unmarshal(msg.Data, &res); err != nil {
		return nil, fmt.Errorf("failed to parse response: %w", err)
	}
	return &res, nil
}

// Stream: subscribe a fresh inbox, publish the request with it as reply, and
// hand frames over until one has done=true (or ctx ends: then publish the cancel).
// Like jb-mesh's, this channel ends only on done — an error frame without done
// does not end it.
func (m *Mesh) Stream(ctx context.Context, tool, method string, params map[string]interface{}, target ...string) (<-chan StreamFrame, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	subject := StreamSubject(tool, method)
	if len(target) > 0 && target[0] != "" {
		subject = NodeStreamSubject(target[0], tool, method)
	}
	callID := nuid.Next()
	data, err := newRequest(params, callID)
	if err != nil {
		return nil, err
	}
	inbox := m.nc.NewRespInbox()
	raw := make(chan *nats.Msg, 32)
	sub, err := m.nc.ChanSubscribe(inbox, raw)
	if err != nil {
		return nil, fmt.Errorf("subscribe stream inbox: %w", err)
	}
	if err := m.nc.PublishRequest(subject, inbox, data); err != nil {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("publish stream %s: %w", subject, err)
	}
	out := make(chan StreamFrame, 1)
	cancel := func() { _ = m.nc.Publish(CancelSubject(callID), nil) }
	go func() {
		defer close(out)
		defer sub.Unsubscribe()
		for {
			select {
			case msg := <-raw:
				var f StreamFrame
				if err := json.Unmarshal(msg.Data, &f); err != nil {
					select {
					case out <- StreamFrame{Error: fmt.Sprintf("parse frame: %v", err), Done: true}:
					case <-ctx.Done():
					}
					return
				}
				select {
				case out <- f:
				case <-ctx.Done():
					cancel()
					return
				}
				if f.Done {
					return
				}
			case <-ctx.Done():
				cancel()
				return
			}
		}
	}()
	return out, nil
}

// ListServices: one $SRV.INFO request, every reply collected for 500 ms.
func (m *Mesh) ListServices() ([]micro.Info, error) {
	var (
		mu    sync.Mutex
		infos []micro.Info
	)
	inbox := m.nc.NewRespInbox()
	sub, err := m.nc.Subscribe(inbox, func(msg *nats.Msg) {
		var info micro.Info
		if json.Unmarshal(msg.Data, &info) == nil {
			mu.Lock()
			infos = append(infos, info)
			mu.Unlock()
		}
	})
	if err != nil {
		return nil, err
	}
	_ = m.nc.PublishRequest("$SRV.INFO", inbox, nil)
	time.Sleep(500 * time.Millisecond)
	_ = sub.Unsubscribe()
	mu.Lock()
	defer mu.Unlock()
	return append([]micro.Info(nil), infos...), nil
}

// GetToolSchema: empty request on node.<node>.tools.<tool>.schema.
func (m *Mesh) GetToolSchema(node, tool string, timeout time.Duration) (*SchemaResult, error) {
	msg, err := m.nc.Request(fmt.Sprintf("node.%s.tools.%s.schema", node, tool), []byte{}, timeout)
	if err != nil {
		return nil, fmt.Errorf("schema request to %s for %s failed: %w", node, tool, err)
	}
	var res SchemaResult
	if err := json.Unmarshal(msg.Data, &res); err != nil {
		return nil, fmt.Errorf("failed to parse schema response: %w", err)
	}
	return &res, nil
}

// Request sends a JSON body to subject and decodes the JSON reply into a generic value.
func (m *Mesh) Request(subject string, body interface{}, timeout time.Duration) (map[string]interface{}, error) {
	data, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	msg, err := m.nc.Request(subject, data, timeout)
	if err != nil {
		return nil, fmt.Errorf("request to %s failed: %w", subject, err)
	}
	var out map[string]interface{}
	if err := json.Unmarshal(msg.Data, &out); err != nil {
		return nil, fmt.Errorf("failed to parse response: %w", err)
	}
	return out, nil
}
