//go:build tools

// Package tools pins the code generators and linters the SDK's check.sh
// builds into target/sdk-go-tools. It is a module of its own so that users
// of the SDK never download them.
package tools

import (
	_ "connectrpc.com/connect/cmd/protoc-gen-connect-go"
	_ "google.golang.org/protobuf/cmd/protoc-gen-go"
	_ "honnef.co/go/tools/cmd/staticcheck"
)
