// Command node is a jb-mesh node fixture: it serves the tools of its catalogue
// the way a deployed jb-mesh node (pkg/node, tag v0.0.9 or v0.0.2) with Python
// tools on jb-service does, on the wire. Stdout carries one JSON line per thing
// a test may wait for ({"ev":"ready"}, {"ev":"call",...}, {"ev":"cancel",...});
// logs go to stderr.
package main

import (
	"encoding/json"
	"flag"
	"log"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"meshmcp/jbmesh-fixtures/internal/jbmesh"
)

type node struct {
	name       string
	flavour    string
	mesh       *jbmesh.Mesh
	store      *jbmesh.Store
	notRunning map[string]bool
	regDelay   time.Duration
	startDelay time.Duration
	natsURL    string
	// python + pythonAttach: write attached files with jb-service's nats-py code path.
	python, pythonAttach string

	// procDone closes when the node stops its tool processes (in-flight calls fail).
	procDone     chan struct{}
	cancelGrace  time.Duration // jumpboot's grace after __cancel__
	queueTimeout time.Duration // QueueProcess.Call's timeout without a call_id
	oneshotStart time.Duration // a REPL oneshot tool's Python start-up, per call

	mu          sync.Mutex
	loops       map[string]*sync.RWMutex
	installed   map[string]*manifest
	streamSubs  map[string][]*nats.Subscription
	toolConfigs map[string]map[string]interface{}
}

var outMu sync.Mutex

// report writes one JSON line on stdout for the test driving this process.
func report(ev string, fields map[string]interface{}) {
	if fields == nil {
		fields = map[string]interface{}{}
	}
	fields["ev"] = ev
	b, _ := json.Marshal(fields)
	outMu.Lock()
	defer outMu.Unlock()
	os.Stdout.Write(append(b, '\n'))
}

func logf(format string, args ...interface{}) { log.Printf(format, args...) }

func main() {
	var (
		url        = flag.String("nats", "nats://127.0.0.1:4222", "NATS URL")
		name       = flag.String("name", "node-a", "node name")
		tools      = flag.String("tools", "calc,writer,slow,images", "tools to install (comma separated): "+strings.Join(catalogueNames(), ","))
		flavour    = flag.String("flavour", "v0.0.9", "jb-mesh behaviour: v0.0.9 (files tool) or v0.0.2")
		notRunning = flag.String("not-running", "", "tools registered but whose process is gone (calls fail: tool X is not running)")
		noStore    = flag.Bool("no-store", false, "run without the mesh-files store (no files.*, no file params)")
		regDelay   = flag.Duration("register-delay", 0, "pause between tool.started and the tool's registration")
		startDelay = flag.Duration("start-delay", 0, "Python start-up time of each persistent tool")
		stopDelay  = flag.Duration("stop-delay", 300*time.Millisecond, "pause between node.left and stopping the services (tool processes closing)")
		python     = flag.String("python", "python3", "Python interpreter with nats-py, for --python-attach")
		pyAttach   = flag.String("python-attach", "", "path of python/attach_file.py: attach files through nats-py like jb-service")
		noEvents   = flag.Bool("no-events", false, "publish no lifecycle events (a program on pkg/mesh alone)")
		reconnect  = flag.Duration("reconnect-wait", 2*time.Second, "NATS reconnect wait")
		grace      = flag.Duration("cancel-grace", 5*time.Second, "jumpboot's wait for a cancelled method to answer")
		queueTO    = flag.Duration("queue-timeout", 300*time.Second, "a call without call_id waits this long for its answer")
		oneshot    = flag.Duration("oneshot-start", 250*time.Millisecond, "start-up of the Python a REPL oneshot tool gets per call")
	)
	flag.Parse()
	log.SetOutput(os.Stderr)
	log.SetPrefix("[" + *name + "] ")
	if *flavour != "v0.0.9" && *flavour != "v0.0.2" {
		log.Fatalf("unknown --flavour %q: use v0.0.9 or v0.0.2", *flavour)
	}

	m, err := jbmesh.New(jbmesh.Options{URL: *url, NodeName: *name, ReconnectWait: *reconnect})
	if err != nil {
		log.Fatalf("failed to join mesh: %v", err)
	}
	m.OnReRegistered = func() { report("reregistered", nil) }
	m.Silent = *noEvents
	n := &node{
		name: *name, flavour: *flavour, mesh: m, notRunning: map[string]bool{},
		regDelay: *regDelay, startDelay: *startDelay, natsURL: *url, python: *python, pythonAttach: *pyAttach,
		procDone: make(chan struct{}), cancelGrace: *grace, queueTimeout: *queueTO, oneshotStart: *oneshot,
		loops:     map[string]*sync.RWMutex{},
		installed: map[string]*manifest{}, streamSubs: map[string][]*nats.Subscription{},
		toolConfigs: map[string]map[string]interface{}{},
	}
	for _, t := range splitList(*notRunning) {
		n.notRunning[t] = true
	}

	// Management handlers first, so they answer even while tools start.
	if err := m.SubscribeAdmin(n.adminHandlers()); err != nil {
		logf("warning: admin handlers: %v", err)
	}
	if err := m.SubscribeToolSchema(n.toolSchema); err != nil {
		logf("warning: schema handler: %v", err)
	}

	// Oneshot tools first, then persistent ones, by name (as the node sorts them).
	var list []*manifest
	for _, t := range splitList(*tools) {
		mf, ok := catalogue[t]
		if !ok {
			log.Fatalf("unknown tool %q in --tools (known: %s)", t, strings.Join(catalogueNames(), ", "))
		}
		list = append(list, mf)
	}
	sort.SliceStable(list, func(i, j int) bool {
		if list[i].Persistent != list[j].Persistent {
			return !list[i].Persistent
		}
		return list[i].Name < list[j].Name
	})
	for _, mf := range list {
		if err := n.registerTool(mf); err != nil {
			logf("warning: failed to register %s: %v", mf.Name, err)
		}
	}
	_ = m.Emit("node.joined", map[string]interface{}{"capabilities": map[string]interface{}{"tools": len(list)}})

	// The shared file store comes last: files.*, the `files` tool (v0.0.9), file params.
	if !*noStore {
		if store, err := jbmesh.NewStore(m.Conn()); err != nil {
			logf("warning: failed to create file store: %v", err)
			report("store-failed", map[string]interface{}{"error": err.Error()})
		} else {
			n.store = store
			if err := m.SubscribeFileHandlers(store); err != nil {
				logf("warning: file handlers: %v", err)
			}
			if n.flavour == "v0.0.9" {
				if err := m.RegisterFileTool(store); err != nil {
					logf("warning: files tool: %v", err)
				}
			}
			m.SetFileStore(store)
		}
	}
	_ = m.Conn().Flush()
	report("ready", map[string]interface{}{"node": n.name, "flavour": n.flavour, "store": n.store != nil})

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	// Node.Close: node.left first (flushed), then the tool processes close
	// (seconds each), and only then do the services stop.
	_ = m.Emit("node.left", map[string]interface{}{"reason": "shutdown"})
	_ = m.Conn().Flush()
	// The tool processes are terminated: calls in flight answer at once
	// ("python process exited: signal: terminated"), before NATS disconnects.
	close(n.procDone)
	report("stopping", nil)
	time.Sleep(*stopDelay)
	m.Close()
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func catalogueNames() []string {
	var out []string
	for k := range catalogue {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// registerTool follows Node.registerTool: start a persistent tool and announce
// tool.started, then the .stream subjects, then the micro service.
func (n *node) registerTool(mf *manifest) error {
	if mf.Persistent {
		time.Sleep(n.startDelay)
		_ = n.mesh.Emit("tool.started", map[string]interface{}{"tool": mf.Name})
		time.Sleep(n.regDelay)
	}
	n.mu.Lock()
	n.installed[mf.Name] = mf
	n.mu.Unlock()
	if err := n.registerStreams(mf); err != nil {
		logf("warning: streaming subjects for %s: %v", mf.Name, err)
	}
	var methods []string
	for name := range mf.Methods {
		methods = append(methods, name)
	}
	sort.Strings(methods)
	err := n.mesh.RegisterTool(mf.Name, mf.Version, mf.Description, methods, n.callHandler(mf), mf.methodSchemas())
	if err == nil {
		_ = n.mesh.Conn().Flush()
		report("registered", map[string]interface{}{"tool": mf.Name})
	}
	return err
}

func (n *node) unregisterTool(tool string) {
	n.mesh.UnregisterTool(tool)
	n.mu.Lock()
	subs := n.streamSubs[tool]
	delete(n.streamSubs, tool)
	delete(n.installed, tool)
	n.mu.Unlock()
	for _, s := range subs {
		_ = s.Unsubscribe()
	}
}
