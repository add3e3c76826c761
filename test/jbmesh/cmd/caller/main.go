// Command caller drives a mesh the way jb-mesh's pkg/mesh client does (Call,
// CallWithContext, Stream, ListServices, GetToolSchema, the admin requests,
// files.*, the Go file store) and prints what it got as one JSON document on
// stdout, so TypeScript tests can check our node side against a Go caller.
//
//	caller [--nats URL] [--node N] [--params JSON] [--timeout D] [--cancel-after D]
//	       [--cancel-after-frames N] <command> <args...>
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"meshmcp/jbmesh-fixtures/internal/jbmesh"
)

func main() {
	fs := flag.NewFlagSet("caller", flag.ExitOnError)
	url := fs.String("nats", "nats://127.0.0.1:4222", "NATS URL")
	target := fs.String("node", "", "target node (empty: load-balanced)")
	paramsJSON := fs.String("params", "{}", "params or request body as a JSON object")
	timeout := fs.Duration("timeout", 10*time.Second, "how long to wait")
	cancelAfter := fs.Duration("cancel-after", 0, "callctx/stream: cancel the context after this long")
	cancelFrames := fs.Int("cancel-after-frames", 0, "stream: cancel after this many frames")
	_ = fs.Parse(os.Args[1:])
	args := fs.Args()
	if len(args) == 0 {
		usage("a command is required")
	}
	var params map[string]interface{}
	if err := json.Unmarshal([]byte(*paramsJSON), &params); err != nil {
		usage(fmt.Sprintf("--params must be a JSON object: %v", err))
	}

	m, err := jbmesh.New(jbmesh.Options{URL: *url, NodeName: "go-caller"})
	if err != nil {
		emit(map[string]interface{}{"error": err.Error()})
		return
	}
	defer m.Close()
	need := func(n int) {
		if len(args) != n+1 {
			usage(fmt.Sprintf("%s takes %d argument(s)", args[0], n))
		}
	}

	switch cmd := args[0]; cmd {
	case "list":
		infos, err := m.ListServices()
		out(infos, err)
	case "call":
		need(2)
		res, err := m.Call(args[1], args[2], params, *timeout, *target)
		out(res, err)
	case "callctx":
		need(2)
		ctx, cancel := contextFor(*timeout, *cancelAfter)
		defer cancel()
		start := time.Now()
		res, err := m.CallWithContext(ctx, args[1], args[2], params, *target)
		if err != nil {
			emit(map[string]interface{}{"error": err.Error(), "ms": time.Since(start).Milliseconds()})
			return
		}
		emit(map[string]interface{}{"result": res, "ms": time.Since(start).Milliseconds()})
	case "stream":
		need(2)
		stream(m, args[1], args[2], params, *target, *timeout, *cancelAfter, *cancelFrames)
	case "schema":
		need(2)
		res, err := m.GetToolSchema(args[1], args[2], *timeout)
		out(res, err)
	case "install":
		need(2)
		admin(m, "node."+args[1]+".install", jbmesh.InstallRequest{Source: args[2]}, &jbmesh.InstallResult{}, *timeout)
	case "uninstall":
		need(2)
		admin(m, "node."+args[1]+".uninstall", jbmesh.UninstallRequest{ToolName: args[2], RemoveEnv: params["remove_env"] == true}, &jbmesh.UninstallResult{}, *timeout)
	case "update":
		need(2)
		admin(m, "node."+args[1]+".update", jbmesh.UpdateRequest{ToolName: args[2], Clean: params["clean"] == true}, &jbmesh.UpdateResult{}, *timeout)
	case "config":
		need(3)
		admin(m, "node."+args[1]+".config", jbmesh.ConfigRequest{ToolName: args[2], Action: args[3], Values: params}, &jbmesh.ConfigResult{}, *timeout)
	case "inspect":
		need(2)
		admin(m, "node."+args[1]+".release.inspect", jbmesh.ReleaseInspectRequest{ToolName: args[2]}, &jbmesh.ReleaseInspectResult{}, *timeout)
	case "files":
		// Raw files.<op> request/reply, as the TypeScript plugins of jb-mesh use it.
		need(1)
		res, err := m.Request("files."+args[1], params, *timeout)
		out(res, err)
	case "store-put", "store-get", "store-head", "store-list", "store-put-python":
		storeCmd(m, cmd, args[1:])
	case "logs":
		// logs <subject prefix> <count> [corr prefix]: what jb-mesh's logstore subscriber sees on logs.>.
		if len(args) != 3 && len(args) != 4 {
			usage("logs <subject prefix> <count> [corr prefix]")
		}
		var n int
		if _, err := fmt.Sscan(args[2], &n); err != nil {
			usage("logs <subject prefix> <count> [corr prefix]")
		}
		corr := ""
		if len(args) == 4 {
			corr = args[3]
		}
		logs(m, args[1], corr, n, *timeout)
	default:
		usage("unknown command " + cmd)
	}
}

func contextFor(timeout, cancelAfter time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	if cancelAfter > 0 {
		time.AfterFunc(cancelAfter, cancel)
	}
	return ctx, cancel
}

func stream(m *jbmesh.Mesh, tool, method string, params map[string]interface{}, target string, timeout, cancelAfter time.Duration, cancelFrames int) {
	ctx, cancel := contextFor(timeout, cancelAfter)
	defer cancel()
	start := time.Now()
	ch, err := m.Stream(ctx, tool, method, params, target)
	if err != nil {
		emit(map[string]interface{}{"error": err.Error()})
		return
	}
	frames := []jbmesh.StreamFrame{}
	end := "closed"
	for f := range ch {
		frames = append(frames, f)
		if f.Done {
			end = "done"
		}
		if cancelFrames > 0 && len(frames) == cancelFrames {
			cancel()
		}
	}
	if end != "done" && ctx.Err() != nil {
		end = "cancelled"
		if ctx.Err() == context.DeadlineExceeded {
			end = "timeout"
		}
	}
	// Give the cancel publish time to leave before the connection closes.
	_ = m.Conn().Flush()
	emit(map[string]interface{}{"frames": frames, "end": end, "ms": time.Since(start).Milliseconds()})
}

func admin(m *jbmesh.Mesh, subject string, req interface{}, reply interface{}, timeout time.Duration) {
	b, _ := json.Marshal(req)
	msg, err := m.Conn().Request(subject, b, timeout)
	if err != nil {
		emit(map[string]interface{}{"error": fmt.Sprintf("request to %s failed: %v", subject, err)})
		return
	}
	if err := json.Unmarshal(msg.Data, reply); err != nil {
		emit(map[string]interface{}{"error": fmt.Sprintf("failed to parse response: %v", err)})
		return
	}
	emit(reply)
}

// storeCmd uses the Go file store directly (jb-mesh's `files` CLI commands do):
// it creates the bucket with the Go configuration, which fails when another
// client created it differently.
func storeCmd(m *jbmesh.Mesh, cmd string, args []string) {
	s, err := jbmesh.NewStore(m.Conn())
	if err != nil {
		emit(map[string]interface{}{"error": err.Error()})
		return
	}
	if len(args) < 1 {
		usage(cmd + " needs a key")
	}
	switch cmd {
	case "store-put", "store-put-python":
		if len(args) != 3 {
			usage(cmd + " KEY CONTENT_TYPE TEXT")
		}
		if cmd == "store-put-python" {
			n, err := s.PutLikePython(args[0], []byte(args[2]), args[1])
			out(map[string]interface{}{"size": n}, err)
			return
		}
		meta, err := s.Put(args[0], []byte(args[2]), args[1])
		out(meta, err)
	case "store-get":
		data, meta, err := s.Get(args[0])
		if err != nil {
			out(nil, err)
			return
		}
		emit(map[string]interface{}{"text": string(data), "meta": meta})
	case "store-head":
		meta, err := s.Head(args[0])
		out(meta, err)
	case "store-list":
		files, err := s.List(args[0])
		out(files, err)
	}
}

func out(v interface{}, err error) {
	if err != nil {
		emit(map[string]interface{}{"error": err.Error()})
		return
	}
	emit(v)
}

func emit(v interface{}) {
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(map[string]interface{}{"error": "cannot encode result: " + err.Error()})
	}
	os.Stdout.Write(append(b, '\n'))
}

func usage(why string) {
	fmt.Fprintln(os.Stderr, "caller:", why)
	fmt.Fprintln(os.Stderr, "commands: list | call T M | callctx T M | stream T M | schema NODE T | install NODE SRC | uninstall NODE T |")
	fmt.Fprintln(os.Stderr, "          update NODE T | config NODE T get|set | inspect NODE T | files OP | store-put KEY CT TEXT |")
	fmt.Fprintln(os.Stderr, "          store-put-python KEY CT TEXT | store-get KEY | store-head KEY | store-list PREFIX")
	os.Exit(2)
}

// logRecord holds exactly the keys jb-mesh's logstore producer writes (and its
// Record adds): decoded with unknown fields refused, a record under other names fails.
type logRecord struct {
	Schema     string                 `json:"schema,omitempty"`
	TS         string                 `json:"ts,omitempty"`
	Level      string                 `json:"level"`
	Kind       string                 `json:"kind"`
	Node       string                 `json:"node"`
	Tool       string                 `json:"tool"`
	Method     string                 `json:"method"`
	Corr       string                 `json:"corr"`
	DurationMS *float64               `json:"duration_ms,omitempty"`
	OK         *bool                  `json:"ok,omitempty"`
	Message    string                 `json:"message"`
	Data       map[string]interface{} `json:"data"`
}

func logs(m *jbmesh.Mesh, prefix, corr string, count int, timeout time.Duration) {
	type seen struct {
		Subject string      `json:"subject"`
		Record  *logRecord  `json:"record,omitempty"`
		Strict  string      `json:"strict_error,omitempty"`
		Raw     interface{} `json:"raw"`
	}
	got := make(chan seen, 1024)
	sub, err := m.Conn().Subscribe("logs.>", func(msg *nats.Msg) {
		if !strings.HasPrefix(msg.Subject, prefix) {
			return
		}
		s := seen{Subject: msg.Subject}
		_ = json.Unmarshal(msg.Data, &s.Raw)
		if raw, ok := s.Raw.(map[string]interface{}); corr != "" && (!ok || !strings.HasPrefix(fmt.Sprint(raw["corr"]), corr)) {
			return
		}
		dec := json.NewDecoder(bytes.NewReader(msg.Data))
		dec.DisallowUnknownFields()
		var r logRecord
		if err := dec.Decode(&r); err != nil {
			s.Strict = err.Error()
		} else {
			s.Record = &r
		}
		got <- s
	})
	if err != nil {
		emit(map[string]interface{}{"error": err.Error()})
		return
	}
	defer sub.Unsubscribe()
	_ = m.Conn().Flush()
	fmt.Fprintln(os.Stderr, "subscribed")
	records := []seen{}
	deadline := time.After(timeout)
	for len(records) < count {
		select {
		case s := <-got:
			records = append(records, s)
		case <-deadline:
			emit(map[string]interface{}{"records": records, "error": "timeout"})
			return
		}
	}
	emit(map[string]interface{}{"records": records})
}
