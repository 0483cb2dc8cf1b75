package httpapi_test

import (
	"encoding/json"
	"testing"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/node"
	"github.com/rosterhq/roster/testkit"
)

// testGossipKey is a fixed gossip key for the documented answers.
const testGossipKey = "QQOmsoHYnGMkbFGTC5mBq310GkwtydFlIIMTfRmmHZ8="

// startSecureDevNode is a dev server with ACLs (anonymous denied) and a
// gossip key, for the ACL and keyring operations.
func startSecureDevNode(t *testing.T) *node.Node {
	t.Helper()
	return testkit.StartDev(t, func(c *node.Config) {
		c.Security = node.SecurityConfig{ACL: true, ACLDefault: "deny", GossipKey: testGossipKey}
	})
}

// recordACL records the ACL and keyring operations on a secure server.
func recordACL(t *testing.T, rec *recorder) {
	n := startSecureDevNode(t)
	saved := rec.base
	defer func() { rec.base = saved }()
	rec.base = "http://" + n.HTTPAddr()
	boot := rec.do("acl bootstrap", 200, "PUT", "/v1/acl/bootstrap", "")
	var tok api.ACLToken
	if err := json.Unmarshal(boot.body, &tok); err != nil || tok.Secret == "" {
		t.Fatalf("bootstrap answered %s", boot.body)
	}
	rec.do("acl bootstrap again", 409, "PUT", "/v1/acl/bootstrap", "")
	tk := "X-Roster-Token"
	made := rec.do("acl create token", 200, "PUT", "/v1/acl/tokens", `{"description":"web","rules":["service:write:web"]}`, tk, tok.Secret)
	var web api.ACLToken
	_ = json.Unmarshal(made.body, &web)
	rec.do("acl create token, bad rule", 400, "PUT", "/v1/acl/tokens", `{"rules":["service:delete:web"]}`, tk, tok.Secret)
	rec.do("acl create token without permission", 403, "PUT", "/v1/acl/tokens", `{"rules":["service:read:*"]}`, tk, web.Secret)
	rec.do("acl list tokens", 200, "GET", "/v1/acl/tokens", "", tk, tok.Secret)
	rec.do("acl list tokens without permission", 403, "GET", "/v1/acl/tokens", "", tk, web.Secret)
	rec.do("acl delete token", 200, "DELETE", "/v1/acl/tokens/"+web.Accessor, "", tk, tok.Secret)
	rec.do("acl delete an unknown token", 404, "DELETE", "/v1/acl/tokens/"+web.Accessor, "", tk, tok.Secret)
	rec.do("keyring list", 200, "GET", "/v1/cluster/keyring", "", tk, tok.Secret)
	rec.do("keyring install", 200, "PUT", "/v1/cluster/keyring", `{"op":"install","key":"2AjNmyR++cMvsgCf0ymWG4E8QPAhJ58S073Ll+YtZB8="}`, tk, tok.Secret)
	rec.do("keyring install a bad key", 400, "PUT", "/v1/cluster/keyring", `{"op":"install","key":"short"}`, tk, tok.Secret)
	rec.do("keyring list without permission", 403, "GET", "/v1/cluster/keyring", "")
}
