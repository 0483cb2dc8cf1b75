package raftstore

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/hashicorp/serf/serf"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/registry"
)

// The gossip keyring: with a data dir it is kept in serf/local.keyring
// (serf rewrites it after each install, use and remove), and a restarted
// server takes its keys from there, not from --gossip-key, so that a
// rotation done through the key manager survives restarts (Consul's rule).

const keyringFile = "serf/local.keyring"

// errNoGossipKey answers keyring operations on a server without gossip
// encryption (400: the request cannot apply here).
var errNoGossipKey = &registry.ValidationError{Field: "gossip-key",
	Reason: "gossip encryption is not enabled on this server (roster server --gossip-key)"}

// gossipKeyring returns the keys to start gossip with, primary first, and
// the keyring file serf should maintain ("" without a data dir).
func (s *Store) gossipKeyring() ([][]byte, string, error) {
	if s.cfg.Dev || s.cfg.DataDir == "" {
		return s.cfg.GossipKeys, "", nil
	}
	path := filepath.Join(s.cfg.DataDir, keyringFile)
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if len(s.cfg.GossipKeys) == 0 {
			return nil, "", nil
		}
		if err := writeKeyring(path, s.cfg.GossipKeys); err != nil {
			return nil, "", err
		}
		return s.cfg.GossipKeys, path, nil
	case err != nil:
		return nil, "", fmt.Errorf("gossip keyring %s: %w", path, err)
	}
	var encoded []string
	if err := json.Unmarshal(data, &encoded); err != nil || len(encoded) == 0 {
		return nil, "", fmt.Errorf("gossip keyring %s: not a JSON list of base64 keys (remove it to start from --gossip-key)", path)
	}
	keys := make([][]byte, len(encoded))
	for i, e := range encoded {
		if keys[i], err = base64.StdEncoding.DecodeString(e); err != nil {
			return nil, "", fmt.Errorf("gossip keyring %s: key %d: %w", path, i, err)
		}
	}
	if len(s.cfg.GossipKeys) > 0 && !slices.EqualFunc(keys, s.cfg.GossipKeys, slices.Equal) {
		s.log.Warn("gossip keys come from the keyring file, not --gossip-key (the key manager changed them); remove the file to start from the flag",
			"file", path)
	}
	return keys, path, nil
}

func writeKeyring(path string, keys [][]byte) error {
	encoded := make([]string, len(keys))
	for i, k := range keys {
		encoded[i] = base64.StdEncoding.EncodeToString(k)
	}
	data, err := json.MarshalIndent(encoded, "", "  ")
	if err != nil {
		return err
	}
	if err := mkdirFor(path); err != nil {
		return err
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("write gossip keyring: %w", err)
	}
	return nil
}

// GossipKeyring lists the gossip keys installed across the cluster and on
// how many servers each is installed and primary (operator:write: the
// answer holds the keys).
func (s *Store) GossipKeyring(ctx context.Context) (api.Keyring, error) {
	return s.keyOp(ctx, "list", "", func(km *serf.KeyManager) (*serf.KeyResponse, error) { return km.ListKeys() })
}

// GossipKeyringChange installs, makes primary ("use") or removes a key on
// every server through serf's key manager.
func (s *Store) GossipKeyringChange(ctx context.Context, op, key string) (api.Keyring, error) {
	var f func(*serf.KeyManager) (*serf.KeyResponse, error)
	switch op {
	case "install":
		f = func(km *serf.KeyManager) (*serf.KeyResponse, error) { return km.InstallKey(key) }
	case "use":
		f = func(km *serf.KeyManager) (*serf.KeyResponse, error) { return km.UseKey(key) }
	case "remove":
		f = func(km *serf.KeyManager) (*serf.KeyResponse, error) { return km.RemoveKey(key) }
	default:
		return api.Keyring{}, &registry.ValidationError{Field: "op", Reason: fmt.Sprintf("%q: want install, use or remove", op)}
	}
	if b, err := base64.StdEncoding.DecodeString(key); err != nil || (len(b) != 16 && len(b) != 24 && len(b) != 32) {
		return api.Keyring{}, &registry.ValidationError{Field: "key", Reason: "want base64 of 16, 24 or 32 bytes (roster keygen makes one)"}
	}
	return s.keyOp(ctx, op, key, f)
}

func (s *Store) keyOp(ctx context.Context, op, key string, f func(*serf.KeyManager) (*serf.KeyResponse, error)) (api.Keyring, error) {
	if err := mayOperate(ctx); err != nil {
		return api.Keyring{}, err
	}
	if s.serf == nil || !s.serf.EncryptionEnabled() {
		return api.Keyring{}, errNoGossipKey
	}
	resp, err := f(s.serf.KeyManager())
	out := api.Keyring{Keys: map[string]int{}, PrimaryKeys: map[string]int{}, Servers: 0, Errors: map[string]string{}}
	if resp != nil {
		out.Servers = resp.NumNodes
		for k, v := range resp.Keys {
			out.Keys[k] = v
		}
		for k, v := range resp.PrimaryKeys {
			out.PrimaryKeys[k] = v
		}
		for n, m := range resp.Messages {
			if m != "" {
				out.Errors[n] = m
			}
		}
	}
	if err != nil && op != "list" {
		// Serf refuses what cannot be done (removing the primary key, using
		// a key not installed): the caller's mistake, answered as such.
		return out, &registry.ValidationError{Field: "key", Reason: fmt.Sprintf("%s: %v", op, err)}
	}
	if err != nil {
		return out, fmt.Errorf("gossip keyring %s: %w", op, err)
	}
	if op != "list" {
		s.log.Info("gossip keyring changed", "op", op, "servers", out.Servers)
		// Answer with the keyring as it now is on every server.
		return s.keyOp(ctx, "list", "", func(km *serf.KeyManager) (*serf.KeyResponse, error) { return km.ListKeys() })
	}
	return out, nil
}
