package jbmesh

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

const rfc3339 = "2006-01-02T15:04:05Z07:00"

type filePutResult struct {
	OK          bool   `json:"ok"`
	Key         string `json:"key,omitempty"`
	Size        int64  `json:"size,omitempty"`
	ContentType string `json:"content_type,omitempty"`
	ETag        string `json:"etag,omitempty"`
	Error       string `json:"error,omitempty"`
}
type fileGetResult struct {
	OK          bool   `json:"ok"`
	Key         string `json:"key,omitempty"`
	Data        string `json:"data,omitempty"`
	ContentType string `json:"content_type,omitempty"`
	Size        int64  `json:"size,omitempty"`
	ETag        string `json:"etag,omitempty"`
	Error       string `json:"error,omitempty"`
}
type fileHeadResult struct {
	OK          bool   `json:"ok"`
	Key         string `json:"key,omitempty"`
	ContentType string `json:"content_type,omitempty"`
	Size        int64  `json:"size,omitempty"`
	ETag        string `json:"etag,omitempty"`
	Created     string `json:"created,omitempty"`
	Error       string `json:"error,omitempty"`
}
type fileDeleteResult struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}
type fileListItem struct {
	Key         string `json:"key"`
	Size        int64  `json:"size"`
	ContentType string `json:"content_type"`
	ETag        string `json:"etag"`
	Created     string `json:"created"`
}
type fileListResult struct {
	OK    bool           `json:"ok"`
	Files []fileListItem `json:"files,omitempty"`
	Error string         `json:"error,omitempty"`
}

type fileReq struct {
	Key         string `json:"key"`
	Data        string `json:"data"`
	ContentType string `json:"content_type"`
	Prefix      string `json:"prefix"`
}

// SubscribeFileHandlers serves files.put|get|head|delete|list with plain
// subscriptions (no queue group: every node with a store answers; the caller
// keeps the first reply).
func (m *Mesh) SubscribeFileHandlers(s *Store) error {
	handlers := map[string]func(fileReq) interface{}{
		"put": func(r fileReq) interface{} {
			if r.Key == "" {
				return filePutResult{Error: "key is required"}
			}
			data, err := base64.StdEncoding.DecodeString(r.Data)
			if err != nil {
				return filePutResult{Error: fmt.Sprintf("invalid base64 data: %v", err)}
			}
			ct := r.ContentType
			if ct == "" {
				ct = "application/octet-stream"
			}
			meta, err := s.Put(r.Key, data, ct)
			if err != nil {
				return filePutResult{Error: fmt.Sprintf("put failed: %v", err)}
			}
			return filePutResult{OK: true, Key: meta.Key, Size: meta.Size, ContentType: meta.ContentType, ETag: meta.ETag}
		},
		"get": func(r fileReq) interface{} {
			if r.Key == "" {
				return fileGetResult{Error: "key is required"}
			}
			data, meta, err := s.Get(r.Key)
			if err != nil {
				return fileGetResult{Error: fmt.Sprintf("get failed: %v", err)}
			}
			return fileGetResult{OK: true, Key: meta.Key, Data: base64.StdEncoding.EncodeToString(data), ContentType: meta.ContentType, Size: meta.Size, ETag: meta.ETag}
		},
		"head": func(r fileReq) interface{} {
			if r.Key == "" {
				return fileHeadResult{Error: "key is required"}
			}
			meta, err := s.Head(r.Key)
			if err != nil {
				return fileHeadResult{Error: fmt.Sprintf("head failed: %v", err)}
			}
			return fileHeadResult{OK: true, Key: meta.Key, ContentType: meta.ContentType, Size: meta.Size, ETag: meta.ETag, Created: meta.Created.Format(rfc3339)}
		},
		"delete": func(r fileReq) interface{} {
			if r.Key == "" {
				return fileDeleteResult{Error: "key is required"}
			}
			if err := s.Delete(r.Key); err != nil {
				return fileDeleteResult{Error: fmt.Sprintf("delete failed: %v", err)}
			}
			return fileDeleteResult{OK: true}
		},
		"list": func(r fileReq) interface{} {
			files, err := s.List(r.Prefix)
			if err != nil {
				return fileListResult{Error: fmt.Sprintf("list failed: %v", err)}
			}
			items := make([]fileListItem, len(files))
			for i, f := range files {
				items[i] = fileListItem{f.Key, f.Size, f.ContentType, f.ETag, f.Created.Format(rfc3339)}
			}
			return fileListResult{OK: true, Files: items}
		},
	}
	for op, h := range handlers {
		h := h
		_, err := m.nc.Subscribe("files."+op, func(msg *nats.Msg) {
			var r fileReq
			var resp interface{}
			if err := json.Unmarshal(msg.Data, &r); err != nil {
				resp = map[string]interface{}{"ok": false, "error": fmt.Sprintf("invalid request: %v", err)}
			} else {
				resp = h(r)
			}
			b, _ := json.Marshal(resp)
			_ = msg.Respond(b)
		})
		if err != nil {
			return fmt.Errorf("subscribe files.%s: %w", op, err)
		}
	}
	return nil
}

// FileToolSchemas: the schemas of the built-in `files` tool (v0.0.9+).
func FileToolSchemas() map[string]MethodSchema {
	key := map[string]interface{}{"type": "string", "description": "File store object key."}
	keyOnly := func(desc string) MethodSchema {
		return MethodSchema{Type: "object", Description: desc, Required: []string{"key"}, Properties: map[string]interface{}{"key": key}}
	}
	return map[string]MethodSchema{
		"put": {Type: "object", Description: "Store a base64-encoded blob in the mesh file store.", Required: []string{"key", "data"},
			Properties: map[string]interface{}{
				"key":          key,
				"data":         map[string]interface{}{"type": "string", "description": "Base64-encoded file content."},
				"content_type": map[string]interface{}{"type": "string", "description": "Optional MIME content type. Defaults to application/octet-stream."},
			}},
		"get":    keyOnly("Retrieve a blob from the mesh file store by key. Data is returned base64-encoded."),
		"head":   keyOnly("Retrieve metadata for a blob without returning its content."),
		"delete": keyOnly("Delete a blob from the mesh file store."),
		"list": {Type: "object", Description: "List blobs in the mesh file store, optionally filtered by key prefix.",
			Properties: map[string]interface{}{"prefix": map[string]interface{}{"type": "string", "description": "Optional key prefix filter."}}},
	}
}

// FileToolSchemaMap is FileToolSchemas in the shape of a schema request's reply.
func FileToolSchemaMap() map[string]interface{} {
	out := map[string]interface{}{}
	for name, s := range FileToolSchemas() {
		b, _ := json.Marshal(s)
		var raw map[string]interface{}
		_ = json.Unmarshal(b, &raw)
		out[name] = raw
	}
	return out
}

func strParam(p map[string]interface{}, key string, required bool) (string, error) {
	v, ok := p[key]
	if !ok || v == nil {
		if required {
			return "", fmt.Errorf("%s is required", key)
		}
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%s must be a string", key)
	}
	if required && s == "" {
		return "", fmt.Errorf("%s is required", key)
	}
	return s, nil
}

// RegisterFileTool registers `files` as an ordinary tool (v0.0.9). Its results
// are the files.* reply shapes, wrapped in a CallResult; errors are plain errors.
func (m *Mesh) RegisterFileTool(s *Store) error {
	handler := func(_ CallRequest, method string, p map[string]interface{}) (interface{}, error) {
		switch method {
		case "put":
			key, err := strParam(p, "key", true)
			if err != nil {
				return nil, err
			}
			enc, err := strParam(p, "data", true)
			if err != nil {
				return nil, err
			}
			data, err := base64.StdEncoding.DecodeString(enc)
			if err != nil {
				return nil, fmt.Errorf("invalid base64 data: %w", err)
			}
			ct, err := strParam(p, "content_type", false)
			if err != nil {
				return nil, err
			}
			if ct == "" {
				ct = "application/octet-stream"
			}
			meta, err := s.Put(key, data, ct)
			if err != nil {
				return nil, err
			}
			return filePutResult{OK: true, Key: meta.Key, Size: meta.Size, ContentType: meta.ContentType, ETag: meta.ETag}, nil
		case "get", "head", "delete":
			key, err := strParam(p, "key", true)
			if err != nil {
				return nil, err
			}
			switch method {
			case "get":
				data, meta, err := s.Get(key)
				if err != nil {
					return nil, err
				}
				return fileGetResult{OK: true, Key: meta.Key, Data: base64.StdEncoding.EncodeToString(data), ContentType: meta.ContentType, Size: meta.Size, ETag: meta.ETag}, nil
			case "head":
				meta, err := s.Head(key)
				if err != nil {
					return nil, err
				}
				return fileHeadResult{OK: true, Key: meta.Key, ContentType: meta.ContentType, Size: meta.Size, ETag: meta.ETag, Created: meta.Created.Format(rfc3339)}, nil
			default:
				if err := s.Delete(key); err != nil {
					return nil, err
				}
				return fileDeleteResult{OK: true}, nil
			}
		case "list":
			prefix, err := strParam(p, "prefix", false)
			if err != nil {
				return nil, err
			}
			files, err := s.List(prefix)
			if err != nil {
				return nil, err
			}
			items := make([]fileListItem, len(files))
			for i, f := range files {
				items[i] = fileListItem{f.Key, f.Size, f.ContentType, f.ETag, f.Created.Format(rfc3339)}
			}
			return fileListResult{OK: true, Files: items}, nil
		}
		return nil, fmt.Errorf("unknown files method %q", method)
	}
	return m.RegisterTool("files", "1.0.0", "Built-in ephemeral mesh file store for exchanging larger blobs by key",
		[]string{"put", "get", "head", "delete", "list"}, handler, FileToolSchemas())
}

// fileParamNames: params whose string value may be a store key.
var fileParamNames = map[string]bool{
	"audio": true, "image": true, "file": true, "input_file": true, "video": true, "document": true,
	"attachment": true, "photo": true, "path": true, "filepath": true, "file_path": true,
	"input_path": true, "input": true, "source": true,
}

// ResolveFileParams replaces key-like values of known file params with the path
// of a temp file holding the object (local store first, then a files.get request).
// A key it cannot fetch is left as it is; the tool gets the raw key.
func ResolveFileParams(params map[string]interface{}, s *Store, nc *nats.Conn) func() {
	var temps []string
	for name, v := range params {
		val, ok := v.(string)
		if !ok || val == "" || !fileParamNames[strings.ToLower(name)] {
			continue
		}
		if strings.HasPrefix(val, "/") || strings.HasPrefix(val, "~/") || strings.HasPrefix(val, "./") ||
			strings.HasPrefix(val, "http://") || strings.HasPrefix(val, "https://") || !strings.Contains(val, "/") {
			continue
		}
		data, meta, err := s.Get(val)
		ct := ""
		if err == nil {
			ct = meta.ContentType
		} else {
			data = nil
			req, _ := json.Marshal(map[string]string{"key": val})
			if msg, rerr := nc.Request("files.get", req, 30*time.Second); rerr == nil {
				var r fileGetResult
				if json.Unmarshal(msg.Data, &r) == nil && r.OK {
					if d, derr := base64.StdEncoding.DecodeString(r.Data); derr == nil {
						data, ct = d, r.ContentType
					}
				}
			}
			if data == nil {
				log.Printf("[mesh] file resolve: key %q not found", val)
				continue
			}
		}
		ext := filepath.Ext(val)
		if ext == "" {
			switch {
			case strings.Contains(ct, "ogg"):
				ext = ".ogg"
			case strings.Contains(ct, "wav"):
				ext = ".wav"
			case strings.Contains(ct, "mp3"):
				ext = ".mp3"
			default:
				ext = ".bin"
			}
		}
		f, err := os.CreateTemp("", "mesh-file-*"+ext)
		if err != nil {
			continue
		}
		_, _ = f.Write(data)
		f.Close()
		params[name] = f.Name()
		temps = append(temps, f.Name())
	}
	return func() {
		for _, t := range temps {
			os.Remove(t)
		}
	}
}
