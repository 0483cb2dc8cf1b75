package api

import _ "embed"

// OpenAPI is the OpenAPI 3.1 description of the native HTTP API
// (openapi.yaml beside this file), which servers answer at
// GET /v1/openapi.yaml.
//
//go:embed openapi.yaml
var OpenAPI []byte
