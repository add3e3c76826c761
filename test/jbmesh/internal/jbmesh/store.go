package jbmesh

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go"
)

// FileMeta is a stored object as the Go store reports it.
type FileMeta struct {
	Key         string
	Size        int64
	ContentType string
	ETag        string
	Created     time.Time
}

// Store is pkg/filestore: the legacy nats.go Object Store API on bucket
// mesh-files, created (never just bound) with file storage, 1 h TTL and the
// description "jb-mesh file store". CreateObjectStore fails when the bucket
// exists with another configuration, and then the real node has no store at all.
type Store struct {
	bucket nats.ObjectStore
}

func NewStore(nc *nats.Conn) (*Store, error) {
	js, err := nc.JetStream()
	if err != nil {
		return nil, err
	}
	b, err := js.CreateObjectStore(&nats.ObjectStoreConfig{
		Bucket:      "mesh-files",
		Description: "jb-mesh file store",
		Storage:     nats.FileStorage,
		TTL:         time.Hour,
	})
	if err != nil {
		return nil, fmt.Errorf("create object store mesh-files: %w", err)
	}
	return &Store{bucket: b}, nil
}

// Put writes Content-Type and ETag (hex SHA-256) headers, as the Go store does.
func (s *Store) Put(key string, data []byte, contentType string) (*FileMeta, error) {
	if key == "" {
		return nil, fmt.Errorf("key is required")
	}
	sum := sha256.Sum256(data)
	etag := hex.EncodeToString(sum[:])
	_, err := s.bucket.Put(&nats.ObjectMeta{
		Name:    key,
		Headers: nats.Header{"Content-Type": []string{contentType}, "ETag": []string{etag}},
	}, bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("put %s: %w", key, err)
	}
	return &FileMeta{Key: key, Size: int64(len(data)), ContentType: contentType, ETag: etag, Created: time.Now()}, nil
}

// PutLikePython writes an object the way jb-service's attach_file does through
// nats-py: no headers, the content type and etag in the description.
func (s *Store) PutLikePython(key string, data []byte, contentType string) (int, error) {
	sum := sha256.Sum256(data)
	_, err := s.bucket.Put(&nats.ObjectMeta{
		Name:        key,
		Description: fmt.Sprintf("%s;etag=%s", contentType, hex.EncodeToString(sum[:])),
	}, bytes.NewReader(data))
	return len(data), err
}

func (s *Store) Get(key string) ([]byte, *FileMeta, error) {
	r, err := s.bucket.Get(key)
	if err != nil {
		return nil, nil, fmt.Errorf("get %s: %w", key, err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", key, err)
	}
	info, err := r.Info()
	if err != nil {
		return data, nil, fmt.Errorf("info %s: %w", key, err)
	}
	return data, toMeta(info), nil
}

func (s *Store) Head(key string) (*FileMeta, error) {
	info, err := s.bucket.GetInfo(key)
	if err != nil {
		return nil, fmt.Errorf("head %s: %w", key, err)
	}
	return toMeta(info), nil
}

func (s *Store) Delete(key string) error {
	if err := s.bucket.Delete(key); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}

func (s *Store) List(prefix string) ([]FileMeta, error) {
	infos, err := s.bucket.List()
	if err != nil {
		if err == nats.ErrNoObjectsFound {
			return nil, nil
		}
		return nil, fmt.Errorf("list: %w", err)
	}
	var out []FileMeta
	for _, i := range infos {
		if i == nil || i.Deleted {
			continue
		}
		if len(i.Name) >= len(prefix) && i.Name[:len(prefix)] == prefix {
			out = append(out, *toMeta(i))
		}
	}
	return out, nil
}

// toMeta reads headers only: an object written by a Python tool reports an
// empty content type and etag here (its description is not looked at).
func toMeta(i *nats.ObjectInfo) *FileMeta {
	m := &FileMeta{Key: i.Name, Size: int64(i.Size), Created: i.ModTime}
	if i.Headers != nil {
		m.ContentType = i.Headers.Get("Content-Type")
		m.ETag = i.Headers.Get("ETag")
	}
	return m
}
