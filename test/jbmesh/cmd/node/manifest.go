package main

import "meshmcp/jbmesh-fixtures/internal/jbmesh"

// schema is a manifest input schema (pkg/config.Schema): `type` is free text,
// as tool authors write it in jumpboot.yaml (int, str, float and the like).
type schema struct {
	Type        string
	Description string
	Properties  map[string]*schema
	Required    []string
	Items       *schema
	Default     interface{}
	Enum        []interface{} // in the manifest; the node never publishes it
}

type method struct {
	Description string // never reaches the wire
	Input       *schema
	Stream      bool
	// Sync: a plain `def` jb-service method. It runs on the queue server's own event
	// loop: a cancel cannot reach it and the tool's other calls wait until it returns.
	Sync bool
}

type manifest struct {
	Name, Version, Description string
	Persistent                 bool // persistent tools announce tool.started; oneshot ones do not
	// REPL: runtime.transport is not msgpack (jumpboot's REPL, one Python per call for a
	// oneshot tool): results are not reshaped, tracebacks come escaped, streams are refused.
	REPL    bool
	Methods map[string]method
}

// toMap: how the node turns a manifest schema into JSON (empty fields left out).
func (s *schema) toMap() map[string]interface{} {
	if s == nil {
		return nil
	}
	out := map[string]interface{}{}
	if s.Type != "" {
		out["type"] = s.Type
	}
	if s.Description != "" {
		out["description"] = s.Description
	}
	if s.Default != nil {
		out["default"] = s.Default
	}
	if len(s.Required) > 0 {
		out["required"] = s.Required
	}
	if len(s.Properties) > 0 {
		props := map[string]interface{}{}
		for k, p := range s.Properties {
			props[k] = p.toMap()
		}
		out["properties"] = props
	}
	if s.Items != nil {
		out["items"] = s.Items.toMap()
	}
	return out
}

// methodSchemas: endpoint metadata for every method — an empty MethodSchema
// (`{}`, or `{"stream":true}`) when the manifest declares no input.
func (m *manifest) methodSchemas() map[string]jbmesh.MethodSchema {
	out := map[string]jbmesh.MethodSchema{}
	for name, meth := range m.Methods {
		var ms jbmesh.MethodSchema
		if in := meth.Input; in != nil {
			ms.Type = in.Type
			ms.Description = in.Description
			ms.Required = in.Required
			if len(in.Properties) > 0 {
				ms.Properties = map[string]interface{}{}
				for k, p := range in.Properties {
					ms.Properties[k] = p.toMap()
				}
			}
		}
		ms.Stream = meth.Stream
		out[name] = ms
	}
	return out
}

// schemaReply: what node.<node>.tools.<tool>.schema answers for a manifest tool.
func (m *manifest) schemaReply() map[string]interface{} {
	out := map[string]interface{}{}
	for name, meth := range m.Methods {
		if meth.Input != nil {
			out[name] = meth.Input.toMap()
		} else {
			out[name] = map[string]interface{}{"type": "object", "properties": map[string]interface{}{}}
		}
	}
	return out
}

func obj(desc string, required []string, props map[string]*schema) *schema {
	return &schema{Type: "object", Description: desc, Properties: props, Required: required}
}

func prop(typ, desc string, def interface{}) *schema {
	return &schema{Type: typ, Description: desc, Default: def}
}

// catalogue: the fixture's installed tools, as their manifests would say.
var catalogue = map[string]*manifest{
	"calc": {Name: "calc", Version: "1.0.0", Description: "A simple calculator service using jb-service SDK",
		Methods: map[string]method{
			"add": {Description: "Add two numbers", Input: obj("", []string{"a", "b"}, map[string]*schema{
				"a": prop("int", "First number", nil), "b": prop("int", "Second number", nil)})},
			"divide": {Description: "Divide a by b", Input: obj("Divide a by b", []string{"a"}, map[string]*schema{
				"a": prop("float", "Dividend", nil), "b": prop("float", "Divisor", 1.0)})},
			"whoami": {Description: "Which node answered"},
			"health": {Description: "Health check"},
		}},
	"writer": {Name: "writer", Version: "0.3.0", Description: "Writes text in chunks", Persistent: true,
		Methods: map[string]method{
			"generate": {Description: "Stream n chunks", Stream: true, Input: obj("What to write", []string{"prompt"}, map[string]*schema{
				"prompt":   prop("str", "Prompt text", nil),
				"n":        prop("int", "Number of chunks", 3),
				"delay_ms": prop("int", "Pause between chunks", 50),
				"tags":     {Type: "list", Items: &schema{Type: "str"}, Description: "Free-form tags"},
			})},
			"explode": {Description: "Raises after some chunks", Stream: true, Input: obj("", nil, map[string]*schema{
				"after": prop("int", "Chunks before the exception", 2)})},
			"silent": {Description: "Returns None", Stream: true},
		}},
	"slow": {Name: "slow", Version: "0.1.0", Description: "Slow, cancellable work", Persistent: true,
		Methods: map[string]method{
			"sleep": {Description: "Sleep cooperatively", Input: obj("", []string{"seconds"}, map[string]*schema{
				"seconds": prop("number", "How long", nil)})},
			"ticks": {Description: "Tick until done or cancelled", Stream: true, Input: obj("", nil, map[string]*schema{
				"n": prop("int", "Ticks", 10), "interval_ms": prop("int", "Pause", 200)})},
		}},
	"images": {Name: "images", Version: "0.2.0", Description: "Renders and inspects images", Persistent: true,
		Methods: map[string]method{
			"render": {Description: "Render text to a PNG", Input: obj("", []string{"text"}, map[string]*schema{
				"text": prop("str", "Text to render", nil)})},
			"render_plain": {Description: "Render; returns a string", Input: obj("", []string{"text"}, map[string]*schema{
				"text": prop("str", "Text to render", nil)})},
			"describe": {Description: "Size and hash of an image", Input: obj("", []string{"image"}, map[string]*schema{
				"image": prop("str", "Image (file store key)", nil)})},
			"describe_stream": {Description: "Same, streaming", Stream: true, Input: obj("", []string{"image"}, map[string]*schema{
				"image": prop("str", "Image (file store key)", nil)})},
		}},
	"quirks": {Name: "quirks", Version: "0.9.0", Description: "What real jb-service methods do", Persistent: true,
		Methods: map[string]method{
			"shape": {Description: "Returns `value` as the method's return value", Input: obj("", nil, map[string]*schema{
				"value": {Description: "What the method returns"},
				"mode":  {Type: "str", Description: "A manifest enum (dropped on the wire)", Enum: []interface{}{"fast", "exact"}}})},
			"nothing": {Description: "An async method that returns None"},
			"busy": {Description: "A sync method: sleeps, deaf to cancels", Sync: true, Input: obj("", []string{"seconds"}, map[string]*schema{
				"seconds": prop("number", "How long", nil)})},
			"nap": {Description: "An async method: sleeps cooperatively", Input: obj("", []string{"seconds"}, map[string]*schema{
				"seconds": prop("number", "How long", nil)})},
			"big": {Description: "Returns a string of `bytes` bytes", Input: obj("", []string{"bytes"}, map[string]*schema{
				"bytes": prop("int", "Size", nil)})},
			"big_stream": {Description: "Streams one chunk, then a result of `bytes` bytes", Stream: true, Input: obj("", []string{"bytes"}, map[string]*schema{
				"bytes": prop("int", "Size", nil)})},
		}},
	"notebook": {Name: "notebook", Version: "0.1.0", Description: "A oneshot tool on jumpboot's REPL", REPL: true,
		Methods: map[string]method{
			"echo":  {Description: "Echoes", Input: obj("", []string{"text"}, map[string]*schema{"text": prop("str", "Text", nil)})},
			"fail":  {Description: "Raises"},
			"count": {Description: "Declared streaming; a REPL tool cannot stream", Stream: true},
		}},
}
