package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nuid"
)

// This file stands in for the Python side (jb-service on jumpboot's msgpack
// queue), which cannot run here: what a tool method sees and what comes back.

// pyNone is a method that returned None: jumpboot sends no response for it.
var pyNone = &struct{ none bool }{true}

// pyError is an exception raised in a tool method. jb-service re-raises it as
// "<Type>: <message>\n<traceback>"; jumpboot answers {"error": str(e), "traceback": ...}.
type pyError struct{ typ, msg, method, tool string }

func (e *pyError) traceback() string {
	return fmt.Sprintf("Traceback (most recent call last):\n  File \"/opt/jb-mesh/tools/%s/main.py\", line 42, in %s\n    raise %s(%q)\n%s: %s\n",
		e.tool, e.method, e.typ, e.msg, e.typ, e.msg)
}

// text is str(e) of the re-raised exception.
func (e *pyError) text() string  { return fmt.Sprintf("%s: %s\n%s", e.typ, e.msg, e.traceback()) }
func (e *pyError) Error() string { return e.text() }

// chainedTraceback: what a stream's terminal error frame carries. jb-service
// catches the method's exception and re-raises it while handling it, so Python
// chains the two ("During handling of the above exception…").
func (e *pyError) chainedTraceback() string {
	return e.traceback() + "\nDuring handling of the above exception, another exception occurred:\n\n" +
		"Traceback (most recent call last):\n  File \"/opt/jb-mesh/sdk/jb_service/queue_server.py\", line 211, in _run_stream\n" +
		"    raise type(e)(f\"{type(e).__name__}: {e}\\n{tb}\") from None\n" + e.text() + "\n"
}

// replText: the error jb-mesh's REPL transport makes of an exception
// (parseResponse): "<Type>: <message>\n" and then the traceback as the REPL
// printed it, its newlines still escaped.
func (e *pyError) replText() string {
	return fmt.Sprintf("%s: %s\n%s", e.typ, e.msg, strings.ReplaceAll(e.traceback(), "\n", `\n`))
}

type pyCtx struct {
	tool, method string
	params       map[string]interface{}
	ctx          context.Context // fires when jumpboot forwards __cancel__
	emit         func(chunk interface{})
	node         *node
	sync         bool // a plain `def`: the cancel cannot reach it
}

func (c *pyCtx) raise(typ, msg string) error {
	return &pyError{typ: typ, msg: msg, method: c.method, tool: c.tool}
}

func (c *pyCtx) intParam(name string, def int) int {
	if v, ok := c.params[name].(float64); ok {
		return int(v)
	}
	return def
}

// sleep is a cooperative checkpoint (ctx.check_cancelled() between steps). A sync
// method never sees the cancel: jb-service handles __cancel__ on the event loop it blocks.
func (c *pyCtx) sleep(d time.Duration) error {
	if c.sync {
		time.Sleep(d)
		return nil
	}
	select {
	case <-time.After(d):
		return nil
	case <-c.ctx.Done():
		return c.raise("CallCancelled", "call cancelled by caller")
	}
}

type pyMethod func(c *pyCtx) (interface{}, error)

var behaviours = map[string]map[string]pyMethod{
	"calc": {
		"add": func(c *pyCtx) (interface{}, error) {
			a, okA := c.params["a"].(float64)
			b, okB := c.params["b"].(float64)
			if !okA || !okB {
				return nil, c.raise("ValueError", "Invalid parameters for add: a and b must be integers")
			}
			return a + b, nil
		},
		"divide": func(c *pyCtx) (interface{}, error) {
			a, _ := c.params["a"].(float64)
			b := 1.0
			if v, ok := c.params["b"].(float64); ok {
				b = v
			}
			if b == 0 {
				return nil, c.raise("ValueError", "Cannot divide by zero")
			}
			return a / b, nil
		},
		"whoami": func(c *pyCtx) (interface{}, error) {
			return map[string]interface{}{"node": c.node.name, "pid": os.Getpid()}, nil
		},
		"health": func(c *pyCtx) (interface{}, error) { return map[string]interface{}{"status": "ok"}, nil },
	},
	"writer": {
		"generate": func(c *pyCtx) (interface{}, error) {
			prompt, _ := c.params["prompt"].(string)
			n, delay := c.intParam("n", 3), c.intParam("delay_ms", 50)
			for i := 0; i < n; i++ {
				if err := c.sleep(time.Duration(delay) * time.Millisecond); err != nil {
					return nil, err
				}
				c.emit(map[string]interface{}{"i": i, "text": fmt.Sprintf("%s #%d", prompt, i)})
			}
			return map[string]interface{}{"text": fmt.Sprintf("%s done", prompt), "chunks": n, "node": c.node.name}, nil
		},
		"explode": func(c *pyCtx) (interface{}, error) {
			for i := 0; i < c.intParam("after", 2); i++ {
				c.emit(map[string]interface{}{"i": i})
				if err := c.sleep(20 * time.Millisecond); err != nil {
					return nil, err
				}
			}
			return nil, c.raise("RuntimeError", "the model ran out of memory")
		},
		"silent": func(c *pyCtx) (interface{}, error) {
			c.emit(map[string]interface{}{"status": "working"})
			return pyNone, nil
		},
	},
	"slow": {
		"sleep": func(c *pyCtx) (interface{}, error) {
			secs, _ := c.params["seconds"].(float64)
			deadline := time.Now().Add(time.Duration(secs * float64(time.Second)))
			for time.Now().Before(deadline) {
				if err := c.sleep(50 * time.Millisecond); err != nil {
					return nil, err
				}
			}
			return map[string]interface{}{"slept": secs, "node": c.node.name}, nil
		},
		"ticks": func(c *pyCtx) (interface{}, error) {
			n, iv := c.intParam("n", 10), c.intParam("interval_ms", 200)
			for i := 0; i < n; i++ {
				c.emit(map[string]interface{}{"tick": i, "of": n})
				if err := c.sleep(time.Duration(iv) * time.Millisecond); err != nil {
					return nil, err
				}
			}
			return map[string]interface{}{"ticks": n, "node": c.node.name}, nil
		},
	},
	"quirks": {
		"shape":   func(c *pyCtx) (interface{}, error) { return c.params["value"], nil },
		"nothing": func(c *pyCtx) (interface{}, error) { return pyNone, nil },
		"busy":    napFor("slept"),
		"nap":     napFor("napped"),
		"big": func(c *pyCtx) (interface{}, error) {
			return strings.Repeat("x", c.intParam("bytes", 0)), nil
		},
		"big_stream": func(c *pyCtx) (interface{}, error) {
			c.emit(map[string]interface{}{"status": "rendering"})
			return strings.Repeat("x", c.intParam("bytes", 0)), nil
		},
	},
	"notebook": {
		"echo": func(c *pyCtx) (interface{}, error) {
			return map[string]interface{}{"echo": c.params["text"]}, nil
		},
		"fail":  func(c *pyCtx) (interface{}, error) { return nil, c.raise("ValueError", "the notebook cell failed") },
		"count": func(c *pyCtx) (interface{}, error) { return 1, nil },
	},
	"images": {
		"render": func(c *pyCtx) (interface{}, error) {
			text, _ := c.params["text"].(string)
			ref := c.node.attachFile(renderPNG(text), "outputs/"+nuid.Next()+".png", "image/png")
			return injectMeshFiles(map[string]interface{}{"text": text, "width": 8, "height": 8}, ref), nil
		},
		"render_plain": func(c *pyCtx) (interface{}, error) {
			text, _ := c.params["text"].(string)
			ref := c.node.attachFile(renderPNG(text), "outputs/"+nuid.Next()+".png", "image/png")
			return injectMeshFiles("rendered "+text, ref), nil
		},
		"describe":        describe,
		"describe_stream": describe,
	},
}

// napFor sleeps `seconds` in 50 ms steps (each a cancel checkpoint for an async method).
func napFor(key string) pyMethod {
	return func(c *pyCtx) (interface{}, error) {
		secs, _ := c.params["seconds"].(float64)
		deadline := time.Now().Add(time.Duration(secs * float64(time.Second)))
		for time.Now().Before(deadline) {
			if err := c.sleep(50 * time.Millisecond); err != nil {
				return nil, err
			}
		}
		return map[string]interface{}{key: secs, "node": c.node.name}, nil
	}
}

// describe opens its `image` param as a path, as a Python tool would: the node
// resolved a store key to a temp file for request/reply calls, not for streams.
func describe(c *pyCtx) (interface{}, error) {
	p, _ := c.params["image"].(string)
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, c.raise("FileNotFoundError", fmt.Sprintf("[Errno 2] No such file or directory: '%s'", p))
	}
	sum := sha256.Sum256(data)
	return map[string]interface{}{"size": len(data), "sha256": hex.EncodeToString(sum[:]), "suffix": filepath.Ext(p)}, nil
}

func renderPNG(text string) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	shade := uint8(len(text) * 16)
	for x := 0; x < 8; x++ {
		for y := 0; y < 8; y++ {
			img.Set(x, y, color.RGBA{shade, uint8(x * 32), uint8(y * 32), 255})
		}
	}
	var buf bytes.Buffer
	_ = png.Encode(&buf, img)
	return buf.Bytes()
}

// attachFile: jb-service Service.attach_file — stores through nats-py (no
// headers; "<content type>;etag=<hex>" as description) and returns the ref
// that goes into __mesh_files__ (key, content_type, size, filename; no etag).
func (n *node) attachFile(data []byte, key, contentType string) map[string]interface{} {
	size := len(data)
	if n.pythonAttach != "" {
		// The real thing: jb-service's write through nats-py, in a Python process.
		if ref, err := n.attachWithPython(data, key, contentType); err == nil {
			return ref
		} else {
			logf("attach_file: could not store in mesh file store: %v", err)
		}
	} else if n.store != nil {
		if s, err := n.store.PutLikePython(key, data, contentType); err == nil {
			size = s
		} else {
			logf("attach_file: could not store in mesh file store: %v", err)
		}
	}
	return map[string]interface{}{"key": key, "content_type": contentType, "size": size, "filename": filepath.Base(key)}
}

// injectMeshFiles: a dict gets __mesh_files__; anything else is wrapped in
// {"value": ..., "__mesh_files__": [...]}.
func injectMeshFiles(result interface{}, refs ...map[string]interface{}) interface{} {
	list := make([]interface{}, len(refs))
	for i, r := range refs {
		list[i] = r
	}
	if m, ok := result.(map[string]interface{}); ok {
		m["__mesh_files__"] = list
		return m
	}
	return map[string]interface{}{"value": result, "__mesh_files__": list}
}

// attachWithPython runs python/attach_file.py (nats-py) and returns its ref.
func (n *node) attachWithPython(data []byte, key, contentType string) (map[string]interface{}, error) {
	cmd := exec.Command(n.python, n.pythonAttach, n.natsURL, key, contentType)
	cmd.Stdin = bytes.NewReader(data)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, err
	}
	var ref map[string]interface{}
	if err := json.Unmarshal(out, &ref); err != nil {
		return nil, err
	}
	return ref, nil
}
